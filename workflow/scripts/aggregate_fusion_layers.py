from avexplain.logs import log_to
from avexplain.training.fusion_layers_seeds import aggregate

with log_to(snakemake.log[0]) as log:
    settings = snakemake.params.settings
    result = aggregate(
        snakemake.params.seed_dirs,
        dict(snakemake.output.items()),
        settings["bootstrap"],
        settings["train"]["vote_rule"],
        settings["train"]["confidence"],
    )
    for model, record in result.items():
        log.info("%s/%s: %s %s", record["dataset"], model, record["mean"], record["comparisons"])
