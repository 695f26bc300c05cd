"""The feature rules under Snakemake, end to end on tiny clips, including a SIGKILL mid-shard;
the ResNet-152 store of the tiny run (tests/conftest.py: this module shares its worker)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from avexplain.features import store
from avexplain.features.extract import KILL_ENV
from avexplain.testing.clips import CLIP, make_dataset, settings
from avexplain.testing.workflow import snakemake

REPO = Path(__file__).resolve().parents[1]

# The feature rules need only the manifest and the clips: this Snakefile supplies the few names
# common.smk would (shards, datasets), so the test does not depend on the other stages' code.
SNAKEFILE = """
import pandas as pd
from avexplain import names, paths
from avexplain.shards import shard_ids

configfile: "config.yaml"

MEDIA_DATASETS = ["synth"]
STAGE_TARGETS = []


wildcard_constraints:
    media="synth",
    shard=r"\\d{{3}}",
    backbone="|".join(names.BACKBONES),


def shards(dataset):
    n = len(pd.read_csv(paths.manifest(dataset)))
    return shard_ids(n, config["datasets"][dataset]["shard_size"])


include: "{rules}"
"""

pytestmark = pytest.mark.slow


def _project(tmp_path: Path, n: int, shard_size: int) -> Path:
    make_dataset(tmp_path, "synth", n, shard_size)
    config = {
        "seed": 0,
        "clip": CLIP,
        "datasets": {"synth": {"shard_size": shard_size}},
        "features": {
            **settings(chunk_videos={"vgg19": 1, "resnet152": 1, "vggish": 1, "mc3_18": 1})
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "Snakefile").write_text(
        SNAKEFILE.format(rules=REPO / "workflow" / "rules" / "features.smk")
    )
    return tmp_path


def _snakemake(workdir: Path, target: str, env=None, check=True, keep_going=False):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    proc = subprocess.run(
        [snakemake, "--cores", "2", "--nolock", target, *(["--keep-going"] if keep_going else [])],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode:
        raise AssertionError(proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc


def test_the_tiny_run_built_the_resnet152_store_and_is_up_to_date(local_run):
    """The tiny run (session fixture, built once for this worker's tiny-run modules) built
    ResNet-152 maps through the whole workflow: 4 videos of 4 s at 64 px in 2 shards."""
    feats = store.open_features(local_run / "features/synth/resnet152.zarr")
    assert feats.features.shape == (4, 4, 2, 2, 2048)
    assert feats.valid.all() and feats.attrs["weights"] == "random:0"
    assert np.isfinite(feats.features.compute()).all()
    for log in ("shard-000.log", "shard-001.log", "finalize.log"):
        assert (local_run / "logs/features/synth/resnet152" / log).exists()
    assert (local_run / "benchmarks/out/features/synth/resnet152/finalize.tsv").exists()
    # everything is up to date: a second run does nothing
    dry = snakemake(local_run, "--profile", "profiles/local", "-n", "features/synth/resnet152.zarr")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_sigkill_mid_shard_then_rerun_completes_without_redoing_finished_shards(tmp_path):
    workdir = _project(tmp_path, n=4, shard_size=2)
    markers = workdir / "features/synth/.staging/vggish.shards"
    staging = workdir / "features/synth/.staging/vggish.zarr"
    # shard 001's job SIGKILLs itself after writing its first row (row 2); shard 000 finishes
    first = _snakemake(
        workdir, "features/synth/vggish.zarr", env={KILL_ENV: "001:1"}, check=False, keep_going=True
    )
    assert first.returncode != 0
    assert sorted(p.name for p in markers.glob("*.json")) == ["shard-000.json"]
    assert (staging / "features/c/2/0/0").exists()  # the killed shard's row is there, uncounted
    assert not (workdir / "features/synth/vggish.zarr").exists()
    finished = {p.name: p.stat().st_mtime_ns for p in markers.glob("*.json")}
    torn = staging / "features/c/2/0/0"
    torn.write_bytes(torn.read_bytes()[:5])  # what a kill inside the chunk write would leave
    # the re-run redoes only the killed shard and finalizes a store that validates
    _snakemake(workdir, "features/synth/vggish.zarr")
    assert {n: (markers / n).stat().st_mtime_ns for n in finished} == finished
    feats = store.open_features(workdir / "features/synth/vggish.zarr")
    assert feats.features.shape == (4, CLIP["segments"], 128) and feats.valid.all()
    assert np.isfinite(feats.features.compute()).all()
    assert json.loads((markers / "shard-001.json").read_text())["valid"] == [True, True]
