# The perturbation curves of every configured model on one dataset (Figure 3 / A).
from avexplain.explain import jobs
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    jobs.write_perturbation_figure(
        snakemake.config,
        snakemake.wildcards.dataset,
        {m: snakemake.input[m] for m in snakemake.params.models},
        snakemake.output.png,
    )
