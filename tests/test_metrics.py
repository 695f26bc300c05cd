"""Metrics against examples worked out by hand (paper section 4.1 definitions)."""

import numpy as np
import pytest

from avexplain.training import metrics

TARGETS = np.array([[1, 0, 0], [0, 1, 1]])
SCORES = np.array([[0.9, 0.2, 0.1], [0.8, 0.7, 0.1]])


def test_hand_computed_example():
    result = metrics.evaluate(TARGETS, SCORES)
    # top-1: video 1's best class (0) is relevant, video 2's (0) is not
    assert result["top1"] == pytest.approx(50.0)
    # ranking AP: video 1 -> 1; video 2: label 1 at rank 2 (1/2), label 2 at rank 3 (2/3)
    assert result["mAP"] == pytest.approx(100 * (1 + (1 / 2 + 2 / 3) / 2) / 2)
    # F at 0.5: video 1 predicts {0} -> 1; video 2 predicts {0, 1} vs {1, 2} -> 1/2
    assert result["F"] == pytest.approx(75.0)
    # class AP: class 0 -> 1, class 1 -> 1, class 2 (tied scores) -> 1/2
    assert result["class_mAP"] == pytest.approx(100 * 2.5 / 3)


def test_top1_breaks_ties_by_expectation_not_by_class_index():
    # all classes tied: the expected hit of a uniform pick is labels / classes, whichever
    # index the label has (argmax would give 100 for label 0 and 0 for label 2)
    flat = np.full((3, 4), 0.5)
    targets = np.eye(4, dtype=int)[[0, 2, 3]]
    assert metrics.top1(targets, flat) == pytest.approx(25.0)
    # two of three tied at the top, one of them a label: 1/2; the untied third is ignored
    assert metrics.top1(np.array([[0, 1, 1]]), np.array([[0.9, 0.9, 0.1]])) == pytest.approx(50.0)
    # reversing the class order gives the same number
    scores = np.array([[0.7, 0.7, 0.2], [0.1, 0.4, 0.4]])
    targets = np.array([[1, 0, 0], [0, 0, 1]])
    assert metrics.top1(targets, scores) == metrics.top1(targets[:, ::-1], scores[:, ::-1])


def test_threshold_is_inclusive_and_no_prediction_scores_zero():
    targets = np.array([[1, 0], [0, 1]])
    assert metrics.f_score(targets, np.array([[0.5, 0.1], [0.2, 0.3]])) == pytest.approx(50.0)


def test_perfect_and_reversed_rankings():
    targets = np.array([[1, 0, 0, 0], [0, 0, 1, 1]])
    perfect = targets * 0.9 + 0.05
    assert metrics.evaluate(targets, perfect) == pytest.approx(
        {"top1": 100.0, "mAP": 100.0, "F": 100.0, "class_mAP": 100.0}
    )
    reversed_ = 1 - perfect
    result = metrics.evaluate(targets, reversed_)
    assert result["top1"] == 0.0 and result["F"] == 0.0
    # video 1: its label ranks last of 4 -> 1/4; video 2: its two labels tie for ranks 3-4, and
    # a tie counts every tied label as ranked above: 2 relevant of 4 -> 1/2 each
    assert result["mAP"] == pytest.approx(100 * (1 / 4 + 1 / 2) / 2)


def test_classes_without_positives_are_left_out_of_class_map():
    targets = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]])
    scores = np.array([[0.9, 0.1, 0.3], [0.8, 0.3, 0.9], [0.2, 0.7, 0.1]])
    assert metrics.class_map(targets, scores) == pytest.approx(100.0)


def test_bad_shapes_and_unlabelled_videos_are_errors():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        metrics.evaluate(TARGETS, SCORES[:, :2])
    with pytest.raises(ValueError, match="at least one label"):
        metrics.evaluate(np.array([[0, 0], [1, 0]]), np.array([[0.1, 0.2], [0.3, 0.4]]))


@pytest.mark.parametrize("seed", range(6))
def test_numpy_metrics_equal_scikit_learns(seed):
    """The NumPy metrics against scikit-learn's definitions on random multi-label data with
    ties (coarse scores), single-label rows and classes without positives."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        label_ranking_average_precision_score,
    )

    rng = np.random.default_rng(seed)
    n, c = 40, 7
    targets = (rng.random((n, c)) < 0.3).astype(int)
    targets[np.arange(n), rng.integers(0, c, n)] = 1  # every video labelled
    targets[:, 3] = 0  # a class without positives
    targets[0] = 1  # a video with every label
    scores = np.round(rng.random((n, c)), 1)  # ties within and across videos
    assert metrics.label_ranking_ap(targets, scores) == pytest.approx(
        [
            label_ranking_average_precision_score(t[None], s[None])
            for t, s in zip(targets, scores, strict=True)
        ]
    )
    assert metrics.instance_map(targets, scores) == pytest.approx(
        100 * label_ranking_average_precision_score(targets, scores)
    )
    predicted = scores >= 0.5
    predicted[1] = False  # a video predicted empty
    expected = f1_score(targets, predicted, average="samples", zero_division=0)
    assert metrics.set_f1(targets, predicted) == pytest.approx(expected)
    present = targets.sum(axis=0) > 0
    assert metrics.class_map(targets, scores) == pytest.approx(
        100 * average_precision_score(targets[:, present], scores[:, present], average="macro")
    )
    empty = np.zeros((2, 3), dtype=int)
    assert metrics.set_f1(empty, empty) == 0.0  # zero_division=0
