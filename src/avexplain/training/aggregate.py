"""Seeds of one model on one dataset -> their mean and std (results/{dataset}/{model}/metrics.json).
Kept free of torch: the job is a second of bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def aggregate(seed_metrics: list[str | Path], out: str | Path) -> dict:
    """results/{dataset}/{model}/metrics.json: mean and std over seeds of the test metrics,
    every seed's record (without the epoch history), provenance and the demo flag."""
    records = [json.loads(Path(p).read_text()) for p in seed_metrics]
    if not records:
        raise ValueError(f"{out}: no seed to aggregate")
    names = list(records[0]["test"])
    values = {m: np.array([r["test"][m] for r in records]) for m in names}
    weights = _weights_of(records[0]["provenance"]["features"])
    random_weights = any(str(w).startswith("random") for w in weights.values())
    result = {
        "dataset": records[0]["dataset"],
        "model": records[0]["model"],
        "seeds": [r["seed"] for r in records],
        "mean": {m: float(v.mean()) for m, v in values.items()},
        "std": {m: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for m, v in values.items()},
        "per_seed": {
            str(r["seed"]): {k: r[k] for k in ("test", "val", "best_epoch", "device")}
            for r in records
        },
        "metrics": "percent; top1, mAP (label ranking AP), F (samples F1 at 0.5), class_mAP",
        "provenance": {**records[0]["provenance"], "feature_weights": weights},
        "demo_note": random_weights,
    }
    if random_weights:
        result["note"] = (
            "features from backbones with random weights (offline demo): these numbers test "
            "the pipeline and must not be compared with the paper's"
        )
    Path(out).write_text(json.dumps(result, indent=1) + "\n")
    return result


def _weights_of(features: dict) -> dict[str, str]:
    """{visual|audio[/member]: weights} from the stores' attributes."""
    weights = {}
    for kind, attrs in features.items():
        if "members" in attrs:
            for member, info in attrs["members"].items():
                weights[f"{kind}/{member}"] = str(info.get("weights"))
        else:
            weights[kind] = str(attrs.get("weights"))
    return weights
