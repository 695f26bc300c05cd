"""Extraction of one shard: canonical clips -> one backbone's features in the staging store.

Decode workers (a torch DataLoader) read and prepare clips in the background while the device
runs the network; segments of consecutive videos are packed into full batches, so short shards
and the last video of a batch do not leave the device idle. Only a batch and a few prefetched
videos are ever in memory: memory does not grow with the number of videos."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info
from tqdm import tqdm

from avexplain.config import config_hash
from avexplain.data.clips import ClipError, present_videos, read_frames, read_wave
from avexplain.devices import pick_device, pick_precision
from avexplain.features import store as avstore
from avexplain.features import weights as avweights
from avexplain.features.backbones import Backbone, build
from avexplain.features.settings import check_settings, settings_for  # noqa: F401 (re-exported)
from avexplain.provenance import code_version
from avexplain.shards import shard_slice

log = logging.getLogger(__name__)
KILL_ENV = "AVEXPLAIN_TEST_SIGKILL"
WORKER_TIMEOUT_S = 600


class ClipInputs(Dataset):
    """Item i: (row, prepared per-segment inputs or the error that made the clip unusable)."""

    def __init__(self, model: Backbone, clips_dir: Path, rows: list[tuple[int, str]], clip: dict):
        self.model, self.clips_dir, self.rows, self.clip = model, clips_dir, rows, clip

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        row, vid = self.rows[i]
        t, fps, size = self.clip["segments"], self.clip["fps"], self.clip["size"]
        try:
            frames = wave = None
            if self.model.uses_video:
                keep = self.model.clip_frames(t, fps)
                # in a decode worker one FFmpeg thread: the workers are the parallelism
                threaded = get_worker_info() is None
                frames = read_frames(self.clips_dir / f"{vid}.mp4", t * fps, size, keep, threaded)
            else:
                rate = self.clip["sample_rate"]
                wave = read_wave(self.clips_dir / f"{vid}.wav", t * rate, rate)
            return row, self.model.prepare(frames, wave, fps), None
        except ClipError as exc:
            return row, None, str(exc)


def batched(
    forward, items: Iterable[tuple[int, torch.Tensor]], batch_size: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Run `forward` on batches of `batch_size` segments packed across videos; yield each
    video's (row, per-segment features) once all its segments are done, in input order."""
    waiting: deque[list] = deque()  # [row, segments still to receive, list of output pieces]
    pending: list[torch.Tensor] = []
    pending_n = 0

    def run(batch: torch.Tensor):
        out = forward(batch)
        at = 0
        for entry in waiting:
            if at == len(out):
                break
            take = min(entry[1], len(out) - at)
            if take:
                entry[2].append(out[at : at + take])
                entry[1] -= take
                at += take

    def finished():
        while waiting and waiting[0][1] == 0:
            row, _, pieces = waiting.popleft()
            yield row, torch.cat(pieces).numpy()

    for row, x in items:
        waiting.append([row, len(x), []])
        pending.append(x)
        pending_n += len(x)
        while pending_n >= batch_size:
            flat = torch.cat(pending)
            run(flat[:batch_size])
            pending, pending_n = [flat[batch_size:]], pending_n - batch_size
            yield from finished()
    if pending_n:
        run(torch.cat(pending))
    yield from finished()


def run_shard(
    *,
    clips_dir: str | Path,
    manifest: str | Path,
    dataset: str,
    backbone: str,
    shard: str,
    shard_size: int,
    settings: dict,
    clip: dict,
    seed: int,
    marker: str | Path,
    root: str | Path = ".",
    threads: int | None = None,
    model: Backbone | None = None,
) -> dict:
    """Extract one shard into the staging store and write its marker; returns the marker.
    Phases: the model and the store's spec; decoding started in the background; the staging
    store opened and the shard's missing videos written as invalid; extraction; the marker.

    `model`: an already built backbone (benchmarks); by default it is built from `settings`."""
    start = time.perf_counter()
    clips_dir, marker = Path(clips_dir), Path(marker)
    if threads:
        torch.set_num_threads(threads)
    ids = pd.read_csv(manifest, dtype={"video_id": str}, usecols=["video_id"])["video_id"].tolist()
    rows = shard_slice(shard, shard_size, len(ids))
    chunk_videos = settings["chunk_videos"][backbone]
    avstore.check_chunking(shard_size, chunk_videos, f"features.chunk_videos.{backbone}")
    device = pick_device(settings["device"], "features.device")
    precision = pick_precision(settings.get("precision", "auto"), device, "features.precision")

    if model is None:
        model = load_backbone(backbone, settings, seed)
    model = prepare_for(model, device)
    spec = store_spec(model, ids, settings, clip, seed, dataset, shard_size, precision)
    shard_ids = ids[rows]
    absent = present_videos(clips_dir, shard_ids)
    todo = [(rows.start + i, v) for i, v in enumerate(shard_ids) if v not in absent]
    workers = decode_workers(model, settings)
    loader = DataLoader(
        ClipInputs(model, clips_dir, todo, clip),
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
        # a worker that delivers no clip for this long is stuck: fail the job (retried on a
        # cluster) instead of holding the node; one clip takes seconds
        timeout=WORKER_TIMEOUT_S if workers else 0,
    )
    clips = iter(loader)  # workers start decoding now, while the store is being set up

    staging = avstore.staging_path(root, dataset, backbone)
    marker.unlink(missing_ok=True)
    group = avstore.ensure_staging(staging, avstore.final_path(root, dataset, backbone), spec)
    group["valid"][rows] = np.zeros(rows.stop - rows.start, dtype=bool)
    writer = avstore.ShardWriter(group, rows, chunk_videos)
    for i, vid in enumerate(shard_ids):
        if vid in absent:
            log.info("%s: not extracted (%s)", vid, absent[vid])
            writer.put(rows.start + i, None)
    forward = make_forward(model, device, precision)
    per_batch = max(1, settings["batch_size"] // items_per_segment(model))
    bar = tqdm(total=len(todo), desc=f"{dataset}/{backbone} shard {shard}", unit="video")
    valid = extract_rows(forward, per_batch, clips, writer, ids, absent, shard, bar)
    if not writer.done():
        raise avstore.StoreError(f"shard {shard}: rows left unwritten (internal error)")
    flags = np.array([row in valid for row in range(rows.start, rows.stop)])
    group["valid"][rows] = flags
    elapsed = time.perf_counter() - start
    payload = {
        "dataset": dataset,
        "backbone": backbone,
        "shard": shard,
        "rows": [rows.start, rows.stop],
        "video_ids": shard_ids,
        "valid": flags.tolist(),
        "not_extracted": {v: absent[v] for v in shard_ids if v in absent},
        "sha256": writer.hash.hexdigest(),
        "spec_digest": spec.digest(),
        "weights": model.weights,
        "device": str(device),
        "precision": spec.attrs["precision"],
        "seconds": round(elapsed, 2),
        "videos_per_s": round(len(valid) / elapsed, 3) if elapsed else None,
    }
    avstore.write_marker(marker, payload)
    log.info(
        "shard %s: %d/%d videos extracted in %.1f s (%.2f videos/s)",
        shard,
        len(valid),
        len(shard_ids),
        elapsed,
        len(valid) / max(elapsed, 1e-9),
    )
    return payload


def store_spec(model, ids, settings, clip, seed, dataset, shard_size, precision):
    """The layout and attributes every shard of the store must agree on."""
    return avstore.StoreSpec(
        backbone=model.name,
        video_ids=tuple(ids),
        item_shape=(clip["segments"], *model.item_shape(clip["size"])),
        dims=model.dims,
        shard_size=shard_size,
        chunk_videos=settings["chunk_videos"][model.name],
        attrs={
            "weights": model.weights,
            "config_hash": config_hash({"features": settings, "clip": clip, "seed": seed}),
            "settings": {
                k: settings[k]
                for k in ("frames_per_segment", "vggish_pca", "image_size", "mc3_image_size")
                if k in settings
            },
            "clip": clip,
            "dataset": dataset,
            # resolved from `auto` on the machine that ran it: part of the layout, so shards of
            # one store computed in different precisions are refused at finalize
            "precision": str(precision).removeprefix("torch."),
        },
        # a commit between a killed run and its re-run must not orphan the finished shards
        provenance={"code_version": code_version()},
    )


def extract_rows(forward, per_batch, clips, writer, ids, absent, shard, bar) -> dict:
    """Run the decoded clips through `forward` in batches and write each video's features;
    returns {row: True} of the videos written. A clip that failed to decode is written as
    invalid and recorded in `absent`."""
    item_shape = writer.item_shape
    valid = {}

    def inputs():
        for row, x, error in clips:
            if error is not None:
                log.warning("%s: not extracted (%s)", ids[row], error)
                absent[ids[row]] = error
                writer.put(row, None)
                continue
            yield row, x

    # Fault injection for the crash-safety test: with KILL_ENV=<shard>:<rows>, that shard's job
    # SIGKILLs itself once <rows> of its rows are in the store, i.e. mid-shard, before the marker.
    kill_shard, _, kill_rows = os.environ.get(KILL_ENV, "").partition(":")
    kill_after = int(kill_rows) if kill_shard == shard else None
    for row, feats in batched(forward, inputs(), per_batch):
        if feats.shape != item_shape:
            raise avstore.StoreError(
                f"{ids[row]}: features of shape {feats.shape}, expected {item_shape}"
            )
        feats = feats.astype(np.float16)
        if not np.isfinite(feats).all():
            raise avstore.StoreError(
                f"{ids[row]}: features not finite in float16 (|x| > 65504 or NaN input)"
            )
        writer.put(row, feats)
        valid[row] = True
        bar.update()
        if kill_after is not None and writer.next_row - writer.rows.start >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    bar.close()
    return valid


def load_backbone(backbone: str, settings: dict, seed: int) -> Backbone:
    """The backbone with the weights named by settings (random ones seeded by `seed`)."""
    weights = avweights.resolve(backbone, settings["weights"], settings["cache_dir"], seed)
    pca = None
    if backbone == "vggish" and settings.get("vggish_pca"):
        pca = avweights.vggish_pca(settings["cache_dir"])
        if pca is None:
            raise avweights.WeightsMissingError(
                f"features.vggish_pca is true but the PCA parameters are not in "
                f"{settings['cache_dir']}: run `{avweights.prefetch_command()}`"
            )
    torch.manual_seed(seed)  # random weights: the same seed gives the same network everywhere
    return build(backbone, weights, settings, pca=pca)


def prepare_for(model: Backbone, device: torch.device) -> Backbone:
    """Move to the device. 2-D convolutions run fastest on channels_last tensors, on CUDA and
    on oneDNN CPUs alike (about 1.4x for ResNet-152 and VGGish on the development CPU)."""
    model = model.to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: autotune once, reuse
    if model.name != "mc3_18":
        model = model.to(memory_format=torch.channels_last)
    return model


def make_forward(model: Backbone, device: torch.device, precision: torch.dtype = torch.float32):
    """Device-side step: uint8/float batch in, float32 CPU features out, computed under
    `precision` autocast (bfloat16: convolutions and matmuls in bf16, reductions in float32)."""

    @torch.inference_mode()
    def forward(batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=precision, enabled=precision != torch.float32):
            return model(batch).float().cpu()

    return forward


def decode_workers(model: Backbone, settings: dict) -> int:
    """Background decoding processes: `features.decode_workers` for the video backbones; none
    for VGGish, whose WAV takes milliseconds to read, less than feeding a worker costs
    (measured by benchmarks/extract.py: a/c 0.85 with one worker)."""
    return settings["decode_workers"] if model.uses_video else 0


def items_per_segment(model: Backbone) -> int:
    return max(1, model.frames_per_segment)
