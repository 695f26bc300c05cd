"""Training recipe and read-outs of the event-specific fusion layers (Senocak et al.).

- `SETTINGS`, `optimizer_and_scheduler`: SGD from lr 1e-2, x0.1 when validation accuracy has not
  risen for 3 epochs; `epoch_labels`: the seeded single label per multi-label training video.
- `vote`: the video prediction, a vote over the layers' top-1 classes (Table 1).
- `prediction_sets`, `top_n_sets`, `set_f1`: the multi-label set of the layers against the top-N
  of Naive AV (Table 2).
- `modality_bias`: the layer each category is assigned to (Table 3).
- `unique_correct`: the videos only some layers get right (Table 4).

Every function takes `layer_logits` (N, L, C), raw classifier outputs in the layer order of the
model (`avexplain.models.fusion_layers.LAYERS` for the five-layer model), and multi-hot
`targets` (N, C). docs/fusion_layers.md lists the choices the paper leaves open."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import f1_score

from avexplain.models.fusion_layers import LAYERS, single_labels

SETTINGS = {
    "lr": 1e-2,  # paper
    "plateau_epochs": 3,  # paper: lr x 0.1 once validation accuracy has not risen for 3 epochs
    "plateau_factor": 0.1,  # paper
    "momentum": 0.9,  # the rest: not in the paper (docs/fusion_layers.md)
    "weight_decay": 1e-4,
    "batch_size": 32,
    "epochs": 30,
    "label_draw": "per_epoch",  # per_epoch | once: when a multi-label video's label is redrawn
    "confidence": "logit",  # logit | softmax: the score compared by the vote's tie rule
    "vote_rule": "plurality",  # plurality | majority (see `vote`)
}


def settings(overrides: dict | None = None) -> dict:
    """SETTINGS with `overrides` (e.g. the config's fusion_layers section); unknown keys fail."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown fusion-layers settings {sorted(unknown)}")
    out = {**SETTINGS, **overrides}
    if out["label_draw"] not in ("per_epoch", "once"):
        raise ValueError(f"label_draw must be per_epoch or once, got {out['label_draw']}")
    return out


def optimizer_and_scheduler(params, cfg: dict | None = None):
    """SGD and its plateau schedule. Call `scheduler.step(val_accuracy)` once per epoch: the lr
    drops at the end of the `plateau_epochs`-th epoch in a row without a strictly higher
    validation accuracy (torch's patience counts the epochs tolerated, hence the minus one)."""
    cfg = settings(cfg)
    optimizer = torch.optim.SGD(
        params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="max",
        factor=cfg["plateau_factor"],
        patience=cfg["plateau_epochs"] - 1,
        threshold=0.0,
        threshold_mode="abs",
    )
    return optimizer, scheduler


def epoch_labels(
    targets: np.ndarray,
    seed: int,
    epoch: int,
    cfg: dict | None = None,
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """The single training label of every video for `epoch`: redrawn each epoch
    (label_draw: per_epoch) or drawn once (once); seeded by (seed, epoch, video)."""
    cfg = settings(cfg)
    return single_labels(targets, seed, epoch if cfg["label_draw"] == "per_epoch" else 0, ids)


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def _scores(layer_logits, confidence: str) -> np.ndarray:
    scores = _numpy(layer_logits).astype(np.float64)
    if scores.ndim != 3:
        raise ValueError(f"layer_logits must be (videos, layers, classes), got {scores.shape}")
    if confidence == "softmax":
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
    elif confidence != "logit":
        raise ValueError(f"confidence must be logit or softmax, got {confidence}")
    return scores


def vote(layer_logits, rule: str = "plurality", confidence: str = "logit") -> np.ndarray:
    """(N,) the voted class of each video.

    Each layer votes for its top-1 class. plurality: the class with most votes; when several
    tie for most, the class of the most confident layer among the layers that voted for them.
    majority: the class of more than half of the layers; otherwise the most confident layer's.
    A layer's confidence is its score for its own class (raw logit, or softmax probability).
    Remaining ties go to the first layer in model order."""
    scores = _scores(layer_logits, confidence)
    n, num_layers, c = scores.shape
    picks = scores.argmax(-1)  # (N, L)
    confident = np.take_along_axis(scores, picks[..., None], -1)[..., 0]  # (N, L)
    counts = np.zeros((n, c), dtype=int)
    np.add.at(counts, (np.arange(n)[:, None], picks), 1)
    top = counts.max(1)
    if rule == "plurality":
        eligible = counts[np.arange(n)[:, None], picks] == top[:, None]  # layers of tied classes
    elif rule == "majority":
        eligible = np.where((2 * top > num_layers)[:, None], picks == counts.argmax(1)[:, None], 1)
    else:
        raise ValueError(f"vote rule must be plurality or majority, got {rule}")
    layer = np.where(eligible.astype(bool), confident, -np.inf).argmax(1)
    return picks[np.arange(n), layer]


def video_accuracy(targets, predictions) -> float:
    """Share of videos whose predicted class is one of their labels."""
    targets, predictions = _numpy(targets), _numpy(predictions).astype(int)
    return float((targets[np.arange(len(targets)), predictions] > 0).mean())


def prediction_sets(layer_logits) -> np.ndarray:
    """(N, C) bool: the layers' multi-label set. Layer i contributes its top-1 class p_i when no
    other layer scores p_i higher (raw logits; equal scores go to the first layer); the set is
    never empty (the layer holding the largest score of all qualifies)."""
    scores = _scores(layer_logits, "logit")
    n, num_layers, c = scores.shape
    picks = scores.argmax(-1)  # (N, L)
    # for each layer's pick, the layer that scores that class highest
    owner = scores.argmax(1)[np.arange(n)[:, None], picks]  # (N, L)
    keep = owner == np.arange(num_layers)[None]
    sets = np.zeros((n, c), dtype=bool)
    rows = np.broadcast_to(np.arange(n)[:, None], picks.shape)
    sets[rows[keep], picks[keep]] = True
    return sets


def top_n_sets(logits, n: int) -> np.ndarray:
    """(N, C) bool: the n highest-scoring classes of each video (Naive AV's top-N)."""
    scores = _numpy(logits)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    sets = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(sets, order, True, axis=1)
    return sets


def set_f1(targets, sets) -> float:
    """F1 of predicted label sets against the ground-truth sets, averaged over videos."""
    return float(f1_score(_numpy(targets) > 0, _numpy(sets), average="samples", zero_division=0))


def modality_bias(
    layer_logits, targets, layers: Sequence[str] = LAYERS, confidence: str = "logit"
) -> dict:
    """The layer each category is assigned to.

    Every (video, label) pair votes for the layer with the highest score for that label; a
    category goes to the layer with most votes among its pairs, ties to the tied layer with the
    higher mean score for the category. Returns `votes` (C, L) ints, `assignment` (C,) layer
    index or -1 for a category without test videos, and `counts` {layer: categories}."""
    scores, targets = _scores(layer_logits, confidence), _numpy(targets) > 0
    if scores.shape[1] != len(layers):
        raise ValueError(f"{scores.shape[1]} layers in the logits, {len(layers)} names")
    c, num_layers = targets.shape[1], len(layers)
    videos, labels = np.nonzero(targets)
    winner = scores[videos, :, labels].argmax(1)  # (pairs,)
    votes = np.zeros((c, num_layers), dtype=int)
    np.add.at(votes, (labels, winner), 1)
    total = np.zeros((c, num_layers))
    np.add.at(total, labels, scores[videos, :, labels])
    mean = total / np.maximum(votes.sum(1, keepdims=True), 1)
    tied = votes == votes.max(1, keepdims=True)
    assignment = np.where(tied, mean, -np.inf).argmax(1)
    assignment[votes.sum(1) == 0] = -1
    counts = {name: int((assignment == i).sum()) for i, name in enumerate(layers)}
    return {"votes": votes, "assignment": assignment, "counts": counts}


UNIQUE_COLUMNS = (
    "continuous_only",  # Cont and not Inst and not Ons
    "instant_only",  # Inst and not Cont and not Ons
    "onset_only",  # Ons and not Cont and not Inst
    "instant_or_onset_not_continuous",  # (Inst or Ons) and not Cont
)


def layer_correct(layer_logits, targets) -> np.ndarray:
    """(N, L) bool: whether each layer's top-1 class is one of the video's labels."""
    picks = _numpy(layer_logits).argmax(-1)
    targets = _numpy(targets) > 0
    return np.take_along_axis(targets, picks, axis=1)


def unique_correct(layer_logits, targets, layers: Sequence[str] = LAYERS) -> dict:
    """Videos that the continuous, instant and onset layers alone get right (the four columns
    of UNIQUE_COLUMNS), counted over all videos."""
    correct = layer_correct(layer_logits, targets)
    cont, inst, ons = (correct[:, list(layers).index(name)] for name in LAYERS[:3])
    columns = (
        cont & ~inst & ~ons,
        inst & ~cont & ~ons,
        ons & ~cont & ~inst,
        (inst | ons) & ~cont,
    )
    return {name: int(col.sum()) for name, col in zip(UNIQUE_COLUMNS, columns, strict=True)}
