from avexplain.logs import log_to
from avexplain.training.localization_runs import aggregate_group

with log_to(snakemake.log[0]) as log:
    results = aggregate_group(snakemake.config, snakemake.wildcards.dataset, snakemake.params.group)
    for model, result in results.items():
        log.info("%s/%s: %s", result["dataset"], model, result["mean"])
