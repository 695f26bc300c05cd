"""Read-outs of the event-specific fusion layers' test logits (Senocak et al.), torch-free so
that aggregating seeds and building tables do not import torch.

- `vote`: the video prediction, a vote over the layers' top-1 classes (Table 1).
- `prediction_sets`, `top_n_sets`, `set_f1`: the multi-label set of the layers against the top-N
  of Naive AV (Table 2).
- `modality_bias`: the layer each category is assigned to (Table 3).
- `unique_correct`: the videos only some layers get right (Table 4).

Every function takes `layer_logits` (N, L, C), raw classifier outputs in the layer order of the
model (`avexplain.names.FUSION_LAYERS` for the five-layer model; numpy arrays or torch tensors),
and multi-hot `targets` (N, C). docs/fusion_layers.md lists the choices the paper leaves open."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from avexplain.names import FUSION_LAYERS as LAYERS
from avexplain.training import metrics as avmetrics


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, possibly on a GPU or needing grad
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
    return avmetrics.set_f1(_numpy(targets), _numpy(sets))


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
