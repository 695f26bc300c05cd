"""The pipeline through profiles/slurm on a real (single-node) SLURM cluster: a run with a
failing job, then the re-run, whose outputs must equal the local run's. One test, two runs,
because every SLURM job costs seconds of scheduling and polling (docs/cluster.md)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from avexplain.compare import compare_runs
from avexplain.features.extract import KILL_ENV
from avexplain.features.settings import settings_for
from avexplain.testing.slurm import write_test_profile
from avexplain.testing.workflow import RUN_STORES, RUN_TARGETS, build, tiny_workflow

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SHARDS = "features/synth/.staging/vggish.shards"


def _slurm_jobs(cluster, rule: str) -> dict[str, str]:
    """{job id: comment (rule and wildcards)} of every job of `rule` this cluster ran: squeue
    keeps finished jobs for MinJobAge, and the executor writes rule and wildcards into the
    comment."""
    lines = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i %k"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    jobs = dict(line.split(" ", 1) for line in lines if " " in line)
    return {job: comment for job, comment in jobs.items() if f"rule_{rule}_" in comment}


def test_failing_job_is_reported_then_rerun_equals_local_run(slurm_cluster, local_run, tmp_path):
    root = tiny_workflow(tmp_path / "wf")
    write_test_profile(root / "profiles/slurm/config.yaml", root / "profiles/slurm-test")
    profile = ("--profile", "profiles/slurm-test")

    # 1. shard 001's extraction SIGKILLs itself after its first video
    # (no retries here: tests/test_profiles.py checks that retries get more memory and time)
    env = {**slurm_cluster.client_env, KILL_ENV: "001:1"}
    failed = build(root, *profile, "--retries", "0", env=env, check=False)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "has been submitted with SLURM jobid" in out  # jobs went through SLURM
    assert "Error in rule extract_features" in out and "shard=001" in out
    assert "SLURM status is: 'FAILED'" in out
    assert (root / SHARDS / "shard-000.json").exists()  # keep-going: the other shard finished
    assert not (root / SHARDS / "shard-001.json").exists()
    assert not (root / RUN_TARGETS[0]).exists()

    # 2. the re-run redoes only what failed (shard 001 of each store), on SLURM, and its
    # outputs equal the local run's (this is also CI's determinism check: two runs of one
    # config from scratch, tests/test_determinism.py)
    config = yaml.safe_load((root / "config.yaml").read_text())
    killed = len(settings_for(config, "synth")["backbones"])
    before = _slurm_jobs(slurm_cluster, "extract_features")
    build(root, *profile, env=slurm_cluster.client_env)
    new = set(_slurm_jobs(slurm_cluster, "extract_features").items()) - set(before.items())
    assert len(new) == killed and all("001" in comment for _, comment in new), new
    assert compare_runs(local_run, root, [*RUN_TARGETS, *RUN_STORES]) == []
