# Gather the videos without a clip (download misses, decode failures); never fails on the count.
from avexplain.data.download import fetch
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    fetch.collect_missing(
        snakemake.config,
        snakemake.wildcards.media,
        snakemake.input.manifest,
        list(snakemake.input.status),
        snakemake.output.missing,
        clip_dirs=list(snakemake.input.clips),
    )
