"""Issue 16 through the real Snakefile: missing.csv survives the failing check that points to
it, the printed recovery command rebuilds one store with the user's --configfile, and a second
command in a running project's folder stops without touching the running one."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from avexplain import rerun, runlock
from avexplain.testing.workflow import copy_workflow, snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A scratch clone plus my.yaml: synth in 2 shards, and a custom dataset of broken files."""
    root = copy_workflow(tmp_path_factory.mktemp("project"))
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["datasets"]["synth"].update(num_videos=96, shard_size=48)  # 2 shards
    videos = root / "mine"
    videos.mkdir()
    for i in range(5):
        (videos / f"v{i}.mp4").write_bytes(b"" if i % 2 else b"not a video %d" % i)
    (root / "labels.csv").write_text(
        "video_id,labels,split\nv0,a,train\nv1,b,train\nv2,a,val\nv3,b,test\nv4,a,test\n"
    )
    config["datasets"]["custom"].update(video_dir="mine", labels_csv="labels.csv")
    (root / "my.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def _job_counts(output: str) -> dict[str, int]:
    stats = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}


def test_missing_csv_survives_the_failing_check(project):
    # the target first: --configfile takes every word after it
    proc = snakemake(project, "data/custom/present.json", "--configfile", "my.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "dataset 'custom': no video has a clip" in out
    assert "data/custom/missing.csv (kept)" in out
    missing = pd.read_csv(project / "data/custom/missing.csv", dtype=str, keep_default_na=False)
    assert missing["video_id"].tolist() == ["v0", "v1", "v2", "v3", "v4"]
    assert (missing["stage"] == "download").all()
    assert (missing["reason"] == "fetched file is not a readable video").all()
    assert not (project / "data/custom/present.json").exists()


def test_recovery_command_rebuilds_one_store_and_a_second_command_is_refused(project, monkeypatch):
    # a running command holds the folder (taken the way the Snakefile takes it)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from avexplain import runlock; "
            "runlock.acquire(sys.argv[1], ['snakemake', '--cores', '2']); "
            "print('held', flush=True); time.sleep(300)",
            str(project),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        second = snakemake(project, "-n", "data/synth/manifest.csv", check=False)
        out = second.stdout + second.stderr
        assert second.returncode != 0
        assert "another pipeline command is running" in out and f"pid {holder.pid}" in out
        assert "even a dry run" in out and "separate copy" in out
        assert holder.poll() is None  # the running command is untouched
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # a killed holder leaves nothing to unlock: the printed recovery command now runs as is
    monkeypatch.chdir(project)
    monkeypatch.delenv(rerun.RUN_ARGS_ENV, raising=False)
    rerun.record([project / "my.yaml"])
    command = rerun.rebuild_store(project / "features/synth/vggish.zarr")
    assert command.startswith("snakemake features/synth/vggish.zarr --cores 1 --configfile my.yaml")
    args = shlex.split(command)[1:]
    args.remove("--cores")
    args.remove("1")
    proc = snakemake(project, *args, "-n")
    jobs = _job_counts(proc.stdout + proc.stderr)
    assert "all" not in jobs and jobs["finalize_features"] == 1
    assert jobs["extract_features"] == 2  # my.yaml's 2 shards, one backbone: its config kept
    assert "resnet152" not in proc.stdout
    runlock.release(project)
    assert os.path.exists(project / runlock.LOCK_FILE)
