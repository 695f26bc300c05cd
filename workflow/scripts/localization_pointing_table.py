# The synth pointing comparison of the localization attentions and STAN's, ranked.
from avexplain.logs import log_to
from avexplain.tables import localization

with log_to(snakemake.log[0]):
    localization.write_pointing(snakemake.input.report, dict(snakemake.output.items()))
