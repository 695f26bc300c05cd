# A localization model's space attention drawn like STAN's Figure 4 (first seed's test videos).
from avexplain.explain import jobs
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    jobs.write_attention_figures(
        snakemake.config,
        snakemake.wildcards.dataset,
        snakemake.input.predictions,
        snakemake.input.manifest,
        snakemake.output.figures,
    )
