"""The space attention of the localization models against synth's true boxes, beside STAN's
(docs/localization.md, "Attention as an explanation"): the AVE paper's audio-guided attention
(A+V-att), the same attention over AV-transformer regions, and the AV-transformer's instance
attention (AVOL), each averaged over its seeds (STAN too), scored with the pointing game of
avexplain.explain.pointing on the same test videos, beside the fixed-cell, random and uniform
baselines, with bootstrap intervals over videos (paired: every resample draws the same videos
for every method)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avexplain import names
from avexplain.data.manifest import read_manifest
from avexplain.explain import pointing
from avexplain.files import atomic_write
from avexplain.provenance import record_provenance

STAN = "stan"
BOOTSTRAP = 2000  # resamples of the test videos


def _per_video(space_attention, boxes_per_video):
    """(hits, seconds) per video of one set of space attentions."""
    hits, seconds = [], []
    for att, boxes in zip(space_attention, boxes_per_video, strict=True):
        h, _ = pointing.spatial_hits(att, boxes)
        hits.append(sum(h))
        seconds.append(len(h))
    return np.array(hits, float), np.array(seconds, float)


def _interval(hits: np.ndarray, seconds: np.ndarray, resamples: np.ndarray) -> list[float]:
    rates = hits[resamples].sum(1) / seconds[resamples].sum(1) * 100
    return [float(np.percentile(rates, 2.5)), float(np.percentile(rates, 97.5))]


def score(
    config: dict,
    dataset: str,
    predictions: dict[str, list[str | Path]],
    stan_predictions: list[str | Path],
    manifest: str | Path,
    out_json: str | Path,
) -> dict:
    """`predictions`: {method key of names.LOCALIZATION_ATTENTION: predictions.npz per seed};
    `stan_predictions`: STAN's, per seed.
    Writes and returns the hit rates (percent of annotated seconds whose attention peak is in
    the sounding object's box), their 95 % bootstrap intervals, the paired differences and the
    ranking."""
    frame = read_manifest(manifest)
    boxes = {
        v: json.loads(b or "{}") for v, b in zip(frame["video_id"], frame["boxes"], strict=True)
    }
    loaded = {
        m: [np.load(p, allow_pickle=False) for p in files] for m, files in predictions.items()
    }
    loaded[STAN] = [np.load(p, allow_pickle=False) for p in stan_predictions]
    id_sets = [set(map(str, p["video_ids"])) for ps in loaded.values() for p in ps]
    first = [str(v) for v in loaded[STAN][0]["video_ids"]]
    ids = [v for v in first if all(v in s for s in id_sets) and boxes.get(v)]
    if not ids:
        raise ValueError(f"{dataset}: no test video with boxes is scored by every model")
    video_boxes = [boxes[v] for v in ids]
    t_max, *grid = loaded[STAN][0]["space_attention"].shape[1:]
    grid = tuple(grid)

    per_method = {}
    for method, preds in loaded.items():
        seed_hits = []
        for p in preds:
            rows = {str(v): i for i, v in enumerate(p["video_ids"])}
            att = p["space_attention"][[rows[v] for v in ids]]
            if tuple(att.shape[2:]) != grid:
                raise ValueError(f"{method}: space attention {att.shape[2:]} is not on {grid}")
            hits, seconds = _per_video(att, video_boxes)
            seed_hits.append(hits)
        per_method[method] = (np.mean(seed_hits, axis=0), seconds, len(preds))

    train_ids = frame.loc[frame["split"] == "train", "video_id"]
    fixed_map = pointing.best_fixed_cell([boxes[v] for v in train_ids if boxes.get(v)], grid, t_max)
    cells = np.argwhere(fixed_map > 0).tolist()
    fixed = np.array(
        [sum(pointing.fixed_cell_hits(fixed_map, b, grid, t_max)) for b in video_boxes]
    )
    seed, draws = config["seed"], config["explain"]["baseline_draws"]
    rng = np.random.default_rng([seed, 11])
    random = np.mean(
        [_per_video(rng.random((len(ids), t_max, *grid)), video_boxes)[0] for _ in range(draws)],
        axis=0,
    )
    chance = np.array(
        [sum(pointing.spatial_hits(np.zeros((t_max, *grid)), b)[1]) for b in video_boxes]
    )
    baselines = {
        "fixed_cell": (fixed.astype(float), cells),
        "random": (random, draws),
        "uniform": (chance, None),
    }

    resamples = np.random.default_rng([seed, 12]).integers(0, len(ids), (BOOTSTRAP, len(ids)))
    seconds = per_method[STAN][1]

    def entry(hits, **extra):
        return {
            "hit_rate": float(hits.sum() / seconds.sum() * 100),
            "ci95": _interval(hits, seconds, resamples),
            **extra,
        }

    methods = {m: entry(h, seeds=n, model=_model_of(m)) for m, (h, _, n) in per_method.items()}
    base = {
        "fixed_cell": entry(baselines["fixed_cell"][0], cells=cells),
        "random": entry(baselines["random"][0], draws=draws),
        "uniform": entry(baselines["uniform"][0]),
    }
    everything = {**{m: per_method[m][0] for m in per_method}, "fixed_cell": fixed.astype(float)}
    everything["random"] = random
    differences = {}
    for a in per_method:
        for b in [*per_method, "fixed_cell", "random"]:
            if a == b or f"{b} - {a}" in differences:
                continue
            diff = (everything[a][resamples].sum(1) - everything[b][resamples].sum(1)) / seconds[
                resamples
            ].sum(1)
            differences[f"{a} - {b}"] = {
                "difference": float((everything[a].sum() - everything[b].sum()) / seconds.sum())
                * 100,
                "ci95": [
                    float(np.percentile(diff, 2.5) * 100),
                    float(np.percentile(diff, 97.5) * 100),
                ],
            }
    report = {
        "dataset": dataset,
        "videos": len(ids),
        "seconds": int(seconds.sum()),
        "grid": list(grid),
        "methods": methods,
        "baselines": base,
        "differences": differences,
        "ranking": sorted(methods, key=lambda m: -methods[m]["hit_rate"]),
        "bootstrap": {"resamples": BOOTSTRAP, "unit": "test video", "paired": True},
        "provenance": record_provenance(config),
    }
    atomic_write(out_json, json.dumps(report, indent=1) + "\n")
    return report


def _model_of(method: str) -> str:
    if method == STAN:
        return "stan"
    family, model = names.LOCALIZATION_ATTENTION[method]
    return f"{family}/{model}"
