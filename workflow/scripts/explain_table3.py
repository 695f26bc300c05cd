# Table 3: pointing game for sounds, STAN and STAN (audio), every dataset of the run.
from avexplain.explain import run
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    run.run_table3(
        snakemake.config,
        {
            d: {k: snakemake.input[f"{d}_{k}"] for k in ("manifest", "stan", "stan_audio")}
            for d in snakemake.params.datasets
        },
        snakemake.output.csv,
        snakemake.output.md,
    )
