from avexplain.features import onsets
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    onsets.run_shard(
        clips_dir=snakemake.input.clips,
        manifest=snakemake.input.manifest,
        shard=snakemake.wildcards.shard,
        shard_size=snakemake.params.shard_size,
        clip=snakemake.params.clip,
        params=snakemake.params.settings,
        out=snakemake.output.onsets,
    )
