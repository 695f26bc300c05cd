"""The same configuration run twice from scratch gives the same outputs (seeds everywhere,
deterministic CPU code). What is compared is avexplain.testing.workflow.RUN_TARGETS (STAN's metrics.json) and
both feature stores it was trained on."""

from __future__ import annotations

import pytest

from avexplain.compare import compare_runs
from avexplain.testing.workflow import RUN_TARGETS, build, tiny_workflow

pytestmark = pytest.mark.slow


def test_same_config_twice_gives_identical_outputs(local_run, tmp_path):
    again = tiny_workflow(tmp_path / "again")
    build(again, "--profile", "profiles/local")
    stores = ["features/synth/resnet152.zarr", "features/synth/vggish.zarr"]
    assert compare_runs(local_run, again, [*RUN_TARGETS, *stores]) == []
