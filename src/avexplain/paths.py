"""Every file the rules and the library share, one function each (docs/formats.md).

Called without arguments a function gives the Snakemake pattern, e.g. `manifest()` is
"data/{dataset}/manifest.csv"; called with values it gives the path, relative to the workflow
root, e.g. `manifest("ave")`. So a path is written here once and nowhere else."""

from __future__ import annotations

# --- data stage ---------------------------------------------------------------------------


def manifest(dataset="{dataset}") -> str:
    return f"data/{dataset}/manifest.csv"


def classes(dataset="{dataset}") -> str:
    return f"data/{dataset}/classes.txt"


def audit(dataset="{dataset}", ext="md") -> str:
    return f"data/{dataset}/audit.{ext}"


def videos(media="{media}") -> str:
    """The download cache: not a Snakemake output, so re-running a shard never deletes it."""
    return f"data/{media}/videos"


def download_status(media="{media}", shard="{shard}") -> str:
    return f"data/{media}/download/shard-{shard}.csv"


def missing(media="{media}") -> str:
    return f"data/{media}/missing.csv"


def present(media="{media}") -> str:
    """How many videos have a clip, written only when enough do (rule check_present)."""
    return f"data/{media}/present.json"


def clips(media="{media}", shard="{shard}") -> str:
    return f"data/{media}/clips/shard-{shard}"


def shard_id(index: int) -> str:
    """The `{shard}` wildcard of manifest shard `index` (three digits: `\\d{3}`)."""
    return f"{index:03d}"


# --- features stage -----------------------------------------------------------------------


def store(media="{media}", backbone="{backbone}") -> str:
    return f"features/{media}/{backbone}.zarr"


def staging_store(media="{media}", backbone="{backbone}") -> str:
    return f"features/{media}/.staging/{backbone}.zarr"


def shard_marker(media="{media}", backbone="{backbone}", shard="{shard}") -> str:
    return f"features/{media}/.staging/{backbone}.shards/shard-{shard}.json"


def onsets(media="{media}", shard="{shard}") -> str:
    """Audio-onset masks (video, segment) of one shard's canonical clips (fusion layers)."""
    return f"features/{media}/onsets/shard-{shard}.npz"


# --- training stage -----------------------------------------------------------------------


def trained(dataset="{dataset}", model="{model}", seed="{seed}", name="metrics.json") -> str:
    """One training run's files: checkpoint.pt, predictions.npz, metrics.json."""
    return f"results/{dataset}/{model}/seed-{seed}/{name}"


def metrics(dataset="{dataset}", model="{model}") -> str:
    """The model's metrics aggregated over its seeds."""
    return f"results/{dataset}/{model}/metrics.json"


def fusion_trained(dataset="{dataset}", model="{model}", seed="{seed}", name="metrics.json") -> str:
    """One fusion-layers training run's files: checkpoint.pt, predictions.npz, metrics.json."""
    return f"results/{dataset}/fusion_layers/{model}/seed-{seed}/{name}"


def fusion_metrics(dataset="{dataset}", model="{model}") -> str:
    """A fusion-layers model's metrics aggregated over its seeds."""
    return f"results/{dataset}/fusion_layers/{model}/metrics.json"


# --- explain stage ------------------------------------------------------------------------


def perturbation(dataset="{dataset}", model="{model}", ext="csv") -> str:
    return f"results/{dataset}/{model}/perturbation.{ext}"


def perturbation_figure(dataset="{dataset}") -> str:
    return f"results/{dataset}/perturbation.png"


def ground_truth(dataset="{dataset}", model="{model}") -> str:
    return f"results/{dataset}/{model}/ground_truth.json"


def attention_figures(dataset="{dataset}", model="stan") -> str:
    return f"results/{dataset}/{model}/attention"


# --- tables stage -------------------------------------------------------------------------

PAPER_NUMBERS = "resources/paper_numbers.yaml"


def table(name="{table}", ext="md") -> str:
    return f"results/tables/{name}.{ext}"


def fusion_bias_figure() -> str:
    """The per-category bar figure of the fusion layers' modality bias (every dataset)."""
    return "results/tables/fusion_layers_modality_bias.png"


REPORT = "results/report.html"
