"""What every output records about the code that made it (kept free of torch: the Snakefile
and light jobs import it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import avexplain


def code_version() -> str:
    """The package version and, in a git checkout, the commit (`-dirty`: uncommitted changes)."""
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"avexplain {avexplain.__version__}" + (f" ({rev})" if rev else "")
