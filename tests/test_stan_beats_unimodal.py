"""The acceptance test: on synth, audio-visual STAN beats every unimodal model on test mAP.

synth is built so that only both modalities separate all classes (docs/synth.md: neighbouring
classes share an object or a sound). If STAN does not win here, the dataset or the model is
wrong, not this assertion. The models are trained by the pipeline with the repository's
configuration, exactly as `make demo` trains them (tests/synth_run.py)."""

import json

import pytest
from synth_run import UNIMODAL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def test_map(synth_run):
    scores = {
        model: json.loads((synth_run / f"results/synth/{model}/metrics.json").read_text())
        for model in ("stan", *UNIMODAL)
    }
    return {model: m["mean"]["mAP"] for model, m in scores.items()}


@pytest.mark.parametrize("other", UNIMODAL)
def test_stan_beats_unimodal_models_on_test_map(test_map, other):
    assert test_map["stan"] > test_map[other], test_map
