# Tables 1-4 of the fusion-layers paper and its modality-bias figure, ours beside the paper's.
from avexplain.logs import log_to
from avexplain.tables import fusion_layers

with log_to(snakemake.log[0]):
    fusion_layers.write(
        results_paths=snakemake.params.results,
        paper_path=snakemake.input.paper,
        run_datasets=snakemake.params.run_datasets,
        outputs=dict(snakemake.output.items()),
    )
