# The synth ground-truth scores of every configured model and the baselines, as a table.
from avexplain.explain import run
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    run.run_ground_truth_table(
        {m: snakemake.input[m] for m in snakemake.params.models},
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.config,
    )
