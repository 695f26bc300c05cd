from avexplain.features import weights
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    weights.prefetch(
        snakemake.params.cache_dir, snakemake.params.backbones, snakemake.output.record
    )
