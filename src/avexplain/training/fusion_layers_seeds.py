"""The seeds of the fusion-layers models of one dataset -> each model's metrics.json (mean and
std over seeds) with the paired comparisons Table 1 prints (seconds of bookkeeping).

Paired comparison of model A against model B: per test video, A's and B's correctness are
averaged over the seeds both have; the difference of the means is the estimate and a
percentile bootstrap over test videos (the same resampled videos for both models) its interval.
Seeds are averaged, not resampled: they share the test videos, which are the noise that
decides whether a few points of accuracy are real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avexplain.names import FUSION_LAYERS
from avexplain.training.fusion_readouts import vote

# (model, against): the comparisons each aggregated metrics.json carries (Table 1's claims)
COMPARISONS = {
    "fusion_layers": ("naive_av",),  # the vote against late fusion
    "naive_av": ("uni_audio", "uni_vision"),  # late fusion against each single stream
}


def correct_by_video(predictions: Path, rule: str = "plurality", confidence: str = "logit"):
    """(video ids, (N,) bool): whether the model's vote is one of each test video's labels."""
    with np.load(predictions) as data:
        ids, targets, logits = data["video_ids"], data["targets"], data["layer_logits"]
    predicted = vote(logits, rule, confidence)
    return ids, targets[np.arange(len(targets)), predicted] > 0


def paired_interval(a: np.ndarray, b: np.ndarray, resamples: int, confidence: float, seed=0):
    """Mean of a - b over videos (percent) and its percentile-bootstrap interval; a and b are
    (N,) per-video accuracies of two models on the same videos (already seed-averaged)."""
    diff = 100 * (np.asarray(a, float) - np.asarray(b, float))
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {
        "difference": float(diff.mean()),
        "low": float(low),
        "high": float(high),
        "confidence": confidence,
        "resamples": resamples,
        "videos": len(diff),
    }


def _mean_std(values: list) -> tuple:
    """Mean and std (ddof 1; 0 for one seed) of numbers or of dicts of numbers, recursively."""
    if isinstance(values[0], dict):
        pairs = {k: _mean_std([v[k] for v in values]) for k in values[0]}
        return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def aggregate(
    seed_dirs: dict[str, list[str | Path]],
    outputs: dict[str, str | Path],
    bootstrap: dict,
    vote_rule: str = "plurality",
    confidence: str = "logit",
) -> dict:
    """Write `outputs[model]` (metrics.json) from the seed folders `seed_dirs[model]` (each
    with metrics.json and predictions.npz); returns {model: record}. `bootstrap`: resamples
    and confidence of the paired intervals; `vote_rule`, `confidence`: the vote's settings."""
    records, correct = {}, {}
    for model, dirs in seed_dirs.items():
        seeds = [json.loads(Path(d, "metrics.json").read_text()) for d in dirs]
        if not seeds:
            raise ValueError(f"{outputs[model]}: no seed to aggregate")
        correct[model] = {}
        for d, record in zip(dirs, seeds, strict=True):
            ids, ok = correct_by_video(Path(d, "predictions.npz"), vote_rule, confidence)
            correct[model][record["seed"]] = dict(zip(ids.tolist(), ok, strict=True))
        records[model] = seeds
    out = {}
    for model, seeds in records.items():
        scalar = {k: v for k, v in seeds[0]["test"].items() if k != "modality_bias"}
        mean, std = _mean_std([{k: r["test"][k] for k in scalar} for r in seeds])
        result = {
            "dataset": seeds[0]["dataset"],
            "model": model,
            "family": "fusion_layers",
            "recipe": seeds[0]["recipe"],
            "seeds": [r["seed"] for r in seeds],
            "test_videos": seeds[0]["test_videos"],
            "mean": mean,
            "std": std,
            "per_seed": {
                str(r["seed"]): {"test": r["test"], "val": r["val"], "best_epoch": r["best_epoch"]}
                for r in seeds
            },
            "metrics": (
                "percent; top1: video accuracy of the vote over the layers (a prediction is "
                "correct when it is one of the video's labels), layer_accuracy: each layer's "
                "top-1, set_f1 / top_n_f1: sample-averaged F1 of label sets"
            ),
            "provenance": seeds[0]["provenance"],
        }
        if "modality_bias" in seeds[0]["test"]:
            result["modality_bias"] = pooled_bias(
                [np.asarray(r["test"]["modality_bias"]["votes"]) for r in seeds],
                seeds[0]["classes"],
            )
        result["comparisons"] = {
            other: paired_interval(
                *_paired(correct[model], correct[other]),
                bootstrap["resamples"],
                bootstrap["confidence"],
            )
            for other in COMPARISONS.get(model, ())
            if other in correct
        }
        weights = _feature_weights(result["provenance"])
        result["provenance"]["feature_weights"] = weights
        result["demo_note"] = any(str(w).startswith("random") for w in weights.values())
        if result["demo_note"]:
            result["note"] = (
                "features from backbones with random weights (offline demo): these numbers test "
                "the pipeline and must not be compared with the paper's"
            )
        Path(outputs[model]).parent.mkdir(parents=True, exist_ok=True)
        Path(outputs[model]).write_text(json.dumps(result, indent=1) + "\n")
        out[model] = result
    return out


def _paired(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray]:
    """Seed-averaged per-video correctness of two models over their common seeds and videos."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("the two models share no seed")
    videos = sorted(set.intersection(*(set(a[s]) & set(b[s]) for s in seeds)))
    mean = [np.mean([[m[s][v] for v in videos] for s in seeds], axis=0) for m in (a, b)]
    return mean[0], mean[1]


def pooled_bias(votes: list[np.ndarray], classes: list[str]) -> dict:
    """Table 3 from the (video, label) votes of every seed pooled: each category goes to the
    layer with most votes (ties: the first layer in order; categories without test videos are
    unassigned); `counts` per layer, `votes` per category for the bar figure."""
    total = np.sum(votes, axis=0)
    assignment = np.where(total.sum(1) > 0, total.argmax(1), -1)
    return {
        "layers": list(FUSION_LAYERS),
        "classes": list(classes),
        "votes": total.tolist(),
        "assignment": assignment.tolist(),
        "counts": {name: int((assignment == i).sum()) for i, name in enumerate(FUSION_LAYERS)},
        "seeds_pooled": len(votes),
    }


def _feature_weights(provenance: dict) -> dict[str, str]:
    weights = {}
    for kind, attrs in (provenance.get("features") or {}).items():
        if isinstance(attrs, dict) and "weights" in attrs:
            weights[kind] = str(attrs["weights"])
        elif isinstance(attrs, dict) and "members" in attrs:
            for member, info in attrs["members"].items():
                weights[f"{kind}/{member}"] = str(info.get("weights"))
    return weights
