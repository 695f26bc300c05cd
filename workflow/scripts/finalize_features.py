from avexplain import extract
from avexplain.logs import log_to

with log_to(snakemake.log[0]) as log:
    summary = extract.finalize(
        dataset=snakemake.wildcards.media,
        backbone=snakemake.wildcards.backbone,
        markers=list(snakemake.input.markers),
    )
    log.info("finalized %s: %s", snakemake.output.store, summary)
