"""The acceptance test: on synth, audio-visual STAN beats every unimodal model on test mAP.

synth is built so that only both modalities separate all classes (docs/synth.md: neighbouring
classes share an object or a sound). If STAN does not win here, the dataset or the model is
wrong, not this assertion.

It needs the real synth features (the pipeline's stores, too slow to extract inside the test):
set AVEXPLAIN_SYNTH_RUN to a workflow directory holding data/synth/{manifest.csv,classes.txt}
and features/synth/{resnet152,vggish}.zarr. The models train with the repository's config.yaml
(the synth override of `train:`), exactly as `make demo` trains them."""

import json
import os
from pathlib import Path

import pytest
import yaml

from avexplain import train

ROOT = Path(__file__).resolve().parents[1]
RUN = os.environ.get("AVEXPLAIN_SYNTH_RUN")
UNIMODAL = ("stan_audio", "stan_visual", "audio_baseline", "visual_baseline")

pytestmark = pytest.mark.skipif(
    not RUN,
    reason="AVEXPLAIN_SYNTH_RUN is not set: it must name a workflow run directory with "
    "data/synth/ and features/synth/{resnet152,vggish}.zarr extracted by the pipeline",
)


@pytest.fixture(scope="module")
def test_map(tmp_path_factory):
    root = Path(RUN)
    for needed in (
        "data/synth/manifest.csv",
        "features/synth/resnet152.zarr",
        "features/synth/vggish.zarr",
    ):
        assert (root / needed).exists(), f"AVEXPLAIN_SYNTH_RUN={RUN} lacks {needed}"
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    out = tmp_path_factory.mktemp("results")
    seeds = train.settings_for(config, "synth")["seeds"]
    scores = {}
    for model in ("stan", *UNIMODAL):
        runs = [
            train.train(
                config,
                "synth",
                model,
                seed,
                out / model / f"seed-{seed}",
                root=root,
                progress=False,
            )
            for seed in seeds
        ]
        scores[model] = sum(r["test"]["mAP"] for r in runs) / len(runs)
    print("test mAP on synth:", json.dumps(scores, indent=1))
    return scores


@pytest.mark.parametrize("other", UNIMODAL)
def test_stan_beats_unimodal_models_on_test_map(test_map, other):
    assert test_map["stan"] > test_map[other], test_map
