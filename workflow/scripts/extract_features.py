from avexplain.features import extract
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    extract.run_shard(
        clips_dir=snakemake.input.clips,
        manifest=snakemake.input.manifest,
        dataset=snakemake.wildcards.media,
        backbone=snakemake.wildcards.backbone,
        shard=snakemake.wildcards.shard,
        shard_size=snakemake.params.shard_size,
        settings=snakemake.params.settings,
        clip=snakemake.params.clip,
        seed=snakemake.params.seed,
        marker=snakemake.output.marker,
        threads=snakemake.threads,
    )
