"""Acceptance tests on the demo-sized synth run the pipeline builds with the repository's
configuration, exactly as `make demo` runs it (the synth_run fixture of tests/conftest.py); one
module, so that the run is built once per session (pytest-xdist sends a whole module to one
worker).

Every claim is asserted on the mean over the training seeds (train.overrides.synth.seeds: three)
with a paired bootstrap interval over the test videos that must exclude 0
(avexplain.tables.comparisons, the same numbers as results/tables/synth_comparisons.md):

- Models (STAN issue): audio-visual STAN beats every unimodal model on test mAP. synth is built
  so that only both modalities separate all classes (docs/synth.md).
- Explanations (issue 11): STAN's relevant features matter more, and its irrelevant features
  less, than random features of the same number per video and time step; its space attention
  beats the best fixed cell of the training split, the centre and the frame's own saliency; its
  per-video time AUC beats any per-video constant and the training split's event prior."""

import json

import pandas as pd
import pytest

from avexplain import paths
from avexplain.names import UNIMODAL
from avexplain.tables import comparisons
from avexplain.testing.workflow import SYNTH_TARGETS, snakemake

pytestmark = pytest.mark.slow
DRAWS = 10000


def _seeds(root):
    import yaml

    config = yaml.safe_load((root / "config.yaml").read_text())
    return config["train"]["overrides"]["synth"]["seeds"]


def _predictions(root, model):
    return [root / f"results/synth/{model}/seed-{s}/predictions.npz" for s in _seeds(root)]


def test_three_seeds_are_trained(synth_run):
    assert len(_seeds(synth_run)) >= 3
    for model in ("stan", *UNIMODAL):
        record = json.loads((synth_run / f"results/synth/{model}/metrics.json").read_text())
        assert len(record["seeds"]) >= 3


@pytest.mark.parametrize("other", UNIMODAL)
def test_stan_beats_unimodal_models_on_test_map(synth_run, other):
    (row,) = comparisons.recognition_evidence(
        _predictions(synth_run, "stan"), {other: _predictions(synth_run, other)}, DRAWS
    )
    assert row["holds"], row


def _perturbation(synth_run):
    record = json.loads((synth_run / "results/synth/stan/perturbation.json").read_text())
    assert record["attention"] == "fixed" and len(record["seeds"]) >= 3
    return {r["claim"]: r for r in comparisons.perturbation_evidence(record, "stan", DRAWS)}


@pytest.mark.xfail(
    reason="measured: STAN's relevant mask covers ~80 % of cells and matters no more than a "
    "same-size random mask (docs/explanations.md, 'What STAN can and cannot show here'); the "
    "assertion is kept as it is, and an unexpected pass is reported (XPASS)",
    strict=False,
)
def test_stan_relevant_features_matter_more_than_random_ones(synth_run):
    row = _perturbation(synth_run)["stan: relevant > same-size random"]
    assert row["holds"], row


def test_stan_irrelevant_features_matter_less_than_random_ones(synth_run):
    row = _perturbation(synth_run)["stan: irrelevant < same-size random"]
    assert row["holds"], row


def _pointing(synth_run):
    report = json.loads((synth_run / "results/synth/stan/ground_truth.json").read_text())
    return {r["claim"]: r for r in comparisons.pointing_evidence(report, "stan", DRAWS)}


NOT_SHOWN = pytest.mark.xfail(
    reason="measured (3 seeds, 4x4 maps, make demo at 74c1872): STAN's space hit rate 0.56 vs "
    "the best fixed cell 0.50 (+0.07, interval [-0.10, 0.24]), the centre 0.48 (+0.09, [-0.01, "
    "0.19]) and the frame's saliency 0.72: in two of three seeds the sigmoid space gate marks "
    "the object by its lowest values (docs/explanations.md, 'Which end of the map points'; "
    "over seeds 0-9 two of ten do, and the peak beats the fixed cell by +0.18 [0.04, 0.31]); "
    "the assertion is kept, an unexpected pass is reported (XPASS)",
    strict=False,
)


@pytest.mark.parametrize(
    "baseline",
    [
        pytest.param("best fixed cell", marks=NOT_SHOWN),
        pytest.param("centre", marks=NOT_SHOWN),
        pytest.param("saliency", marks=NOT_SHOWN),
        "uniform",
    ],
)
def test_stan_space_attention_beats_attention_that_ignores_the_video(synth_run, baseline):
    row = _pointing(synth_run)[f"stan space > {baseline}"]
    assert row["holds"], row


ORIENTED_NOT_SHOWN = pytest.mark.xfail(
    reason="measured (make demo at 74c1872): read at the end validation points with, STAN's map "
    "hits 0.71, the frame's own saliency 0.72 (-0.00 [-0.10, 0.09]): it finds the object no "
    "better than the feature norm does; the assertion is kept, XPASS reported",
    strict=False,
)


@pytest.mark.parametrize(
    "baseline", ["best fixed cell", pytest.param("saliency", marks=ORIENTED_NOT_SHOWN)]
)
def test_stan_space_attention_at_the_end_validation_points_with(synth_run, baseline):
    """Per seed, the map is read at its peak or its trough, whichever hits more often on the
    validation split's boxes (explain.pointing.orientation); the test split decides nothing."""
    row = _pointing(synth_run)[f"stan {comparisons.ORIENTED} > {baseline}"]
    assert row["holds"], row


@pytest.mark.parametrize("baseline", ["uniform", "event prior"])
def test_stan_time_attention_beats_attention_that_ignores_the_video(synth_run, baseline):
    row = _pointing(synth_run)[f"stan time > {baseline}"]
    assert row["holds"], row


def test_tables_and_figures_exist(synth_run):
    table3 = (synth_run / "results/tables/stan_table3.md").read_text()
    assert "| synth ours | synth paper |" in table3 and "| ave ours | ave paper |" in table3
    assert "all ones" in table3
    frame = pd.read_csv(synth_run / "results/tables/synth_comparisons.csv")
    assert {"claim", "mean", "low", "high", "holds"} <= set(frame.columns)
    figures = sorted((synth_run / "results/synth/stan/attention").glob("*.png"))
    assert any(p.name == "grid.png" for p in figures) and len(figures) >= 2


def test_report_holds_the_tables_and_figures_with_captions(synth_run):
    """`snakemake --report` over the run: the reported tables and figures are in the HTML, each
    caption saying which weights the features came from and the configuration's hash."""
    snakemake(synth_run, "--report", paths.REPORT, "--", *SYNTH_TARGETS)
    html = (synth_run / paths.REPORT).read_text()
    for needle in (
        "Table 3: pointing game for sounds",
        "Evidence: comparisons with bootstrap intervals",
        "Figure 4: attention of test video",
        "grid.png",
        "seeded random weights",
        "Configuration hash",
    ):
        assert needle in html, needle
