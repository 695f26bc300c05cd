"""Random feature stores in the real layout (docs/formats.md), for tests and benchmarks.

`write_dataset` writes a dataset's manifest, class list and finalized visual and audio stores
at their `avexplain.paths` under a root. With `signal=True` the features follow
the synth design (docs/synth.md): class i pairs object i // 2 with sound (i + 1) // 2; an event
adds its object's pattern to a few grid cells of the visual map and its sound's pattern to the
audio vector, over a random run of segments, on top of noise. Only both modalities separate all
classes. Every draw is seeded: the same arguments give the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from avexplain import names, paths
from avexplain.data.datasets.common import COLUMNS
from avexplain.features.store import MAP_DIMS, VECTOR_DIMS, StoreSpec, _create


def _store(path: Path, backbone: str, ids: list[str], values: np.ndarray, dims, attrs) -> None:
    spec = StoreSpec(
        backbone=backbone,
        video_ids=tuple(ids),
        item_shape=values.shape[1:],
        dims=dims,
        shard_size=len(ids),
        chunk_videos=1 if values.ndim == 5 else len(ids),
        attrs=attrs,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    group = _create(path, spec, spec.digest())
    group["features"][:] = values
    group["valid"][:] = np.ones(len(ids), dtype=bool)
    group.attrs.update({"finalized": "random", "num_videos": len(ids)})


def write_random_store(
    path: str | Path,
    backbone: str,
    num_videos: int,
    item_shape: tuple[int, ...],
    dims: tuple[str, ...],
    chunk_videos: int,
    seed: int = 0,
    block_videos: int = 64,
) -> None:
    """A finalized store of standard-normal float16 features, written block by block so that
    stores larger than memory can be made (the training benchmark)."""
    ids = [f"video-{i:06d}" for i in range(num_videos)]
    spec = StoreSpec(
        backbone=backbone,
        video_ids=tuple(ids),
        item_shape=tuple(item_shape),
        dims=dims,
        shard_size=num_videos,
        chunk_videos=chunk_videos,
        attrs={"weights": f"random:{seed}", "config_hash": "random-features"},
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    group = _create(path, spec, spec.digest())
    block = max(chunk_videos, block_videos // chunk_videos * chunk_videos)
    for start in range(0, num_videos, block):
        rng = np.random.default_rng([seed, start])
        stop = min(start + block, num_videos)
        values = rng.standard_normal((stop - start, *item_shape), dtype=np.float32)
        group["features"][start:stop] = values.astype(np.float16)
    group["valid"][:] = np.ones(num_videos, dtype=bool)
    group.attrs.update({"finalized": "random", "num_videos": num_videos})


def write_dataset(
    root: str | Path,
    dataset: str = "synth",
    *,
    num_videos: int = 60,
    num_classes: int = 6,
    segments: int = 10,
    grid: tuple[int, int] = (3, 3),
    visual_dim: int = 32,
    audio_dim: int = 16,
    visual_backbone: str = "resnet152",
    audio_backbone: str = "vggish",
    splits: tuple[float, float, float] = (0.6, 0.2, 0.2),
    signal: bool = True,
    noise: float = 1.0,
    seed: int = 0,
    invalid: tuple[int, ...] = (),
) -> Path:
    root = Path(root)
    rng = np.random.default_rng([seed, 7])
    ids = [f"{dataset}-{i:05d}" for i in range(num_videos)]
    classes = [f"class{i}" for i in range(num_classes)]
    n_objects, n_sounds = num_classes // 2 + 1, (num_classes + 1) // 2 + 1
    objects = rng.normal(size=(n_objects, visual_dim)) * 2
    sounds = rng.normal(size=(n_sounds, audio_dim)) * 2
    visual = rng.normal(size=(num_videos, segments, *grid, visual_dim)) * noise
    audio = rng.normal(size=(num_videos, segments, audio_dim)) * noise
    labels = []
    for i in range(num_videos):
        label = i % num_classes
        labels.append(classes[label])
        if not signal:
            continue
        onset = rng.integers(0, segments // 2)
        offset = rng.integers(onset + 2, segments + 1)
        y, x = rng.integers(0, grid[0]), rng.integers(0, grid[1])
        visual[i, onset:offset, y, x] += objects[label // 2]
        audio[i, onset:offset] += sounds[(label + 1) // 2]
    order = rng.permutation(num_videos)
    cut = np.cumsum([round(f * num_videos) for f in splits[:2]])
    split = np.empty(num_videos, dtype=object)
    split[order[: cut[0]]], split[order[cut[0] : cut[1]]], split[order[cut[1] :]] = (
        "train",
        "val",
        "test",
    )
    frame = pd.DataFrame(
        {
            "video_id": ids,
            "split": split,
            "labels": labels,
            "source": "generated",
            "start": 0.0,
            "end": float(segments),
            "audio_events": "[]",
            "visual_events": "[]",
            "boxes": "{}",
        }
    )[COLUMNS]
    (root / paths.manifest(dataset)).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / paths.manifest(dataset), index=False)
    (root / paths.classes(dataset)).write_text("".join(f"{c}\n" for c in classes))
    valid_rows = np.ones(num_videos, dtype=bool)
    valid_rows[list(invalid)] = False
    visual[~valid_rows] = np.nan
    audio[~valid_rows] = np.nan
    attrs = {"weights": f"random:{seed}", "config_hash": "random-features"}
    _store(
        root / paths.store(dataset, visual_backbone),
        visual_backbone,
        ids,
        visual.astype(np.float16),
        MAP_DIMS,
        attrs,
    )
    _store(
        root / paths.store(dataset, audio_backbone),
        audio_backbone,
        ids,
        audio.astype(np.float16),
        VECTOR_DIMS,
        attrs,
    )
    for backbone in (visual_backbone, audio_backbone):
        group = zarr.open_group(root / paths.store(dataset, backbone), mode="r+")
        group["valid"][:] = valid_rows
    return root


def write_audio_maps(
    root: str | Path,
    dataset: str = "synth",
    *,
    grid: tuple[int, int] = (3, 2),
    source: str = "vggish",
    backbone: str = names.AUDIO_MAPS,
    seed: int = 0,
) -> Path:
    """A maps store beside the dataset's `source` vector store (same videos, same validity):
    each segment's vector added to one seeded random cell of a noise map, so the audio keeps
    its signal (the input of the supplementary Table 3 models, `vggish_maps`)."""
    root = Path(root)
    group = zarr.open_group(root / paths.store(dataset, source), mode="r")
    vectors = np.asarray(group["features"][:], dtype=np.float32)  # (N, T, D)
    valid = np.asarray(group["valid"][:])
    n, t, d = vectors.shape
    rng = np.random.default_rng([seed, 11])
    cells = rng.normal(size=(n, t, grid[0] * grid[1], d))
    where = rng.integers(0, grid[0] * grid[1], size=(n, t))
    rows, steps = np.indices((n, t))
    cells[rows, steps, where] += vectors
    cells[~valid] = np.nan
    maps = cells.reshape(n, t, *grid, d).astype(np.float16)
    attrs = {k: group.attrs[k] for k in ("weights", "config_hash")}
    path = root / paths.store(dataset, backbone)
    _store(path, backbone, group["video_id"][:].tolist(), maps, MAP_DIMS, attrs)
    zarr.open_group(path, mode="r+")["valid"][:] = valid
    return path
