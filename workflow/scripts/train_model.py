from avexplain.logs import log_to
from avexplain.training import train

with log_to(snakemake.log[0]):
    train.train(
        snakemake.config,
        dataset=snakemake.wildcards.dataset,
        model_name=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
        out_dir=snakemake.output.checkpoint.rsplit("/", 1)[0],
        threads=snakemake.threads,
        progress=False,
    )
