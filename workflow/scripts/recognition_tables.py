from avexplain import recognition_tables
from avexplain.logs import log_to

with log_to(snakemake.log[0]):
    recognition_tables.write(
        results_paths=snakemake.params.results,
        paper_path=snakemake.input.paper,
        run_datasets=snakemake.params.run_datasets,
        outputs=dict(snakemake.output.items()),
    )
