"""Feature stores: `paths.store(dataset, backbone)` (docs/formats.md, docs/features.md).

Life of a store: the first extraction job of a (dataset, backbone) creates the staging store
(`paths.staging_store`) under a file lock, sized from the manifest. Each
shard job writes its disjoint, chunk-aligned rows, then its `valid` flags, then (last, atomically)
a marker `.staging/{backbone}.shards/shard-{k}.json` with a checksum of what it wrote. Finalize
checks every shard against its marker, consolidates the metadata and renames the staging store
to its final name. A job killed at any point leaves no marker, so nothing it wrote counts; the
re-run rewrites the shard's whole region (idempotent) and finished shards keep their markers.
Every chunk carries a CRC32C, so a damaged chunk file fails loudly on read instead of returning
garbage."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import zarr
from filelock import FileLock
from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec

from avexplain import paths, rerun

FORMAT_VERSION = 1
# dimension names of the `features` array: maps, and vectors (docs/formats.md)
MAP_DIMS = ("video", "segment", "y", "x", "channel")
VECTOR_DIMS = ("video", "segment", "channel")
log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """A feature store or shard does not validate; the message names the store and the shard."""


@dataclass(frozen=True)
class StoreSpec:
    """Everything that fixes a store's layout and content; its hash ties markers to the store."""

    backbone: str
    video_ids: tuple[str, ...]
    item_shape: tuple[int, ...]  # per video: (segments, *feature shape)
    dims: tuple[str, ...]
    shard_size: int
    chunk_videos: int
    attrs: dict  # what determines the values: weights, config hash, extraction settings
    provenance: dict = field(default_factory=dict)  # recorded, not compared (code version)

    def shape(self) -> tuple[int, ...]:
        return (len(self.video_ids), *self.item_shape)

    def chunks(self) -> tuple[int, ...]:
        return (self.chunk_videos, *self.item_shape)

    def digest(self) -> str:
        blob = json.dumps(
            {
                "format": FORMAT_VERSION,
                "backbone": self.backbone,
                "ids": hashlib.sha256("\n".join(self.video_ids).encode()).hexdigest(),
                "shape": self.shape(),
                "chunks": self.chunks(),
                "dims": self.dims,
                "shard_size": self.shard_size,
                "attrs": self.attrs,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_chunking(shard_size: int, chunk_videos: int, key: str) -> None:
    if chunk_videos < 1 or shard_size % chunk_videos:
        raise ValueError(
            f"config key {key} is {chunk_videos}, which does not divide the dataset's shard_size "
            f"{shard_size}: shards must write whole chunks (pick a divisor of {shard_size})"
        )


def staging_path(root: str | Path, dataset: str, backbone: str) -> Path:
    return Path(root) / paths.staging_store(dataset, backbone)


def final_path(root: str | Path, dataset: str, backbone: str) -> Path:
    return Path(root) / paths.store(dataset, backbone)


def _stored_digest(path: Path) -> str | None:
    try:
        return zarr.open_group(path, mode="r").attrs.get("spec_digest")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        return None


def ensure_staging(staging: str | Path, final: str | Path, spec: StoreSpec) -> zarr.Group:
    """Open the staging store for `spec`, creating it (or reusing a matching one) under a lock.

    - a staging store with the same spec digest is reused (other shards may be writing to it);
    - one with another digest is from an older configuration or manifest: it is replaced;
    - with no staging store but a finalized store of the same spec (one shard re-run after
      finalize), the finalized store moves back to staging so the other shards' rows are kept;
      finalize will run again because the shard's marker is new."""
    staging, final = Path(staging), Path(final)
    staging.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(staging) + ".lock"):
        digest = spec.digest()
        if staging.exists() and _stored_digest(staging) == digest:
            return zarr.open_group(staging, mode="r+")
        if staging.exists():
            shutil.rmtree(staging)
        if final.exists() and _stored_digest(final) == digest:
            os.replace(final, staging)
            group = zarr.open_group(staging, mode="r+")
            group.attrs["finalized"] = None
            return group
        return _create(staging, spec, digest)


def _create(path: Path, spec: StoreSpec, digest: str) -> zarr.Group:
    tmp = path.with_name(path.name + ".creating")
    if tmp.exists():
        shutil.rmtree(tmp)
    group = zarr.open_group(tmp, mode="w")
    # Chunks hold whole videos (all segments, the full map): training reads random mini-batches
    # of videos, so one read = one video, and a shard writes only its own chunks. NaN marks rows
    # that were never written.
    group.create_array(
        "features",
        shape=spec.shape(),
        chunks=spec.chunks(),
        dtype="float16",
        fill_value=np.nan,
        dimension_names=spec.dims,
        serializer=BytesCodec(),
        compressors=[ZstdCodec(level=3), Crc32cCodec()],
    )
    ids = group.create_array(
        "video_id",
        shape=(len(spec.video_ids),),
        chunks=(spec.shard_size,),
        dtype=str,
        dimension_names=("video",),
    )
    ids[:] = np.array(spec.video_ids, dtype=object)
    group.create_array(
        "valid",
        shape=(len(spec.video_ids),),
        chunks=(spec.shard_size,),
        dtype=bool,
        fill_value=False,
        dimension_names=("video",),
        compressors=[ZstdCodec(level=3), Crc32cCodec()],
    )
    group.attrs.update(
        {
            "backbone": spec.backbone,
            **spec.attrs,
            **spec.provenance,
            "spec_digest": digest,
            "finalized": None,
        }
    )
    # the store appears under its name only once complete, so a killed creator leaves no half store
    os.replace(tmp, path)
    return zarr.open_group(path, mode="r+")


class ShardWriter:
    """Writes one shard's rows chunk by chunk, in video order, hashing exactly what it wrote."""

    def __init__(self, group: zarr.Group, rows: slice, chunk_videos: int):
        self.array = group["features"]
        self.rows, self.chunk_videos = rows, chunk_videos
        self.item_shape = self.array.shape[1:]
        self.hash = hashlib.sha256()
        self.next_row = rows.start
        self.buffer: dict[int, np.ndarray] = {}

    def put(self, row: int, value: np.ndarray | None) -> None:
        """Row `row` holds `value` (None: invalid, left as NaN). Rows may arrive in any order;
        a chunk is written as soon as all its rows are known."""
        if value is not None and value.shape != self.item_shape:
            raise StoreError(f"feature of shape {value.shape}, store expects {self.item_shape}")
        self.buffer[row] = value
        while True:
            end = min(self.next_row + self.chunk_videos, self.rows.stop)
            if self.next_row >= self.rows.stop or any(
                r not in self.buffer for r in range(self.next_row, end)
            ):
                return
            block = np.full((end - self.next_row, *self.item_shape), np.nan, dtype=np.float16)
            for i, r in enumerate(range(self.next_row, end)):
                v = self.buffer.pop(r)
                if v is not None:
                    block[i] = v
            self.array[self.next_row : end] = block  # whole chunks only: no read-modify-write
            self.hash.update(block.tobytes())
            self.next_row = end

    def done(self) -> bool:
        return self.next_row >= self.rows.stop


def write_marker(path: str | Path, payload: dict) -> None:
    """Write the shard marker atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(json.dumps(payload, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def validate_shard(group: zarr.Group, marker: dict, spec_digest: str) -> list[str]:
    """Problems with one shard (empty list: the shard is sound)."""
    name = f"shard {marker.get('shard')}"
    problems = []
    if marker.get("spec_digest") != spec_digest:
        return [
            f"{name}: written for another store layout/config (spec {marker.get('spec_digest')}, store {spec_digest})"
        ]
    rows = slice(*marker["rows"])
    ids = group["video_id"][rows].tolist()
    if ids != marker["video_ids"]:
        problems.append(f"{name}: video ids differ from the store's (manifest changed?)")
    valid = np.asarray(group["valid"][rows])
    if valid.tolist() != marker["valid"]:
        problems.append(f"{name}: validity flags differ from its marker")
    array = group["features"]
    chunk_videos = array.chunks[0]
    h = hashlib.sha256()
    for start in range(rows.start, rows.stop, chunk_videos):
        end = min(start + chunk_videos, rows.stop)
        try:
            block = np.asarray(array[start:end])
        except Exception as exc:  # CRC32C mismatch or undecodable chunk
            videos = ", ".join(ids[start - rows.start : end - rows.start][:4])
            problems.append(
                f"{name}: rows {start}-{end - 1} (videos {videos}) cannot be read "
                f"({type(exc).__name__}: {exc})"
            )
            return problems
        h.update(block.astype(np.float16).tobytes())
        flat = block.reshape(len(block), -1)
        for i, row_valid in enumerate(valid[start - rows.start : end - rows.start]):
            if row_valid and not np.isfinite(flat[i]).all():
                problems.append(
                    f"{name}: valid row {start + i} ({ids[start - rows.start + i]}) is not finite"
                )
            if not row_valid and not np.isnan(flat[i]).all():
                problems.append(f"{name}: invalid row {start + i} holds data")
    if h.hexdigest() != marker["sha256"]:
        problems.append(f"{name}: data checksum differs from its marker (chunk files changed)")
    return problems


def finalize(staging: str | Path, final: str | Path, marker_paths, rerun_hint: str = "") -> dict:
    """Validate every shard of the staging store, consolidate metadata, rename to `final`."""
    staging, final = Path(staging), Path(final)
    if not staging.exists():
        raise StoreError(
            f"{staging}: no staging store, but shard markers exist from an earlier run; "
            f"re-run the shards{': ' + rerun_hint if rerun_hint else ''}"
        )
    group = zarr.open_group(staging, mode="r+")
    digest = group.attrs["spec_digest"]
    n = group["features"].shape[0]
    markers = [json.loads(Path(p).read_text()) for p in marker_paths]
    problems, covered = [], np.zeros(n, dtype=int)
    for marker in markers:
        problems += validate_shard(group, marker, digest)
        covered[slice(*marker["rows"])] += 1
    if (covered != 1).any():
        problems.append(
            f"rows not covered by exactly one shard: {np.flatnonzero(covered != 1)[:10].tolist()}"
        )
    if problems:
        fix = f"\nRebuild this store (only it): {rerun_hint}" if rerun_hint else ""
        raise StoreError(f"{staging} does not validate:\n  - " + "\n  - ".join(problems) + fix)
    valid = np.asarray(group["valid"][:])
    summary = {
        "finalized": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "num_videos": int(n),
        "num_valid": int(valid.sum()),
        "shards": len(markers),
        # where the shards were computed (from their markers): a GPU run can be checked from
        # the store alone (benchmarks/gpu_check.py)
        "devices": sorted({str(m.get("device", "unknown")) for m in markers}),
    }
    group.attrs.update(summary)
    with warnings.catch_warnings():
        # consolidated metadata is a zarr-python extension of v3; readers without it still work
        warnings.simplefilter("ignore", UserWarning)
        zarr.consolidate_metadata(staging)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return summary


@dataclass
class Features:
    """A store opened lazily: `features` is a dask array, ids and mask are small numpy arrays."""

    features: da.Array
    video_id: np.ndarray
    valid: np.ndarray
    dims: tuple[str, ...]
    attrs: dict

    def pooled(self) -> da.Array:
        """(video, segment, channel) vectors from stored maps (mean over y and x), lazily."""
        if self.dims[2:4] == ("y", "x"):
            return self.features.mean(axis=(2, 3), dtype=np.float32)
        return self.features


class _NamedReads:
    """The features array as dask reads it. A chunk that fails to read (CRC32C mismatch, a
    truncated or undecodable file) raises a StoreError naming the store, the videos of the rows
    and the command that rebuilds the store, instead of zarr's bare checksum message."""

    def __init__(self, array: zarr.Array, path: Path, video_ids: np.ndarray):
        self.array, self.path, self.video_ids = array, path, video_ids
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key):
        try:
            return self.array[key]
        except Exception as exc:
            rows = key[0] if isinstance(key, tuple) else key
            ids = self.video_ids[rows] if isinstance(rows, slice) else self.video_ids[[rows]]
            shown = ", ".join(ids[:4].tolist()) + (
                f" and {len(ids) - 4} more" if len(ids) > 4 else ""
            )
            raise StoreError(
                f"{self.path}: the features of video(s) {shown} cannot be read "
                f"({type(exc).__name__}: {exc}); a chunk file of the store is damaged. Rebuild "
                f"this store (only it): {rerun.rebuild_store(self.path)}"
            ) from exc


def missing_chunks(path: Path, array: zarr.Array) -> np.ndarray:
    """Rows whose chunk file is absent from a local store. A deleted chunk would read back as
    the NaN fill value; the caller marks those rows invalid rather than trusting `valid`."""
    rows = np.zeros(array.shape[0], dtype=bool)
    folder = Path(path) / "features" / "c"
    if not Path(path).is_dir():
        return rows  # not a local folder: nothing to check cheaply
    chunk = array.chunks[0]
    tail = ["0"] * (array.ndim - 1)  # one chunk spans every other dimension
    for i in range(-(-array.shape[0] // chunk)):
        if not folder.joinpath(str(i), *tail).exists():
            rows[i * chunk : (i + 1) * chunk] = True
    return rows


def open_features(path: str | Path) -> Features:
    path = Path(path)
    group = zarr.open_group(path, mode="r")
    array = group["features"]
    video_id = np.array(group["video_id"][:].tolist(), dtype=str)
    valid = np.asarray(group["valid"][:])
    lost = missing_chunks(path, array) & valid
    if lost.any():
        log.warning(
            "%s: the chunk files of %d valid video(s) are missing (%s); they are treated as "
            "invalid. To restore them, rebuild this store: %s",
            path,
            int(lost.sum()),
            ", ".join(video_id[lost][:5]),
            rerun.rebuild_store(path),
        )
        valid = valid & ~lost
    reader = _NamedReads(array, path, video_id)
    return Features(
        features=da.from_array(
            reader,
            chunks=array.chunks,
            lock=False,
            fancy=False,
            meta=np.empty((0,) * array.ndim, dtype=array.dtype),
        ),
        video_id=video_id,
        valid=valid,
        dims=tuple(array.metadata.dimension_names),
        attrs=dict(group.attrs),
    )


def open_union(members: dict[str, str | Path]) -> Features:
    """Lazy concatenation of stores along `video` (AVR = AVE + LLP), never extracted again.

    `members` maps a prefix to a store path; ids become `<prefix>/<video_id>`. The class space is
    remapped with the labels (the AVR manifest), not here."""
    parts = {prefix: open_features(path) for prefix, path in members.items()}
    shapes = {prefix: p.features.shape[1:] for prefix, p in parts.items()}
    if len(set(shapes.values())) != 1:
        raise StoreError(f"stores cannot be joined, per-video shapes differ: {shapes}")
    backbones = {p.attrs.get("backbone") for p in parts.values()}
    if len(backbones) != 1:
        raise StoreError(
            f"stores of different backbones cannot be joined: {sorted(map(str, backbones))}"
        )
    first = next(iter(parts.values()))
    return Features(
        features=da.concatenate([p.features for p in parts.values()], axis=0),
        video_id=np.concatenate([np.char.add(f"{k}/", p.video_id) for k, p in parts.items()]),
        valid=np.concatenate([p.valid for p in parts.values()]),
        dims=first.dims,
        attrs={
            "backbone": first.attrs.get("backbone"),
            "members": {
                k: {"path": str(members[k]), "weights": p.attrs.get("weights")}
                for k, p in parts.items()
            },
        },
    )


def finalize_backbone(
    *, dataset: str, backbone: str, markers: list[str], root: str | Path = "."
) -> dict:
    """Validate the shards of `dataset`'s `backbone` staging store and move it into place."""
    hint = rerun.rebuild_store(paths.store(dataset, backbone))
    return finalize(
        staging_path(root, dataset, backbone),
        final_path(root, dataset, backbone),
        markers,
        rerun_hint=hint,
    )
