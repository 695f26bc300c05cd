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
from _features_helpers import CLIP, make_dataset, settings

from avexplain import extract, store
from avexplain.compare import compare_runs

TESTS = Path(__file__).resolve().parent

# One shard's extraction in its own process, as a cluster job runs it.
SHARD_JOB = """
import sys
from pathlib import Path
from _features_helpers import CLIP, settings
from avexplain import extract
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

SHARDS = ("000", "001", "002")


def _markers(root: Path) -> list[Path]:
    return [root / f"features/synth/.staging/vggish.shards/shard-{s}.json" for s in SHARDS]


def test_shards_written_concurrently_leave_a_valid_store(tmp_path):
    concurrent, sequential = tmp_path / "concurrent", tmp_path / "sequential"
    for root in (concurrent, sequential):
        make_dataset(root, "synth", 6, 2)
    # all three shard jobs start together on an empty store: they race to create it
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
    summary = extract.finalize(
        dataset="synth", backbone="vggish", markers=_markers(concurrent), root=concurrent
    )
    assert summary["num_valid"] == 6 and summary["shards"] == 3
    feats = store.open_features(store.final_path(concurrent, "synth", "vggish"))
    assert np.isfinite(feats.features.compute()).all()

    # the same shards one after another in this process give the same store
    for shard in SHARDS:
        extract.run_shard(
            clips_dir=sequential / f"data/synth/clips/shard-{shard}",
            manifest=sequential / "data/synth/manifest.csv",
            dataset="synth",
            backbone="vggish",
            shard=shard,
            shard_size=2,
            settings=settings(),
            clip=CLIP,
            seed=0,
            marker=_markers(sequential)[SHARDS.index(shard)],
            root=sequential,
        )
    extract.finalize(
        dataset="synth", backbone="vggish", markers=_markers(sequential), root=sequential
    )
    assert compare_runs(concurrent, sequential, ["features/synth/vggish.zarr"]) == []
