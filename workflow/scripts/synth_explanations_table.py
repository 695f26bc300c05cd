# The synth ground-truth scores of every configured model and the baselines, as a table.
from avexplain.logs import log_to
from avexplain.tables import synth_explanations

with log_to(snakemake.log[0]):
    synth_explanations.write(
        snakemake.config,
        {m: snakemake.input[m] for m in snakemake.params.models},
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.output.html,
    )
