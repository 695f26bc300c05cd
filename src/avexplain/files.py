"""Small file utilities every stage uses: content hashes, atomic writes, video file names."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Containers ffmpeg decodes that people keep videos in; the download stage and the custom
# dataset's audit both use this list.
VIDEO_EXTENSIONS = (
    ".mp4",
    ".mkv",
    ".webm",
    ".mov",
    ".avi",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".flv",
    ".3gp",
)


def open_text(path: str | Path, newline: str | None = None):
    """Open an annotation or labels file for reading as UTF-8, dropping a leading byte-order mark
    (spreadsheets write one when saving "CSV UTF-8"; it would otherwise glue itself, invisible,
    to the first column's name)."""
    return open(path, encoding="utf-8-sig", newline=newline)


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identical_groups(paths) -> dict[str, list[Path]]:
    """sha256 -> the files (two or more) with exactly that content. Only files of a size shared
    with another are hashed, so a folder without copies costs one stat per file; empty files
    are no videos (the download stage reports them), not copies of each other."""
    by_size: dict[int, list[Path]] = {}
    for path in map(Path, paths):
        if path.is_file() and path.stat().st_size:
            by_size.setdefault(path.stat().st_size, []).append(path)
    groups: dict[str, list[Path]] = {}
    for same_size in by_size.values():
        if len(same_size) > 1:
            for path in same_size:
                groups.setdefault(sha256(path), []).append(path)
    return {digest: files for digest, files in sorted(groups.items()) if len(files) > 1}


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename, so a reader (or a killed
    job) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)
