from avexplain.data import manifest
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    manifest.run(snakemake.config, snakemake.wildcards.dataset, dict(snakemake.output.items()))
