"""Faults at cluster scale that other tests do not cover: shards of one store written at the
same time by separate processes (as cluster jobs on different nodes do).

Covered elsewhere: SIGKILL mid-extraction and the re-run (test_features_pipeline.py), corrupted
or torn chunks refused by finalize (test_features.py and test_features_pipeline.py), a video
that vanishes between download and decode (test_data_stage.py), a failing SLURM job
(tests/slurm/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avexplain.features import store
from avexplain.testing.clips import make_dataset

TESTS = Path(__file__).resolve().parent

# One shard's extraction in its own process, as a cluster job runs it.
SHARD_JOB = """
import sys
from pathlib import Path
from avexplain.testing.clips import CLIP, settings
from avexplain.features import extract
root, shard = Path(sys.argv[1]), sys.argv[2]
extract.run_shard(
    clips_dir=root / "data/synth/clips" / f"shard-{shard}",
    manifest=root / "data/synth/manifest.csv",
    dataset="synth", backbone="vggish", shard=shard, shard_size=2,
    settings=settings(), clip=CLIP, seed=0,
    marker=root / "features/synth/.staging/vggish.shards" / f"shard-{shard}.json",
    root=root,
)
"""

SHARDS = ("000", "001")
pytestmark = pytest.mark.slow


def _markers(root: Path) -> list[Path]:
    return [root / f"features/synth/.staging/vggish.shards/shard-{s}.json" for s in SHARDS]


def test_shards_written_concurrently_leave_a_valid_store(tmp_path):
    concurrent = tmp_path
    make_dataset(concurrent, "synth", 4, 2)
    # both shard jobs start together on an empty store: they race to create it, then write
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", SHARD_JOB, str(concurrent), shard],
            cwd=TESTS,
            stderr=subprocess.PIPE,
            text=True,
        )
        for shard in SHARDS
    ]
    for job in jobs:
        _, err = job.communicate(timeout=600)
        assert job.returncode == 0, err[-3000:]
    summary = store.finalize_backbone(
        dataset="synth", backbone="vggish", markers=_markers(concurrent), root=concurrent
    )
    assert summary["num_valid"] == 4 and summary["shards"] == 2
    feats = store.open_features(store.final_path(concurrent, "synth", "vggish"))
    values = feats.features.compute()
    assert np.isfinite(values).all() and feats.valid.all()
    assert not np.allclose(values[1], values[2])  # each shard wrote its own rows
