"""A user's own videos: a folder of video files and a labels CSV `video_id,labels[,split]`.

Labels are `;`-separated class names. Without a `split` column the videos are split 60/20/20 by a
permutation seeded with the config's `seed`, so the same CSV and seed give the same split.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from avexplain.data.audit import Audit
from avexplain.data.datasets.common import (
    LABEL_SEPARATOR,
    most_held_out,
    resolve,
    to_frame,
)
from avexplain.files import VIDEO_EXTENSIONS, identical_groups, open_text, sha256
from avexplain.names import SPLITS

REQUIRED = ["video_id", "labels"]
OPTIONAL = ["split"]
# Train/val/test fractions when the CSV has no split column: the common 60/20/20 convention.
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)


def input_files(ds: dict) -> list[str]:
    return [ds["labels_csv"]] if ds.get("labels_csv") else []


def read_labels_csv(path: Path, display: str) -> tuple[list[dict], bool]:
    """Rows {line, video_id, labels, split} of the labels CSV; errors name the file and line."""
    expected = "columns video_id,labels[,split]"
    with open_text(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{display}:1: the file is empty; expected a header with {expected}")
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED if c not in header]
        unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
        if missing or unknown or len(set(header)) != len(header):
            what = []
            if missing:
                what.append(f"missing column(s) {', '.join(missing)}")
            if unknown:
                what.append(f"unknown column(s) {', '.join(unknown)}")
            if len(set(header)) != len(header):
                what.append("a column named twice")
            raise ValueError(f"{display}:1: {'; '.join(what)}; expected {expected}")
        has_split = "split" in header
        rows, first_line = [], {}
        for line, fields in enumerate(reader, start=2):
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise ValueError(
                    f"{display}:{line}: expected {len(header)} fields ({','.join(header)}), got "
                    f"{len(fields)}; quote a field that contains a comma"
                )
            row = {c: f.strip() for c, f in zip(header, fields, strict=True)}
            video_id = row["video_id"]
            if not video_id:
                raise ValueError(f"{display}:{line}: empty video_id; expected a video file stem")
            if "/" in video_id or "\\" in video_id:
                raise ValueError(
                    f"{display}:{line}: video_id {video_id!r} contains a path separator; "
                    "expected the file stem of a video in video_dir"
                )
            if video_id in first_line:
                raise ValueError(
                    f"{display}:{line}: duplicate video_id {video_id!r} (first on line "
                    f"{first_line[video_id]}); expected each video once"
                )
            first_line[video_id] = line
            labels = [x.strip() for x in row["labels"].split(LABEL_SEPARATOR) if x.strip()]
            if not labels:
                raise ValueError(
                    f"{display}:{line}: empty labels for {video_id!r}; expected one or more "
                    f"class names separated by '{LABEL_SEPARATOR}'"
                )
            split = row.get("split")
            if has_split and split not in SPLITS:
                raise ValueError(
                    f"{display}:{line}: unknown split {split!r}; expected one of {', '.join(SPLITS)}"
                )
            rows.append({"line": line, "video_id": video_id, "labels": labels, "split": split})
    return rows, has_split


def assign_splits(video_ids: list[str], seed: int, fractions=DEFAULT_FRACTIONS) -> dict[str, str]:
    """A seeded, order-independent split: ids are sorted, permuted, then cut by fractions."""
    ordered = sorted(video_ids)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_train = round(fractions[0] * len(ordered))
    n_val = round(fractions[1] * len(ordered))
    out = {}
    for rank, index in enumerate(order):
        split = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
        out[ordered[index]] = split
    return out


def _video_files(video_dir: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    if video_dir.is_dir():
        for path in sorted(video_dir.iterdir()):
            if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
                files.setdefault(path.stem, []).append(path)
    return files


def drop_duplicate_content(rows: list[dict], root: Path, audit: Audit) -> list[dict]:
    """Find labelled videos whose files are byte-identical but sit in different splits (a test
    video also trained on); keep each in its most held-out split only, as AVE's rows are.

    """
    check = audit.check(
        "duplicate_content_across_splits",
        "groups of identical video files (same sha256) labelled in more than one split",
        "kept in the most held-out split; the copies in other splits are dropped",
    )
    row_of = {resolve(root, row["source"]): i for i, row in enumerate(rows)}
    dropped = set()
    for digest, copies in identical_groups(row_of).items():
        indices = [row_of[path] for path in copies]
        splits = {rows[i]["split"] for i in indices}
        if len(splits) < 2:
            continue
        keep = most_held_out(splits)
        check.add(
            {
                "sha256": digest[:16],
                "videos": {rows[i]["video_id"]: rows[i]["split"] for i in indices},
                "kept_in": keep,
            }
        )
        dropped.update(i for i in indices if rows[i]["split"] != keep)
    return [row for i, row in enumerate(rows) if i not in dropped]


def build(config: dict, name: str, root: Path):
    ds = config["datasets"][name]
    for key in ("video_dir", "labels_csv"):
        if not ds.get(key):
            raise ValueError(
                f"config key 'datasets.{name}.{key}' is empty; a custom dataset needs it"
            )
    labels_csv, video_dir = ds["labels_csv"], ds["video_dir"]
    audit = Audit(name)
    csv_path = resolve(root, labels_csv)
    if not csv_path.exists():
        raise FileNotFoundError(
            f"{labels_csv}: labels CSV not found (config datasets.{name}.labels_csv)"
        )
    audit.inputs[labels_csv] = {"sha256": sha256(csv_path), "verified": "n/a"}
    rows, has_split = read_labels_csv(csv_path, labels_csv)
    classes = sorted({label for row in rows for label in row["labels"]})
    class_index = {c: i for i, c in enumerate(classes)}
    if not has_split:
        splits = assign_splits([r["video_id"] for r in rows], int(config.get("seed", 0)))
        audit.notes.append(
            f"{labels_csv} has no split column: splits drawn {'/'.join(map(str, DEFAULT_FRACTIONS))}"
            f" with seed {config.get('seed', 0)}"
        )
    missing = audit.check(
        "missing_video_file",
        f"labelled videos with no video file in {video_dir}",
        "kept; the download stage lists them in missing.csv",
    )
    ambiguous = audit.check(
        "ambiguous_video_file",
        "labelled videos with several files of the same stem",
        "the first file in name order used",
    )
    unlabelled = audit.check(
        "unlabelled_video_file",
        f"video files in {video_dir} with no row in {labels_csv}",
        "ignored",
    )
    files = _video_files(resolve(root, video_dir))
    clip_seconds = float(config["clip"]["segments"])
    manifest_rows = []
    for row in rows:
        video_id = row["video_id"]
        found = files.get(video_id, [])
        if not found:
            missing.add({"video_id": video_id, "line": row["line"]})
            source = str(Path(video_dir) / f"{video_id}.mp4")
        else:
            if len(found) > 1:
                ambiguous.add({"video_id": video_id, "files": [p.name for p in found]})
            source = str(Path(video_dir) / found[0].name)
        manifest_rows.append(
            {
                "video_id": video_id,
                "split": row["split"] if has_split else splits[video_id],
                "labels": LABEL_SEPARATOR.join(sorted(set(row["labels"]), key=class_index.get)),
                "source": source,
                "start": 0.0,
                "end": clip_seconds,
                "audio_events": "[]",
                "visual_events": "[]",
                "boxes": "{}",
            }
        )
    manifest_rows = drop_duplicate_content(manifest_rows, root, audit)
    labelled = {r["video_id"] for r in rows}
    for stem, paths in files.items():
        if stem not in labelled:
            unlabelled.add({"file": paths[0].name})
    frame = to_frame(manifest_rows)
    audit.counts = {
        "label_rows": len(rows),
        "classes": len(classes),
        "videos": len(frame),
        "videos_per_split": {s: int((frame["split"] == s).sum()) for s in SPLITS},
        "video_files_found": len(files),
    }
    return frame, classes, audit
