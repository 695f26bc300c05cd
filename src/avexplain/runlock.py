"""One run per project folder: the main Snakemake process holds an exclusive lock on
`.avexplain/run.lock` from parse time to exit, and any second Snakemake command in the folder
(a run, a dry run, --unlock, --touch) stops at parse time with the running command's pid.

Why not rely on Snakemake's own lock: Snakemake 9.27 lets a second command in the folder
remove the running command's lock (and its incomplete-file records), after which both runs
fail and a feature store can need re-extraction. The lock here is an OS file lock (flock): it is
released when the holding process ends, however it ends (even SIGKILL), so it can never be left
stale, and it needs no --unlock. Jobs that Snakemake itself starts (cluster jobs, subprocess
jobs) parse the Snakefile in another mode and do not take it (docs/troubleshooting.md)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_FILE = Path(".avexplain") / "run.lock"
_held: dict[str, int] = {}  # lock path -> open descriptor, so a re-parse in-process is a no-op


class RunLocked(RuntimeError):
    """Another command is running the pipeline in this folder."""


def acquire(folder: str | Path = ".", argv: list[str] | None = None) -> Path:
    """Take the folder's run lock for the life of this process, or raise RunLocked naming the
    command that holds it and what to do."""
    path = Path(folder).resolve() / LOCK_FILE
    key = str(path)
    if key in _held:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(path)
        os.close(fd)
        raise RunLocked(
            f"another pipeline command is running in {path.parents[1]} ({holder}).\n"
            "A second snakemake command in the same folder, even a dry run (-n) or --unlock, "
            "would break it (Snakemake removes the running command's lock). Wait for it to "
            f"finish, or stop it first (kill {_pid(path) or '<pid>'}; then re-run with "
            "--rerun-incomplete). To run something else at the same time, use a separate copy "
            "of the project folder."
        ) from None
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(argv if argv is not None else sys.argv),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    _held[key] = fd
    return path


def release(folder: str | Path = ".") -> None:
    """Give the lock back before the process ends (tests; a process exit releases it anyway)."""
    key = str(Path(folder).resolve() / LOCK_FILE)
    fd = _held.pop(key, None)
    if fd is not None:
        os.close(fd)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _pid(path: Path):
    return _read(path).get("pid")


def _describe(path: Path) -> str:
    info = _read(path)
    if not info:
        return "its details could not be read"
    return (
        f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
        f"{info.get('command')}"
    )
