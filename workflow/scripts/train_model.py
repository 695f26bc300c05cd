import os

from avexplain import paths
from avexplain.logs import log_to
from avexplain.training import train

wc = snakemake.wildcards
# (model, seed) pairs: rule train_model one, train_model_seeds a model's seeds,
# train_single_seed_models every single-seed model of the dataset
runs = [(m, int(s)) for m, s in snakemake.params.runs]
with log_to(snakemake.log[0]):
    train.train_runs(
        snakemake.config,
        dataset=wc.dataset,
        out_dirs={(m, s): os.path.dirname(paths.trained(wc.dataset, m, s)) for m, s in runs},
        threads=snakemake.threads,
        progress=False,
    )
