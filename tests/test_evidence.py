"""The acceptance checks of issue 11 can fail: a STAN whose gates are forced to 1 fails the
perturbation check, a constant attention fails the pointing checks, and attention that knows
where and when passes them (so the checks are not impossible either). The same functions
(avexplain.tables.comparisons) decide the synth acceptance tests."""

import numpy as np
import pytest
import torch

from avexplain import models as avmodels
from avexplain.explain import pointing
from avexplain.explain.perturbation import ALL_MASKS, perturbation_test
from avexplain.tables import comparisons

CFG = {"embed_dim": 8, "dropout": 0.0, "space_gate_kernel": 1, "time_gate_hidden": 4}
T, H, W, DV, DA, K = 4, 3, 3, 16, 8, 3


def _stan(force_gates: bool):
    torch.manual_seed(0)
    model = avmodels.build("stan", CFG, DV, DA, K, T, (H, W)).eval()
    if force_gates:  # sigmoid(20) = 1 to float precision: every cell and segment attended
        with torch.no_grad():
            gate = model.attention.space_gate
            gate.weight.zero_()
            gate.bias.fill_(20.0)
            last = model.attention.time_gate[-1]
            last.weight.zero_()
            last.bias.fill_(20.0)
    return model


def _record(model, seeds=2, n=10):
    g = torch.Generator().manual_seed(1)
    visual, audio = torch.randn(n, T, H, W, DV, generator=g), torch.randn(n, T, DA, generator=g)
    levels = [0.0, 0.5, 1.0]
    tvd = np.stack([
        perturbation_test(model, visual, audio, levels, draws=20, seed=s)["tvd"]
        for s in range(seeds)
    ])  # fmt: skip
    return {
        "noise_variances": levels,
        "tvd_per_video": {m: tvd[:, :, j].tolist() for j, m in enumerate(ALL_MASKS)},
    }


def test_bootstrap_interval_and_verdict():
    rng = np.random.default_rng(0)
    shifted = comparisons.paired_bootstrap(rng.normal(1.0, 1.0, (3, 200)), draws=2000)
    assert shifted["low"] > 0 and comparisons.verdict(shifted, ">")
    centred = comparisons.paired_bootstrap(rng.normal(0.0, 1.0, (3, 200)), draws=2000)
    assert centred["low"] < 0 < centred["high"] and not comparisons.verdict(centred, ">")
    zero = comparisons.paired_bootstrap(np.zeros((3, 20)), draws=500)
    assert not comparisons.verdict(zero, ">") and not comparisons.verdict(zero, "<")
    assert comparisons.paired_bootstrap([np.nan, 1.0, 1.0], draws=100)["videos"] == 2


def test_stan_with_gates_forced_to_one_fails_the_perturbation_check():
    rows = comparisons.perturbation_evidence(_record(_stan(force_gates=True)))
    assert [r["holds"] for r in rows] == [False, False], rows
    # the irrelevant mask and its control are empty: exactly no difference
    assert rows[1]["mean"] == 0.0


def test_gating_attention_passes_the_perturbation_check():
    from avexplain.testing.models import GatedAttention

    torch.manual_seed(0)
    rows = comparisons.perturbation_evidence(_record(GatedAttention(DV, DA, K), n=12))
    assert all(r["holds"] for r in rows), rows


def _boxes(n, rng):
    out = []
    for _ in range(n):
        x, y = rng.uniform(0, 0.6, 2)
        out.append({str(t): [x, y, x + 0.3, y + 0.3] for t in range(T)})
    return out


def _report(space, time, boxes, train_boxes, masks):
    spatial = pointing.spatial_game(space, boxes, seed=0, draws=5, train_boxes=train_boxes,
                                    saliency=np.random.default_rng(2).random(space.shape))  # fmt: skip
    temporal = {"model": pointing.temporal_game(time, masks),
                **pointing.temporal_baselines(masks, 0, 5, pointing.event_prior(masks))}  # fmt: skip
    return {"spatial": spatial, "temporal": temporal}


@pytest.fixture
def truth():
    rng = np.random.default_rng(0)
    n = 40
    boxes, train_boxes = _boxes(n, rng), _boxes(n, rng)
    masks = np.zeros((n, T))
    for i in range(n):
        start = rng.integers(0, T - 1)
        masks[i, start : start + 2] = 1
    return boxes, train_boxes, masks


def test_constant_attention_fails_the_pointing_checks(truth):
    boxes, train_boxes, masks = truth
    n = len(boxes)
    report = _report(np.full((n, T, H, W), 0.7), np.full((n, T), 0.8), boxes, train_boxes, masks)
    rows = {r["claim"]: r for r in comparisons.pointing_evidence(report)}
    for claim in ("stan space > uniform", "stan space > best fixed cell", "stan time > uniform",
                  "stan time > event prior"):  # fmt: skip
        assert not rows[claim]["holds"], rows[claim]
    assert rows["stan space > uniform"]["mean"] == pytest.approx(0.0)  # ties: the expectation
    assert rows["stan time > uniform"]["mean"] == pytest.approx(0.0)


def test_attention_that_knows_where_and_when_passes_the_pointing_checks(truth):
    boxes, train_boxes, masks = truth
    space = np.stack([
        np.stack([pointing.box_cells(b[str(t)], (H, W)).astype(float) for t in range(T)])
        for b in boxes
    ])  # fmt: skip
    report = _report(space, 0.2 + 0.6 * masks, boxes, train_boxes, masks)
    rows = {r["claim"]: r for r in comparisons.pointing_evidence(report)}
    for claim in ("stan space > uniform", "stan space > best fixed cell", "stan time > uniform",
                  "stan time > event prior"):  # fmt: skip
        assert rows[claim]["holds"], rows[claim]
