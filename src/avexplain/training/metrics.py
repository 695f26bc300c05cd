"""Multi-label recognition metrics of the paper (section 4.1), in percent, via scikit-learn.

- top1: fraction of videos whose highest-scored class is one of their labels; when several
  classes tie for the highest score, the expectation over a uniform pick among them (the
  fraction of the tied classes that are labels), so no class index is favoured;
- mAP: label ranking average precision, per video (how high its relevant labels rank among all
  classes), averaged over videos (`label_ranking_average_precision_score`);
- F: F1 of the labels predicted with a score >= 0.5, per video, averaged over videos
  (`f1_score(average="samples")`);
- class_mAP (an extra column, not in the paper): average precision of each class over the
  videos, averaged over the classes that have at least one positive video."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, label_ranking_average_precision_score

NAMES = ("top1", "mAP", "F", "class_mAP")
THRESHOLD = 0.5


def top1(targets: np.ndarray, scores: np.ndarray) -> float:
    tied = scores == scores.max(axis=1, keepdims=True)  # every class sharing the top score
    hits = (tied & (targets > 0)).sum(axis=1) / tied.sum(axis=1)
    return float(hits.mean() * 100)


def instance_map(targets: np.ndarray, scores: np.ndarray) -> float:
    return float(label_ranking_average_precision_score(targets, scores) * 100)


def f_score(targets: np.ndarray, scores: np.ndarray, threshold: float = THRESHOLD) -> float:
    predicted = (scores >= threshold).astype(int)
    return float(f1_score(targets, predicted, average="samples", zero_division=0) * 100)


def class_map(targets: np.ndarray, scores: np.ndarray) -> float:
    present = targets.sum(axis=0) > 0
    return float(
        average_precision_score(targets[:, present], scores[:, present], average="macro") * 100
    )


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
