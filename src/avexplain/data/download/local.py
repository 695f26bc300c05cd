"""Videos the user already has: a folder of files named by video id (any container ffmpeg reads),
linked into the download cache rather than copied where the filesystem allows."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from avexplain.config import ConfigError
from avexplain.files import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (no extra disk), copying when they are on different devices."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def index_folder(folder: Path) -> dict[str, Path]:
    """Video files under `folder` (recursively) by file stem; the first one wins on clashes."""
    found: dict[str, Path] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            found.setdefault(path.stem, path)
    return found


class LocalFolder:
    """A folder of videos named by id, indexed once on first use. `key` is the config key that
    names the folder, for the messages."""

    def __init__(self, folder: str | Path, key: str):
        self.folder, self.key = Path(folder), key
        self._index: dict[str, Path] | None = None

    def find(self, video_id: str) -> Path | None:
        if self._index is None:
            if not self.folder.is_dir():
                raise ConfigError(
                    f"config key '{self.key}' points at '{self.folder}', which is not a folder"
                )
            self._index = index_folder(self.folder)
            log.info("%s: %d video files found in %s", self.key, len(self._index), self.folder)
        return self._index.get(video_id)
