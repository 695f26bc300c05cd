# Perturbation test of one trained model on its dataset's test split.
from avexplain.explain import run
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    run.run_perturbation(
        snakemake.config,
        snakemake.wildcards.dataset,
        snakemake.wildcards.model,
        snakemake.input.checkpoint,
        snakemake.output.csv,
        snakemake.output.record,
    )
