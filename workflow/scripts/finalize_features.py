from avexplain.features import store
from avexplain.logs import log_to

with log_to(snakemake.log[0]) as log:
    summary = store.finalize_backbone(
        dataset=snakemake.wildcards.media,
        backbone=snakemake.wildcards.backbone,
        markers=list(snakemake.input.markers),
    )
    log.info("finalized %s: %s", snakemake.output.store, summary)
