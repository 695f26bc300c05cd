"""Locating and running ffmpeg, and probing media files with PyAV.

No ffprobe is needed: containers are opened with PyAV (which links the same FFmpeg libraries),
and the ffmpeg binary is the system one when present, else the static build shipped in the
imageio-ffmpeg wheel, so nothing needs root to install.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

# Flags that make ffmpeg's output depend only on its input and options (no version strings,
# no encoder-dependent metadata), so identical renders are byte-identical.
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]


class FFmpegError(RuntimeError):
    """ffmpeg exited with an error; the message carries the tail of its stderr."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: `ffmpeg` on PATH, else the imageio-ffmpeg wheel's build."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: Sequence[str], input: bytes | None = None, timeout: float | None = None):
    """Run `ffmpeg -nostdin -hide_banner -loglevel error <args>`; raise FFmpegError on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    if input is None:
        cmd.insert(1, "-nostdin")
    proc = subprocess.run(
        cmd,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise FFmpegError(_tail(proc.stderr) or f"ffmpeg exited with status {proc.returncode}")
    return proc


def _tail(stderr: bytes, lines: int = 6) -> str:
    text = stderr.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(line.strip() for line in text[-lines:])


@dataclass
class MediaInfo:
    """What decoding needs to know about a source file (all durations in seconds)."""

    width: int
    height: int
    rotation: int  # degrees of the display matrix (0, 90, 180, 270)
    frame_count: int
    video_duration: float
    fps: float  # median frame rate from the packet timestamps
    variable_rate: bool
    has_audio: bool
    audio_duration: float = 0.0
    declared_duration: float | None = None  # what the container's index promises
    pixel_aspect: float = 1.0  # sample aspect ratio (anamorphic video when not 1)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown: square pixels, after applying the rotation."""
        w, h = int(round(self.width * self.pixel_aspect)), self.height
        return (h, w) if self.rotation % 180 == 90 else (w, h)


def _stream_times(packets: list[tuple[float, float]]) -> tuple[np.ndarray, float]:
    """Sorted presentation times and the end time (last pts + its duration)."""
    if not packets:
        return np.zeros(0), 0.0
    arr = np.array(sorted(packets))
    return arr[:, 0], float(arr[-1, 0] + arr[-1, 1])


def probe(path: str | Path) -> MediaInfo:
    """Read the container's packets (no full decode) and the first video frame.

    Raises av.FFmpegError / ValueError for unreadable files or files without video.
    """
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        vs = container.streams.video[0]
        aus = container.streams.audio[0] if container.streams.audio else None
        streams = [vs] + ([aus] if aus is not None else [])
        start = min(
            (float(s.start_time * s.time_base) for s in streams if s.start_time is not None),
            default=0.0,
        )
        video, audio = [], []
        rotation = None
        for packet in container.demux(streams):
            if packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base) - start
            d = float((packet.duration or 0) * packet.time_base)
            if packet.stream.index == vs.index:
                video.append((t, d))
                if rotation is None:
                    for frame in packet.decode():
                        rotation = int(round(frame.rotation or 0)) % 360
                        break
            else:
                audio.append((t, d))
        if not video:
            raise ValueError("the video stream holds no frames")
        times, v_end = _stream_times(video)
        gaps = np.diff(times)
        gaps = gaps[gaps > 0]
        if len(gaps):
            median = float(np.median(gaps))
            fps = 1.0 / median
            # A real variable rate has gaps far from the median; a few jittered timestamps
            # (rounding to the time base) do not count.
            variable = bool(np.mean(np.abs(gaps - median) > 0.25 * median) > 0.05)
        else:
            fps, variable = 0.0, False
        if v_end <= times[-1]:  # packets without durations: assume one frame interval
            v_end = float(times[-1] + (1.0 / fps if fps else 0.0))
        _, a_end = _stream_times(audio)
        declared = None
        if vs.duration:
            declared = float(vs.duration * vs.time_base)
        elif container.duration:
            declared = container.duration / 1e6
        sar = vs.sample_aspect_ratio
        return MediaInfo(
            width=vs.codec_context.width,
            height=vs.codec_context.height,
            rotation=rotation or 0,
            frame_count=len(times),
            video_duration=v_end,
            fps=fps,
            variable_rate=variable,
            has_audio=aus is not None and bool(audio),
            audio_duration=a_end,
            declared_duration=declared,
            pixel_aspect=float(sar) if sar else 1.0,
        )


def count_video_frames(path: str | Path) -> tuple[int, int, int]:
    """(frames, width, height) of the first video stream, by demuxing (no decode)."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        vs = container.streams.video[0]
        n = sum(1 for p in container.demux(vs) if p.size)
        return n, vs.codec_context.width, vs.codec_context.height
