"""Pointing games and the randomisation check on hand-made examples."""

import numpy as np
import pytest
import torch

from avexplain.explain import pointing
from avexplain.explain.randomisation import _rank_correlations, randomisation_check, reinitialised
from avexplain.testing.models import TinySTAN


def test_event_mask_marks_segments_mostly_inside_an_event():
    assert pointing.event_mask('[["dog", 2, 5]]', 8).tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert pointing.event_mask([["a", 1.2, 3.7], ["b", 6, 20]], 8).tolist() == [
        0, 1, 1, 1, 0, 0, 1, 1,
    ]  # fmt: skip
    assert pointing.event_mask([["a", 0.6, 1.4]], 3).tolist() == [0, 0, 0]  # 0.4 s each side
    assert pointing.event_mask("[]", 3).tolist() == [0, 0, 0]


def test_temporal_mae_soft_and_binary():
    att = np.array([[0.2, 0.8, 0.6]])
    mask = np.array([[0.0, 1.0, 0.0]])
    assert pointing.temporal_mae(att, mask, binary=False)[0] == pytest.approx(1.0 / 3)
    assert pointing.temporal_mae(att, mask, binary=True)[0] == pytest.approx(1.0 / 3)
    att2 = np.array([[0.1, 0.5, 0.4]])
    assert pointing.temporal_mae(att2, mask, binary=True)[0] == 0.0  # 0.5 binarises to 1
    game = pointing.temporal_game(np.vstack([att, att2]), np.vstack([mask, mask]))
    assert game["mae_soft"] == pytest.approx((1.0 / 3 + 1.0 / 3) / 2)
    # per video: each ranks its event segment first (pooled, 0.5 < 0.6 would be misordered)
    assert game["auc"] == pytest.approx(1.0)
    assert game["per_video"]["auc"] == [1.0, 1.0]


def test_per_video_auc_is_not_fooled_by_a_per_video_constant():
    # longer events where the constant is higher: pooled AUC rewards it, per video it is 0.5
    masks = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 1, 1]], dtype=float)
    const = np.array([[0.9] * 4, [0.1] * 4, [0.5] * 4])
    assert pointing.per_video_auc(const, masks).tolist() == [0.5, 0.5, 0.5]
    assert pointing.temporal_auc(const, masks) == 0.5
    assert np.isnan(pointing.per_video_auc(np.ones((1, 4)), np.ones((1, 4)))[0])


def test_temporal_baselines():
    masks = np.array([[0, 1, 1, 0], [1, 1, 0, 0]], dtype=float)
    base = pointing.temporal_baselines(masks, seed=0, draws=200)
    assert base["uniform"]["mae_soft"] == 0.5 and base["uniform"]["auc"] == 0.5
    assert base["uniform"]["mae_binary"] == 0.5  # all 1: wrong on the 4 of 8 empty segments
    assert base["random"]["mae_soft"] == pytest.approx(0.5, abs=0.03)
    assert base["random"]["auc"] == pytest.approx(0.5, abs=0.06)
    assert base["all_ones"]["mae_binary"] == 0.5 and base["all_ones"]["auc"] == 0.5
    prior = pointing.event_prior(masks)
    assert prior.tolist() == [0.5, 1.0, 0.5, 0.0]
    with_prior = pointing.temporal_baselines(masks, 0, 5, prior)
    assert with_prior["event_prior"]["mae_soft"] == pytest.approx(0.25)
    assert pointing.temporal_baselines(masks, 0, 5) == pointing.temporal_baselines(masks, 0, 5)


def test_box_cells_on_a_2x2_grid():
    assert pointing.box_cells([0, 0, 0.5, 0.5], (2, 2)).tolist() == [[True, False], [False, False]]
    assert pointing.box_cells([0.4, 0.4, 0.6, 0.6], (2, 2)).all()
    # x spans the right column, y the top row
    assert pointing.box_cells([0.7, 0.1, 0.9, 0.3], (2, 2)).tolist() == [
        [False, True],
        [False, False],
    ]


def test_spatial_game_hits_and_baselines():
    att = np.zeros((3, 2, 2))
    att[0, 1, 1] = 1  # second 0: peak bottom right, in the box
    att[1, 0, 0] = 1  # second 1: peak top left, box bottom right: miss
    boxes = {"0": [0.6, 0.6, 0.9, 0.9], "1": [0.6, 0.6, 0.9, 0.9], "7": [0, 0, 1, 1]}
    hits, chance = pointing.spatial_hits(att, boxes)
    assert hits == [1.0, 0.0] and chance == [0.25, 0.25]  # second 7 is past the clip
    game = pointing.spatial_game(att[None], [boxes], seed=0, draws=400)
    assert game["model"]["hit_rate"] == 0.5 and game["uniform"]["hit_rate"] == 0.25
    assert game["random"]["hit_rate"] == pytest.approx(0.25, abs=0.05)
    # the centre of an even grid is a four-way tie: one of four cells is in the box
    assert game["centre"]["hit_rate"] == 0.25
    assert game["model"]["per_video"] == [0.5]
    assert pointing.spatial_game(att[None], [{}], seed=0, draws=2) is None


def test_peak_ties_are_broken_by_expectation_not_by_index():
    cells = np.array([[True, False], [False, False]])
    assert pointing.peak_hit(np.ones((2, 2)), cells) == 0.25
    assert pointing.peak_hit(np.ones((2, 2)), cells[::-1, ::-1]) == 0.25  # argmax would say 0
    assert pointing.peak_hit(np.array([[1.0, 1.0], [0.0, 0.0]]), cells) == 0.5


def test_best_fixed_cell_and_saliency_baselines():
    train = [{"0": [0.6, 0.6, 0.9, 0.9]}, {"0": [0.6, 0.1, 0.9, 0.4]}, {"0": [0.7, 0.7, 1, 1]}]
    fixed = pointing.best_fixed_cell(train, (2, 2), 4)
    assert fixed.tolist() == [[0.0, 0.0], [0.0, 1.0]]  # bottom right: in 2 of 3 boxes
    boxes = [{"0": [0.0, 0.0, 0.4, 0.4]}]
    att = np.zeros((1, 1, 2, 2))
    saliency = np.zeros((1, 1, 2, 2))
    saliency[0, 0, 0, 0] = 5.0  # the strongest cell is the object's
    game = pointing.spatial_game(att, boxes, 0, 3, train_boxes=train, saliency=saliency)
    assert game["best_fixed_cell"]["hit_rate"] == 0.0 and game["saliency"]["hit_rate"] == 1.0
    assert game["model"]["hit_rate"] == 0.25  # a flat map: a fair tie
    with pytest.raises(ValueError, match="training split"):
        pointing.best_fixed_cell([{}], (2, 2), 4)


def test_orientation_reads_the_end_that_points_on_the_held_out_split():
    boxes = [{"0": [0.0, 0.0, 0.4, 0.4], "1": [0.6, 0.6, 1.0, 1.0]}]  # top left, bottom right
    low = np.ones((1, 2, 2, 2))
    low[0, 0, 0, 0] = low[0, 1, 1, 1] = 0.0  # the object's cell is the map's lowest
    inverted = pointing.orientation(low, boxes)
    assert inverted == {"sign": -1, "peak": 0.0, "trough": 1.0, "seconds": 2}
    assert pointing.orientation(1 - low, boxes)["sign"] == 1
    assert pointing.orientation(np.ones((1, 2, 2, 2)), boxes)["sign"] == 1  # a tie: the peak
    assert pointing.orientation(low[:0], [])["sign"] == 1  # no held-out boxes: the peak
    game = pointing.peak_game(-low, boxes)
    assert game == {"hit_rate": 1.0, "seconds": 2, "per_video": [1.0]}
    assert pointing.peak_game(low, [{}]) is None


def test_annotated_keeps_videos_with_audio_events():
    import pandas as pd

    manifest = pd.DataFrame(
        {"video_id": ["a", "b", "c"], "audio_events": ['[["x", 0, 2]]', "[]", '[["y", 3, 4]]']}
    )
    masks, rows = pointing.annotated(manifest, np.array(["c", "b", "a"]), 4)
    assert rows.tolist() == [0, 2]
    assert masks.tolist() == [[0, 0, 0, 1], [1, 1, 0, 0]]


def test_randomisation_changes_attention_and_reports_spearman():
    torch.manual_seed(0)
    model = TinySTAN(16, 8, 3, dim=8)
    fresh = reinitialised(model, seed=1)
    assert not torch.equal(fresh.visual_linear.weight, model.visual_linear.weight)
    assert torch.equal(reinitialised(model, 1).space.weight, fresh.space.weight)  # seeded
    v, a = torch.rand(4, 3, 3, 3, 16), torch.randn(4, 3, 8)
    report = randomisation_check(model, v, a, seed=1)
    assert set(report) == {"space_attention", "time_attention"}
    assert report["space_attention"]["videos"] == 4
    assert -1 <= report["space_attention"]["spearman_mean"] < 0.9
    x = np.random.default_rng(0).random((2, 5))
    assert _rank_correlations(x, x) == pytest.approx([1.0, 1.0])
    assert _rank_correlations(np.ones((1, 5)), x[:1]) == []  # constant map: no ranking
    with pytest.raises(ValueError, match="reset_parameters"):
        reinitialised(torch.nn.ReLU(), 0)
