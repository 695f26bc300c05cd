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


def inputs(config: dict) -> dict[str, str]:
    """`{dataset}_manifest`, `{dataset}_stan` and `{dataset}_stan_audio` (the test predictions
    of the explained seed) of every dataset of the table."""
    files = {}
    for d in datasets(config):
        seed = section_for(config, "train", d)["seeds"][0]
        files[f"{d}_manifest"] = paths.manifest(d)
        for m in ("stan", "stan_audio"):
            files[f"{d}_{m}"] = paths.trained(d, m, seed, "predictions.npz")
    return files


def temporal_scores(predictions, manifest, segments: int) -> dict | None:
    """MAE soft/binary of a model's test time attention against the audio event annotations;
    None when the dataset has no annotated test video."""
    pred = np.load(predictions, allow_pickle=False)
    if "time_attention" not in pred.files:
        raise ValueError(f"{predictions}: no time_attention; the pointing game needs one")
    masks, rows = pointing.annotated(read_manifest(manifest), pred["video_ids"], segments)
    if len(rows) == 0:
        return None
    return pointing.temporal_game(pred["time_attention"][rows], masks)


ROWS = [  # (paper key, model, binary, label)
    ("stan_audio_soft", "stan_audio", False, "STAN (audio) + soft attention"),
    ("stan_soft", "stan", False, "STAN (audio-visual) + soft attention"),
    ("stan_audio_binary", "stan_audio", True, "STAN (audio) + binary attention"),
    ("stan_binary", "stan", True, "STAN (audio-visual) + binary attention"),
]


def write(config, inputs: dict, paper_numbers, out_csv, out_md, out_html=None):
    """inputs: {dataset: {"manifest": path, "stan": predictions, "stan_audio": predictions}};
    paper_numbers: resources/paper_numbers.yaml."""
    paper = yaml.safe_load(Path(paper_numbers).read_text())["stan"]["table3"]
    segments = config["clip"]["segments"]
    scores = {
        ds: {
            m: temporal_scores(files[m], files["manifest"], segments)
            for m in ("stan", "stan_audio")
        }
        for ds, files in inputs.items()
    }
    rows = []
    for key, model, binary, label in ROWS:
        row = {"method": label}
        for ds in inputs:
            s = scores[ds][model]
            row[f"{ds}_ours"] = None if s is None else s["mae_binary" if binary else "mae_soft"]
            row[f"{ds}_paper"] = paper.get(key, {}).get(ds)
        rows.append(row)
    frame = pd.DataFrame(rows)
    prov = record_provenance(config)
    annotated = ", ".join(
        f"{ds} {scores[ds]['stan']['videos'] if scores[ds]['stan'] else 0}" for ds in inputs
    )
    table = Table(
        "Table 3 — pointing game for sounds (MAE, lower is better)",
        [
            "Time attention of the test videos against the binary mask of their annotated audio "
            "events; soft attention and attention binarised at 0.5. Paper numbers from "
            f"resources/paper_numbers.yaml ({writer.DASH} where the paper has none or no video "
            "is annotated)."
        ],
        ["method", *(f"{ds} {w}" for ds in inputs for w in ("ours", "paper"))],
        [
            [
                row["method"],
                *(number(row[f"{ds}_{w}"], 2) for ds in inputs for w in ("ours", "paper")),
            ]
            for row in rows
        ],
        footer=[
            f"Annotated test videos: {annotated}.",
            "",
            f"config hash {prov['config_hash']}, {prov['code_version']}",
        ],
    )
    writer.write(table, frame, out_csv, out_md, out_html, float_format="%.4f")
