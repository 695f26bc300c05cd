"""Download stage: every video of a manifest shard ends as `present` (a file in the cache) or
`missing` (with a short reason); one video never fails the job.

Sources per dataset kind:
- llp: YouTube by id through yt-dlp, cut to the clip's [start, end); or `source.local_dir`.
- ave: members of the AVE zip at `source.zip_url` (downloaded once); or `source.local_dir`.
- synth: rendered by `avexplain.data.datasets.synth.render`.
- custom: linked (or copied) from `video_dir`, keeping the file's extension.

The cache (`paths.videos`) is never cleared: files already there and readable are
reused, so a rerun only fetches what is still missing. Files are written under `.partial/` and
moved into place when complete, so a killed job never leaves a half file in the cache.
"""

from __future__ import annotations

import collections
import glob
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from avexplain.config import ConfigError
from avexplain.data.download.local import LocalFolder, link_or_copy
from avexplain.data.download.youtube import Unavailable, YtDlpDownloader
from avexplain.data.download.zip import ArchiveError, ZipMembers, ensure_zip
from avexplain.data.manifest import read_manifest
from avexplain.files import VIDEO_EXTENSIONS, identical_groups
from avexplain.shards import shard_slice

log = logging.getLogger(__name__)

STATUS_COLUMNS = ["video_id", "status", "path", "reason"]
MISSING_COLUMNS = ["video_id", "source", "stage", "reason"]
YOUTUBE_URL = "https://www.youtube.com/watch?v={youtube_id}"

Downloader = Callable[[str, float, float, Path], "Path | None"]


class Missing(Exception):
    """This video cannot be had; the message is the reason recorded in the status file."""


class TooFewVideos(RuntimeError):
    """Fewer videos than `download.min_present_fraction` have a clip."""


def is_valid_video(path: Path) -> bool:
    """True when `path` is a non-empty file that opens as media with a video stream."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    import av

    try:
        with av.open(str(path)) as container:
            return len(container.streams.video) > 0
    except (av.FFmpegError, OSError, ValueError):
        return False


def cached_video(video_dir: Path, video_id: str) -> Path | None:
    """The readable cached file of `video_id`, whatever its extension, or None."""
    for ext in VIDEO_EXTENSIONS:
        path = video_dir / f"{video_id}{ext}"
        if path.exists() and is_valid_video(path):
            return path
    return None


def with_retries(
    fetch: Callable[[], object],
    retries: int,
    backoff_s: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
):
    """Call `fetch` up to `retries + 1` times, waiting backoff_s * 2**attempt between tries.

    `Unavailable` is not retried (the video is gone); the last exception is re-raised.
    """
    for attempt in range(retries + 1):
        try:
            return fetch()
        except Unavailable:
            raise
        except Exception as exc:
            if attempt == retries:
                raise
            wait = backoff_s * 2**attempt
            log.info("%s: try %d failed (%s); retrying in %.1f s", what, attempt + 1, exc, wait)
            sleep(wait)
    return None  # unreachable: the loop returns or raises


class _Sources:
    """Per-shard state of one dataset's source: folder indexes and the open zip, built lazily."""

    def __init__(self, config, dataset, video_dir, partial, downloader, zip_path, sleep):
        self.config = config
        self.dataset = dataset
        self.ds = config["datasets"][dataset]
        self.kind = self.ds["kind"]
        self.source = self.ds.get("source") or {}
        self.video_dir = video_dir
        self.partial = partial
        self.downloader = downloader
        self.zip_path = zip_path
        self.sleep = sleep
        dl = config["download"]
        self.retries = int(dl["retries"])
        self.backoff_s = float(dl["backoff_s"])
        self._folder: LocalFolder | None = None
        self._zip: ZipMembers | None = None

    def key(self, name: str) -> str:
        return f"datasets.{self.dataset}.source.{name}"

    def folder(self, path: str, key: str) -> LocalFolder:
        if self._folder is None:
            self._folder = LocalFolder(path, key)
        return self._folder

    def from_folder(self, row, path: str, key: str) -> Path:
        src = self.folder(path, key).find(row.video_id)
        if src is None:
            raise Missing(f"not in {key.rsplit('.', 1)[-1]} ({path})")
        dst = self.partial / f"{row.video_id}{src.suffix.lower()}"
        link_or_copy(src, dst)
        return dst

    def fetch(self, row) -> Path:
        """Write the video of `row` under the partial folder and return its path, or raise."""
        if self.kind == "synth":
            from avexplain.data.datasets import (
                synth,  # imported here: only synth needs its rendering stack
            )

            out = self.partial / f"{row.video_id}.mp4"
            synth.render(row.video_id, self.config, out)
            return out
        if self.kind == "custom":
            src = Path(row.source) if row.source else None
            if src is not None and src.is_file():
                dst = self.partial / f"{row.video_id}{src.suffix.lower()}"
                link_or_copy(src, dst)
                return dst
            key = f"datasets.{self.dataset}.video_dir"
            if not self.ds.get("video_dir"):
                raise ConfigError(f"config key '{key}' is empty: set it to the folder of videos")
            return self.from_folder(row, self.ds["video_dir"], key)
        if self.source.get("local_dir"):
            return self.from_folder(row, self.source["local_dir"], self.key("local_dir"))
        if self.kind == "llp":
            return self.from_youtube(row)
        if self.kind == "ave":
            return self.from_zip(row)
        raise ConfigError(
            f"dataset '{self.dataset}' of kind '{self.kind}' has no videos to download"
        )

    def from_youtube(self, row) -> Path:
        template = self.source.get("url_template") or YOUTUBE_URL
        url = template.format(youtube_id=row.source)
        out = self.partial / f"{row.video_id}.mp4"
        downloader = self.downloader or YtDlpDownloader()
        try:
            written = with_retries(
                lambda: downloader(url, float(row.start), float(row.end), out),
                self.retries,
                self.backoff_s,
                row.video_id,
                self.sleep,
            )
        except Exception as exc:
            text = str(exc) or type(exc).__name__
            raise Missing(
                text if text.startswith("yt-dlp") else f"download failed: {text}"
            ) from exc
        return Path(written) if written else out

    def from_zip(self, row) -> Path:
        if not self.source.get("zip_url"):
            raise Missing(
                f"no source configured: set {self.key('zip_url')} (the AVE_Dataset.zip link) "
                f"or {self.key('local_dir')} (a folder of <VideoID>.mp4)"
            )
        if self._zip is None:
            path = ensure_zip(
                self.source["zip_url"],
                self.zip_path,
                self.source.get("zip_sha256"),
                self.retries,
                self.backoff_s,
                sha_key=self.key("zip_sha256"),
                sleep=self.sleep,
            )
            self._zip = ZipMembers(path)
        member = self._zip.find(row.video_id, row.source)
        if member is None:
            raise Missing(f"not in zip ({self.zip_path.name})")
        out = self.partial / f"{row.video_id}{Path(member).suffix.lower() or '.mp4'}"
        self._zip.extract(member, out)
        return out

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def download_shard(
    config: dict,
    dataset: str,
    manifest_csv: str | Path,
    shard: str | int,
    video_dir: str | Path,
    status_csv: str | Path,
    downloader: Downloader | None = None,
    zip_path: str | Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Fetch the videos of one manifest shard into `video_dir`; write and return the status.

    `downloader(url, start, end, out_path)` replaces yt-dlp for LLP (tests inject one; see
    avexplain.data.download.youtube for the contract). `zip_path` is where the AVE archive is kept
    (default: beside `video_dir`). Errors of the whole source (a bad archive checksum, an
    archive that cannot be downloaded) raise; errors of one video make it `missing`.
    """
    manifest = read_manifest(manifest_csv)
    rows = manifest.iloc[
        shard_slice(shard, config["datasets"][dataset]["shard_size"], len(manifest))
    ]
    video_dir = Path(video_dir)
    partial = video_dir / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    zip_path = Path(zip_path) if zip_path else video_dir.parent / "AVE_Dataset.zip"
    sources = _Sources(config, dataset, video_dir, partial, downloader, zip_path, sleep)
    status = []
    try:
        for row in tqdm(list(rows.itertuples()), desc=f"{dataset} shard {shard}", unit="video"):
            status.append(_one(row, sources, video_dir))
    finally:
        sources.close()
    table = pd.DataFrame(status, columns=STATUS_COLUMNS)
    _write_csv(table, status_csv)
    counts = table["status"].value_counts().to_dict()
    log.info("%s shard %s: %s", dataset, shard, counts)
    return table


def _one(row, sources: _Sources, video_dir: Path) -> list:
    cached = cached_video(video_dir, row.video_id)
    if cached is not None:
        return [row.video_id, "present", str(cached), ""]
    try:
        part = sources.fetch(row)
        if not is_valid_video(part):
            part.unlink(missing_ok=True)
            raise Missing("fetched file is not a readable video")
        final = video_dir / f"{row.video_id}{part.suffix}"
        os.replace(part, final)
        return [row.video_id, "present", str(final), ""]
    except Missing as exc:
        reason = str(exc)
    except (ConfigError, ArchiveError):
        raise  # these concern every video of the source: stop with the message
    except Exception as exc:  # one video's failure must not stop the shard
        log.exception("%s: unexpected error", row.video_id)
        reason = f"{type(exc).__name__}: {exc}"[:200]
    # drop what a failed fetch left behind (yt-dlp's .part and per-format files included)
    for leftover in sources.partial.glob(glob.escape(row.video_id) + ".*"):
        leftover.unlink(missing_ok=True)
    log.info("%s: missing (%s)", row.video_id, reason)
    return [row.video_id, "missing", "", reason]


def _write_csv(table: pd.DataFrame, path: str | Path) -> None:
    """Write atomically, so a killed job never leaves a truncated table behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def collect_missing(
    config: dict,
    dataset: str,
    manifest_csv: str | Path,
    status_csvs: list[str | Path],
    out_csv: str | Path,
    clip_dirs: list[str | Path] | None = None,
) -> pd.DataFrame:
    """Write every manifest video that has no clip (manifest order) with the stage it was lost
    at (`download` or `decode`) and the reason; return the table. Never raises for too few videos:
    the record must survive the failure that points to it, so the present-fraction check is a
    later rule (`check_present`).

    A video in no download status file (its shard not run) is missing at `download`; with
    `clip_dirs` (the decoded shards, each with its report.csv), a present video that failed to
    decode, or that no report lists, is missing at `decode` with the decoder's error.
    """
    from avexplain.data.decode import REPORT_COLUMNS, read_report  # imports PyAV: only here

    manifest = read_manifest(manifest_csv)
    status = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in status_csvs]
        or [pd.DataFrame(columns=STATUS_COLUMNS)],
        ignore_index=True,
    )
    by_id = status.drop_duplicates("video_id", keep="last").set_index("video_id")
    merged = manifest[["video_id", "source"]].join(by_id, on="video_id")
    merged["status"] = merged["status"].fillna("missing")
    merged["reason"] = merged["reason"].fillna("no download status (its shard was not run)")
    merged["stage"] = "download"
    if clip_dirs is not None:
        reports = [read_report(Path(d) / "report.csv") for d in clip_dirs]
        decoded = pd.concat(reports or [pd.DataFrame(columns=REPORT_COLUMNS)], ignore_index=True)
        decoded = decoded.drop_duplicates("video_id", keep="last").set_index("video_id")
        present = merged["status"] == "present"
        failed = merged["video_id"].map(decoded["status"]).fillna("unreported")
        lost = present & ~failed.isin(["ok", "repaired"])
        errors = merged["video_id"].map(decoded["error"]).fillna("")
        merged.loc[lost, "stage"] = "decode"
        merged.loc[lost, "reason"] = [
            f"decode failed: {e}"
            if f == "failed"
            else "no decode report (its shard was not decoded)"
            for e, f in zip(errors[lost], failed[lost], strict=True)
        ]
        merged.loc[lost, "status"] = "missing"
    missing = merged.loc[merged["status"] != "present", MISSING_COLUMNS].reset_index(drop=True)
    _write_csv(missing, out_csv)
    counts = missing["stage"].value_counts().to_dict()
    log.info(
        "%s: %d of %d videos usable; missing by stage: %s",
        dataset,
        len(manifest) - len(missing),
        len(manifest),
        counts or "none",
    )
    return missing


def check_present(
    config: dict,
    dataset: str,
    manifest_csv: str | Path,
    missing_csv: str | Path,
    out_json: str | Path | None = None,
    clip_dirs: list[str | Path] = (),
) -> dict:
    """Stop when fewer than `download.min_present_fraction` of the videos have a clip (or none
    has), naming missing.csv, the most common reasons and what to do; else write `out_json`
    (counts, fraction, threshold, and the byte-identical clips of `clip_dirs` that sit in
    different splits) and return it. Run after decoding, so a video that downloads but does not
    decode counts as missing too."""
    manifest = read_manifest(manifest_csv)
    total = len(manifest)
    missing = pd.read_csv(missing_csv, dtype=str, keep_default_na=False)
    present = total - len(missing)
    threshold = float(config["download"]["min_present_fraction"])
    fraction = present / total if total else 1.0
    summary = {
        "dataset": dataset,
        "videos": total,
        "present": present,
        "fraction": round(fraction, 6),
        "min_present_fraction": threshold,
        "missing_by_stage": {k: int(v) for k, v in missing["stage"].value_counts().items()},
        "missing_csv": str(missing_csv),
        "duplicates_across_splits": _duplicates_across_splits(manifest, clip_dirs),
    }
    if total and (present == 0 or fraction < threshold):
        common = collections.Counter(
            zip(missing["stage"], missing["reason"], strict=True)
        ).most_common(5)
        reasons = "\n".join(f"  {n:6d} x {stage}: {reason}" for (stage, reason), n in common)
        what = (
            "no video has a clip"
            if present == 0
            else f"only {present} of {total} videos have a clip ({fraction:.1%}), below "
            f"download.min_present_fraction = {threshold:g}"
        )
        raise TooFewVideos(
            f"dataset '{dataset}': {what}.\nMost common reasons (stage: reason):\n{reasons}\n"
            f"Every missing video with its stage and reason is in {missing_csv} (kept). "
            f"Provide the videos (docs/download.md, e.g. datasets.{dataset}.source.local_dir), "
            "fix what does not decode (docs/troubleshooting.md), or lower "
            "download.min_present_fraction knowingly; then run snakemake again."
        )
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(summary, indent=1) + "\n")
    log.info("%s: %d of %d videos have a clip (%.1f%%)", dataset, present, total, 100 * fraction)
    for group in summary["duplicates_across_splits"]:
        # reported, not dropped: AVE's and LLP's splits are the papers' (custom drops them at
        # manifest time, where the source files are known)
        log.warning(
            "%s: identical clips in different splits (a test video also trained on?): %s; "
            "listed in %s",
            dataset,
            group["videos"],
            out_json or "the check's summary",
        )
    return summary


def _duplicates_across_splits(manifest: pd.DataFrame, clip_dirs) -> list[dict]:
    """Groups of byte-identical canonical clips (decoding is deterministic, so identical
    sources give identical clips) whose videos sit in more than one split."""
    split_of = dict(zip(manifest["video_id"], manifest["split"], strict=True))
    clips = [p for d in clip_dirs for p in sorted(Path(d).glob("*.mp4")) if p.stem in split_of]
    found = []
    for digest, copies in identical_groups(clips).items():
        videos = {p.stem: split_of[p.stem] for p in copies}
        if len(set(videos.values())) > 1:
            found.append({"sha256": digest[:16], "videos": videos})
    return found
