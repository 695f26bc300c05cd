from avexplain.logs import log_to
from avexplain.training.localization_runs import aggregate

with log_to(snakemake.log[0]) as log:
    result = aggregate(list(snakemake.input), snakemake.output.metrics)
    log.info("%s/%s/%s: %s", result["dataset"], result["family"], result["model"], result["mean"])
