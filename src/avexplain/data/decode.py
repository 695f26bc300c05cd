"""Decoding source videos into canonical clips (docs/formats.md, "Canonical clips").

A canonical clip is exactly T = clip.segments seconds at clip.fps constant frames per second,
clip.size² pixels (short side scaled to size, centre-cropped, rotation applied), plus a T-second
16 kHz mono 16-bit WAV. One ffmpeg invocation per video writes both files. What had to be
repaired is recorded per video; a video that cannot be decoded is reported `failed` (with the
error) and leaves no files, and the shard job carries on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import subprocess
import wave
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from avexplain.data.ffmpeg import BITEXACT, MediaInfo, count_video_frames, probe, run_ffmpeg

log = logging.getLogger(__name__)

REPAIRS = ["no_audio", "short", "long", "vfr", "rotated", "aspect", "fps"]
REPORT_COLUMNS = ["video_id", "status", "repairs", "error"]
STATUS_COLUMNS = ["video_id", "status", "path", "reason"]
# Quality high enough that the frozen CNNs see what the source shows; veryfast keeps decoding
# 16k videos affordable (the encoder is a small share of the time at 224²).
ENCODE_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]
TIMEOUT_S = 600  # a pathological file must not hang a whole shard


def _settings(clip_cfg: dict) -> tuple[int, int, int, int]:
    return (
        int(clip_cfg["segments"]),
        int(clip_cfg["fps"]),
        int(clip_cfg["size"]),
        int(clip_cfg["sample_rate"]),
    )


def repairs_needed(info: MediaInfo, clip_cfg: dict) -> list[str]:
    """Which of REPAIRS turning `info` into a canonical clip involves, in REPAIRS order."""
    T, fps, _, _ = _settings(clip_cfg)
    # One frame interval (at least 0.1 s, the AAC priming/padding) of slack is not a repair.
    tol = max(1.0 / fps, 0.1)
    found = set()
    if not info.has_audio:
        found.add("no_audio")
    durations = [info.video_duration] + ([info.audio_duration] if info.has_audio else [])
    if min(durations) < T - tol:
        found.add("short")
    if max(durations) > T + tol:
        found.add("long")
    if info.variable_rate:
        found.add("vfr")
    elif abs(info.fps - fps) > 0.01 * fps:
        found.add("fps")
    if info.rotation:
        found.add("rotated")
    w, h = info.display_size
    if w != h:
        found.add("aspect")
    return [r for r in REPAIRS if r in found]


def check_complete(info: MediaInfo) -> None:
    """Raise ValueError when the data stops well before the duration the index declares (a
    truncated download whose index came first): such a file decodes, but only in part."""
    declared = info.declared_duration
    if declared and declared - info.video_duration > max(0.5, 0.05 * declared):
        raise ValueError(
            f"truncated: video data ends at {info.video_duration:.2f} s of the "
            f"{declared:.2f} s the container declares"
        )


def ffmpeg_args(
    src, dst_mp4, dst_wav, clip_cfg: dict, has_audio: bool, square_pixels: bool = True
) -> list[str]:
    """One ffmpeg command line that writes the canonical video and WAV of `src`."""
    T, fps, size, sr = _settings(clip_cfg)
    samples = T * sr
    # Anamorphic sources are first stretched to square pixels, so the crop keeps true shapes.
    unsqueeze = "" if square_pixels else "scale=trunc(iw*sar/2)*2:ih,setsar=1,"
    video = (
        # ffmpeg applies the display rotation before this graph (autorotate is on by default);
        # start_time=0 fills a late first frame by repeating it, as tpad does at the end.
        f"[0:v:0]{unsqueeze}fps={fps}:start_time=0,"
        f"scale={size}:{size}:force_original_aspect_ratio=increase,"
        f"crop={size}:{size},setsar=1,"
        f"tpad=stop_mode=clone:stop_duration={T},format=yuv420p[v]"
    )
    if has_audio:
        # first_pts=0 pads a late audio start with silence, keeping sound and picture aligned.
        audio = f"[0:a:0]aresample={sr}:async=1:first_pts=0,aformat=sample_fmts=s16:channel_layouts=mono,"
    else:
        audio = f"anullsrc=r={sr}:cl=mono,aformat=sample_fmts=s16,"
    audio += f"apad=whole_len={samples},atrim=end_sample={samples}[a]"
    return [
        *["-i", str(src), "-filter_complex", f"{video};{audio}"],
        *["-map", "[v]", "-frames:v", str(T * fps), "-an", *ENCODE_VIDEO],
        *BITEXACT,
        *["-map_metadata", "-1", "-f", "mp4", str(dst_mp4)],
        *["-map", "[a]", "-c:a", "pcm_s16le", "-ar", str(sr), "-ac", "1"],
        *["-fflags", "+bitexact", "-map_metadata", "-1", "-f", "wav", str(dst_wav)],
    ]


def check_clip(mp4, wav_path, clip_cfg: dict) -> None:
    """Raise ValueError unless the two files are exactly the canonical shape."""
    T, fps, size, sr = _settings(clip_cfg)
    frames, w, h = count_video_frames(mp4)
    if (frames, w, h) != (T * fps, size, size):
        raise ValueError(
            f"clip has {frames} frames of {w}x{h}; expected {T * fps} of {size}x{size}"
        )
    with wave.open(str(wav_path)) as wf:
        got = (wf.getnframes(), wf.getnchannels(), wf.getsampwidth(), wf.getframerate())
    if got != (T * sr, 1, 2, sr):
        raise ValueError(
            f"wav has {got[0]} samples, {got[1]} channels, {8 * got[2]} bits at {got[3]} Hz; "
            f"expected {T * sr}, 1, 16 at {sr}"
        )


def decode_video(src, dst_mp4, dst_wav, clip_cfg: dict) -> tuple[str, list[str], str]:
    """Decode one video to its canonical clip; returns (status, repairs, error).

    status is `ok`, `repaired` or `failed`. Never raises for a bad input: a missing, empty,
    truncated or otherwise undecodable file is `failed` with the reason, and leaves no files.
    """
    src, dst_mp4, dst_wav = Path(src), Path(dst_mp4), Path(dst_wav)
    parts = [p.with_name(f".{p.name}.part") for p in (dst_mp4, dst_wav)]
    try:
        if not src.is_file():
            raise FileNotFoundError(f"no such file: {src}")
        if src.stat().st_size == 0:
            raise ValueError(f"empty file (0 bytes): {src}")
        try:
            info = probe(src)
        except Exception as exc:
            raise ValueError(f"unreadable video {src}: {exc}") from exc
        if info.frame_count < 2:  # e.g. a picture saved under a video name: no rate, no motion
            raise ValueError(f"a single frame (a still image?), not a video: {src}")
        check_complete(info)
        repairs = repairs_needed(info, clip_cfg)
        dst_mp4.parent.mkdir(parents=True, exist_ok=True)
        square = abs(info.pixel_aspect - 1) < 1e-3
        args = ffmpeg_args(src, *parts, clip_cfg, info.has_audio, square_pixels=square)
        run_ffmpeg(args, timeout=TIMEOUT_S)
        check_clip(*parts, clip_cfg)
        # Renamed into place only when both are complete and checked.
        parts[0].replace(dst_mp4)
        parts[1].replace(dst_wav)
        return ("repaired" if repairs else "ok"), repairs, ""
    except (Exception, subprocess.TimeoutExpired) as exc:  # a bad video must not stop a shard
        for p in [*parts, dst_mp4, dst_wav]:
            p.unlink(missing_ok=True)
        return "failed", [], " ".join(str(exc).split()) or type(exc).__name__


def read_status(status_csv) -> pd.DataFrame:
    """The download status table of a shard, checked for the contract's columns."""
    table = pd.read_csv(status_csv, dtype=str, keep_default_na=False)
    missing = [c for c in STATUS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{status_csv}: missing column(s) {', '.join(missing)}; "
            f"expected {','.join(STATUS_COLUMNS)}"
        )
    bad = table[~table["status"].isin(["present", "missing"])]
    if len(bad):
        line = int(bad.index[0]) + 2  # 1-based, after the header
        raise ValueError(
            f"{status_csv}, line {line}: status '{bad['status'].iloc[0]}'; "
            "expected 'present' or 'missing'"
        )
    return table


def read_report(report_csv) -> pd.DataFrame:
    """A shard's decode report (REPORT_COLUMNS), named in the error when it cannot be read."""
    path = Path(report_csv)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no decode report (re-run the shard's decode job)")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REPORT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return table


def decode_shard(status_csv, out_dir, clip_cfg: dict, workers: int = 1) -> pd.DataFrame:
    """Decode every present video of a shard into `out_dir`; returns the report table.

    Missing videos are left out; failures are rows of the report, never exceptions. Rule
    `missing` merges both into missing.csv (stage `download` or `decode`, with the reason).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = read_status(status_csv)
    present = table[table["status"] == "present"]
    log.info("%s: %d present of %d videos", status_csv, len(present), len(table))

    def one(row) -> dict:
        vid = row.video_id
        status, repairs, error = decode_video(
            row.path, out_dir / f"{vid}.mp4", out_dir / f"{vid}.wav", clip_cfg
        )
        if status == "failed":
            log.warning("%s failed: %s", vid, error)
        return {"video_id": vid, "status": status, "repairs": ";".join(repairs), "error": error}

    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        jobs = pool.map(one, present.itertuples(index=False))
        rows = list(tqdm(jobs, total=len(present), desc="decode", unit="video"))
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def run(status_csv, out_dir, clip_cfg: dict, workers: int = 1) -> pd.DataFrame:
    """Snakemake entry point: decode a shard and write `out_dir/report.csv`."""
    report = decode_shard(status_csv, out_dir, clip_cfg, workers=workers)
    report.to_csv(Path(out_dir) / "report.csv", index=False)
    counts = report["status"].value_counts().to_dict()
    log.info("decoded %s: %s", out_dir, counts or "no present videos")
    return report
