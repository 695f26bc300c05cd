# Stop when too few videos have a clip, pointing to missing.csv (which this job never deletes).
from avexplain.data.download import fetch
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    fetch.check_present(
        snakemake.config,
        snakemake.wildcards.media,
        snakemake.input.manifest,
        snakemake.input.missing,
        snakemake.output.present,
        clip_dirs=list(snakemake.input.clips),
    )
