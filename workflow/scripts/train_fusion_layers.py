from avexplain.logs import log_to
from avexplain.training import fusion_layers

with log_to(snakemake.log[0]):
    fusion_layers.train_seeds(
        snakemake.config,
        dataset=snakemake.wildcards.dataset,
        out_dirs=snakemake.params.out_dirs,
        onset_files=list(snakemake.input.onsets),
        clips_dirs=list(snakemake.input.clips),
        threads=snakemake.threads,
    )
