"""Training throughput when features stream from the store, against the store's read bound.

Writes an AVR-shaped random float16 store (T=10, 7x7x2048 ResNet-152 maps, 128-d VGGish
vectors, 43 classes; `--scale 1` = AVR's 13,339 training videos, about 27 GB), then, in one
run, on the same shuffled batches:
  (a) read bound: the batches read from the store through dask (the streaming reader alone);
  (b) model bound: STAN's training steps on one batch already in memory, repeated;
  (c) training, streamed: the real epoch loop with the next batch read while the model trains;
  (d) training, held: the split loaded once into device memory (the GPU's when there is one),
      then the same epoch; how a split within `train.gpu_memory_fraction` trains on a GPU.
Prints videos/s (and MB/s) of each and the ratio c/a: streaming training should reach at least
70% of the read bound wherever reading, not computing, is the limit (c/min(a, b) says how
close it comes to the slower of the two). On a CPU-only machine reading (zstd, dask threads) and
the model share the cores, so the reference there is a then b with no overlap (c/(a+b) time).

    python benchmarks/train.py --scale 0.01                 # CPU, small (about 270 MB)
    python benchmarks/train.py --scale 0.2 --device cuda    # GPU node
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import torch
import yaml
import zarr

from avexplain import models
from avexplain.testing import stores
from avexplain.training import splits as avsplits
from avexplain.training import train

ROOT = Path(__file__).resolve().parents[1]
AVR_TRAIN, T, GRID, DV, DA, CLASSES = 13339, 10, (7, 7), 2048, 128, 43


def make_split(folder: Path, n: int, seed: int) -> avsplits.LazySplit:
    visual_path, audio_path = folder / "resnet152.zarr", folder / "vggish.zarr"
    if not visual_path.exists():
        stores.write_random_store(
            visual_path,
            "resnet152",
            n,
            (T, *GRID, DV),
            ("video", "segment", "y", "x", "channel"),
            1,
            seed,
        )
        stores.write_random_store(
            audio_path, "vggish", n, (T, DA), ("video", "segment", "channel"), 16, seed
        )
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, CLASSES)) < 0.05).astype(np.float32)
    targets[np.arange(n), rng.integers(0, CLASSES, n)] = 1
    return avsplits.LazySplit(
        video_ids=np.array([f"video-{i:06d}" for i in range(n)]),
        visual_store=da.from_zarr(zarr.open_group(visual_path, mode="r")["features"]),
        audio_store=da.from_zarr(zarr.open_group(audio_path, mode="r")["features"]),
        visual_rows=np.arange(n),
        audio_rows=np.arange(n),
        targets=targets,
        classes=[f"class{i}" for i in range(CLASSES)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.01, help="fraction of AVR's training set")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="dask reader threads")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dir", type=Path, default=None, help="where the store goes (kept)")
    args = parser.parse_args()

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    device = train.pick_device(args.device)
    torch.set_num_threads(args.threads)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(step) -> tuple[float, object]:
        """Seconds of `step()` up to the device's last kernel, and what it returned."""
        sync()
        started = time.perf_counter()
        out = step()
        sync()
        return time.perf_counter() - started, out

    n = max(args.batch_size, round(AVR_TRAIN * args.scale))
    folder = args.dir or Path(tempfile.mkdtemp(prefix="avexplain-train-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    write_s, split = timed(lambda: make_split(folder, n, seed=0))
    mb = split.nbytes / 1e6
    batches = train.chunks_of(np.random.default_rng(0).permutation(n), args.batch_size)
    source = train.Streaming(split, device, args.workers)

    # (a) read bound: the streaming reader alone
    read_s, _ = timed(lambda: [split.read(rows, args.workers) for rows in batches])

    torch.manual_seed(0)
    model_cfg = {k: v for k, v in config["models"].items() if k != "names"}
    model = models.build("stan", model_cfg, DV, DA, CLASSES, T, GRID).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    # (b) model bound: one in-memory batch, as many steps as there are batches
    visual, audio, targets = next(iter(source.batches(batches[:1])))

    class Repeat:
        def batches(self, rows_per_batch):
            for _ in rows_per_batch:
                yield visual, audio, targets

    train.run_epoch(model, optimizer, Repeat(), batches[:2])  # warm-up
    model_s, _ = timed(lambda: train.run_epoch(model, optimizer, Repeat(), batches))

    # (c) the real epoch loop, streaming
    train_s, _ = timed(lambda: train.run_epoch(model, optimizer, source, batches))

    # (d) held in device memory: load once, then the same epoch
    load_s, held = timed(lambda: train.InMemory(split, device, args.workers))
    held_s, _ = timed(lambda: train.run_epoch(model, optimizer, held, batches))

    result = {
        "videos": n,
        "store_MB": round(mb, 1),
        "write_s": round(write_s, 1),
        "device": str(device),
        "read_bound_videos_per_s": round(n / read_s, 1),
        "read_bound_MB_per_s": round(mb / read_s, 1),
        "model_bound_videos_per_s": round(n / model_s, 1),
        "train_streamed_videos_per_s": round(n / train_s, 1),
        "load_to_device_s": round(load_s, 1),
        "train_held_videos_per_s": round(n / held_s, 1),
        "train_over_read": round(read_s / train_s, 3),
        "train_over_slower_bound": round(max(read_s, model_s) / train_s, 3),
        # reading then computing with no overlap at all: where both share the same CPU cores
        # (no GPU), this, not the slower bound, is what streaming can reach
        "train_over_no_overlap": round((read_s + model_s) / train_s, 3),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
