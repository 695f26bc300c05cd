"""Audio onsets of a canonical clip as a per-step boolean mask (the fusion layers' onset layer).

Onsets come from librosa as the fusion-layers paper does it: an onset-strength envelope
(spectral flux of a log-mel spectrogram) computed first, then `onset_detect` peak-picking on
that precomputed envelope. Two settings differ from librosa's defaults, both chosen on synth
(docs/fusion_layers.md):
- `top_db=40`: the log-mel spectrogram is floored 40 dB below the clip's loudest bin, so a faint
  noise floor (synth's hiss, room tone) has no flux; with librosa's 80 dB, onset_detect (which
  normalises the envelope per clip) finds onsets in the noise of clips with few real onsets.
- `pad_mode="reflect"`: the spectrogram's edge frames mirror the clip, so the clip's start is not
  an onset; with zero padding every clip gets one at about 0.1 s. A sound already playing when
  the clip starts therefore has no onset.
An onset at time t falls in step floor(t * steps_per_second)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import librosa
import numpy as np
import pandas as pd

from avexplain.data.clips import present_videos, read_wave
from avexplain.shards import shard_slice

log = logging.getLogger(__name__)

DEFAULTS = {
    "hop_length": 512,  # 32 ms at 16 kHz (librosa's default hop)
    "n_mels": 128,
    "top_db": 40.0,
    "pad_mode": "reflect",
    "delta": 0.07,  # peak-picking threshold on the normalised envelope (librosa's default)
    "wait": None,  # None: librosa's default (30 ms of frames, 0 at hop 512 and 16 kHz)
    "backtrack": False,
}


_compiled = False  # whether this process has compiled (or loaded) librosa's numba code


@contextlib.contextmanager
def _compile_lock():
    """Held across this process's first onset detection. librosa's peak picking is numba code
    cached on disk (about 30 s to compile, 2 s to load); two processes compiling it at once can
    leave cache files from different processes that segfault the next one to load them (numba
    issue 10128: two onset jobs side by side on a fresh install). Under the lock one process
    compiles and writes the cache, the others wait and load it."""
    global _compiled
    if _compiled:
        yield
        return
    folder = Path(librosa.__file__).parent  # where numba caches librosa's code, if writable
    lock = folder if os.access(folder, os.W_OK) else Path(tempfile.gettempdir())
    with open(lock / ".avexplain-numba.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield
    _compiled = True


def warm() -> None:
    """Compile librosa's numba code into its on-disk cache once (`make install` does, so that
    no pipeline job spends 30 s on it or waits for the lock while another job does)."""
    onset_times(np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)


def onset_times(
    wave: np.ndarray,
    sample_rate: int,
    hop_length: int = 512,
    n_mels: int = 128,
    top_db: float | None = 40.0,
    pad_mode: str = "reflect",
    delta: float = 0.07,
    wait: int | None = None,
    backtrack: bool = False,
) -> np.ndarray:
    """Onset times (seconds, ascending) of a mono wave. top_db=None: librosa's 80 dB floor."""
    wave = np.asarray(wave, dtype=np.float32)
    with _compile_lock():
        mel = librosa.feature.melspectrogram(
            y=wave, sr=sample_rate, hop_length=hop_length, n_mels=n_mels, pad_mode=pad_mode
        )
        log_mel = librosa.power_to_db(mel, ref=np.max, top_db=80.0 if top_db is None else top_db)
        envelope = librosa.onset.onset_strength(S=log_mel, sr=sample_rate, hop_length=hop_length)
        extra = {} if wait is None else {"wait": wait}
        return librosa.onset.onset_detect(
            onset_envelope=envelope,
            sr=sample_rate,
            hop_length=hop_length,
            units="time",
            delta=delta,
            backtrack=backtrack,
            **extra,
        )


def onset_mask(times: np.ndarray, segments: int, steps_per_second: int = 1) -> np.ndarray:
    """(segments * steps_per_second,) bool: True at the steps that contain an onset."""
    steps = segments * steps_per_second
    mask = np.zeros(steps, dtype=bool)
    index = np.floor(np.asarray(times, dtype=np.float64) * steps_per_second).astype(int)
    mask[index[(index >= 0) & (index < steps)]] = True
    return mask


def clip_onsets(
    wav_path: str | Path,
    segments: int,
    sample_rate: int,
    steps_per_second: int = 1,
    **params,
) -> np.ndarray:
    """The onset mask of a canonical clip's WAV (`{video_id}.wav`, exactly `segments` seconds);
    params: the keyword arguments of `onset_times` (DEFAULTS)."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown onset settings {sorted(unknown)}; expected {sorted(DEFAULTS)}")
    wave = read_wave(wav_path, segments * sample_rate, sample_rate)
    return onset_mask(onset_times(wave, sample_rate, **params), segments, steps_per_second)


def clip_onset_masks(
    wav_paths: Iterable[str | Path],
    segments: int,
    sample_rate: int,
    steps_per_second: int = 1,
    **params,
) -> np.ndarray:
    """(videos, segments * steps_per_second) bool: `clip_onsets` of each WAV, in order."""
    masks = [
        clip_onsets(path, segments, sample_rate, steps_per_second, **params) for path in wav_paths
    ]
    return np.stack(masks) if masks else np.zeros((0, segments * steps_per_second), bool)


def run_shard(
    *,
    clips_dir: str | Path,
    manifest: str | Path,
    shard: str,
    shard_size: int,
    clip: dict,
    params: dict,
    out: str | Path,
) -> dict:
    """The onset masks of one manifest shard's canonical clips -> `out` (.npz): `video_id`
    (N,) str, `onsets` (N, segments) bool, `valid` (N,) bool (False: no usable clip, the mask
    is all False and training drops the video as the feature stores do) and `params` (JSON)."""
    clips_dir, out = Path(clips_dir), Path(out)
    ids = pd.read_csv(manifest, dtype={"video_id": str}, usecols=["video_id"])["video_id"]
    ids = ids.tolist()[shard_slice(shard, shard_size, len(ids))]
    absent = present_videos(clips_dir, ids)
    segments, sample_rate = int(clip["segments"]), int(clip["sample_rate"])
    masks = np.zeros((len(ids), segments), dtype=bool)
    for row, video_id in enumerate(ids):
        if video_id not in absent:
            masks[row] = clip_onsets(clips_dir / f"{video_id}.wav", segments, sample_rate, **params)
    valid = np.array([v not in absent for v in ids], dtype=bool)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(
        tmp,
        video_id=np.array(ids, dtype=str),
        onsets=masks,
        valid=valid,
        params=json.dumps({**DEFAULTS, **params, "librosa": librosa.__version__}),
    )
    os.replace(tmp, out)
    log.info(
        "shard %s: %d clips, %d without a clip, %d with no onset, %.2f onset steps per clip",
        shard,
        len(ids),
        len(absent),
        int((valid & ~masks.any(1)).sum()),
        masks[valid].sum(1).mean() if valid.any() else 0.0,
    )
    return {"videos": len(ids), "absent": len(absent)}


def load_masks(shard_files: Iterable[str | Path], video_ids: Iterable[str]) -> np.ndarray:
    """(N, segments) bool: the stored onset masks of `video_ids`, in that order, from the shard
    files of `run_shard`; a video missing from them, or without a usable clip, is an error."""
    found: dict[str, np.ndarray] = {}
    for path in shard_files:
        with np.load(path) as data:
            for vid, mask, ok in zip(data["video_id"], data["onsets"], data["valid"], strict=True):
                if ok:
                    found[str(vid)] = mask
    video_ids = list(video_ids)
    missing = [v for v in video_ids if v not in found]
    if missing:
        raise ValueError(
            f"no onset mask for {len(missing)} videos (e.g. {missing[:3]}) in {list(shard_files)}"
        )
    return np.stack([found[v] for v in video_ids]) if video_ids else np.zeros((0, 0), bool)
