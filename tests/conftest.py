import sys
from pathlib import Path

import pytest

# Test helpers (workflow_runner) sit beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

# One tiny local pipeline run per session, shared by the determinism and SLURM tests.
# The demo-sized synth run, shared by the models' and explanations' acceptance tests.
from synth_run import synth_run  # noqa: E402, F401
from tiny_run import local_run  # noqa: E402, F401


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test` runs two workers), tests sharing a session-scoped
    pipeline run go to the same worker, so each run is built once; the SLURM test, which mostly
    waits on the scheduler, then overlaps with the CPU-bound synth run."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"local_run", "slurm_cluster"}:
            item.add_marker(pytest.mark.xdist_group("tiny_run"))
        elif "synth_run" in names:
            item.add_marker(pytest.mark.xdist_group("synth_run"))
