"""The paper's Tables 1 and 2 (audio-visual recognition) with our numbers beside the paper's.

Layout (Markdown and CSV alike): one row per method, grouped as in the paper; for each dataset
a column per metric (top-1, mAP, F-score as in the paper, plus our class-wise mAP). A Markdown
cell reads `ours (paper)`; the CSV has separate `<dataset>_<metric>_ours` and `..._paper`
columns. A dash means there is no number: the run is missing (never shown as zero) or the paper
has none. The datasets are the paper's (AVE, LLP, AVR) followed by every other dataset that was
run (e.g. synth). Our numbers from features of random-weight backbones (the offline demo) carry
a dagger: they test the pipeline, they are not comparable to the paper's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from avexplain import paths
from avexplain.tables import writer
from avexplain.tables.writer import DASH, Table, number

METRICS = ("top1", "mAP", "F")  # the paper's three, in its column order
EXTRA = ("class_mAP",)  # ours only
HEADERS = {"top1": "top-1", "mAP": "mAP", "F": "F-score", "class_mAP": "class mAP"}
PAPER_DATASETS = ("ave", "llp", "avr")
DATASET_NAMES = {"ave": "AVE", "llp": "LLP", "avr": "AVR", "synth": "synth", "custom": "custom"}
DAGGER = "†"

# (group, model id, method as the paper names it)
LAYOUTS = {
    "table1": [
        ("Audio", "audio_baseline", "audio baseline"),
        ("Audio", "stan_audio", "STAN (audio)"),
        ("Vision", "visual_baseline", "visual baseline"),
        ("Vision", "stan_visual", "STAN (visual)"),
        ("Audio+Vision", "stan", "STAN (audio-visual)"),
    ],
    "table2": [
        ("Explanation Models", "cam", "CAM (visual)"),
        ("Explanation Models", "abn", "ABN (visual)"),
        ("Explanation Models", "av_cam", "AV-CAM"),
        ("Explanation Models", "av_abn", "AV-ABN"),
        ("Audio-Visual Models", "relationship", "Relationship"),
        ("Audio-Visual Models", "average_ensemble", "Average Ensemble"),
        ("Audio-Visual Models", "film", "FiLM"),
        ("Audio-Visual Models", "attention_fusion", "Attention Fusion"),
        ("Ours", "stan", "STAN"),
    ],
}
TITLES = {
    "table1": "Table 1: ablation of STAN, audio-visual event recognition",
    "table2": "Table 2: intrinsic explanation models, audio-visual learners and STAN",
}


def inputs(config: dict) -> dict[tuple[str, str], str]:
    """{(dataset, model): aggregated metrics.json} of every run dataset and tabled model."""
    tabled = {m for layout in LAYOUTS.values() for _, m, _ in layout}
    return {
        (d, m): paths.metrics(d, m)
        for d in config["run_datasets"]
        for m in config["models"]["names"]
        if m in tabled
    }


def table_models(table: str) -> list[str]:
    return [model for _, model, _ in LAYOUTS[table]]


def table_datasets(run_datasets: list[str]) -> list[str]:
    return [*PAPER_DATASETS, *[d for d in run_datasets if d not in PAPER_DATASETS]]


def read_results(paths: dict[tuple[str, str], str | Path]) -> dict[tuple[str, str], dict]:
    """{(dataset, model): aggregated metrics.json} for the paths that exist."""
    return {
        key: json.loads(Path(path).read_text())
        for key, path in paths.items()
        if Path(path).exists()
    }


def build(table: str, results: dict, paper_numbers: dict, datasets: list[str]) -> pd.DataFrame:
    """The CSV frame of `table`: one row per method; float cells, NaN where no number."""
    paper = paper_numbers["stan"][table]
    rows = []
    for group, model, method in LAYOUTS[table]:
        row = {"group": group, "model": model, "method": method}
        for dataset in datasets:
            result = results.get((dataset, model))
            published = (paper.get(dataset) or {}).get(model)
            for metric in (*METRICS, *EXTRA):
                ours = result["mean"][metric] if result else np.nan
                row[f"{dataset}_{metric}_ours"] = ours
                if result and len(result.get("seeds", [])) > 1:
                    row[f"{dataset}_{metric}_ours_std"] = result["std"][metric]
                if metric in METRICS:
                    row[f"{dataset}_{metric}_paper"] = (
                        published[METRICS.index(metric)] if published else np.nan
                    )
            row[f"{dataset}_random_weights"] = bool(result and result.get("demo_note"))
            row[f"{dataset}_seeds"] = len(result["seeds"]) if result else 0
        rows.append(row)
    return pd.DataFrame(rows)


def render(table: str, frame: pd.DataFrame, datasets: list[str]) -> Table:
    header = ["Group", "Method"]
    for dataset in datasets:
        name = DATASET_NAMES.get(dataset, dataset)
        header += [f"{name} {HEADERS[m]}" for m in (*METRICS, *EXTRA)]
    rows = []
    previous = None
    any_random = False
    for _, row in frame.iterrows():
        cells = [row["group"] if row["group"] != previous else "", row["method"]]
        previous = row["group"]
        for dataset in datasets:
            mark = DAGGER if row[f"{dataset}_random_weights"] else ""
            any_random |= bool(mark)
            for metric in (*METRICS, *EXTRA):
                ours = number(
                    row[f"{dataset}_{metric}_ours"], std=row.get(f"{dataset}_{metric}_ours_std")
                )
                ours += mark if ours != DASH else ""
                if metric in METRICS and dataset in PAPER_DATASETS:
                    cells.append(f"{ours} ({number(row[f'{dataset}_{metric}_paper'])})")
                else:
                    cells.append(ours)
        rows.append(cells)
    seeds = sorted({int(row[f"{d}_seeds"]) for _, row in frame.iterrows() for d in datasets} - {0})
    footer = [f"Seeds per run: {', '.join(map(str, seeds)) or 'none'} (mean ± std over seeds)."]
    if any_random:
        footer.append(
            f"{DAGGER} These features come from backbones with random weights: the numbers show "
            "the pipeline works end to end, not what the paper's models reach."
        )
    notes = [
        "Each cell: ours (paper), percent; datasets the paper does not have show ours only. "
        f"{DASH} : no run, or no number in the paper. "
        f"{DAGGER}: ours from random-weight features (demo), not comparable to the paper. "
        "class mAP is ours only (not in the paper)."
    ]
    align = ["---", "---"] + ["---:"] * (len(header) - 2)
    return Table(TITLES[table], notes, header, rows, align, footer)


def write(
    results_paths: dict[tuple[str, str], str | Path],
    paper_path: str | Path,
    run_datasets: list[str],
    outputs: dict[str, str | Path],
) -> None:
    """Write `<table>_csv`, `<table>_md` and `<table>_html` of `outputs` for table1 and table2."""
    results = read_results(results_paths)
    paper = yaml.safe_load(Path(paper_path).read_text())
    datasets = table_datasets(run_datasets)
    for table in LAYOUTS:
        frame = build(table, results, paper, datasets)
        writer.write(
            render(table, frame, datasets),
            frame.round(2),
            outputs[f"{table}_csv"],
            outputs[f"{table}_md"],
            outputs.get(f"{table}_html"),
        )
