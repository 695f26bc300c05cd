import os

from avexplain import paths
from avexplain.logs import log_to
from avexplain.training import train

wc = snakemake.wildcards
# rule train_model_seeds: every seed of the model; rule train_model: the one of its wildcards
seeds = getattr(snakemake.params, "seeds", None) or [int(wc.seed)]
with log_to(snakemake.log[0]):
    train.train_seeds(
        snakemake.config,
        dataset=wc.dataset,
        model_name=wc.model,
        out_dirs={s: os.path.dirname(paths.trained(wc.dataset, wc.model, s)) for s in seeds},
        threads=snakemake.threads,
        progress=False,
    )
