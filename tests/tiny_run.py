"""The smallest real pipeline run, shared by the SLURM, determinism and cluster tests.

RUN_TARGETS is what those tests build and compare between runs: a trained model's metrics, so
the whole chain (generation, decoding, both feature stores, training) runs and is compared."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from workflow_runner import copy_workflow, snakemake

# What a "run" produces in these tests; everything upstream of it runs too.
RUN_TARGETS = ["results/synth/stan/metrics.json"]


def tiny_workflow(dest: Path) -> Path:
    """A copy of the workflow whose synth dataset is 4 short (4 s), small videos in 2 shards."""
    root = copy_workflow(dest)
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["clip"].update(segments=4, size=64)
    config["datasets"]["synth"].update(num_videos=4, shard_size=2, classes=2)
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


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> Path:
    """The tiny workflow built once on this machine with the local profile (the reference)."""
    root = tiny_workflow(tmp_path_factory.mktemp("local-run"))
    build(root, "--profile", "profiles/local")
    return root
