"""The same configuration run twice from scratch gives the same outputs (seeds everywhere,
deterministic CPU code). What is compared is tiny_run.RUN_TARGETS: today the synth feature
store; the pipeline's final metrics once they exist."""

from __future__ import annotations

import pytest
from tiny_run import RUN_TARGETS, build, tiny_workflow

from avexplain.compare import compare_runs

pytestmark = pytest.mark.slow


def test_same_config_twice_gives_identical_outputs(local_run, tmp_path):
    again = tiny_workflow(tmp_path / "again")
    build(again, "--profile", "profiles/local")
    assert compare_runs(local_run, again, RUN_TARGETS) == []
