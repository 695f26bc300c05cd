"""Tables 1-4 of the event-specific fusion layers paper (shared/papers/003_*) and the
per-category bar figure of its modality bias, from the aggregated metrics.json of the four
models (`avexplain.paths.fusion_metrics`).

- Table 1: video accuracy of Uni-Audio, Uni-Vision, Naive AV and the vote over the five layers;
  ours (paper) for AVE and LLP, and the paired intervals of the claims (Naive AV against each
  single stream, the vote against Naive AV).
- Table 2: F1 of the layers' prediction set against Naive AV's top-N (N = 1..5). The paper's
  numbers are illegible in our copy: ours only, and the table says so.
- Table 3: categories assigned to each layer (modality bias), seeds pooled.
- Table 4: test videos only some layers get right (mean over seeds).
The datasets are the paper's (AVE, LLP) followed by every other run dataset (e.g. synth); a
dash means no run or no number in the paper; † marks numbers from random-weight features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from avexplain import paths
from avexplain.names import FUSION_LAYER_MODELS, FUSION_LAYERS
from avexplain.tables import writer
from avexplain.tables.recognition import DAGGER, DATASET_NAMES
from avexplain.tables.writer import DASH, Table, number

PAPER_DATASETS = ("ave", "llp")
METHODS = {  # model -> the paper's name for it (Table 1's columns, in order)
    "uni_audio": "Uni-Audio",
    "uni_vision": "Uni-Vision",
    "naive_av": "Naive AV",
    "fusion_layers": "Ours (vote of the five layers)",
}
LAYER_NAMES = {
    "continuous": "Continuous",
    "instant": "Instant",
    "onset": "Onset",
    "visual": "Visual",
    "audio": "Audio",
}
UNIQUE = {
    "continuous_only": "Cont ∧ ¬Inst ∧ ¬Ons",
    "instant_only": "Inst ∧ ¬Cont ∧ ¬Ons",
    "onset_only": "Ons ∧ ¬Cont ∧ ¬Inst",
    "instant_or_onset_not_continuous": "(Inst ∨ Ons) ∧ ¬Cont",
}
TOP_N = range(1, 6)
TITLES = {
    1: "Fusion layers, Table 1: video-level accuracy",
    2: "Fusion layers, Table 2: multi-label F1, the layers' prediction set vs Naive AV top-N",
    3: "Fusion layers, Table 3: modality bias (categories assigned to each layer)",
    4: "Fusion layers, Table 4: test videos only some layers get right",
}


def datasets(config: dict) -> list[str]:
    """The run datasets the fusion layers are built for, in config order."""
    return [d for d in config["fusion_layers"]["datasets"] if d in config["run_datasets"]]


def inputs(config: dict) -> dict[str, str]:
    """{"<dataset>/<model>": aggregated metrics.json} of every dataset the tables read."""
    return {
        f"{d}/{m}": paths.fusion_metrics(d, m)
        for d in datasets(config)
        for m in FUSION_LAYER_MODELS
    }


def table_datasets(run: list[str]) -> list[str]:
    return [*PAPER_DATASETS, *[d for d in run if d not in PAPER_DATASETS]]


def _results(results_paths: dict[str, str]) -> dict[tuple[str, str], dict]:
    out = {}
    for key, path in results_paths.items():
        if Path(path).exists():
            dataset, model = key.split("/")
            out[dataset, model] = json.loads(Path(path).read_text())
    return out


def _mark(results, dataset) -> str:
    return (
        DAGGER if any(r.get("demo_note") for (d, _), r in results.items() if d == dataset) else ""
    )


def _interval(comparison: dict | None) -> str:
    if not comparison:
        return DASH
    c = comparison
    return (
        f"{c['difference']:+.1f} [{c['low']:+.1f}, {c['high']:+.1f}]"
        f" ({100 * c['confidence']:.0f} %, {c['videos']} videos)"
    )


def _recipe_note(results) -> str:
    recipes = sorted({r["recipe"]["recipe"] for r in results.values()})
    steps = sorted({r["recipe"]["time_step_s"] for r in results.values()})
    if not recipes:
        return "No run yet."
    stored = set()
    for r in results.values():
        features = r.get("provenance", {}).get("features") or {}
        if r["recipe"]["recipe"] == "frozen_features" and {"visual", "audio"} <= set(features):
            backbones = [features[k].get("backbone", "?") for k in ("visual", "audio")]
            stored.add(f"{r['dataset']}: {' + '.join(backbones)}")
    return (
        f"Recipe: {', '.join(recipes)} (frozen_features: stored visual and audio vectors per "
        f"second ({'; '.join(sorted(stored)) or 'backbones not recorded'}; maps averaged over their "
        f"grid), projected to D, backbones not fine-tuned; the paper trains MC3-18 and its audio "
        f"network end to end); time step {', '.join(f'{s:g} s' for s in steps)} (the paper: "
        f"0.1 s)."
    )


def table1(results, paper, run) -> tuple[pd.DataFrame, Table]:
    rows, cells = [], []
    for dataset in table_datasets(run):
        published = (paper["fusion_layers"]["table1"] or {}).get(dataset)
        row, line = {"dataset": dataset}, [DATASET_NAMES.get(dataset, dataset)]
        mark = _mark(results, dataset)
        for i, model in enumerate(METHODS):
            result = results.get((dataset, model))
            ours = result["mean"]["top1"] if result else np.nan
            std = result["std"]["top1"] if result and len(result["seeds"]) > 1 else None
            row[f"{model}_ours"], row[f"{model}_ours_std"] = ours, std
            row[f"{model}_paper"] = published[i] if published else np.nan
            text = number(ours, std=std) + (mark if result else "")
            line.append(f"{text} ({number(row[f'{model}_paper'])})" if published else text)
        naive = results.get((dataset, "naive_av"), {}).get("comparisons", {})
        vote = results.get((dataset, "fusion_layers"), {}).get("comparisons", {})
        for name, comparison in (
            ("naive_av_vs_uni_audio", naive.get("uni_audio")),
            ("naive_av_vs_uni_vision", naive.get("uni_vision")),
            ("vote_vs_naive_av", vote.get("naive_av")),
        ):
            for key in ("difference", "low", "high"):
                row[f"{name}_{key}"] = comparison[key] if comparison else np.nan
            line.append(_interval(comparison))
        seeds = results.get((dataset, "fusion_layers"), {}).get("seeds", [])
        row["seeds"] = len(seeds)
        rows.append(row)
        cells.append(line)
    header = [
        "Dataset",
        *METHODS.values(),
        "Naive AV − Uni-Audio",
        "Naive AV − Uni-Vision",
        "Ours − Naive AV",
    ]
    notes = [
        "Test video accuracy, percent: a prediction is correct when it is one of the video's "
        "labels. Each cell: ours, mean ± std over seeds (paper). Ours is the plurality vote of "
        "the five layers, ties to the most confident layer. The last three columns: the "
        "difference of the seed-averaged accuracies, in points, with its paired bootstrap "
        "interval over test videos.",
        _recipe_note(results),
    ]
    return pd.DataFrame(rows), Table(
        TITLES[1], notes, header, cells, ["---"] + ["---:"] * (len(header) - 1), _footer(results)
    )


def table2(results, run) -> tuple[pd.DataFrame, Table]:
    run_here = [d for d in table_datasets(run) if (d, "fusion_layers") in results]
    rows, cells = [], []
    labels = [("ours", "Ours: the layers' prediction set")] + [
        (f"top{n}", f"Naive AV top-{n}") for n in TOP_N
    ]
    for key, method in labels:
        row, line = {"method": key}, [method]
        for dataset in run_here:
            model = "fusion_layers" if key == "ours" else "naive_av"
            result = results.get((dataset, model))
            metric = "set_f1" if key == "ours" else "top_n_f1"
            value = std = np.nan
            if result and key == "ours":
                value, std = result["mean"][metric], result["std"][metric]
            elif result and key[3:] in result["mean"].get(metric, {}):
                value, std = result["mean"][metric][key[3:]], result["std"][metric][key[3:]]
            row[f"{dataset}_ours"], row[f"{dataset}_ours_std"] = value, std
            line.append(number(value, std=std) + (_mark(results, dataset) if result else ""))
        rows.append(row)
        cells.append(line)
    sizes = [
        f"{DATASET_NAMES.get(d, d)} {results[d, 'fusion_layers']['mean']['set_size']:.2f}"
        for d in run_here
    ]
    notes = [
        "Sample-averaged F1 (percent) of predicted label sets against the videos' label sets, "
        "mean ± std over seeds. Layer i adds its top-1 class when no other layer scores that "
        "class higher (paper, Eq. 7).",
        "The paper's Table 2 numbers are illegible in our copy of the paper (only one 0.70 "
        "survives, its column unknown): ours only, no paper numbers.",
        f"Mean size of our prediction set: {'; '.join(sizes) or DASH}.",
    ]
    header = ["Method", *[f"{DATASET_NAMES.get(d, d)} F1" for d in run_here]]
    return pd.DataFrame(rows), Table(
        TITLES[2], notes, header, cells, ["---"] + ["---:"] * len(run_here), _footer(results)
    )


def table3(results, paper, run) -> tuple[pd.DataFrame, Table]:
    rows, cells = [], []
    for dataset in table_datasets(run):
        result = results.get((dataset, "fusion_layers"))
        published = (paper["fusion_layers"]["table3"] or {}).get(dataset)
        row, line = {"dataset": dataset}, [DATASET_NAMES.get(dataset, dataset)]
        bias = result["modality_bias"] if result else None
        for i, layer in enumerate(FUSION_LAYERS):
            ours = bias["counts"][layer] if bias else np.nan
            row[f"{layer}_ours"] = ours
            row[f"{layer}_paper"] = published[i] if published else np.nan
            text = number(ours, 0) + (_mark(results, dataset) if bias else "")
            line.append(f"{text} ({number(row[f'{layer}_paper'], 0)})" if published else text)
        row["categories"] = len(bias["classes"]) if bias else np.nan
        line.append(number(row["categories"], 0))
        rows.append(row)
        cells.append(line)
    header = ["Dataset", *LAYER_NAMES.values(), "Categories"]
    notes = [
        "Each test (video, label) pair votes for the layer with the highest raw score for that "
        "label; a category goes to the layer with most votes, the votes of all seeds pooled "
        "(ties: the first layer in this order). Each cell: ours (paper).",
        _recipe_note(results),
    ]
    return pd.DataFrame(rows), Table(
        TITLES[3], notes, header, cells, ["---"] + ["---:"] * 6, _footer(results)
    )


def table4(results, paper, run) -> tuple[pd.DataFrame, Table]:
    rows, cells = [], []
    for dataset in table_datasets(run):
        result = results.get((dataset, "fusion_layers"))
        published = (paper["fusion_layers"]["table4"] or {}).get(dataset)
        row, line = {"dataset": dataset}, [DATASET_NAMES.get(dataset, dataset)]
        for i, column in enumerate(UNIQUE):
            ours = result["mean"]["unique_correct"][column] if result else np.nan
            std = result["std"]["unique_correct"][column] if result else None
            row[f"{column}_ours"], row[f"{column}_ours_std"] = ours, std
            row[f"{column}_paper"] = published[i] if published else np.nan
            text = number(ours, std=std) + (_mark(results, dataset) if result else "")
            line.append(f"{text} ({number(row[f'{column}_paper'], 0)})" if published else text)
        row["test_videos"] = result["test_videos"] if result else np.nan
        line.append(number(row["test_videos"], 0))
        rows.append(row)
        cells.append(line)
    header = ["Dataset", *UNIQUE.values(), "Test videos"]
    notes = [
        "Test videos whose label the named layers get right (top-1 among the video's labels) "
        "and the others do not, mean ± std over seeds. Each cell: ours (paper).",
        _recipe_note(results),
    ]
    return pd.DataFrame(rows), Table(
        TITLES[4], notes, header, cells, ["---"] + ["---:"] * 5, _footer(results)
    )


def _footer(results) -> list[str]:
    seeds = sorted({len(r["seeds"]) for r in results.values()})
    footer = [f"Seeds per model: {', '.join(map(str, seeds)) or 'none'}."]
    if any(r.get("demo_note") for r in results.values()):
        footer.append(
            f"{DAGGER} These features come from backbones with random weights: the numbers show "
            "the pipeline works end to end, not what the paper's models reach."
        )
    return footer


def bias_figure(results, run, out) -> None:
    """One panel per dataset: per category, the (video, label) votes of each layer as stacked
    bars (seeds pooled), the assigned layer's bar outlined by its category's label colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [d for d in table_datasets(run) if (d, "fusion_layers") in results]
    fig, axes = plt.subplots(
        len(shown) or 1, 1, figsize=(9, 2.8 * max(1, len(shown))), squeeze=False
    )
    colours = plt.get_cmap("tab10").colors
    for ax, dataset in zip(axes[:, 0], shown, strict=False):
        bias = results[dataset, "fusion_layers"]["modality_bias"]
        votes = np.asarray(bias["votes"], float)
        share = votes / np.maximum(votes.sum(1, keepdims=True), 1)
        x = np.arange(len(bias["classes"]))
        bottom = np.zeros(len(x))
        for i, layer in enumerate(bias["layers"]):
            ax.bar(x, share[:, i], bottom=bottom, color=colours[i], label=LAYER_NAMES[layer])
            bottom += share[:, i]
        names = [
            f"{c}\n→{LAYER_NAMES[bias['layers'][a]] if a >= 0 else DASH}"
            for c, a in zip(bias["classes"], bias["assignment"], strict=True)
        ]
        ax.set_xticks(x, names, rotation=90 if len(x) > 8 else 0, fontsize=7)
        ax.set_ylabel("share of votes")
        ax.set_title(f"{DATASET_NAMES.get(dataset, dataset)}{_mark(results, dataset)}")
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no run", ha="center")
    axes[0, 0].legend(ncols=5, fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.12))
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write(
    results_paths: dict[str, str], paper_path, run_datasets: list[str], outputs: dict
) -> None:
    """`table{k}_{csv,md,html}` for k = 1..4 and `figure` of `outputs`."""
    results = _results(results_paths)
    paper = yaml.safe_load(Path(paper_path).read_text())
    built = {
        1: table1(results, paper, run_datasets),
        2: table2(results, run_datasets),
        3: table3(results, paper, run_datasets),
        4: table4(results, paper, run_datasets),
    }
    for k, (frame, table) in built.items():
        writer.write(
            table,
            frame.round(2),
            outputs[f"table{k}_csv"],
            outputs[f"table{k}_md"],
            outputs.get(f"table{k}_html"),
        )
    bias_figure(results, run_datasets, outputs["figure"])
