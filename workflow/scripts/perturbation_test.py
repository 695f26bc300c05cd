# Perturbation test of one trained model on its dataset's test split.
from avexplain.explain import jobs
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    jobs.write_perturbation_test(
        snakemake.config,
        snakemake.wildcards.dataset,
        snakemake.wildcards.model,
        snakemake.input.checkpoint,
        snakemake.output.csv,
        snakemake.output.record,
    )
