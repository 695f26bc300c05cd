# Tables 1 and 2 of the STAN paper: recognition, ours beside the paper's numbers.
from avexplain.logs import log_to
from avexplain.tables import recognition

with log_to(snakemake.log[0]):
    recognition.write(
        results_paths=snakemake.params.results,
        paper_path=snakemake.input.paper,
        run_datasets=snakemake.params.run_datasets,
        outputs=dict(snakemake.output.items()),
    )
