"""Segment-level localization (the AVE paper, docs/localization.md): targets, metrics, the
background pairs of weak training, cross-modality queries, and a small training loop.

- Targets: T one-second targets per video over C+1 classes (background last) from the
  manifest's `audio_events` and `visual_events`: class c is active in second t when the overlap
  of c's heard and seen intervals covers at least half of [t, t+1) (AVE: the annotated event,
  both columns hold it; synth: the seconds where c is both heard and seen; merged AVE videos:
  the set of active classes). Datasets without segment annotations fail with their name.
- Metrics (percent): segment accuracy over every test segment, background included (a
  prediction is right when its argmax is in the segment's set), the all-background and
  majority anchors, and the exact-start sliding-window accuracy of cross-modality localization.
- Weak training: each epoch adds mismatched pseudo-videos (the audio of one training video with
  the visual features of another that cannot form a class with it) labelled background.
- `fit`: Adam over seeded shuffles, model selection on validation, reusing
  `avexplain.training.train.run_epoch` and `chunks_of`."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from avexplain import paths
from avexplain.data import manifest as avmanifest
from avexplain.data.datasets.ave import read_rows
from avexplain.data.segment_labels import SegmentLabelsMissing, require_segment_labels
from avexplain.models.avel import contrastive_loss, mil_pool
from avexplain.training import splits as avsplits
from avexplain.training import train as avtrain
from avexplain.training.metrics import segment_hits

log = logging.getLogger(__name__)

# The AVE code appends 178 background videos to its 3339 training rows; we add mismatched
# pairs in the same proportion of the training set.
BACKGROUND_RATIO = 178 / 3339
MIN_COVER = 0.5  # fraction of a second an audio-visual overlap must cover to label it

__all__ = [
    "SegmentLabelsMissing",
    "require_segment_labels",
    "segment_targets",
    "video_targets",
    "segment_accuracy",
    "anchor_accuracies",
    "mil_pool",
    "contrastive_loss",
    "background_count",
    "pair_conflicts",
    "mismatched_pairs",
    "Query",
    "cml_queries",
    "read_cml_split",
    "cml_queries_from_rows",
    "best_start",
    "cross_modal_localization",
    "Arrays",
    "load_arrays",
    "fit",
    "predict",
    "embed",
]


# --- targets ------------------------------------------------------------------------------


def _union(intervals) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for on, off in sorted(intervals):
        if merged and on <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], off)
        else:
            merged.append([on, off])
    return [(a, b) for a, b in merged]


def _overlap(audio, visual) -> list[tuple[float, float]]:
    """Intervals where both a (union of) audio and a (union of) visual interval are active."""
    pieces = []
    for a0, a1 in _union(audio):
        for v0, v1 in _union(visual):
            lo, hi = max(a0, v0), min(a1, v1)
            if lo < hi:
                pieces.append((lo, hi))
    return pieces


def segment_targets(
    frame: pd.DataFrame, classes: list[str], time_steps: int, dataset: str = "dataset"
) -> np.ndarray:
    """(N, T, C+1) float32 multi-hot targets of the manifest rows, background last."""
    index = {c: i for i, c in enumerate(classes)}
    c = len(classes)
    targets = np.zeros((len(frame), time_steps, c + 1), dtype=np.float32)
    annotated = False
    for row, (audio_json, visual_json) in enumerate(
        zip(frame["audio_events"], frame["visual_events"], strict=True)
    ):
        audio, visual = json.loads(audio_json), json.loads(visual_json)
        annotated |= bool(audio or visual)
        for label in {e[0] for e in audio} & {e[0] for e in visual}:
            if label not in index:
                raise ValueError(f"{dataset}: event label '{label}' is not in classes.txt")
            pieces = _overlap(
                [(on, off) for lb, on, off in audio if lb == label],
                [(on, off) for lb, on, off in visual if lb == label],
            )
            for t in range(time_steps):
                cover = sum(max(0.0, min(hi, t + 1) - max(lo, t)) for lo, hi in pieces)
                if cover >= MIN_COVER:
                    targets[row, t, index[label]] = 1.0
    if len(frame) and not annotated:
        raise SegmentLabelsMissing(
            f"{dataset}: no manifest row has audio or visual events, so segment-level "
            "localization targets cannot be made"
        )
    targets[..., c] = targets[..., :c].sum(-1) == 0
    return targets


def video_targets(frame: pd.DataFrame, classes: list[str], dataset: str = "dataset") -> np.ndarray:
    """(N, C+1) multi-hot video labels (the manifest's `labels`); the background column is 0."""
    labels = avsplits.multi_hot(frame["labels"].tolist(), classes, dataset)
    return np.concatenate([labels, np.zeros((len(frame), 1), np.float32)], axis=1)


# --- segment metrics ----------------------------------------------------------------------


def segment_accuracy(targets: np.ndarray, scores: np.ndarray) -> float:
    """Percent of all segments (N*T, background included) whose top class is in their set."""
    targets, scores = np.asarray(targets), np.asarray(scores)
    if targets.shape != scores.shape or targets.ndim != 3:
        raise ValueError(f"targets {targets.shape} and scores {scores.shape} must be (N,T,C+1)")
    return float(segment_hits(targets, scores.argmax(-1)).mean() * 100)


def anchor_accuracies(targets: np.ndarray, train_targets: np.ndarray | None = None) -> dict:
    """Segment accuracy of predicting background everywhere, and of predicting the most
    frequent class (counted on `train_targets`, else on `targets`) everywhere."""
    targets = np.asarray(targets)
    counts = np.asarray(targets if train_targets is None else train_targets).sum(axis=(0, 1))
    majority = int(counts.argmax())

    def constant(k: int) -> float:
        return float(segment_hits(targets, np.full(targets.shape[:2], k)).mean() * 100)

    return {
        "all_background": constant(targets.shape[-1] - 1),
        "majority": constant(majority),
        "majority_class": majority,
        "segments": int(np.prod(targets.shape[:2])),
    }


# --- background pairs for weak training ---------------------------------------------------


def background_count(n_train: int, ratio: float = BACKGROUND_RATIO) -> int:
    return int(round(ratio * n_train))


def pair_conflicts(
    frame: pd.DataFrame, classes: list[str], synth_config: dict | None = None
) -> np.ndarray:
    """(N, N) bool: True where the audio of video i with the visual features of video j may
    show a class, so the pair cannot serve as background. Rows share a label -> conflict. With
    `synth_config` (a synth manifest) every sound heard in i and object seen in j, distractors
    included (`synth.video_spec`), must not form any class either."""
    labels = avsplits.multi_hot(frame["labels"].tolist(), classes, "manifest")
    conflicts = labels @ labels.T > 0
    if synth_config is not None:
        from avexplain.data.datasets import synth  # only synth manifests need the generator

        pairs = synth.class_pairs(len(classes))
        forms = np.zeros((len(synth.OBJECTS), len(synth.SOUNDS)))
        for obj, snd in pairs:
            forms[obj, snd] = 1
        sounds = np.zeros((len(frame), len(synth.SOUNDS)))
        objects = np.zeros((len(frame), len(synth.OBJECTS)))
        for row, video_id in enumerate(frame["video_id"]):
            spec = synth.video_spec(int(video_id[len(synth.PREFIX) :]), synth_config)
            sounds[row, [a.kind for a in spec.audio]] = 1
            objects[row, [v.kind for v in spec.visual]] = 1
        conflicts |= sounds @ forms.T @ objects.T > 0
    return conflicts


def mismatched_pairs(conflicts: np.ndarray, count: int, seed: int, epoch: int):
    """`count` (audio row, visual row) pairs drawn uniformly among the allowed ones, seeded by
    (seed, epoch): audio i from the videos with any allowed partner, then visual j among them."""
    allowed = ~np.asarray(conflicts, dtype=bool)
    candidates = np.flatnonzero(allowed.any(1))
    if count and not len(candidates):
        raise ValueError("no pair of training videos can be mismatched (every pair conflicts)")
    rng = np.random.default_rng([seed, epoch, 1])
    audio_rows = rng.choice(candidates, size=count)
    visual_rows = np.array([rng.choice(np.flatnonzero(allowed[i])) for i in audio_rows], int)
    return audio_rows.astype(int), visual_rows


# --- cross-modality localization (Table 3) ------------------------------------------------


class Query(NamedTuple):
    video: int  # row of the feature arrays
    start: int
    length: int


def cml_queries(targets: np.ndarray) -> list[Query]:
    """One query per audio-visual interval (a run of seconds with the same non-background
    class set) shorter than the clip, in video and time order."""
    targets = np.asarray(targets) > 0
    n, t_max = targets.shape[:2]
    queries = []
    for n_row in range(n):
        t = 0
        while t < t_max:
            current = targets[n_row, t]
            end = t + 1
            while end < t_max and (targets[n_row, end] == current).all():
                end += 1
            if not current[-1] and end - t < t_max:
                queries.append(Query(n_row, t, end - t))
            t = end
    return queries


def read_cml_split(path: str | Path) -> list[tuple[str, int, int]]:
    """(video_id, start, end) of each row of an AVE `cml_*Set.txt` file."""
    return [(r.video_id, r.start, r.end) for r in read_rows(Path(path), str(path))]


def cml_queries_from_rows(rows, video_ids, time_steps: int) -> tuple[list[Query], dict]:
    """Queries of annotation rows (AVE's cross-modality split) on feature rows `video_ids`.
    Rows whose video has no features, and events that are empty or span the whole clip (no
    window to choose: the code's `if np.sum(x_test) == 10: continue`) are skipped and counted."""
    where = {v: i for i, v in enumerate(video_ids)}
    queries, skipped = [], {"no_features": 0, "empty": 0, "whole_clip": 0}
    for video_id, start, end in rows:
        if video_id not in where:
            skipped["no_features"] += 1
        elif end <= start:
            skipped["empty"] += 1
        elif end - start >= time_steps:
            skipped["whole_clip"] += 1
        else:
            queries.append(Query(where[video_id], int(start), int(end - start)))
    return queries, skipped


def best_start(query: np.ndarray, target: np.ndarray) -> int:
    """argmin over t of sum_s |target[t+s] - query[s]| (Euclidean), the first on ties."""
    length = len(query)
    windows = np.lib.stride_tricks.sliding_window_view(target, length, axis=0)  # (W, d, l)
    scores = np.linalg.norm(windows - query.T[None], axis=1).sum(-1)
    return int(np.argmin(scores))


def cross_modal_localization(visual: np.ndarray, audio: np.ndarray, queries) -> dict:
    """Exact-start accuracy (percent) of A2V (audio query slid over the same video's visual
    embeddings) and V2A, over the queries; chance = mean of 1/(T - l + 1)."""
    visual, audio = np.asarray(visual, np.float64), np.asarray(audio, np.float64)
    if not queries:
        raise ValueError("cross-modality localization needs at least one query")
    t_max = visual.shape[1]
    good = {"a2v": 0, "v2a": 0}
    for q in queries:
        span = slice(q.start, q.start + q.length)
        good["a2v"] += best_start(audio[q.video, span], visual[q.video]) == q.start
        good["v2a"] += best_start(visual[q.video, span], audio[q.video]) == q.start
    n = len(queries)
    return {
        "a2v": 100 * good["a2v"] / n,
        "v2a": 100 * good["v2a"] / n,
        "chance": 100 * float(np.mean([1 / (t_max - q.length + 1) for q in queries])),
        "queries": n,
    }


# --- training -----------------------------------------------------------------------------


@dataclass
class Arrays:
    """One split in memory: visual (N,T,H,W,Dv) or (N,T,Dv), audio (N,T,Da), segment targets
    (N,T,C+1) and video targets (N,C+1) (weak models train on these)."""

    visual: torch.Tensor
    audio: torch.Tensor
    targets: torch.Tensor
    video_targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.audio)

    def to(self, device) -> Arrays:
        move = [None if t is None else t.to(device) for t in (self.targets, self.video_targets)]
        return Arrays(self.visual.to(device), self.audio.to(device), *move)


def load_arrays(
    config: dict,
    dataset: str,
    split: str,
    root: str | Path = ".",
    *,
    visual_backbone: str | None = None,
    audio_backbone: str | None = None,
    workers: int = 4,
) -> tuple[Arrays, np.ndarray]:
    """A split's features (`avsplits.open_split`, standardised as configured; the backbones
    default to `models.*_backbone`) with its segment and video targets, and its video ids."""
    require_segment_labels(config, dataset, [split])
    models = dict(config["models"])
    models["visual_backbone"] = visual_backbone or models["visual_backbone"]
    models["audio_backbone"] = audio_backbone or models["audio_backbone"]
    config = {**config, "models": models}
    lazy = avsplits.open_split(config, dataset, split, root)
    frame = avmanifest.read_manifest(Path(root) / paths.manifest(dataset)).set_index("video_id")
    rows = frame.loc[list(lazy.video_ids)].reset_index()
    classes = avmanifest.read_classes(Path(root) / paths.classes(dataset))
    seg = segment_targets(rows, classes, lazy.visual_shape[1], f"{dataset}/{split}")
    video = video_targets(rows, classes, f"{dataset}/{split}")
    loaded = lazy.load(workers)
    arrays = Arrays(loaded.visual, loaded.audio, torch.from_numpy(seg), torch.from_numpy(video))
    return arrays, lazy.video_ids


class Projection(NamedTuple):
    """Principal components of visual features: (x - mean) @ basis, basis (D, k)."""

    mean: torch.Tensor
    basis: torch.Tensor

    def __call__(self, visual: torch.Tensor) -> torch.Tensor:
        return (visual - self.mean) @ self.basis


def principal_components(visual: torch.Tensor, k: int, max_rows: int = 8192) -> Projection:
    """The first `k` principal components of the last axis of `visual` (every other axis a
    sample: segments and regions alike), from the covariance of up to `max_rows` evenly spaced
    rows; only the top k eigenpairs are computed.
    Each component's largest entry is made positive, so the signs are reproducible. LAPACK runs
    on one thread: its blocked eigensolver rounds differently with more, and the components
    (and every model reading them) would then depend on the machine's BLAS thread count."""
    import scipy.linalg
    from threadpoolctl import threadpool_limits

    rows = visual.reshape(-1, visual.shape[-1])
    dim = rows.shape[-1]
    if not 0 < k <= dim:
        raise ValueError(f"{k} principal components of {dim}-d features")
    pick = np.unique(np.linspace(0, len(rows) - 1, min(max_rows, len(rows))).astype(int))
    sample = rows[pick].cpu().float()
    mean = sample.mean(0)
    covariance = torch.cov(sample.T).numpy()
    with threadpool_limits(limits=1):
        _, vectors = scipy.linalg.eigh(covariance, subset_by_index=[dim - k, dim - 1])
    basis = vectors[:, ::-1]  # largest variance first
    basis = basis * np.sign(basis[np.abs(basis).argmax(0), np.arange(k)])
    return Projection(mean.to(visual), torch.from_numpy(basis.copy()).to(visual))


class PairedSource:
    """`avexplain.training.train` batch source over virtual rows: row r shows visual row `visual_rows[r]`
    and audio row `audio_rows[r]` with target `targets[r]` (mismatched pairs have i != j)."""

    streaming = False

    def __init__(self, visual, audio, targets, visual_rows=None, audio_rows=None):
        n = len(targets)
        self.visual, self.audio, self.targets = visual, audio, targets
        self.visual_rows = torch.arange(n) if visual_rows is None else torch.as_tensor(visual_rows)
        self.audio_rows = torch.arange(n) if audio_rows is None else torch.as_tensor(audio_rows)

    def batches(self, rows_per_batch):
        for rows in rows_per_batch:
            rows = torch.as_tensor(rows)
            yield (
                self.visual[self.visual_rows[rows]],
                self.audio[self.audio_rows[rows]],
                self.targets[rows],
            )


def _train_source(model, data: Arrays, conflicts, n_background: int, seed: int, epoch: int):
    if model.task == "segment" and model.weak:
        if data.video_targets is None:
            raise ValueError(f"{model.name} is weakly supervised: Arrays.video_targets needed")
        n = len(data)
        audio_rows, visual_rows = np.arange(n), np.arange(n)
        targets = data.video_targets
        if n_background:
            pa, pv = mismatched_pairs(conflicts, n_background, seed, epoch)
            audio_rows = np.concatenate([audio_rows, pa])
            visual_rows = np.concatenate([visual_rows, pv])
            background = torch.zeros(n_background, targets.shape[1], dtype=targets.dtype)
            background[:, -1] = 1
            targets = torch.cat([targets, background.to(targets.device)])
        return PairedSource(data.visual, data.audio, targets, visual_rows, audio_rows)
    return PairedSource(data.visual, data.audio, data.targets)


@torch.no_grad()
def predict(model, visual, audio, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Segment models: softmax `segment_scores` (N,T,C+1), and `video_scores` (weak),
    `space_attention`, `audio_attention` where the model has them."""
    model.eval()
    parts: dict[str, list] = {}
    for start in range(0, len(audio), batch_size):
        out = model(visual[start : start + batch_size], audio[start : start + batch_size])
        got = {"segment_scores": torch.softmax(out["segment_logits"], -1)}
        if "video_logits" in out:
            got["video_scores"] = torch.softmax(out["video_logits"], -1)
        for key in ("space_attention", "audio_attention"):
            if out.get(key) is not None:
                got[key] = out[key]
        for key, value in got.items():
            parts.setdefault(key, []).append(value.float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


@torch.no_grad()
def embed(model, visual, audio, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Cross-modality models: (N,T,d) visual and audio embeddings."""
    model.eval()
    pairs = [
        model.embed(visual[s : s + batch_size], audio[s : s + batch_size])
        for s in range(0, len(audio), batch_size)
    ]
    return tuple(np.concatenate([p[i].float().cpu().numpy() for p in pairs]) for i in (0, 1))


def validation_score(model, data: Arrays, select: str, batch_size: int) -> float:
    """`segment`: segment accuracy; `video`: percent of videos whose pooled top class is one of
    their labels (weak models, no segment labels used); `loss`: minus the mean loss."""
    if select == "loss":
        model.eval()
        with torch.no_grad():
            losses = [
                model.loss(model(v, a), t).item()
                for v, a, t in PairedSource(data.visual, data.audio, data.targets).batches(
                    avtrain.chunks_of(np.arange(len(data)), batch_size)
                )
            ]
        return -float(np.mean(losses))
    scores = predict(model, data.visual, data.audio, batch_size)
    if select == "segment":
        return segment_accuracy(data.targets.cpu().numpy(), scores["segment_scores"])
    if select == "video":
        labels = data.video_targets.cpu().numpy()
        best = scores["video_scores"].argmax(-1)
        return float(labels[np.arange(len(best)), best].mean() * 100)
    raise ValueError(f"model selection {select!r}: expected 'segment', 'video' or 'loss'")


def default_select(model) -> str:
    """Supervised: val segment accuracy; weak: val video accuracy (no segment label leaks into
    model selection); cross-modality: the validation loss."""
    if model.task == "cml":
        return "loss"
    return "video" if model.weak else "segment"


def fit(
    model,
    train: Arrays,
    val: Arrays,
    *,
    epochs: int,
    batch_size: int,
    lr: float = 1e-3,
    seed: int = 0,
    weight_decay: float = 0.0,
    conflicts: np.ndarray | None = None,
    n_background: int | None = None,
    select: str | None = None,
    optimizer: str = "adam",
) -> dict:
    """Train `model` in place and keep the weights of the best validation epoch.

    Epoch e shuffles with numpy's generator seeded [seed, e] and reseeds torch from (seed, e)
    (dropout), like `avexplain.training.train`. Weak models get `n_background` (default
    `background_count(N)`) mismatched background pairs each epoch, drawn outside `conflicts`
    (default: pairs sharing a video label; pass 0 for none). A DCCA model gets its linear CCA
    fitted on the training event segments at the end. Returns {best_epoch, val, history}."""
    weak = model.task == "segment" and model.weak
    if weak:
        if conflicts is None:
            labels = train.video_targets.cpu().numpy()
            conflicts = labels @ labels.T > 0
        if n_background is None:
            n_background = background_count(len(train))
    select = select or default_select(model)
    kinds = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    opt = kinds[optimizer](model.parameters(), lr=lr, weight_decay=weight_decay)
    best, history = None, []
    for epoch in range(epochs):
        torch.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
        source = _train_source(model, train, conflicts, n_background or 0, seed, epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(source.targets))
        losses = avtrain.run_epoch(model, opt, source, avtrain.chunks_of(order, batch_size))
        score = validation_score(model, val, select, batch_size)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val": score})
        if best is None or score > best["val"]:
            best = {"epoch": epoch + 1, "val": score, "weights": copy.deepcopy(model.state_dict())}
    model.load_state_dict(best["weights"])
    if hasattr(model, "fit_cca") and model.objective == "dcca":
        rv, ra = _event_outputs(model, train, batch_size)
        log.info("%s: linear CCA of rank %d", model.name, model.fit_cca(rv, ra))
    return {"best_epoch": best["epoch"], "val": best["val"], "select": select, "history": history}


@torch.no_grad()
def _event_outputs(model, data: Arrays, batch_size: int):
    model.eval()
    rv, ra = [], []
    for s in range(0, len(data), batch_size):
        v, a = model.towers(data.visual[s : s + batch_size], data.audio[s : s + batch_size])
        keep = model.in_event(data.targets[s : s + batch_size])
        rv.append(v[keep])
        ra.append(a[keep])
    return torch.cat(rv), torch.cat(ra)
