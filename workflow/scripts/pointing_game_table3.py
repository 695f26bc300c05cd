# Table 3: pointing game for sounds, STAN and STAN (audio), every dataset of the run.
from avexplain.logs import log_to
from avexplain.tables import stan_table3

with log_to(snakemake.log[0]):
    stan_table3.write(
        snakemake.config,
        {
            d: {k: snakemake.input[f"{d}_{k}"] for k in ("manifest", "stan", "stan_audio")}
            for d in snakemake.params.datasets
        },
        snakemake.input.paper,
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.output.html,
    )
