# The localization families' acceptance claims on synth as paired comparisons with intervals.
from avexplain.logs import log_to
from avexplain.tables import localization_comparisons

with log_to(snakemake.log[0]):
    localization_comparisons.write(
        snakemake.config,
        "synth",
        {key: snakemake.input[key] for key in snakemake.params.models},
        dict(snakemake.output.items()),
    )
