"""Fetching one trimmed clip with yt-dlp's Python API (LLP videos come from YouTube).

The default downloader of `avexplain.data.download.fetch` for LLP. Any callable with the same signature,
`downloader(url, start, end, out_path) -> Path | None`, can replace it (tests inject one); it
writes the clip for [start, end) seconds of the video at `url` to `out_path` (or to another
extension beside it, returning that path) and raises on failure: `Unavailable` for a failure
that retrying cannot fix, any other exception for one worth retrying.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from avexplain.data.ffmpeg import ffmpeg_exe

log = logging.getLogger(__name__)

# Messages of failures that are permanent: retrying a removed or private video only wastes the
# backoff time, and LLP has thousands of such videos.
PERMANENT = (
    "video unavailable",
    "private video",
    "has been removed",
    "account associated with this video has been terminated",
    "not available in your country",
    "sign in to confirm your age",
    "copyright",
    "this video is not available",
    "unsupported url",
)


class _YtDlpLog:
    """yt-dlp's messages in our log; its errors become INFO, since each one is recorded as the
    video's `missing` reason and is not an error of the job."""

    def debug(self, msg: str) -> None:
        log.debug(msg)

    def info(self, msg: str) -> None:
        log.debug(msg)

    def warning(self, msg: str) -> None:
        log.warning(msg)

    def error(self, msg: str) -> None:
        log.info(msg)


class Unavailable(RuntimeError):
    """The video cannot be had, and trying again will not change that."""


def ffmpeg_path() -> str:
    """The ffmpeg binary yt-dlp cuts with: the project's choice (avexplain.data.ffmpeg)."""
    return ffmpeg_exe()


def short_reason(message: str, limit: int = 120) -> str:
    """`ERROR: [youtube] abc: Video unavailable. This video ...` -> `Video unavailable`."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(message)).strip()
    text = re.sub(r"^(ERROR:\s*)?(\[[^\]]+\]\s*)?", "", text)
    text = re.sub(r"^[\w-]+:\s+", "", text)  # the video id yt-dlp puts before the message
    text = text.splitlines()[0] if text else "unknown error"
    first = re.split(r"(?<=[a-z])\.\s", text, maxsplit=1)[0].rstrip(".")
    return first[:limit]


class YtDlpDownloader:
    """Download [start, end) of a video with yt-dlp, cut exactly (re-encoded at the cuts)."""

    def __init__(self, ffmpeg: str | None = None, socket_timeout: float = 30.0):
        self.ffmpeg = ffmpeg
        self.socket_timeout = socket_timeout

    def options(self, start: float, end: float, out_path: Path) -> dict:
        import yt_dlp

        return {
            # Clips are scaled to a few hundred pixels, so at most 480p is fetched (and re-encoded
            # at the cuts); one file with both streams when offered, else video + audio merged.
            "format": "b[height<=?480][vcodec!=none][acodec!=none]/bv*[height<=?480]+ba"
            "/b[vcodec!=none][acodec!=none]/bv*+ba/b",
            "merge_output_format": "mp4",
            "outtmpl": {"default": str(out_path.with_suffix("")) + ".%(ext)s"},
            # Only the clip's window is fetched; re-encoding at the cuts makes them exact
            # instead of snapping to the previous keyframe.
            "download_ranges": yt_dlp.utils.download_range_func(None, [(start, end)]),
            "force_keyframes_at_cuts": True,
            "ffmpeg_location": self.ffmpeg or ffmpeg_path(),
            "noplaylist": True,
            "overwrites": True,
            "quiet": True,
            "no_warnings": False,
            "noprogress": True,
            "socket_timeout": self.socket_timeout,
            # avexplain.data.download.fetch retries with backoff; yt-dlp's own retries would multiply them.
            "retries": 0,
            "fragment_retries": 0,
            "logger": _YtDlpLog(),
        }

    def __call__(self, url: str, start: float, end: float, out_path: Path) -> Path:
        import yt_dlp
        from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

        out_path = Path(out_path)
        options = self.options(start, end, out_path)
        # yt-dlp's ranged downloader checks for ffmpeg through this context variable, not the
        # `ffmpeg_location` option (its own CLI sets both), so a binary off PATH needs both.
        token = FFmpegPostProcessor._ffmpeg_location.set(options["ffmpeg_location"])
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(url, download=True)
        except yt_dlp.utils.DownloadError as exc:
            reason = "yt-dlp: " + short_reason(str(exc))
            if any(p in str(exc).lower() for p in PERMANENT):
                raise Unavailable(reason) from exc
            raise RuntimeError(reason) from exc
        finally:
            FFmpegPostProcessor._ffmpeg_location.reset(token)
        downloads = (info or {}).get("requested_downloads") or []
        written = Path(downloads[0]["filepath"]) if downloads else out_path
        if not written.exists():
            raise RuntimeError(f"yt-dlp reported success but wrote no file at {written}")
        return written
