# Fetch (or render) the videos of one manifest shard; see avexplain.download.
from avexplain import download
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    download.download_shard(
        snakemake.config,
        snakemake.wildcards.media,
        snakemake.input.manifest,
        snakemake.wildcards.shard,
        snakemake.params.video_dir,
        snakemake.output.status,
    )
