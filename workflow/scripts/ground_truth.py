# Space and time pointing games against the true boxes and onsets, randomisation check.
from avexplain.explain import jobs
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    jobs.write_ground_truth(
        snakemake.config,
        snakemake.wildcards.dataset,
        snakemake.wildcards.model,
        snakemake.input.predictions,
        snakemake.input.manifests[0],  # the dataset's own manifest comes first
        snakemake.input.checkpoint,
        snakemake.output.report,
    )
