"""The claims the synth acceptance tests make, each as a paired comparison on the test videos
with a bootstrap interval: STAN against every unimodal model (per-video mAP), each perturbation
mask against its same-size random control (per-video TVD), STAN's pointing against attentions
that know nothing of the video (per-video hit rate and time AUC).

Statistics: per video, the difference A - B averaged over the training seeds; its mean over the
videos is the estimate, and a paired bootstrap over the videos (the same resampled videos for A
and B, `explain.bootstrap_draws` resamples, seeded) gives the 95 % percentile interval. A claim
holds when the interval lies on the expected side of 0. Seeds are averaged, not resampled: with
three seeds a bootstrap over seeds says little; their spread is in `per_seed`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from avexplain.names import UNIMODAL
from avexplain.provenance import record_provenance
from avexplain.tables import writer
from avexplain.tables.writer import Table, number
from avexplain.training.metrics import label_ranking_ap

LEVEL = 0.95


def paired_bootstrap(diff, draws: int = 10000, seed: int = 0) -> dict:
    """Mean and 95 % percentile interval of per-video differences (seeds, N) or (N,): seeds
    averaged per video first, videos without a value (NaN) left out, videos resampled."""
    d = np.asarray(diff, dtype=float)
    per_seed = d if d.ndim == 2 else d[None]
    video = np.nanmean(per_seed, axis=0) if per_seed.shape[0] > 1 else per_seed[0]
    keep = np.isfinite(video)
    video = video[keep]
    if len(video) == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "videos": 0,
                "seeds": int(per_seed.shape[0]), "per_seed": []}  # fmt: skip
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(video), size=(draws, len(video)))
    means = video[idx].mean(axis=1)
    low, high = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return {
        "mean": float(video.mean()), "low": float(low), "high": float(high),
        "videos": int(len(video)), "seeds": int(per_seed.shape[0]),
        "per_seed": [float(np.nanmean(s[keep])) for s in per_seed],
    }  # fmt: skip


def verdict(stats: dict, expect: str) -> bool:
    """Whether the interval lies on the expected side of 0 (`expect` '>' or '<')."""
    if expect == ">":
        return bool(stats["low"] > 0)
    if expect == "<":
        return bool(stats["high"] < 0)
    raise ValueError(f"expect must be '>' or '<', got {expect!r}")


def _row(claim: str, metric: str, expect: str, diff, draws: int, seed: int) -> dict:
    stats = paired_bootstrap(diff, draws, seed)
    return {"claim": claim, "metric": metric, "expect": f"{expect} 0", **stats,
            "holds": verdict(stats, expect)}  # fmt: skip


# --- the evidence of each kind -------------------------------------------------------------


def per_video_map(predictions) -> np.ndarray:
    """Label-ranking AP of every test video (percent), the per-video terms of the mAP."""
    pred = np.load(predictions, allow_pickle=False)
    return label_ranking_ap(pred["targets"], pred["scores"]) * 100


def recognition_evidence(stan: list, others: dict[str, list], draws=10000, seed=0) -> list[dict]:
    """STAN minus each other model, per-video mAP; `stan`, `others[m]`: predictions per seed
    (the same seeds, in order)."""
    a = np.stack([per_video_map(p) for p in stan])
    rows = []
    for model, preds in others.items():
        b = np.stack([per_video_map(p) for p in preds])
        rows.append(_row(f"stan > {model}", "test mAP per video (points)", ">", a - b, draws, seed))
    return rows


PERTURBATION_LEVELS = "mean over the noise levels > 0"


def perturbation_evidence(record: dict, model: str = "stan", draws=10000, seed=0) -> list[dict]:
    """Relevant TVD above its same-size random control, irrelevant TVD below its control;
    per video, the TVD averaged over the noise levels > 0 (perturbation.json)."""
    levels = np.asarray(record["noise_variances"]) > 0
    tvd = {
        m: np.asarray(v, dtype=float)[..., levels].mean(axis=-1)
        for m, v in record["tvd_per_video"].items()
    }  # (seeds, N) each
    return [
        _row(f"{model}: relevant > same-size random", f"TVD, {PERTURBATION_LEVELS}", ">",
             tvd["relevant"] - tvd["relevant_random"], draws, seed),
        _row(f"{model}: irrelevant < same-size random", f"TVD, {PERTURBATION_LEVELS}", "<",
             tvd["irrelevant"] - tvd["irrelevant_random"], draws, seed),
    ]  # fmt: skip


SPACE_BASELINES = ("best_fixed_cell", "centre", "saliency", "uniform", "random")
# the map read at the end the validation split points with (pointing.orientation), against
# the baselines that know where objects tend to be
ORIENTED_BASELINES = ("best_fixed_cell", "saliency")
ORIENTED = "space, sign from validation"
TIME_BASELINES = ("uniform", "event_prior", "random")


def pointing_evidence(report: dict, model: str = "stan", draws=10000, seed=0) -> list[dict]:
    """STAN's space hit rate above each space baseline, its per-video time AUC above each time
    baseline (uniform = any per-video constant), from ground_truth.json; the per-seed scores
    of the model (`per_seed`) give the seed axis where recorded."""
    rows = []
    space = report.get("spatial") or {}
    readings = (("model", "space", SPACE_BASELINES), ("oriented", ORIENTED, ORIENTED_BASELINES))
    for reading, name, baselines in readings:
        if reading not in space:
            continue
        ours = np.asarray(space[reading]["per_video"], dtype=float)
        for base in (b for b in baselines if b in space):
            theirs = np.asarray(space[base]["per_video"], dtype=float)
            rows.append(_row(f"{model} {name} > {base.replace('_', ' ')}",
                             "hit rate per video", ">", ours - theirs, draws, seed))  # fmt: skip
    time = report.get("temporal") or {}
    if time:
        ours = np.asarray(time["model"]["per_video"]["auc"], dtype=float)
        for base in TIME_BASELINES:
            if base in time:
                theirs = np.asarray(time[base]["per_video"]["auc"], dtype=float)
                rows.append(_row(f"{model} time > {base.replace('_', ' ')}",
                                 "ROC AUC per video", ">", ours - theirs, draws, seed))  # fmt: skip
        ours = np.asarray(time["model"]["per_video"]["mae_binary"], dtype=float)
        theirs = np.asarray(time["all_ones"]["per_video"]["mae_binary"], dtype=float)
        rows.append(_row(f"{model} time binary MAE < all ones", "MAE per video", "<",
                         ours - theirs, draws, seed))  # fmt: skip
    return rows


# --- the table -------------------------------------------------------------------------------


def write(config, dataset, stan_predictions, unimodal_predictions: dict, perturbation_json,
          ground_truth_json, out_csv, out_md, out_html=None):  # fmt: skip
    """results/tables/{dataset}_comparisons: every claim with its mean difference over seeds,
    the paired bootstrap interval and whether it holds."""
    settings = config["explain"]
    draws, seed = settings["bootstrap_draws"], config["seed"]
    rows = recognition_evidence(list(stan_predictions),
                                {m: list(p) for m, p in unimodal_predictions.items()},
                                draws, seed)  # fmt: skip
    rows += perturbation_evidence(json.loads(Path(perturbation_json).read_text()), "stan",
                                  draws, seed)  # fmt: skip
    rows += pointing_evidence(json.loads(Path(ground_truth_json).read_text()), "stan", draws, seed)
    frame = pd.DataFrame(rows)
    frame["per_seed"] = [";".join(f"{v:.4f}" for v in r["per_seed"]) for r in rows]
    prov = record_provenance(config)
    seeds = max(r["seeds"] for r in rows)
    table = Table(
        f"Evidence on {dataset}: each claim as a paired comparison with a bootstrap interval",
        [
            f"Per test video, the difference A − B averaged over {seeds} training seed(s); its mean "
            f"over the videos and the {LEVEL:.0%} interval of a paired bootstrap over the videos "
            f"({draws} resamples). A claim holds when the interval excludes 0 on the expected "
            "side; 'no' means the run does not show it (it is not hidden). Per-seed means in the "
            "CSV. Perturbation: each mask against a random mask of the same size per video and "
            "time step; TVD averaged over the noise levels > 0."
        ],
        ["claim", "metric", "expect", "mean", "95% interval", "videos", "holds"],
        [
            [
                r["claim"],
                r["metric"],
                r["expect"],
                number(r["mean"], 4),
                f"[{number(r['low'], 4)}, {number(r['high'], 4)}]",
                str(r["videos"]),
                "yes" if r["holds"] else "**no**",
            ]
            for r in rows
        ],  # fmt: skip
        align=["---", "---", "---", "---:", "---:", "---:", "---"],
        footer=[f"config hash {prov['config_hash']}, {prov['code_version']}"],
    )
    writer.write(table, frame.drop(columns=["per_seed"]).assign(per_seed=frame["per_seed"]),
                 out_csv, out_md, out_html, float_format="%.6f")  # fmt: skip


def inputs(config: dict, dataset: str, seeds: list[int]) -> dict:
    """The files of the comparisons table of one dataset."""
    from avexplain import paths

    files = {
        "stan": [paths.trained(dataset, "stan", s, "predictions.npz") for s in seeds],
        "perturbation": paths.perturbation(dataset, "stan", "json"),
        "ground_truth": paths.ground_truth(dataset, "stan"),
    }
    for m in UNIMODAL:
        files[m] = [paths.trained(dataset, m, s, "predictions.npz") for s in seeds]
    return files
