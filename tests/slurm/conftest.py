"""A real single-node SLURM cluster for the session (tests/slurm/cluster.py), and the test
profile: profiles/slurm with only what a GPU-less test node needs changed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from cluster import PARTITION, LocalSlurm, SlurmUnavailable, missing_requirements  # noqa: E402

# CI sets this: there SLURM must start, and a test that cannot start it fails instead of skipping.
REQUIRE_ENV = "AVEXPLAIN_REQUIRE_SLURM"


def _unavailable(reason: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but SLURM cannot run: {reason}")
    print(f"\nSLURM tests skipped: {reason}")
    pytest.skip(f"SLURM unavailable: {reason}")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    why = missing_requirements()
    if why:
        _unavailable(why)
    # the sockets' paths must stay short (108 bytes): a short temporary folder, not pytest's
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except SlurmUnavailable as exc:
        cluster.stop()
        _unavailable(str(exc))
    yield cluster
    cluster.stop()


def write_test_profile(repo_profile: Path, dest: Path) -> Path:
    """profiles/slurm with the test cluster's partition, no account (no accounting database),
    no GPUs (gpu: 0: the GPU rules then run on CPUs, which their code supports) and quick
    status polling; every other setting (retries, memory and time per attempt) is kept."""
    profile = yaml.safe_load(repo_profile.read_text())
    resources = profile["default-resources"]
    resources["slurm_partition"] = PARTITION
    resources.pop("slurm_account", None)
    profile["slurm-no-account"] = True
    for rule_resources in profile["set-resources"].values():
        if "gpu" in rule_resources:
            rule_resources["gpu"] = 0
    # first status check after 2 s instead of 40 s (still < MinJobAge / 3, see docs/cluster.md)
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["slurm-keep-successful-logs"] = True
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest
