"""Reading canonical clips (docs/formats.md): the frames of `{video_id}.mp4` and the samples of
`{video_id}.wav`, checked against the clip configuration so a broken clip is named, not guessed."""

from __future__ import annotations

import csv
import wave
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

# decode statuses (the shard's report.csv) whose clip is usable
PRESENT = ("ok", "repaired")


class ClipError(ValueError):
    """A canonical clip does not match the clip configuration (frame count, size, audio format)."""


def read_frames(
    path: str | Path,
    num_frames: int,
    size: int,
    keep: np.ndarray | None = None,
    threaded: bool = True,
) -> np.ndarray:
    """The frames of a canonical clip as uint8 RGB, shape (len(keep), size, size, 3): those at the
    ascending indices `keep`, or all `num_frames` of them. Every frame is decoded (H.264 needs its
    references) but only the kept ones are converted to RGB, most of the cost of a frame.

    `threaded`: FFmpeg's frame threads for decoding, several cores per clip. A decode worker
    passes False: its parallelism is the worker processes (docs/features.md, "Decode workers")."""
    path = Path(path)
    wanted = None if keep is None else set(np.asarray(keep).tolist())
    if keep is not None and (np.any(np.diff(keep) <= 0) or min(keep) < 0):
        raise ValueError(f"frame indices must be ascending and non-negative, got {list(keep)}")
    count, frames = 0, []
    # a converter of this call's own: PyAV's default one is per thread, and a forked decode worker
    # would inherit its parent's, whose slice threads did not survive the fork (a hang)
    to_rgb = VideoReformatter()
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if threaded:
                stream.thread_type = "AUTO"
            else:
                stream.thread_count = 1
            for frame in container.decode(stream):
                if wanted is None or count in wanted:
                    # one swscale thread: frames of at most 224 px gain nothing from slices
                    frames.append(to_rgb.reformat(frame, format="rgb24", threads=1).to_ndarray())
                count += 1
    except (av.error.FFmpegError, IndexError) as exc:
        raise ClipError(f"{path}: cannot decode video: {exc}") from exc
    if count != num_frames:
        raise ClipError(f"{path}: {count} frames, expected {num_frames} (clip.segments x fps)")
    if frames and frames[0].shape != (size, size, 3):
        raise ClipError(
            f"{path}: frames of {frames[0].shape[:2]}, expected {size}x{size} (clip.size)"
        )
    if wanted is not None and len(frames) != len(wanted):
        raise ValueError(f"frame indices beyond the clip's {count} frames: {list(keep)}")
    return np.stack(frames)


def read_wave(path: str | Path, num_samples: int, sample_rate: int) -> np.ndarray:
    """Mono 16-bit PCM samples scaled to [-1, 1) as float32, exactly `num_samples` long.

    A clip up to 10 ms short or long (rounding in the resampler) is padded with silence or trimmed;
    anything further off is an error of the decode stage."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, sample_rate):
                raise ClipError(
                    f"{path}: {w.getnchannels()} channel(s), {8 * w.getsampwidth()} bit, "
                    f"{w.getframerate()} Hz; expected mono 16 bit {sample_rate} Hz"
                )
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ClipError(f"{path}: not a readable WAV file: {exc}") from exc
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if abs(len(samples) - num_samples) > sample_rate // 100:
        raise ClipError(f"{path}: {len(samples)} samples, expected {num_samples}")
    out = np.zeros(num_samples, dtype=np.float32)
    out[: min(num_samples, len(samples))] = samples[:num_samples]
    return out


def present_videos(clips_dir: Path, video_ids: list[str]) -> dict[str, str]:
    """video_id -> reason it is not extracted, for the shard's videos without a usable clip."""
    status = {}
    report = clips_dir / "report.csv"
    if report.exists():
        with open(report, newline="") as f:
            for row in csv.DictReader(f):
                status[row["video_id"]] = row["status"]
    absent = {}
    for vid in video_ids:
        if status.get(vid, "ok") not in PRESENT:
            absent[vid] = f"decode status {status[vid]}"
        elif not (clips_dir / f"{vid}.mp4").exists() or not (clips_dir / f"{vid}.wav").exists():
            absent[vid] = "no canonical clip"
    return absent
