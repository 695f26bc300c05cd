"""Compare the outputs of two runs (e.g. local vs SLURM, or the same config twice).

`compare_runs(run_a, run_b, paths)` returns a list of human-readable differences (empty: the
outputs agree). What is compared depends on the path:

- a Zarr store (a folder with zarr.json): every array's shape, dtype and values (NaN equals NaN)
  and every attribute except the volatile ones (timestamps);
- a .json file: the parsed values; numbers within `rtol`/`atol`, volatile keys skipped;
- another folder: the same set of files, each compared as above;
- any other file: byte for byte.

Command line: `python -m avexplain.compare RUN_A RUN_B PATH [PATH ...]` prints the differences
and exits 1 when there are any.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import zarr

# Keys that record when or where something ran, not what it computed.
VOLATILE_KEYS = frozenset(
    {"finalized", "created", "timestamp", "elapsed_s", "wall_s", "seconds", "host", "hostname"}
)


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    paths,
    rtol: float = 0.0,
    atol: float = 0.0,
    ignore_keys=VOLATILE_KEYS,
) -> list[str]:
    """Differences between `run_a/<path>` and `run_b/<path>` for every path in `paths`."""
    problems = []
    for rel in paths:
        problems += compare_path(Path(run_a, rel), Path(run_b, rel), rel, rtol, atol, ignore_keys)
    return problems


def compare_path(
    a: Path, b: Path, name: str, rtol=0.0, atol=0.0, ignore_keys=VOLATILE_KEYS
) -> list[str]:
    missing = [str(p) for p in (a, b) if not p.exists()]
    if missing:
        return [f"{name}: missing in {', '.join(missing)}"]
    if a.is_dir() != b.is_dir():
        return [f"{name}: a folder in one run, a file in the other"]
    if a.is_dir() and (a / "zarr.json").exists():
        return _compare_zarr(a, b, name, rtol, atol, ignore_keys)
    if a.is_dir():
        files_a = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
        files_b = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
        problems = [f"{name}/{f}: only in the first run" for f in sorted(files_a - files_b)]
        problems += [f"{name}/{f}: only in the second run" for f in sorted(files_b - files_a)]
        for f in sorted(files_a & files_b):
            problems += compare_path(a / f, b / f, f"{name}/{f}", rtol, atol, ignore_keys)
        return problems
    if a.suffix == ".json":
        return _compare_values(
            json.loads(a.read_text()), json.loads(b.read_text()), name, rtol, atol, ignore_keys
        )
    if a.read_bytes() != b.read_bytes():
        return [f"{name}: contents differ"]
    return []


def _compare_zarr(a: Path, b: Path, name: str, rtol, atol, ignore_keys) -> list[str]:
    ga, gb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    problems = _compare_values(
        dict(ga.attrs), dict(gb.attrs), f"{name} attrs", rtol, atol, ignore_keys
    )
    names_a, names_b = set(ga.array_keys()), set(gb.array_keys())
    problems += [f"{name}/{k}: only in the first run" for k in sorted(names_a - names_b)]
    problems += [f"{name}/{k}: only in the second run" for k in sorted(names_b - names_a)]
    for key in sorted(names_a & names_b):
        xa, xb = ga[key], gb[key]
        if xa.shape != xb.shape or xa.dtype != xb.dtype:
            problems.append(
                f"{name}/{key}: shape/dtype {xa.shape}/{xa.dtype} vs {xb.shape}/{xb.dtype}"
            )
            continue
        va, vb = np.asarray(xa[...]), np.asarray(xb[...])
        problems += _compare_arrays(va, vb, f"{name}/{key}", rtol, atol)
    return problems


def _compare_arrays(va: np.ndarray, vb: np.ndarray, name: str, rtol, atol) -> list[str]:
    if va.dtype.kind in "fc":
        same = np.isclose(va, vb, rtol=rtol, atol=atol, equal_nan=True)
        if not same.all():
            diff = np.abs(va.astype(np.float64) - vb.astype(np.float64))
            worst = float(np.nanmax(np.where(same, 0, diff))) if diff.size else math.nan
            return [
                f"{name}: {int((~same).sum())} of {same.size} values differ (max |a-b| {worst:g})"
            ]
        return []
    if not np.array_equal(va, vb):
        return [f"{name}: {int((va != vb).sum())} of {va.size} values differ"]
    return []


def _compare_values(x, y, name: str, rtol, atol, ignore_keys) -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        problems = []
        for key in sorted(set(x) | set(y), key=str):
            if key in ignore_keys:
                continue
            if key not in x or key not in y:
                problems.append(
                    f"{name}.{key}: only in the {'first' if key in x else 'second'} run"
                )
            else:
                problems += _compare_values(
                    x[key], y[key], f"{name}.{key}", rtol, atol, ignore_keys
                )
        return problems
    if isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            return [f"{name}: {len(x)} vs {len(y)} items"]
        return [
            p
            for i, (u, v) in enumerate(zip(x, y, strict=True))
            for p in _compare_values(u, v, f"{name}[{i}]", rtol, atol, ignore_keys)
        ]
    numbers = (int, float)
    if (
        isinstance(x, numbers)
        and isinstance(y, numbers)
        and not isinstance(x, bool)
        and not isinstance(y, bool)
    ):
        if (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=rtol, abs_tol=atol):
            return []
        return [f"{name}: {x!r} vs {y!r}"]
    if x != y:
        return [f"{name}: {x!r} vs {y!r}"]
    return []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("paths", nargs="+", help="outputs relative to each run folder")
    parser.add_argument("--rtol", type=float, default=0.0)
    parser.add_argument("--atol", type=float, default=0.0)
    args = parser.parse_args(argv)
    problems = compare_runs(args.run_a, args.run_b, args.paths, args.rtol, args.atol)
    for p in problems:
        print(p)
    if not problems:
        print(f"{len(args.paths)} output(s) agree")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
