"""The STAN paper's Table 3: the pointing game for sounds (MAE of the time attention against the
annotated audio events), ours beside the paper's numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from avexplain import paths
from avexplain.config import section_for
from avexplain.data.manifest import read_manifest
from avexplain.explain import pointing
from avexplain.provenance import record_provenance
from avexplain.tables import writer
from avexplain.tables.writer import Table, number


def datasets(config: dict) -> list[str]:
    """The run datasets with annotated audio events (custom datasets publish none)."""
    return [d for d in config["run_datasets"] if config["datasets"][d]["kind"] != "custom"]


PAPER_DATASETS = ("ave", "llp", "avr")  # the paper's columns, shown whether run or not
MODELS = ("stan", "stan_audio")


def inputs(config: dict) -> dict[str, str | list[str]]:
    """`{dataset}_manifest`, `{dataset}_stan` and `{dataset}_stan_audio` (the test predictions
    of every training seed) of every dataset of the table."""
    files = {}
    for d in datasets(config):
        seeds = section_for(config, "train", d)["seeds"]
        files[f"{d}_manifest"] = paths.manifest(d)
        for m in MODELS:
            files[f"{d}_{m}"] = [paths.trained(d, m, s, "predictions.npz") for s in seeds]
    return files


def temporal_scores(predictions, manifest, segments: int) -> dict | None:
    """MAE soft/binary and per-video AUC of a model's test time attention against the audio
    event annotations, averaged over the seeds' predictions (a path or a list of paths), with
    the share of segments its attention marks (>= 0.5); None when no test video is annotated."""
    games, marked = [], []
    frame = read_manifest(manifest)
    for path in [predictions] if isinstance(predictions, str | Path) else list(predictions):
        pred = np.load(path, allow_pickle=False)
        if "time_attention" not in pred.files:
            raise ValueError(f"{path}: no time_attention; the pointing game needs one")
        masks, rows = pointing.annotated(frame, pred["video_ids"], segments)
        if len(rows) == 0:
            return None
        games.append(pointing.temporal_game(pred["time_attention"][rows], masks))
        marked.append(float((pred["time_attention"][rows] >= pointing.THRESHOLD).mean()))
    out = {k: float(np.nanmean([g[k] for g in games])) for k in ("mae_soft", "mae_binary", "auc")}
    return {**out, "videos": games[0]["videos"], "seeds": len(games),
            "marked": float(np.mean(marked))}  # fmt: skip


def baseline_scores(manifest, test_ids, segments: int) -> dict | None:
    """The trivial attentions on the annotated test videos: all ones, uniform 0.5, and the
    training split's event frequency per segment (None where the training split has no audio
    annotations, e.g. LLP)."""
    frame = read_manifest(manifest)
    masks, rows = pointing.annotated(frame, test_ids, segments)
    if len(rows) == 0:
        return None
    train_ids = list(frame.loc[frame["split"] == "train", "video_id"])
    train_masks, _ = pointing.annotated(frame, train_ids, segments)
    prior = pointing.event_prior(train_masks) if len(train_masks) else None
    base = pointing.temporal_baselines(masks, seed=0, draws=1, prior=prior)
    return {k: v for k, v in base.items() if k != "random"}


ROWS = [  # (paper key, who, score, label): who is a model or a trivial attention
    ("stan_audio_soft", "stan_audio", "mae_soft", "STAN (audio) + soft attention"),
    ("stan_soft", "stan", "mae_soft", "STAN (audio-visual) + soft attention"),
    ("stan_audio_binary", "stan_audio", "mae_binary", "STAN (audio) + binary attention"),
    ("stan_binary", "stan", "mae_binary", "STAN (audio-visual) + binary attention"),
    (None, "all_ones", "mae_binary", "all ones (every segment attended; soft = binary)"),
    (None, "uniform", "mae_soft", "uniform 0.5 (soft)"),
    (None, "event_prior", "mae_soft", "training split's event prior per segment (soft)"),
    (None, "event_prior", "mae_binary", "training split's event prior per segment (binary)"),
    (None, "stan_audio", "auc", "STAN (audio): ROC AUC per video (higher is better)"),
    (None, "stan", "auc", "STAN (audio-visual): ROC AUC per video (higher is better)"),
    (None, "event_prior", "auc", "event prior: ROC AUC per video (higher is better)"),
]


def write(config, inputs: dict, paper_numbers, out_csv, out_md, out_html=None):
    """inputs: {dataset: {"manifest": path, "stan": predictions, "stan_audio": predictions}}
    (predictions: one path or one per seed); paper_numbers: resources/paper_numbers.yaml. The
    paper's AVE, LLP and AVR columns are shown whether or not those datasets were run."""
    paper = yaml.safe_load(Path(paper_numbers).read_text())["stan"]["table3"]
    segments = config["clip"]["segments"]
    scores = {}
    for ds, files in inputs.items():
        scores[ds] = {m: temporal_scores(files[m], files["manifest"], segments) for m in MODELS}
        first = files["stan"] if isinstance(files["stan"], str | Path) else files["stan"][0]
        ids = np.load(first, allow_pickle=False)["video_ids"]
        scores[ds].update(baseline_scores(files["manifest"], ids, segments) or {})
    columns = [*PAPER_DATASETS, *(d for d in inputs if d not in PAPER_DATASETS)]
    rows = []
    for key, who, score, label in ROWS:
        row = {"method": label}
        for ds in columns:
            s = scores.get(ds, {}).get(who)
            row[f"{ds}_ours"] = None if s is None else s.get(score)
            row[f"{ds}_paper"] = paper.get(key, {}).get(ds) if key else None
        rows.append(row)
    frame = pd.DataFrame(rows)
    prov = record_provenance(config)
    annotated = ", ".join(
        f"{ds} {scores[ds]['stan']['videos'] if scores[ds]['stan'] else 0}" for ds in inputs
    )
    marked = [
        f"{ds}: {m} marks {scores[ds][m]['marked']:.0%} of the segments (>= 0.5)"
        for ds in inputs for m in MODELS if scores[ds].get(m)
    ]  # fmt: skip
    table = Table(
        "Table 3 — pointing game for sounds (MAE, lower is better; AUC, higher is better)",
        [
            "Time attention of the test videos against the binary mask of their annotated audio "
            "events; soft attention and attention binarised at 0.5, mean over the training "
            "seeds. Beside STAN, attentions that know nothing of the video: a binarised "
            "attention that marks every segment scores exactly the all-ones row, so STAN's "
            "binary MAE means something only below it. ROC AUC per video: 0.5 for any per-video "
            "constant. Paper numbers from resources/paper_numbers.yaml "
            f"({writer.DASH} where the paper has none, or the dataset was not run or has no "
            "annotated test video)."
        ],
        ["method", *(f"{ds} {w}" for ds in columns for w in ("ours", "paper"))],
        [
            [
                row["method"],
                *(number(row[f"{ds}_{w}"], 2) for ds in columns for w in ("ours", "paper")),
            ]
            for row in rows
        ],  # fmt: skip
        footer=[
            f"Annotated test videos: {annotated}.",
            f"Binarised attention: {'; '.join(marked)}." if marked else "",
            "",
            f"config hash {prov['config_hash']}, {prov['code_version']}",
        ],
    )
    writer.write(table, frame, out_csv, out_md, out_html, float_format="%.4f")
