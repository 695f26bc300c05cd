# Fetch (or render) the videos of one manifest shard; see avexplain.data.download.fetch.
from avexplain.data.download import fetch
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    fetch.download_shard(
        snakemake.config,
        snakemake.wildcards.media,
        snakemake.input.manifest,
        snakemake.wildcards.shard,
        snakemake.params.video_dir,
        snakemake.output.status,
    )
