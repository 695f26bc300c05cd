"""Acceptance tests of the localization families on the demo-sized synth run (the synth_run
fixture, with the families added as `make demo` adds them; opt-in with
AVEXPLAIN_FAMILY_RUNS=1, see avexplain.testing.workflow.build_families; this module runs on the
same pytest-xdist worker as tests/test_synth_acceptance.py, so the run is built once).

Every "A beats B" claim is on the mean over seeds, with a paired bootstrap interval over test
videos (each video's segment accuracy averaged over the seeds), and printed beside its control
in the failure message. Paper orderings synth cannot promise (e.g. attention over plain A+V,
fusion methods against each other, DCCA against AVDLN, the transformer's ablations) are written
to the report tables, not asserted here (docs/localization.md)."""

import json

import numpy as np
import pytest

from avexplain import names, paths
from avexplain.tables import localization as avloctables
from avexplain.testing.workflow import build_families

pytestmark = pytest.mark.slow

SUPERVISED = ["a", "v", "v_att", "av", "av_att"]
RESAMPLES = 2000


def _per_video(run, family, model):
    """(seed count, per-video segment accuracy averaged over seeds, aggregated record)."""
    record = json.loads((run / paths.localization_metrics("synth", family, model)).read_text())
    accuracies = []
    for seed in record["seeds"]:
        pred = np.load(
            run / paths.localization_trained("synth", family, model, seed, "predictions.npz")
        )
        targets, scores = pred["targets"], pred["segment_scores"]
        top = scores.argmax(-1)
        hit = np.take_along_axis(targets, top[..., None], -1)[..., 0] > 0
        accuracies.append(hit.mean(1) * 100)
    return np.mean(accuracies, axis=0), record


def _paired(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean difference a - b over videos and its 95 % paired bootstrap interval."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), (RESAMPLES, len(a)))
    diffs = (a[idx] - b[idx]).mean(1)
    return (
        float((a - b).mean()),
        float(np.percentile(diffs, 2.5)),
        float(np.percentile(diffs, 97.5)),
    )


@pytest.fixture(scope="module")
def run(request):
    tables = [*avloctables.TABLES, avloctables.POINTING_TABLE]
    return build_families(request, *(paths.table(t) for t in tables))


def _anchor(run, family, model):
    return json.loads((run / paths.localization_metrics("synth", family, model)).read_text())


V_NOT_SHOWN = pytest.mark.xfail(
    reason="measured (make demo at 0f8f9f2, as at 203ae7e): V 49.0 against the all-background "
    "anchor 45.0, +4.0 [-1.0, 9.6] (docs/localization.md, 'On synth'); at 06106f2 on another CPU "
    "+3.3 [-1.5, 8.5] (float32 stores) and +5.7 [1.0, 10.6] (bfloat16, shown): the claim turns "
    "on the machine's rounding (docs/synth.md, 'Numbers across machines'). "
    "The assertion is kept; a pass is reported (XPASS)",
    strict=False,
)


@pytest.mark.parametrize(
    "model", [pytest.param(m, marks=V_NOT_SHOWN) if m == "v" else m for m in SUPERVISED]
)
def test_supervised_models_beat_all_background(run, model):
    ours, record = _per_video(run, "avel", model)
    pred = np.load(run / paths.localization_trained("synth", "avel", model, 0, "predictions.npz"))
    background = (pred["targets"][..., -1] > 0).mean(1) * 100  # per-video all-background anchor
    diff, lo, hi = _paired(ours, background)
    assert len(record["seeds"]) == 3
    assert lo > 0, (model, record["mean"], record["anchors"], diff, (lo, hi))


@pytest.mark.parametrize("unimodal", ["a", "v"])
def test_a_plus_v_beats_each_modality_by_five_points(run, unimodal):
    av, _ = _per_video(run, "avel", "av")
    uni, _ = _per_video(run, "avel", unimodal)
    diff, lo, hi = _paired(av, uni)
    assert diff >= 5 and lo > 0, (f"A+V - {unimodal}", diff, (lo, hi))


@pytest.mark.parametrize("model", SUPERVISED)
def test_weak_models_are_below_their_supervised_twins(run, model):
    weak, _ = _per_video(run, "avel", f"w_{model}")
    sup, _ = _per_video(run, "avel", model)
    diff, lo, hi = _paired(weak, sup)
    assert diff < 0, (f"w_{model} - {model}", diff, (lo, hi))


@pytest.mark.parametrize("direction", ["a2v", "v2a"])
def test_avdln_beats_chance_by_ten_points(run, direction):
    record = json.loads((run / paths.localization_metrics("synth", "avel", "avdln")).read_text())
    mean = record["mean"]
    assert len(record["seeds"]) == 3
    assert mean[direction] >= mean["chance"] + 10, mean


def test_every_fusion_method_beats_the_better_unimodal_minus_two(run):
    """Fusion models have one seed on synth (config localization.single_seed_groups); the
    unimodal models their three."""
    uni = {m: _per_video(run, "avel", m)[0] for m in ("a", "v")}
    best = max(uni, key=lambda m: uni[m].mean())
    failures = []
    for model in names.LOCALIZATION_GROUPS["avel_table2"]:
        ours, _ = _per_video(run, "avel", model)
        diff, lo, hi = _paired(ours, uni[best])
        if diff <= -2:
            failures.append((model, round(diff, 2), (round(lo, 2), round(hi, 2))))
    assert not failures, (f"better unimodal: {best} {uni[best].mean():.1f}", failures)


def _avt_av_models():
    """Every audio-visual model of the AV-transformer tables (AVEL-family rows included)."""
    from avexplain.tables import localization as tables

    cells = {
        (f, m) for t in ("avt_table1", "avt_table2", "avt_table3") for f, m in tables.models(t)
    }
    unimodal = {("avel", "a"), ("avel", "v"), ("avel", "w_a"), ("avel", "w_v")}
    return sorted(cells - unimodal)


@pytest.mark.xfail(
    reason="measured (make demo at 155f4d3, 4x4 ResNet-152 maps, 256 principal "
    "components for the attending models, DAM trained 30 epochs): 1 of the AV-transformer's 57 "
    "audio-visual models does not beat the audio LSTM A (74.3): avt_conv3d_avol_lstm -3.5 "
    "[-11.8, 5.2] (docs/localization.md, 'On synth'; DAM was -9.2 at 10 epochs and is 76.5 "
    "now); every other model and every background anchor hold. At 06106f2 on another CPU "
    "+0.6 [-4.7, 5.9] (float32 stores) and -3.6 [-8.5, 1.2] (bfloat16): docs/synth.md, "
    "'Numbers across machines'. "
    "The assertion is kept; a pass is reported (XPASS)",
    strict=False,
)
def test_avt_audio_visual_models_beat_unimodal_lstms_and_background(run):
    failures = []
    uni = {w: {m: _per_video(run, "avel", f"{w}{m}")[0] for m in ("a", "v")} for w in ("", "w_")}
    for family, model in _avt_av_models():
        ours, record = _per_video(run, family, model)
        weak = record["weak"]
        controls = uni["w_" if weak else ""]
        pred = np.load(
            run
            / paths.localization_trained(
                "synth", family, model, record["seeds"][0], "predictions.npz"
            )
        )
        controls = {**controls, "background": (pred["targets"][..., -1] > 0).mean(1) * 100}
        for name, control in controls.items():
            diff, lo, hi = _paired(ours, control)
            if diff <= 0:
                failures.append((model, name, round(diff, 2), (round(lo, 2), round(hi, 2))))
    assert not failures, failures


@pytest.mark.parametrize("classifier", ["lstm", "avsdn", "avel"])
def test_temporal_classifiers_beat_the_mlp_classifier(run, classifier):
    """Over the rows of the AV-transformer's Table 2 (one seed each on synth, so the claim is
    on the mean over its eight rows, paired over test videos)."""
    ours, mlp = [], []
    for (_, cls), spec in names.avt_table2().items():
        if cls not in (classifier, "mlp"):
            continue
        values, _ = _per_video(run, "avt", spec.name)
        (ours if cls == classifier else mlp).append(values)
    diff, lo, hi = _paired(np.mean(ours, 0), np.mean(mlp, 0))
    assert diff > 0 and lo > 0, (classifier, diff, (lo, hi))


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
