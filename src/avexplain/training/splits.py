"""Features of one dataset split for the models: labels from the manifest, features from the
Zarr stores (docs/formats.md), invalid videos dropped.

`open_split` is lazy (dask arrays, nothing read); `load_split` reads a split into memory as
float32 tensors (the interface of the explanation stage). Training picks one or the other by
size (config key `train.in_memory_max_gb`); both yield exactly the same values."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import torch

from avexplain import paths
from avexplain.config import ConfigError
from avexplain.data import manifest as avmanifest
from avexplain.features import store as avstore
from avexplain.names import SPLITS

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    video_ids: np.ndarray  # (N,) str
    visual: torch.Tensor  # (N,T,H,W,Dv) float32
    audio: torch.Tensor  # (N,T,Da) float32
    targets: torch.Tensor  # (N,C) float32 multi-hot
    classes: list[str]


@dataclass
class LazySplit:
    """A split whose features are still in the stores: rows are read on demand."""

    video_ids: np.ndarray
    visual_store: da.Array  # the whole store, (videos,T,H,W,Dv) float16
    audio_store: da.Array  # (videos,T,Da)
    visual_rows: np.ndarray  # store row of each split video
    audio_rows: np.ndarray
    targets: np.ndarray  # (N,C) float32
    classes: list[str]
    provenance: dict = field(default_factory=dict)
    # per-channel (mean, std) subtracted and divided on read; None: values as stored
    visual_norm: tuple[np.ndarray, np.ndarray] | None = None
    audio_norm: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def visual_shape(self) -> tuple[int, ...]:
        return (len(self), *self.visual_store.shape[1:])

    @property
    def audio_shape(self) -> tuple[int, ...]:
        return (len(self), *self.audio_store.shape[1:])

    @property
    def nbytes(self) -> int:
        """Bytes of the split's features as stored."""
        per_video = sum(
            int(np.prod(a.shape[1:])) * a.dtype.itemsize
            for a in (self.visual_store, self.audio_store)
        )
        return per_video * len(self)

    def read(
        self, rows: np.ndarray, workers: int = 4, stored: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """float32 visual and audio features of `rows` (split positions), in that order (with
        `stored`: the float16 values as stored, not standardized). The chunks are read in store
        order by `workers` threads, then put back in `rows` order."""
        rows = np.asarray(rows)
        v_order = np.argsort(self.visual_rows[rows], kind="stable")
        a_order = np.argsort(self.audio_rows[rows], kind="stable")
        visual, audio = dask.compute(
            self.visual_store[self.visual_rows[rows][v_order]],
            self.audio_store[self.audio_rows[rows][a_order]],
            scheduler="threads",
            num_workers=workers,
        )
        if stored:
            return _unsort(visual, v_order, visual.dtype), _unsort(audio, a_order, audio.dtype)
        return (
            _standardize(_unsort(visual, v_order), self.visual_norm),
            _standardize(_unsort(audio, a_order), self.audio_norm),
        )

    def channel_stats(self, max_videos: int, workers: int = 4) -> tuple[tuple, tuple]:
        """Per-channel mean and std of the stored values over up to `max_videos` evenly spaced
        videos (all segments and grid cells); a channel that never varies gets std 1."""
        rows = np.unique(np.linspace(0, len(self) - 1, min(max_videos, len(self))).astype(int))
        raw = LazySplit(**{**self.__dict__, "visual_norm": None, "audio_norm": None})
        stats = []
        for values in raw.read(rows, workers):
            # float64 accumulation without a float64 copy: the same numbers, 5x less CPU
            flat = values.reshape(-1, values.shape[-1])
            mean, std = flat.mean(0, dtype=np.float64), flat.std(0, dtype=np.float64)
            stats.append(
                (mean.astype(np.float32), np.where(std > 1e-12, std, 1.0).astype(np.float32))
            )
        return stats[0], stats[1]

    def load(self, workers: int = 4) -> FeatureSet:
        visual, audio = self.read(np.arange(len(self)), workers)
        return FeatureSet(
            video_ids=self.video_ids,
            visual=torch.from_numpy(visual),
            audio=torch.from_numpy(audio),
            targets=torch.from_numpy(self.targets),
            classes=list(self.classes),
        )


def _standardize(values: np.ndarray, norm) -> np.ndarray:
    if norm is None:
        return values
    mean, std = norm
    values -= mean
    values /= std
    return values


def _unsort(values: np.ndarray, order: np.ndarray, dtype=np.float32) -> np.ndarray:
    out = np.empty(values.shape, dtype=dtype)
    out[order] = values
    return out


def store_for(
    config: dict, dataset: str, backbone: str, root: str | Path = "."
) -> avstore.Features:
    """The dataset's store of `backbone`; for a union dataset (AVR) the lazy union of its
    members' stores, ids prefixed `<member>/` as in its manifest."""
    ds = config["datasets"].get(dataset)
    if ds is None:
        raise ConfigError(f"dataset '{dataset}' is not under config key 'datasets'")
    if ds["kind"] == "union":
        paths = {m: avstore.final_path(root, m, backbone) for m in ds["members"]}
        missing = [str(p) for p in paths.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"{dataset} needs the feature stores {missing}")
        return avstore.open_union(paths)
    path = avstore.final_path(root, dataset, backbone)
    if not path.exists():
        raise FileNotFoundError(f"feature store {path} does not exist (run its extraction first)")
    return avstore.open_features(path)


def multi_hot(labels: list[str], classes: list[str], where: str) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    targets = np.zeros((len(labels), len(classes)), dtype=np.float32)
    for row, text in enumerate(labels):
        for name in filter(None, text.split(";")):
            if name not in index:
                raise ValueError(f"{where}: label '{name}' is not in classes.txt")
            targets[row, index[name]] = 1.0
    return targets


def open_split(
    config: dict, dataset: str, split: str, root: str | Path = ".", standardize: bool = True
) -> LazySplit:
    """The split, lazily; standardized per channel with the training split's statistics when
    config `models.standardize` is on (and `standardize` is not turned off here)."""
    if split not in SPLITS:
        raise ValueError(f"split '{split}': expected one of {SPLITS}")
    root = Path(root)
    manifest_path = root / paths.manifest(dataset)
    frame = avmanifest.read_manifest(manifest_path)
    classes = avmanifest.read_classes(root / paths.classes(dataset))
    frame = frame[frame["split"] == split]
    stores = {
        "visual": store_for(config, dataset, config["models"]["visual_backbone"], root),
        "audio": store_for(config, dataset, config["models"]["audio_backbone"], root),
    }
    keep = np.ones(len(frame), dtype=bool)
    positions = {}
    for kind, features in stores.items():
        row_of = {vid: i for i, vid in enumerate(features.video_id)}
        pos = np.array([row_of.get(v, -1) for v in frame["video_id"]])
        keep &= pos >= 0
        keep &= features.valid[np.maximum(pos, 0)]
        positions[kind] = pos
    dropped = int((~keep).sum())
    if dropped:
        log.info(
            "%s/%s: %d of %d videos have no valid features; dropped",
            dataset,
            split,
            dropped,
            len(frame),
        )
    if not keep.any():
        raise ValueError(f"{manifest_path}: no video of split '{split}' has valid features")
    norm = standardization(config, dataset, root) if standardize else None
    return LazySplit(
        visual_norm=norm and norm["visual"],
        audio_norm=norm and norm["audio"],
        video_ids=frame["video_id"].to_numpy(dtype=str)[keep],
        visual_store=stores["visual"].features,
        audio_store=stores["audio"].features,
        visual_rows=positions["visual"][keep],
        audio_rows=positions["audio"][keep],
        targets=multi_hot(frame["labels"].tolist(), classes, str(manifest_path))[keep],
        classes=classes,
        provenance={kind: provenance(f.attrs) for kind, f in stores.items()},
    )


def provenance(attrs: dict) -> dict:
    """What a store says about how its features were made (weights above all)."""
    keys = ("backbone", "weights", "config_hash", "code_version", "members")
    return {k: attrs[k] for k in keys if k in attrs}


@functools.cache
def _train_stats(config_key: str, dataset: str, root: str, max_videos: int):
    config = json.loads(config_key)
    return open_split(config, dataset, "train", root, standardize=False).channel_stats(max_videos)


def standardization(config: dict, dataset: str, root: str | Path = ".") -> dict | None:
    """Per-channel mean and std of the training split (config `models.standardize`), or None.
    Computed from the stores, so training and the explanation stage see identical inputs."""
    videos = config["models"].get("standardize_videos", 0)
    if not config["models"].get("standardize", False) or videos < 1:
        return None
    key = json.dumps({"datasets": config["datasets"], "models": config["models"]}, sort_keys=True)
    (vm, vs), (am, as_) = _train_stats(key, dataset, str(Path(root).resolve()), videos)
    return {"visual": (vm, vs), "audio": (am, as_)}


def load_split(config: dict, dataset: str, split: str, root: str | Path = ".") -> FeatureSet:
    return open_split(config, dataset, split, root).load()
