"""The pipeline through profiles/slurm on a real (single-node) SLURM cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import write_test_profile
from tiny_run import RUN_TARGETS, build, tiny_workflow

from avexplain.compare import compare_runs
from avexplain.extract import KILL_ENV

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def _slurm_workflow(path: Path) -> Path:
    root = tiny_workflow(path)
    write_test_profile(root / "profiles/slurm/config.yaml", root / "profiles/slurm-test")
    return root


def test_slurm_run_equals_local_run(slurm_cluster, local_run, tmp_path):
    root = _slurm_workflow(tmp_path / "wf")
    proc = build(root, "--profile", "profiles/slurm-test", env=slurm_cluster.client_env)
    # the jobs really went through SLURM (not run locally)
    assert "Job " in proc.stdout + proc.stderr and "has been submitted with SLURM jobid" in (
        proc.stdout + proc.stderr
    )
    assert compare_runs(local_run, root, RUN_TARGETS) == []


def test_failing_job_is_reported_and_retried_with_more_memory(slurm_cluster, tmp_path):
    root = _slurm_workflow(tmp_path / "wf")
    # shard 001's extraction kills itself (SIGKILL) after its first video, on every attempt
    proc = build(
        root,
        "--profile",
        "profiles/slurm-test",
        "--retries",
        "1",
        env={**slurm_cluster.client_env, KILL_ENV: "001:1"},
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule extract_features" in out and "shard=001" in out
    assert "failed, SLURM status is: 'FAILED'" in out
    assert not (root / RUN_TARGETS[0]).exists()
    # shard 000 finished; its marker stays for the next run
    assert (root / "features/synth/.staging/vggish.shards/shard-000.json").exists()
    assert not (root / "features/synth/.staging/vggish.shards/shard-001.json").exists()
    # the retry asked SLURM for twice the memory (mem_mb = 32000 * attempt in the profile)
    jobs = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%k|%m|%T"],
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    shard1 = sorted(
        line.split("|")[1]
        for line in jobs
        if "extract_features" in line and "shard_001" in line.replace("=", "_")
    )
    assert shard1 == ["32000M", "64000M"], jobs
