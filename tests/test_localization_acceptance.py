"""Acceptance tests of the localization families on the demo-sized synth run (the synth_run
fixture, with the families added as `make demo` adds them; opt-in with
AVEXPLAIN_FAMILY_RUNS=1, see avexplain.testing.workflow.build_families; this module runs on the
same pytest-xdist worker as tests/test_synth_acceptance.py, so the run is built once).

Every claim is a row of results/tables/localization_comparisons.csv
(avexplain.tables.localization_comparisons): the mean over seeds of a per-video difference from
its control, with a paired bootstrap interval over test videos, and the criterion the issue sets
(of the interval, or of the mean); the tests assert those rows and print them on failure. Paper
orderings synth cannot promise (e.g. attention over plain A+V, fusion methods against each
other, DCCA against AVDLN, the transformer's ablations) are in the paper tables, not asserted
here (docs/localization.md)."""

import json

import pandas as pd
import pytest

from avexplain import names, paths
from avexplain.tables import localization as avloctables
from avexplain.tables import localization_comparisons as avloccomparisons
from avexplain.testing.workflow import build_families

pytestmark = pytest.mark.slow

SUPERVISED = list(avloccomparisons.SUPERVISED)
TABLE1 = "AVE Table 1"


@pytest.fixture(scope="module")
def run(request):
    tables = [*avloctables.TABLES, avloctables.POINTING_TABLE, avloccomparisons.TABLE]
    return build_families(request, *(paths.table(t) for t in tables))


@pytest.fixture(scope="module")
def claims(run):
    frame = pd.read_csv(run / paths.table(avloccomparisons.TABLE, "csv"))
    assert not frame.duplicated(["group", "claim"]).any()
    return frame


def _failures(claims, group: str) -> list[tuple]:
    rows = claims[claims["group"] == group]
    assert len(rows), group
    bad = rows[~rows["holds"]]
    return [(r["claim"], round(r["mean"], 2), (round(r["low"], 2), round(r["high"], 2)))
            for _, r in bad.iterrows()]  # fmt: skip


def _row(claims, group: str, claim: str) -> pd.Series:
    rows = claims[(claims["group"] == group) & (claims["claim"] == claim)]
    assert len(rows) == 1, (group, claim)
    return rows.iloc[0]


def _holds(claims, group: str, claim: str) -> None:
    row = _row(claims, group, claim)
    assert row["holds"], (claim, row["criterion"], row["mean"], (row["low"], row["high"]))


@pytest.mark.parametrize("model", SUPERVISED)
def test_supervised_models_beat_all_background(claims, model):
    claim = f"{model} > {avloccomparisons.BACKGROUND}"
    assert _row(claims, TABLE1, claim)["seeds"] >= 3  # synth: ten (config group_seeds)
    _holds(claims, TABLE1, claim)


@pytest.mark.parametrize("unimodal", ["a", "v"])
def test_a_plus_v_beats_each_modality_by_five_points(claims, unimodal):
    _holds(claims, TABLE1, f"av > {unimodal} + 5")


@pytest.mark.parametrize("model", SUPERVISED)
def test_weak_models_are_below_their_supervised_twins(claims, model):
    _holds(claims, TABLE1, f"w_{model} < {model}")


@pytest.mark.parametrize("direction", ["a2v", "v2a"])
def test_avdln_beats_chance_by_ten_points(run, claims, direction):
    record = json.loads((run / paths.localization_metrics("synth", "avel", "avdln")).read_text())
    assert len(record["seeds"]) == 3
    _holds(claims, "AVE Table 3", f"avdln {direction} > chance + 10")


def test_every_fusion_method_beats_the_better_unimodal_minus_two(claims):
    """Each fusion model's mean over its three seeds against the better unimodal model's."""
    assert len(claims[claims["group"] == "AVE Table 2"]) == len(
        names.LOCALIZATION_GROUPS["avel_table2"]
    )
    assert not _failures(claims, "AVE Table 2")


@pytest.mark.xfail(
    reason="measured (make demo at 74c1872: every AV-transformer model three seeds, A and V ten): "
    "1 of the AV-transformer's 57 audio-visual models is not above the audio LSTM A: "
    "avt_lstm_avol_mlp -0.6 [-5.5, 4.4]; every other model and every background anchor hold "
    "(docs/localization.md, 'On synth'). With one seed for Tables 2-3 the model at the edge "
    "was another (avt_conv3d_avol_lstm, -3.5 to +0.6 by machine: docs/synth.md). "
    "The assertion is kept; a pass is reported (XPASS)",
    strict=False,
)
def test_avt_audio_visual_models_beat_unimodal_lstms_and_background(claims):
    rows = claims[claims["group"] == "AV-transformer"]
    assert len(rows) == 3 * len(avloccomparisons.avt_audio_visual_models()) == 3 * 57
    assert not _failures(claims, "AV-transformer")


@pytest.mark.parametrize("classifier", ["lstm", "avsdn", "avel"])
def test_temporal_classifiers_beat_the_mlp_classifier(claims, classifier):
    """Over the eight rows of the AV-transformer's Table 2, each the mean of its three seeds,
    paired over test videos."""
    _holds(claims, "AV-transformer Table 2", f"{classifier} classifier > mlp classifier")


def test_pointing_table_ranks_the_three_attentions(run):
    report = json.loads((run / paths.localization_pointing("synth")).read_text())
    ranking = report["ranking"]
    assert set(ranking) == {*names.LOCALIZATION_ATTENTION, "stan"}
    rates = [report["methods"][m]["hit_rate"] for m in ranking]
    assert rates == sorted(rates, reverse=True)
    for method in report["methods"].values():
        lo, hi = method["ci95"]
        assert lo <= method["hit_rate"] <= hi
    assert {"fixed_cell", "random", "uniform"} <= set(report["baselines"])
    table = (run / paths.table("localization_pointing")).read_text()
    assert "fixed cell" in table and "95 % CI" in table
    for name in ("avel_table1", "avel_table2", "avel_table3", "avt_table1", "avt_table2"):
        text = (run / paths.table(name)).read_text()
        assert "Anchors on synth test" in text, name
