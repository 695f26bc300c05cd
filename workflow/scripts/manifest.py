from avexplain import manifest
from avexplain.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 (injected by Snakemake)
    manifest.run(snakemake.config, snakemake.wildcards.dataset, dict(snakemake.output.items()))  # noqa: F821
