"""The same configuration run twice from scratch gives the same outputs (seeds everywhere,
deterministic CPU code). What is compared is avexplain.testing.workflow.RUN_TARGETS (STAN's
metrics.json) and RUN_STORES (both feature stores it was trained on)."""

from __future__ import annotations

import os

import pytest

from avexplain.compare import compare_runs
from avexplain.testing.slurm import REQUIRE_ENV
from avexplain.testing.workflow import RUN_STORES, RUN_TARGETS, build, tiny_workflow

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    os.environ.get(REQUIRE_ENV) == "1",
    # CI: tests/slurm/test_slurm.py must run, and its run from scratch is compared with the
    # tiny local run on the same paths (a third tiny run here would cost a minute of CPU)
    reason="the SLURM test's run from scratch is the second run here (REQUIRE_SLURM)",
)
def test_same_config_twice_gives_identical_outputs(local_run, tmp_path):
    again = tiny_workflow(tmp_path / "again")
    build(again, "--profile", "profiles/local")
    assert compare_runs(local_run, again, [*RUN_TARGETS, *RUN_STORES]) == []
