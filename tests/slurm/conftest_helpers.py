"""Skip or fail when SLURM cannot run (CI requires it)."""

from __future__ import annotations

import os

import pytest

# CI sets this: there SLURM must start, and a test that cannot start it fails instead of skipping.
REQUIRE_ENV = "AVEXPLAIN_REQUIRE_SLURM"


def unavailable(reason: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but SLURM cannot run: {reason}")
    print(f"\nSLURM tests skipped: {reason}")
    pytest.skip(f"SLURM unavailable: {reason}")
