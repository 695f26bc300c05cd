"""The AVE archive: a resumable, verified, once-only download, and member lookup by video id.

Many shard jobs may start at once; a file lock makes the first one download the archive while
the others wait for it, and a `.part` file plus HTTP Range requests make an interrupted download
continue where it stopped instead of starting the 5.7 GB over.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import requests
from tqdm import tqdm

from avexplain import files

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# Network reads are small so that a dropped connection loses at most this much of the part file.
NET_CHUNK = 1 << 16


class ArchiveError(RuntimeError):
    """The archive cannot be had; this concerns every video in it, so the job stops."""


class ChecksumError(ArchiveError):
    """The downloaded archive does not have the configured sha256."""


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on `path` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch_resumable(url: str, part: Path, timeout: float = 60.0) -> None:
    """Append the rest of `url` to `part`, asking for the missing byte range only.

    Raises on a network error; the bytes already written stay in `part` for the next try.
    """
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        if resp.status_code == 416 and have:
            return  # asked for bytes past the end: the part file is already complete
        resp.raise_for_status()
        if have and resp.status_code != 206:
            log.warning("%s ignores Range requests; downloading it again from the start", url)
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        mode = "ab" if have else "wb"
        with (
            open(part, mode) as out,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name) as bar,
        ):
            for block in resp.iter_content(NET_CHUNK):
                out.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size != total:
        raise OSError(f"{url}: got {part.stat().st_size} of {total} bytes")


def ensure_zip(
    url: str,
    dest: Path,
    sha256: str | None,
    retries: int,
    backoff_s: float,
    sha_key: str = "datasets.ave.source.zip_sha256",
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download `url` to `dest` once (resuming, retrying with backoff) and check its sha256.

    A mismatch raises ChecksumError naming `sha_key`; the bad file is moved aside so the next run
    downloads it again. The verified digest is remembered beside the archive so later jobs do
    not re-hash gigabytes.
    """
    dest = Path(dest)
    marker = dest.with_name(dest.name + ".sha256")
    with locked(dest.with_name(dest.name + ".lock")):
        if dest.exists():
            if not sha256 or _marker_ok(marker, dest, sha256):
                return dest
            _verify(dest, marker, sha256, sha_key)
            return dest
        part = dest.with_name(dest.name + ".part")
        for attempt in range(retries + 1):
            try:
                fetch_resumable(url, part)
                break
            except (requests.RequestException, OSError) as exc:
                if attempt == retries:
                    raise ArchiveError(
                        f"could not download {url} after {retries + 1} tries ({exc}); "
                        f"rerun to resume from the {part.stat().st_size if part.exists() else 0} "
                        f"bytes kept in {part}"
                    ) from exc
                wait = backoff_s * 2**attempt
                log.warning("download of %s interrupted (%s); resuming in %.1f s", url, exc, wait)
                sleep(wait)
        if sha256:
            _verify(part, marker, sha256, sha_key, final=dest)
        else:
            log.warning(
                "no checksum configured (%s is null): %s is not verified; its sha256 is %s",
                sha_key,
                dest,
                files.sha256(part),
            )
        part.replace(dest)
    return dest


def _marker_ok(marker: Path, path: Path, sha256: str) -> bool:
    if not marker.exists():
        return False
    digest, _, size = marker.read_text().strip().partition(" ")
    return digest == sha256.lower() and size == str(path.stat().st_size)


def _verify(path: Path, marker: Path, sha256: str, key: str, final: Path | None = None) -> None:
    got = files.sha256(path)
    if got != sha256.lower():
        bad = path.with_name((final or path).name + ".sha256-mismatch")
        path.replace(bad)
        raise ChecksumError(
            f"{final or path}: sha256 is {got}, but config key '{key}' expects {sha256.lower()}. "
            f"The file was moved to {bad}; the next run downloads it again. If the archive "
            f"changed upstream, update '{key}'."
        )
    marker.write_text(f"{got} {path.stat().st_size}\n")


class ZipMembers:
    """Members of a zip archive found by name or by file stem, whatever folder they sit in."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.zip = zipfile.ZipFile(self.path)
        self.names = set()
        self.by_stem: dict[str, str] = {}
        for info in self.zip.infolist():
            if info.is_dir():
                continue
            self.names.add(info.filename)
            stem = PurePosixPath(info.filename).stem
            if stem in self.by_stem:
                log.warning(
                    "%s: both %s and %s have stem %s; using the first",
                    self.path,
                    self.by_stem[stem],
                    info.filename,
                    stem,
                )
                continue
            self.by_stem[stem] = info.filename

    def find(self, video_id: str, name: str | None = None) -> str | None:
        if name and name in self.names:
            return name
        return self.by_stem.get(video_id)

    def extract(self, member: str, out_path: Path) -> None:
        with self.zip.open(member) as src, open(out_path, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)

    def close(self) -> None:
        self.zip.close()
