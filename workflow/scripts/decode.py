from avexplain import decode
from avexplain.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 (injected by Snakemake)
    decode.run(
        snakemake.input.status,  # noqa: F821
        snakemake.output.clips,  # noqa: F821
        snakemake.config["clip"],  # noqa: F821
        workers=snakemake.threads,  # noqa: F821
    )
