"""Multi-label recognition metrics of the paper (section 4.1), in percent.

- top1: fraction of videos whose highest-scored class is one of their labels; when several
  classes tie for the highest score, the expectation over a uniform pick among them (the
  fraction of the tied classes that are labels), so no class index is favoured;
- mAP: label ranking average precision, per video (how high its relevant labels rank among all
  classes), averaged over videos (`label_ranking_average_precision_score`);
- F: F1 of the labels predicted with a score >= 0.5, per video, averaged over videos
  (`f1_score(average="samples")`);
- class_mAP (an extra column, not in the paper): average precision of each class over the
  videos, averaged over the classes that have at least one positive video.

The three ranking and set metrics follow scikit-learn's definitions exactly (tests/test_metrics.py
checks them against it on random inputs) in a few lines of NumPy: every training, table and
explanation job computes them, and importing sklearn.metrics costs 2.6 CPU-s per process."""

from __future__ import annotations

import numpy as np

NAMES = ("top1", "mAP", "F", "class_mAP")
THRESHOLD = 0.5


def top1(targets: np.ndarray, scores: np.ndarray) -> float:
    tied = scores == scores.max(axis=1, keepdims=True)  # every class sharing the top score
    hits = (tied & (targets > 0)).sum(axis=1) / tied.sum(axis=1)
    return float(hits.mean() * 100)


def label_ranking_ap(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per video (fraction): the mean over its labels of (labels scored >= the label) / (classes
    scored >= the label); a tie ranks every tied class above. A video whose labels are none or
    all of the classes scores 1 (sklearn's `label_ranking_average_precision_score` terms)."""
    targets, scores = np.asarray(targets) > 0, np.asarray(scores, dtype=np.float64)
    at_least = scores[:, None, :] >= scores[:, :, None]  # [n, j, k]: class k scored >= class j
    rank = at_least.sum(axis=2)
    above = (at_least & targets[:, None, :]).sum(axis=2)
    labels = targets.sum(axis=1)
    ap = (np.where(targets, above / rank, 0.0)).sum(axis=1) / np.maximum(labels, 1)
    return np.where((labels == 0) | (labels == targets.shape[1]), 1.0, ap)


def instance_map(targets: np.ndarray, scores: np.ndarray) -> float:
    return float(label_ranking_ap(targets, scores).mean() * 100)


def set_f1(targets: np.ndarray, predicted: np.ndarray) -> float:
    """F1 of predicted label sets, per video, averaged over videos (fraction); a video with
    neither labels nor predictions scores 0 (sklearn's average="samples", zero_division=0)."""
    targets, predicted = np.asarray(targets) > 0, np.asarray(predicted) > 0
    hits = (targets & predicted).sum(axis=1)
    both = targets.sum(axis=1) + predicted.sum(axis=1)
    return float(np.mean(np.where(both > 0, 2 * hits / np.maximum(both, 1), 0.0)))


def f_score(targets: np.ndarray, scores: np.ndarray, threshold: float = THRESHOLD) -> float:
    return set_f1(targets, scores >= threshold) * 100


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the step precision-recall curve of one class: the precision at each distinct
    score (highest first) weighted by the recall it adds (sklearn's `average_precision_score`)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    ranked, hit = scores[order], np.asarray(positive)[order] > 0
    last_of_tie = np.r_[np.diff(ranked) != 0, True]  # a threshold admits a whole tie at once
    tps = np.cumsum(hit)[last_of_tie]
    seen = np.flatnonzero(last_of_tie) + 1
    recall_gain = np.diff(tps, prepend=0) / tps[-1]
    return float(np.sum(recall_gain * tps / seen))


def class_map(targets: np.ndarray, scores: np.ndarray) -> float:
    present = np.flatnonzero(np.asarray(targets).sum(axis=0) > 0)
    return float(np.mean([average_precision(targets[:, c], scores[:, c]) for c in present]) * 100)


def evaluate(targets, scores) -> dict[str, float]:
    """All four metrics of (N,C) multi-hot targets and (N,C) scores in [0, 1]."""
    targets = np.asarray(targets).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    if targets.shape != scores.shape or targets.ndim != 2:
        raise ValueError(f"targets {targets.shape} and scores {scores.shape} must both be (N, C)")
    if (targets.sum(axis=1) == 0).any():
        raise ValueError("every video needs at least one label to be ranked")
    return {
        "top1": top1(targets, scores),
        "mAP": instance_map(targets, scores),
        "F": f_score(targets, scores),
        "class_mAP": class_map(targets, scores),
    }


def segment_hits(targets: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Whether each segment's predicted class (N,T) is in its target set (N,T,C+1, background
    last): the terms of the localization families' segment accuracy."""
    return np.take_along_axis(targets, predicted[..., None], axis=-1)[..., 0] > 0
