"""The claims the localization families' acceptance tests make on synth, each as a paired
comparison on the test videos: results/tables/localization_comparisons.{csv,md,html}.

A model's score per test video is the percent of the video's segments whose top class is in
their set (the segment accuracy of the tables), averaged over the model's seeds; the difference
from its control is taken per video, and its mean over the videos comes with the 95 % interval of
a paired bootstrap (`comparisons.paired_bootstrap`). The issues ask some claims of the interval
(it must exclude the threshold's side of 0) and others of the mean only, where one seed or the
grid's size makes an interval per row too strict a bar; every row names its criterion and
`holds` applies it. The acceptance tests (tests/test_localization_acceptance.py) assert these
rows. Orderings the papers report but synth cannot promise are in the paper tables only."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from avexplain import names, paths
from avexplain.provenance import record_provenance
from avexplain.tables import comparisons, writer
from avexplain.tables import localization as avloctables
from avexplain.tables.writer import Table, number
from avexplain.training.metrics import segment_hits

TABLE = "localization_comparisons"
SUPERVISED = ("a", "v", "v_att", "av", "av_att")
UNIMODAL = {("avel", m) for m in ("a", "v", "w_a", "w_v")}
BACKGROUND = "all background"


@dataclass(frozen=True)
class Criterion:
    """`mean op threshold`, and with `interval` also the interval on that side of 0."""

    op: str  # '>', '>=' or '<'
    threshold: float = 0.0
    interval: bool = False

    def __str__(self) -> str:
        sign = {">": ">", ">=": "≥", "<": "<"}[self.op]
        text = f"mean {sign} {self.threshold:g}"
        return text + (f", interval {'<' if self.op == '<' else '>'} 0" if self.interval else "")

    def holds(self, stats: dict) -> bool:
        compare = {">": operator.gt, ">=": operator.ge, "<": operator.lt}[self.op]
        if not compare(stats["mean"], self.threshold):
            return False
        return not self.interval or comparisons.verdict(stats, "<" if self.op == "<" else ">")


def _is_weak(family: str, model: str) -> bool:
    return names.avt_parse(model).weak if family == "avt" else names.is_weak_localization(model)


def per_video(predictions) -> np.ndarray:
    """Segment accuracy (percent) of every test video of one seed's predictions.npz."""
    pred = np.load(predictions, allow_pickle=False)
    return segment_hits(pred["targets"], pred["segment_scores"].argmax(-1)).mean(axis=1) * 100


def all_background(predictions) -> np.ndarray:
    """Per video, the accuracy of answering background (the last class) in every segment."""
    targets = np.load(predictions, allow_pickle=False)["targets"]
    background = np.full(targets.shape[:2], targets.shape[-1] - 1)
    return segment_hits(targets, background).mean(axis=1) * 100


def avt_audio_visual_models() -> list[tuple[str, str]]:
    """Every audio-visual model of the AV-transformer's tables (AVEL-family rows included)."""
    cells = {c for t in ("avt_table1", "avt_table2", "avt_table3") for c in avloctables.models(t)}
    return sorted(cells - UNIMODAL)


def temporal_classifier_rows() -> dict[str, list[str]]:
    """The AV-transformer Table 2 models of each classifier, in the table's row order."""
    rows: dict[str, list[str]] = {}
    for (_, classifier), spec in names.avt_table2().items():
        rows.setdefault(classifier, []).append(spec.name)
    return rows


def models() -> list[tuple[str, str]]:
    """(family, model) of every segment model the claims read."""
    avel = [*SUPERVISED, *(f"w_{m}" for m in SUPERVISED), *names.LOCALIZATION_GROUPS["avel_table2"]]
    avt = [("avt", m) for ms in temporal_classifier_rows().values() for m in ms]
    return list(dict.fromkeys([*(("avel", m) for m in avel), *avt_audio_visual_models(), *avt]))


def input_key(family: str, model: str) -> str:
    """A rule's input name for a model's predictions (model names hold no double underscore)."""
    return f"{family}__{model}"


def inputs(config: dict, dataset: str) -> dict[str, list[str] | str]:
    """Per model its seeds' predictions (`input_key`), and AVDLN's aggregated metrics."""
    from avexplain.training import localization_runs as avlocruns

    files: dict[str, list[str] | str] = {
        input_key(f, m): avlocruns.seed_predictions(config, dataset, f, m) for f, m in models()
    }
    files["avdln"] = paths.localization_metrics(dataset, "avel", "avdln")
    return files


def _row(group, claim, criterion: Criterion, diff, draws, seed, seeds: tuple[int, int]) -> dict:
    """`seeds`: how many seeds the model's and the control's scores average (0: an anchor)."""
    stats = comparisons.paired_bootstrap(diff, draws, seed)
    return {"group": group, "claim": claim, "criterion": str(criterion), **stats,
            "seeds": seeds[0], "control_seeds": seeds[1],
            "holds": criterion.holds(stats)}  # fmt: skip


def evidence(scores: dict, background: np.ndarray, avdln: dict, draws=10000, seed=0,
             avdln_seeds: int = 0) -> list[dict]:  # fmt: skip
    """Every claim's row. `scores[(family, model)]`: per-video accuracy (seeds, N); `background`:
    the per-video all-background anchor (N,); `avdln`: AVDLN's aggregated `mean` record."""
    mean = {k: np.asarray(v, dtype=float).mean(axis=0) for k, v in scores.items()}
    n = {k: len(v) for k, v in scores.items()}
    rows = []
    table1 = "AVE Table 1"
    for m in SUPERVISED:  # every supervised model above answering background everywhere
        rows.append(_row(table1, f"{m} > {BACKGROUND}", Criterion(">", interval=True),
                         np.asarray(scores[("avel", m)]) - background, draws, seed,
                         (n[("avel", m)], 0)))  # fmt: skip
    for m in ("a", "v"):  # A+V at least 5 points above each modality alone
        rows.append(_row(table1, f"av > {m} + 5", Criterion(">=", 5, interval=True),
                         mean[("avel", "av")] - mean[("avel", m)], draws, seed,
                         (n[("avel", "av")], n[("avel", m)])))  # fmt: skip
    for m in SUPERVISED:  # weak training below its supervised twin (the mean)
        rows.append(_row(table1, f"w_{m} < {m}", Criterion("<"),
                         mean[("avel", f"w_{m}")] - mean[("avel", m)], draws, seed,
                         (n[("avel", f"w_{m}")], n[("avel", m)])))  # fmt: skip
    for direction in ("a2v", "v2a"):  # cross-modality localization: no per-video scores
        diff = avdln[direction] - avdln["chance"]
        stats = {"mean": float(diff), "low": np.nan, "high": np.nan, "videos": 0,
                 "seeds": avdln_seeds, "control_seeds": 0, "per_seed": []}  # fmt: skip
        criterion = Criterion(">=", 10)
        rows.append({"group": "AVE Table 3", "claim": f"avdln {direction} > chance + 10",
                     "criterion": str(criterion), **stats,
                     "holds": criterion.holds(stats)})  # fmt: skip
    best = max(("a", "v"), key=lambda m: mean[("avel", m)].mean())
    for m in names.LOCALIZATION_GROUPS["avel_table2"]:  # fusion: at most 2 points below
        rows.append(_row("AVE Table 2", f"{m} > {best} - 2", Criterion(">", -2),
                         mean[("avel", m)] - mean[("avel", best)], draws, seed,
                         (n[("avel", m)], n[("avel", best)])))  # fmt: skip
    for family, m in avt_audio_visual_models():  # above the unimodal LSTMs and background
        weak = "w_" if _is_weak(family, m) else ""
        controls = {f"{weak}{u}": ("avel", f"{weak}{u}") for u in ("a", "v")}
        for name, key in [*controls.items(), (BACKGROUND, None)]:
            control, control_seeds = (background, 0) if key is None else (mean[key], n[key])
            rows.append(_row("AV-transformer", f"{m} > {name}", Criterion(">"),
                             mean[(family, m)] - control, draws, seed,
                             (n[(family, m)], control_seeds)))  # fmt: skip
    classifiers = temporal_classifier_rows()
    mlp = np.mean([mean[("avt", m)] for m in classifiers["mlp"]], axis=0)
    mlp_seeds = n[("avt", classifiers["mlp"][0])]
    for classifier in ("lstm", "avsdn", "avel"):  # over the eight rows of Table 2
        ours = np.mean([mean[("avt", m)] for m in classifiers[classifier]], axis=0)
        seeds = (n[("avt", classifiers[classifier][0])], mlp_seeds)
        claim = f"{classifier} classifier > mlp classifier"
        rows.append(_row("AV-transformer Table 2", claim, Criterion(">", interval=True),
                         ours - mlp, draws, seed, seeds))  # fmt: skip
    return rows


def write(config: dict, dataset: str, files: dict, outputs: dict) -> list[dict]:
    """Read the predictions of `files` (as `inputs` names them), write the table's csv, md and
    html, and return its rows."""
    scores = {
        tuple(key.split("__", 1)): np.stack([per_video(p) for p in preds])
        for key, preds in files.items()
        if key != "avdln"
    }
    background = all_background(files[input_key("avel", "a")][0])
    avdln = json.loads(Path(files["avdln"]).read_text())
    draws, seed = config["explain"]["bootstrap_draws"], config["seed"]
    rows = evidence(scores, background, avdln["mean"], draws, seed, len(avdln["seeds"]))
    frame = pd.DataFrame(rows)
    frame["per_seed"] = [";".join(f"{v:.4f}" for v in r["per_seed"]) for r in rows]
    prov = record_provenance(config)
    table = Table(
        f"Evidence on {dataset}: the localization families' claims with bootstrap intervals",
        [
            "Per test video, the segment accuracy (percent) averaged over each model's seeds, "
            "minus its control's; the mean over the videos and the 95% interval of a paired "
            f"bootstrap over the videos ({draws} resamples); seeds: the model's and the control's "
            "(none for an anchor or chance). Each row's criterion is the one its "
            "acceptance test applies: of the interval where the claim is made of one model "
            "pair, of the mean where a model has one seed or a grid of models is compared; "
            "'no' means the run does not show it (it is not hidden). Paper orderings that synth "
            "cannot promise are in the paper tables only."
        ],
        ["group", "claim", "seeds", "criterion", "mean", "95% interval", "holds"],
        [
            [
                r["group"],
                r["claim"],
                f"{r['seeds']} vs {r['control_seeds']}" if r["control_seeds"] else str(r["seeds"]),
                r["criterion"],
                number(r["mean"], 2),
                "–" if np.isnan(r["low"]) else f"[{number(r['low'], 2)}, {number(r['high'], 2)}]",
                "yes" if r["holds"] else "**no**",
            ]
            for r in rows
        ],
        align=["---", "---", "---:", "---", "---:", "---:", "---"],
        footer=[f"config hash {prov['config_hash']}, {prov['code_version']}"],
    )
    writer.write(table, frame, outputs["csv"], outputs["md"], outputs.get("html"),
                 float_format="%.6f")  # fmt: skip
    return rows
