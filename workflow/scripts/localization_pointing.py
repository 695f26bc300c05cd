# Space attention of the localization models and STAN against synth's true boxes.
from avexplain.explain import localization_pointing
from avexplain.logs import log_to

with log_to(snakemake.log[0]) as log:
    report = localization_pointing.score(
        snakemake.config,
        snakemake.wildcards.dataset,
        {key: list(snakemake.input[key]) for key in snakemake.params.attentions},
        list(snakemake.input.stan),
        snakemake.input.manifest,
        snakemake.output.report,
    )
    log.info("ranking: %s", report["ranking"])
