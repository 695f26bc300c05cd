# Space and time pointing games against the true boxes and onsets, randomisation check.
from avexplain.explain import run
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    run.run_ground_truth(
        snakemake.config,
        snakemake.wildcards.dataset,
        snakemake.wildcards.model,
        snakemake.input.predictions,
        snakemake.input.manifest,
        snakemake.input.checkpoint,
        snakemake.output.report,
    )
