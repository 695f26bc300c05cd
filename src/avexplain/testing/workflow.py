"""Run the real Snakefile in a scratch copy of the workflow, as a user would from a clone: the
tiny run (the SLURM, determinism and profile tests) and the demo-sized synth run (acceptance
tests of the models and explanations). The pytest fixtures that build them are in
tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from avexplain.names import UNIMODAL

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "resources", "profiles", "envs")


def copy_workflow(dest: Path) -> Path:
    """Copy what a run needs (not data/, results/ or .venv) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 1800, env: dict | None = None
):
    """Run snakemake from the test's interpreter environment in `workdir`; return the process.
    `env`: extra environment variables for the run."""
    bindir = Path(sys.executable).parent
    env = dict(os.environ, **(env or {}))
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    cmd = [str(bindir / "snakemake"), "--cores", "2", *args]
    proc = subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}) in {workdir}:\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


# --- the tiny run ---------------------------------------------------------------------------

# What a "run" produces in the tiny-run tests: a trained model's metrics, so the whole chain
# (generation, decoding, both feature stores, training) runs and is compared between runs.
RUN_TARGETS = ["results/synth/stan/metrics.json"]
# ... and the two feature stores it was trained on: what two runs of one config must share.
RUN_STORES = ["features/synth/resnet152.zarr", "features/synth/vggish.zarr"]


def tiny_workflow(dest: Path) -> Path:
    """A copy of the workflow whose synth dataset is 4 short (4 s), small videos in 2 shards."""
    root = copy_workflow(dest)
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["clip"]["segments"] = 4
    config["clip"]["overrides"]["synth"] = {"fps": 4, "size": 64}
    config["datasets"]["synth"].update(num_videos=4, shard_size=2, classes=2)
    config["train"]["overrides"]["synth"]["seeds"] = [0]  # one seed: runs are compared, not seeds
    config["features"]["chunk_videos"].update(vggish=2, mc3_18=2)
    config["features"]["overrides"]["synth"]["image_size"] = None  # the clips' own 64 px
    config["features"]["overrides"]["synth"]["frames_per_segment"] = {
        "vgg19": 1,
        "resnet152": 1,
        "mc3_18": 4,
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def build(root: Path, *args: str, env=None, check: bool = True):
    """Build RUN_TARGETS in `root` (extra snakemake arguments, e.g. a profile, in `args`)."""
    return snakemake(root, *args, *RUN_TARGETS, env=env, check=check)


# --- the demo-sized synth run ---------------------------------------------------------------

# What the acceptance tests read: the five models of the unimodal comparison and STAN's
# explanations, from the repository's own configuration (the one `make demo` runs).
SYNTH_TARGETS = (
    *(f"results/synth/{m}/metrics.json" for m in ("stan", *UNIMODAL)),
    "results/synth/stan/perturbation.csv",
    "results/synth/stan/ground_truth.json",
    "results/synth/stan/attention",
    "results/tables/stan_table3.md",
    "results/tables/synth_comparisons.md",
)

# The other papers' families on synth (part of `make demo`). Their acceptance tests add them to
# the synth run only with AVEXPLAIN_FAMILY_RUNS=1: MC3-18 and VGGish-map extraction and ~150
# small models take about 8 more minutes on 2 cores, beyond the suite's budget, so CI does not
# run them.
FAMILY_RUNS_ENV = "AVEXPLAIN_FAMILY_RUNS"


def build_families(request, *targets: str) -> Path:
    """Build the families' `targets` in the session's synth run (the `synth_run` fixture, asked
    for only then: a skipped module must not build it), or skip the calling test."""
    if os.environ.get(FAMILY_RUNS_ENV) != "1":
        pytest.skip(f"the families' synth runs are opt-in: set {FAMILY_RUNS_ENV}=1")
    root = request.getfixturevalue("synth_run")
    snakemake(root, *targets, timeout=3600)
    return root
