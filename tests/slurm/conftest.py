"""A real single-node SLURM cluster for the session (avexplain.testing.slurm)."""

from __future__ import annotations

import pytest

from avexplain.testing.slurm import LocalSlurm, SlurmUnavailable, missing_requirements, unavailable


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
