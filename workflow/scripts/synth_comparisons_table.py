# Every acceptance claim on synth as a paired comparison with a bootstrap interval.
from avexplain.logs import log_to
from avexplain.names import UNIMODAL
from avexplain.tables import comparisons

with log_to(snakemake.log[0]):
    comparisons.write(
        snakemake.config,
        "synth",
        snakemake.input.stan,
        {m: snakemake.input[m] for m in UNIMODAL},
        snakemake.input.perturbation,
        snakemake.input.ground_truth,
        snakemake.output.csv,
        snakemake.output.md,
        snakemake.output.html,
    )
