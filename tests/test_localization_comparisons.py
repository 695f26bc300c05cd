"""The localization families' claims table (avexplain.tables.localization_comparisons) on
hand-made per-video scores whose verdicts are known."""

import numpy as np
import pytest

from avexplain.tables import localization_comparisons as lc

N = 40


def _scores(rng):
    """Every model the claims read at 50 % ± noise (three seeds), then the cases below."""
    scores = {key: 50 + rng.normal(0, 1, (3, N)) for key in lc.models()}
    scores[("avel", "av")] = scores[("avel", "a")] + 8  # A+V 8 points above A, 8 above V
    scores[("avel", "v")] = scores[("avel", "a")].copy()
    # below its twin on average, not beyond the interval
    scores[("avel", "w_a")] = scores[("avel", "a")] - 0.2 + 2 * (-1.0) ** np.arange(N)
    scores[("avel", "w_v")] = scores[("avel", "v")] + 1  # above its twin
    first_fusion = ("avel", lc.names.LOCALIZATION_GROUPS["avel_table2"][0])
    scores[first_fusion] = scores[first_fusion][:1]  # one seed, as synth trains Table 2
    return scores


def _by_claim(rows, group):
    return {r["claim"]: r for r in rows if r["group"] == group}


def test_each_claim_applies_its_criterion():
    rng = np.random.default_rng(0)
    scores = _scores(rng)
    # A beats it on average (+0.5) but, videos varying by ±3, not beyond the interval
    background = 49.5 + 3 * (-1.0) ** np.arange(N)
    avdln = {"a2v": 30.0, "v2a": 25.0, "chance": 17.5}
    rows = lc.evidence(scores, background, avdln, 2000, 0, avdln_seeds=3)
    assert len(rows) == 5 + 2 + 5 + 2 + 28 + 3 * 57 + 3
    t1 = _by_claim(rows, "AVE Table 1")
    a_bg = t1["a > all background"]
    assert a_bg["mean"] > 0 and a_bg["low"] < 0 and not a_bg["holds"]  # the interval decides
    assert a_bg["seeds"] == 3 and a_bg["criterion"] == "mean > 0, interval > 0"
    assert t1["av > a + 5"]["holds"] and t1["av > v + 5"]["holds"]
    assert t1["w_a < a"]["holds"] and t1["w_a < a"]["high"] > 0  # of the mean only
    assert not t1["w_v < v"]["holds"]
    t3 = _by_claim(rows, "AVE Table 3")
    assert t3["avdln a2v > chance + 10"]["holds"] and not t3["avdln v2a > chance + 10"]["holds"]
    assert np.isnan(t3["avdln a2v > chance + 10"]["low"])
    assert (t3["avdln a2v > chance + 10"]["seeds"], a_bg["control_seeds"]) == (3, 0)
    fusion = _by_claim(rows, "AVE Table 2")
    assert all(r["criterion"] == "mean > -2" and r["holds"] for r in fusion.values())
    one_seed = fusion[f"{lc.names.LOCALIZATION_GROUPS['avel_table2'][0]} > a - 2"]
    assert (one_seed["seeds"], one_seed["control_seeds"]) == (1, 3)


def test_a_weak_transformer_model_is_compared_with_the_weak_lstms():
    rng = np.random.default_rng(1)
    scores = _scores(rng)
    weak = next(m for f, m in lc.avt_audio_visual_models() if m.endswith("_weak"))
    scores[("avt", weak)] = scores[("avel", "w_a")] - 3
    rows = _by_claim(
        lc.evidence(scores, np.zeros(N), {"a2v": 0, "v2a": 0, "chance": 0}), "AV-transformer"
    )
    assert {c for c in rows if c.startswith(f"{weak} > ")} == {
        f"{weak} > w_a",
        f"{weak} > w_v",
        f"{weak} > {lc.BACKGROUND}",
    }
    assert not rows[f"{weak} > w_a"]["holds"] and rows[f"{weak} > {lc.BACKGROUND}"]["holds"]


@pytest.mark.parametrize(
    ("criterion", "stats", "holds"),
    [
        (lc.Criterion(">", interval=True), {"mean": 1.0, "low": 0.1, "high": 2.0}, True),
        (lc.Criterion(">", interval=True), {"mean": 1.0, "low": -0.1, "high": 2.0}, False),
        (lc.Criterion(">=", 5, interval=True), {"mean": 4.9, "low": 1.0, "high": 9.0}, False),
        (lc.Criterion("<"), {"mean": -0.1, "low": -1.0, "high": 0.5}, True),
        (lc.Criterion("<", interval=True), {"mean": -0.1, "low": -1.0, "high": 0.5}, False),
        (lc.Criterion(">", -2), {"mean": -1.9, "low": -5.0, "high": 1.0}, True),
    ],
)
def test_criterion(criterion, stats, holds):
    assert criterion.holds(stats) is holds
