# Space and time attention drawn over frames and waveforms of K test videos (Figure 4 / B).
from avexplain.explain import jobs
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    jobs.write_attention_figures(
        snakemake.config,
        snakemake.wildcards.dataset,
        snakemake.input.predictions,
        snakemake.input.manifests[0],  # the dataset's own manifest comes first
        snakemake.output.figures,
    )
