# One table of the localization families, ours beside the paper's numbers.
from avexplain.logs import log_to
from avexplain.tables import localization

with log_to(snakemake.log[0]):
    localization.write(
        snakemake.params.table,
        files=list(snakemake.input.results),
        paper_path=snakemake.input.paper,
        dataset_list=snakemake.params.datasets,
        outputs=dict(snakemake.output.items()),
    )
