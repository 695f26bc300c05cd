from avexplain.logs import log_to
from avexplain.training.aggregate import aggregate

with log_to(snakemake.log[0]) as log:
    result = aggregate(list(snakemake.input), snakemake.output.metrics)
    log.info("%s/%s: %s", result["dataset"], result["model"], result["mean"])
