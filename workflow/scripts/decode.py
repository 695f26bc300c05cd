from avexplain.data import decode
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    decode.run(
        snakemake.input.status,
        snakemake.output.clips,
        snakemake.params.clip,
        workers=snakemake.threads,
    )
