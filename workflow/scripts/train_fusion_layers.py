import os

from avexplain.logs import log_to
from avexplain.training import fusion_layers

with log_to(snakemake.log[0]):
    fusion_layers.train_seed(
        snakemake.config,
        dataset=snakemake.wildcards.dataset,
        seed=int(snakemake.wildcards.seed),
        out_dirs={
            m: os.path.dirname(snakemake.output[f"{m}_metrics"]) for m in snakemake.params.models
        },
        onset_files=list(snakemake.input.onsets),
        clips_dirs=list(snakemake.input.clips),
        threads=snakemake.threads,
    )
