"""A real single-node SLURM cluster for the session (tests/slurm/local_slurm.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest_helpers import unavailable  # noqa: E402
from local_slurm import LocalSlurm, SlurmUnavailable, missing_requirements  # noqa: E402


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    why = missing_requirements()
    if why:
        unavailable(why)
    # one cluster for the whole session: starting it takes seconds
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except SlurmUnavailable as exc:
        cluster.stop()
        unavailable(str(exc))
    yield cluster
    cluster.stop()
