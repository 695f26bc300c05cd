from avexplain.logs import log_to
from avexplain.training import localization_runs

with log_to(snakemake.log[0]):
    localization_runs.train_group_seeds(
        snakemake.config,
        dataset=snakemake.params.dataset,
        group=snakemake.params.group,
        seeds=snakemake.params.seeds,
        threads=snakemake.threads,
    )
