"""AVE: Annotations.txt and the three split files -> one manifest row per video.

Annotations.txt has one row per (video, audio-visual event); a few videos carry two or three
events of different classes. A video is one file of the AVE zip, so rows of the same VideoID are
merged into one multi-label video. The split files repeat annotation rows verbatim; a video whose
rows fall in several splits is kept in the most held-out one (see common.HELD_OUT_RANK).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from avexplain.data.audit import Audit, paper_comparison
from avexplain.data.datasets.common import (
    LABEL_SEPARATOR,
    by_rank,
    events_json,
    most_held_out,
    resolve,
    sort_events,
    to_frame,
    verify_inputs,
)
from avexplain.files import open_text
from avexplain.names import SPLITS

CLIP_SECONDS = 10  # AVE videos are 10 s; event times are whole seconds on that clip
# Where a video lives inside AVE_Dataset.zip (the download stage extracts it from there).
ZIP_MEMBER = "AVE_Dataset/AVE/{video_id}.mp4"
LINE_FORMAT = "Category&VideoID&Quality&StartTime&EndTime"


@dataclass(frozen=True)
class Row:
    file: str
    line: int
    category: str
    video_id: str
    quality: str
    start: int
    end: int

    @property
    def key(self) -> tuple:
        return (self.category, self.video_id, self.quality, self.start, self.end)


def read_rows(path: Path, display: str) -> list[Row]:
    rows = []
    with open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            fields = text.split("&")
            try:
                if len(fields) != 5 or not fields[0] or not fields[1]:
                    raise ValueError
                start, end = int(fields[3]), int(fields[4])
            except ValueError:
                raise ValueError(
                    f"{display}:{number}: expected '{LINE_FORMAT}' with whole-second times, "
                    f"got {text!r}"
                ) from None
            rows.append(Row(display, number, fields[0], fields[1], fields[2], start, end))
    return rows


def input_files(ds: dict) -> list[str]:
    # the cross-modality localization split (the AVE paper's Table 3) is checked and audited too
    cml = [ds["cml_splits"][s] for s in SPLITS] if ds.get("cml_splits") else []
    return [ds["annotations"], *(ds["splits"][s] for s in SPLITS), *cml]


def build(config: dict, name: str, root: Path):
    """The AVE manifest in phases: the annotation rows, the split files that list them, one
    manifest row per video (repeated VideoIDs merged), then the audit's counts."""
    ds = config["datasets"][name]
    audit = Audit(name)
    verify_inputs(root, input_files(ds), audit)
    ann_file = ds["annotations"]
    annotations = read_rows(resolve(root, ann_file), ann_file)
    classes = list(dict.fromkeys(r.category for r in annotations))
    class_index = {c: i for i, c in enumerate(classes)}
    checks = _checks(audit)
    row_splits, split_rows = _assign_splits(root, ds, annotations, class_index, checks)
    frame = to_frame(_videos(annotations, row_splits, class_index, checks))
    audit.counts = {
        "annotation_rows": len(annotations),
        "split_file_rows": split_rows,
        "classes": len(classes),
        "videos": len(frame),
        "videos_per_split": {s: int((frame["split"] == s).sum()) for s in SPLITS},
    }
    per_split = audit.counts["videos_per_split"]
    audit.paper = paper_comparison(root, name, [len(frame), *per_split.values()], "videos")
    rows = [len(annotations), *split_rows.values()]
    if audit.paper and rows == audit.paper["paper"] and not audit.paper["agrees"]:
        audit.notes.append(
            f"Table D's AVE row {audit.paper['paper']} equals the number of annotation rows "
            f"(Annotations.txt and the split files: {rows}), not of videos: the manifest has one "
            "row per video, merging repeated VideoIDs (duplicate_video_id, split_leak)."
        )
    return frame, classes, audit


def _checks(audit: Audit) -> dict:
    return {
        "duplicate_video_id": audit.check(
            "duplicate_video_id",
            "videos (VideoIDs) with more than one row in Annotations.txt; by_file counts the "
            "VideoIDs repeated within each file",
            "merged into one video: labels are the union of its rows, events the list of its "
            "rows' events",
        ),
        "duplicate_row": audit.check(
            "duplicate_row",
            "rows repeated verbatim within one file (each extra copy counted once)",
            "extra copies ignored",
        ),
        "split_leak": audit.check(
            "split_leak",
            "videos whose rows are listed in more than one split file",
            "kept once, in the most held-out of its splits (test > val > train), with the "
            "union of its labels",
        ),
        "split_row_not_in_annotations": audit.check(
            "split_row_not_in_annotations",
            "split-file rows that match no Annotations.txt row",
            "dropped",
        ),
        "annotation_row_without_split": audit.check(
            "annotation_row_without_split",
            "Annotations.txt rows listed in no split file",
            "dropped (a video with no row left is not in the manifest)",
        ),
        "unknown_label": audit.check(
            "unknown_label",
            "split-file rows whose category is not among the Annotations.txt categories",
            "dropped (they match no annotation row either)",
        ),
        "empty_event": audit.check(
            "empty_event",
            "annotation rows whose event is empty (StartTime >= EndTime)",
            "event dropped; the video keeps the row's label (labels are video-level)",
        ),
        "event_out_of_range": audit.check(
            "event_out_of_range",
            f"annotation rows whose event reaches outside [0, {CLIP_SECONDS}] s",
            "event dropped; the video keeps the row's label",
        ),
    }


def _assign_splits(root: Path, ds: dict, annotations: list[Row], class_index: dict, checks):
    """For each annotation row, the splits whose file lists it; the rows per split file."""
    by_key: dict[tuple, list[int]] = defaultdict(list)
    for i, row in enumerate(annotations):
        by_key[row.key].append(i)
    ann_file = ds["annotations"]
    dup_ids = {ann_file: _repeated_ids(annotations)}
    _note_duplicate_rows(annotations, checks["duplicate_row"])
    row_splits: list[set[str]] = [set() for _ in annotations]
    split_rows = {}
    for split in SPLITS:
        split_file = ds["splits"][split]
        rows = read_rows(resolve(root, split_file), split_file)
        split_rows[split] = len(rows)
        dup_ids[split_file] = _repeated_ids(rows)
        _note_duplicate_rows(rows, checks["duplicate_row"])
        for row in rows:
            if row.category not in class_index:
                checks["unknown_label"].add(_row_item(row))
            if row.key not in by_key:
                checks["split_row_not_in_annotations"].add(_row_item(row))
                continue
            for i in by_key[row.key]:
                row_splits[i].add(split)
    checks["duplicate_video_id"].by_file = {f: len(ids) for f, ids in dup_ids.items()}
    return row_splits, split_rows


def _videos(annotations: list[Row], row_splits, class_index: dict, checks) -> list[dict]:
    """One manifest row per VideoID (first appearance order) from its rows that have a split."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(annotations):
        groups[row.video_id].append(i)
    manifest_rows = []
    for video_id, indices in groups.items():
        if len(indices) > 1:
            checks["duplicate_video_id"].add(
                {
                    "video_id": video_id,
                    "rows": [_row_item(annotations[i], row_splits[i]) for i in indices],
                }
            )
        kept = []
        for i in indices:
            if row_splits[i]:
                kept.append(i)
            else:
                checks["annotation_row_without_split"].add(_row_item(annotations[i]))
        if not kept:
            continue
        splits = set().union(*(row_splits[i] for i in kept))
        if len(splits) > 1:
            checks["split_leak"].add(
                {
                    "video_id": video_id,
                    "splits": by_rank(splits),
                    "kept_in": most_held_out(splits),
                    "rows": [_row_item(annotations[i], row_splits[i]) for i in kept],
                }
            )
        events = []
        for i in kept:
            row = annotations[i]
            if row.start >= row.end:
                checks["empty_event"].add(_row_item(row))
            elif row.start < 0 or row.end > CLIP_SECONDS:
                checks["event_out_of_range"].add(_row_item(row))
            else:
                events.append((row.category, row.start, row.end))
        labels = sorted({annotations[i].category for i in kept}, key=class_index.__getitem__)
        events = events_json(sort_events(events, class_index))
        manifest_rows.append(
            {
                "video_id": video_id,
                "split": most_held_out(splits),
                "labels": LABEL_SEPARATOR.join(labels),
                "source": ZIP_MEMBER.format(video_id=video_id),
                "start": 0.0,
                "end": float(CLIP_SECONDS),
                # AVE annotates audio-visual events: heard and seen over the same seconds.
                "audio_events": events,
                "visual_events": events,
                "boxes": "{}",
            }
        )
    return manifest_rows


def _repeated_ids(rows: list[Row]) -> list[str]:
    counts = Counter(r.video_id for r in rows)
    return [video_id for video_id, n in counts.items() if n > 1]


def _note_duplicate_rows(rows: list[Row], check) -> None:
    seen = set()
    for row in rows:
        if row.key in seen:
            check.add(_row_item(row))
        seen.add(row.key)


def _row_item(row: Row, splits=None) -> dict:
    item = {
        "file": row.file,
        "line": row.line,
        "video_id": row.video_id,
        "label": row.category,
        "start": row.start,
        "end": row.end,
    }
    if splits is not None:
        item["splits"] = by_rank(splits)
    return item
