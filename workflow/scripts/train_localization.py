from avexplain.logs import log_to
from avexplain.training import localization_runs

with log_to(snakemake.log[0]):
    localization_runs.train_group(
        snakemake.config,
        dataset=snakemake.wildcards.dataset,
        group=snakemake.params.group,
        seed=int(snakemake.wildcards.seed),
        threads=snakemake.threads,
    )
