"""Pieces every dataset builder shares: the manifest columns, split ranks, checksums, TSV reading."""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path

import pandas as pd

from avexplain.data.audit import Audit
from avexplain.files import open_text, sha256

log = logging.getLogger(__name__)

COLUMNS = [
    "video_id",
    "split",
    "labels",
    "source",
    "start",
    "end",
    "audio_events",
    "visual_events",
    "boxes",
]
# When one source video lands in several splits, it is kept in the most held-out one: evaluation
# sets stay as published and nothing evaluated on is trained on.
HELD_OUT_RANK = {"train": 0, "val": 1, "test": 2}
LABEL_SEPARATOR = ";"
# Published sums of the shipped annotation files, one `<sha256>  <path>` line each.
CHECKSUM_LIST = Path("resources") / "datasets" / "README.md"
_CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64})\s+(\S.*?)\s*$")


def most_held_out(splits) -> str:
    return max(splits, key=HELD_OUT_RANK.__getitem__)


def by_rank(splits) -> list[str]:
    return sorted(set(splits), key=HELD_OUT_RANK.__getitem__)


def number(value: float) -> int | float:
    """Whole seconds as ints so the JSON reads `[\"Dog\", 0, 10]`, fractions as floats."""
    value = float(value)
    return int(value) if value.is_integer() else value


def events_json(events) -> str:
    return json.dumps([[label, number(on), number(off)] for label, on, off in events])


def sort_events(events, class_index: dict[str, int]) -> list:
    """Distinct events in time order (ties by class order): deterministic manifest cells."""
    unique = {(label, float(on), float(off)) for label, on, off in events}
    return sorted(unique, key=lambda e: (e[1], e[2], class_index[e[0]]))


def to_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["start"] = frame["start"].astype(float)
    frame["end"] = frame["end"].astype(float)
    return frame.reset_index(drop=True)


def published_checksums(root: Path) -> dict[Path, str]:
    """Resolved path -> sha256 of every file listed in resources/datasets/README.md."""
    listing = Path(root) / CHECKSUM_LIST
    if not listing.exists():
        return {}
    sums = {}
    for line in listing.read_text().splitlines():
        match = _CHECKSUM_LINE.match(line)
        if match:
            sums[(listing.parent / match.group(2)).resolve()] = match.group(1)
    return sums


def resolve(root: Path, path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else Path(root) / path


def verify_inputs(root: Path, paths: list[str], audit: Audit) -> None:
    """Check each shipped file against its published sha256 before anything parses it.

    A file the listing does not name (a user's own copy elsewhere) is hashed and recorded in the
    audit as unverified rather than rejected.
    """
    sums = published_checksums(root)
    for path in paths:
        full = resolve(root, path)
        if not full.exists():
            raise FileNotFoundError(f"{path}: annotation file not found (under {Path(root)})")
        got = sha256(full)
        want = sums.get(full.resolve())
        if want is None:
            log.warning("%s: no published checksum in %s; not verified", path, CHECKSUM_LIST)
            verified = "not listed"
        elif got != want:
            raise ValueError(
                f"{path}: sha256 {got} differs from the published {want} listed in "
                f"{CHECKSUM_LIST}; the file was edited, truncated or replaced. Restore the "
                "published file (see resources/datasets/SOURCES.md)."
            )
        else:
            verified = "ok"
        audit.inputs[str(path)] = {"sha256": got, "verified": verified}


def read_tsv(path: Path, display: str, columns: list[str]) -> list[tuple[int, dict]]:
    """Rows of a tab-separated file with a header as (1-based line number, {column: value})."""
    with open_text(path, newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != columns:
            raise ValueError(
                f"{display}:1: expected the tab-separated header {'<TAB>'.join(columns)}, "
                f"got {header!r}"
            )
        rows = []
        for index, fields in enumerate(reader, start=2):
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(columns):
                raise ValueError(
                    f"{display}:{index}: expected {len(columns)} tab-separated fields "
                    f"({', '.join(columns)}), got {len(fields)}: {fields!r}"
                )
            rows.append((index, {c: f.strip() for c, f in zip(columns, fields, strict=True)}))
    return rows
