"""LLP (AVVP): the full label list, three split files and the val/test event files -> manifest.

A clip's id is its file name `<YouTubeID>_<start>_<end>`; the YouTube id may itself contain `_`
and a start may be fractional, so the name is parsed from the right. Video-level labels come from
AVVP_dataset_full.csv; per-second audio and visual events exist for val and test clips only.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from avexplain.data.audit import Audit, paper_comparison
from avexplain.data.datasets.common import (
    HELD_OUT_RANK,
    LABEL_SEPARATOR,
    by_rank,
    events_json,
    most_held_out,
    read_tsv,
    resolve,
    sort_events,
    to_frame,
    verify_inputs,
)
from avexplain.names import SPLITS

# Class order of the reference implementation (AVVP-ECCV20, `categories` in its data loader),
# so class index k here is class k in the published LLP code and checkpoints.
CLASSES = [
    "Speech",
    "Car",
    "Cheering",
    "Dog",
    "Cat",
    "Frying_(food)",
    "Basketball_bounce",
    "Fire_alarm",
    "Chainsaw",
    "Cello",
    "Banjo",
    "Singing",
    "Chicken_rooster",
    "Violin_fiddle",
    "Vacuum_cleaner",
    "Baby_laughter",
    "Accordion",
    "Lawn_mower",
    "Motorcycle",
    "Helicopter",
    "Acoustic_guitar",
    "Telephone_bell_ringing",
    "Baby_cry_infant_cry",
    "Blender",
    "Clapping",
]
CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}
CLIP_SECONDS = 10
FILENAME = re.compile(r"^(?P<youtube_id>.+)_(?P<start>\d+(?:\.\d+)?)_(?P<end>\d+(?:\.\d+)?)$")
LABEL_COLUMNS = ["filename", "event_labels"]
EVENT_COLUMNS = ["filename", "onset", "offset", "event_labels"]


def parse_filename(name: str, where: str = "") -> tuple[str, str, str]:
    """`<YouTubeID>_<start>_<end>` -> (YouTube id, start, end) as written; parsed from the right."""
    match = FILENAME.match(name)
    if not match:
        raise ValueError(
            f"{where}: expected a clip name '<YouTubeID>_<start>_<end>' (seconds), got {name!r}"
        )
    return match.group("youtube_id"), match.group("start"), match.group("end")


def input_files(ds: dict) -> list[str]:
    return [ds["labels"], *(ds["splits"][s] for s in SPLITS), ds["eval_audio"], ds["eval_visual"]]


def _checks(audit: Audit) -> dict:
    spec = {
        "duplicate_video_id": (
            "clip names listed more than once in AVVP_dataset_full.csv",
            "first row kept",
        ),
        "duplicate_row": (
            "rows repeated verbatim within one split or event file (each extra copy counted)",
            "extra copies ignored",
        ),
        "split_leak": (
            "clips listed in more than one split file",
            "kept once, in the most held-out of its splits (test > val > train)",
        ),
        "source_leak": (
            "clips whose YouTube id also has another clip in a different split",
            "clips of that YouTube id outside its most held-out split are dropped",
        ),
        "duplicate_source": (
            "clips whose YouTube id has more than one clip in the same split",
            "kept (different windows of one video)",
        ),
        "split_row_not_in_annotations": (
            "split-file rows whose clip is not in AVVP_dataset_full.csv",
            "dropped",
        ),
        "split_label_mismatch": (
            "split-file rows whose labels differ from AVVP_dataset_full.csv",
            "labels of AVVP_dataset_full.csv used",
        ),
        "annotation_row_without_split": (
            "clips of AVVP_dataset_full.csv listed in no split file",
            "dropped",
        ),
        "unknown_label": (
            "labels (one item per row and label) not among the 25 LLP classes",
            "label dropped (a clip left with no label is dropped; an event row is dropped)",
        ),
        "eval_row_unmatched": (
            "event-file rows whose file name matches no clip of the manifest; `candidate` is a "
            "clip of the same YouTube id where one exists",
            "dropped, like the reference evaluation, which looks events up by clip name",
        ),
        "empty_event": (
            "event-file rows with onset >= offset (counted on all rows, matched or not)",
            "dropped (they cover no second)",
        ),
        "event_out_of_range": (
            f"event-file rows reaching outside [0, {CLIP_SECONDS}] s",
            "dropped",
        ),
        "eval_label_not_in_clip_labels": (
            "event-file rows (of matched clips) whose label is not among the clip's video-level "
            "labels",
            "kept: the event files are the published evaluation ground truth",
        ),
        "eval_row_train_clip": (
            "event-file rows of a training clip",
            "kept (the training loader ignores events)",
        ),
    }
    return {name: audit.check(name, desc, policy) for name, (desc, policy) in spec.items()}


def build(config: dict, name: str, root: Path):
    """The LLP manifest in phases: the labels file, the split files, the clips kept, the
    evaluation events, then the rows and the audit's counts."""
    ds = config["datasets"][name]
    audit = Audit(name)
    verify_inputs(root, input_files(ds), audit)
    checks = _checks(audit)
    clips, full_rows = _read_labels(root, ds["labels"], checks)
    split_counts = _assign_splits(root, ds["splits"], clips, checks)
    kept = _keep(clips, checks)
    _source_checks(kept, checks)
    events, eval_rows = _read_events(root, ds, kept, checks)
    for check in ("duplicate_row", "unknown_label", "empty_event", "eval_row_unmatched"):
        files = Counter(item["file"] for item in checks[check].items)
        checks[check].by_file = dict(sorted(files.items()))
    frame = to_frame([_manifest_row(clip, info, events) for clip, info in kept.items()])
    _count(audit, frame, events, len(full_rows), split_counts, eval_rows)
    _compare_with_paper(audit, root, name, frame, len(full_rows), split_counts)
    return frame, list(CLASSES), audit


def _labels_of(text: str, file: str, line: int, checks: dict) -> list[str]:
    """The known labels of a comma-joined label cell, in class order; unknown ones are items
    of the unknown_label check."""
    labels = []
    for label in (x.strip() for x in text.split(",")):
        if label in CLASS_INDEX:
            labels.append(label)
        elif label:
            checks["unknown_label"].add({"file": file, "line": line, "label": label})
    return sorted(set(labels), key=CLASS_INDEX.__getitem__)


def _read_labels(root: Path, labels_file: str, checks: dict):
    """{clip: info} in the order of the full labels file (first row of a clip wins), and the
    file's rows."""
    clips: dict[str, dict] = {}
    full_rows = read_tsv(resolve(root, labels_file), labels_file, LABEL_COLUMNS)
    for line, row in full_rows:
        clip = row["filename"]
        youtube_id, start, end = parse_filename(clip, f"{labels_file}:{line}")
        if clip in clips:
            checks["duplicate_video_id"].add(
                {
                    "video_id": clip,
                    "file": labels_file,
                    "line": line,
                    "first_line": clips[clip]["line"],
                }
            )
            continue
        clips[clip] = {
            "line": line,
            "youtube_id": youtube_id,
            "start": start,
            "end": end,
            "labels": _labels_of(row["event_labels"], labels_file, line, checks),
            "labels_text": row["event_labels"],
            "splits": set(),
        }
    return clips, full_rows


def _assign_splits(root: Path, split_files: dict, clips: dict, checks: dict) -> dict:
    """Record in each clip the splits whose file lists it; the rows per split file."""
    split_counts = {}
    for split in SPLITS:
        split_file = split_files[split]
        rows = read_tsv(resolve(root, split_file), split_file, LABEL_COLUMNS)
        split_counts[split] = len(rows)
        seen = set()
        for line, row in rows:
            clip = row["filename"]
            if (clip, row["event_labels"]) in seen:
                checks["duplicate_row"].add({"file": split_file, "line": line, "video_id": clip})
            seen.add((clip, row["event_labels"]))
            if clip not in clips:
                checks["split_row_not_in_annotations"].add(
                    {"file": split_file, "line": line, "video_id": clip}
                )
                continue
            if sorted(row["event_labels"].split(",")) != sorted(
                clips[clip]["labels_text"].split(",")
            ):
                checks["split_label_mismatch"].add(
                    {
                        "file": split_file,
                        "line": line,
                        "video_id": clip,
                        "split_labels": row["event_labels"],
                        "full_labels": clips[clip]["labels_text"],
                    }
                )
            clips[clip]["splits"].add(split)
    return split_counts


def _keep(clips: dict, checks: dict) -> dict[str, dict]:
    """Clips with a split and a known label, each in its most held-out split."""
    kept: dict[str, dict] = {}
    for clip, info in clips.items():
        if not info["splits"]:
            checks["annotation_row_without_split"].add({"video_id": clip, "line": info["line"]})
            continue
        if not info["labels"]:
            continue  # only unknown labels: already itemised under unknown_label
        if len(info["splits"]) > 1:
            checks["split_leak"].add(
                {
                    "video_id": clip,
                    "splits": by_rank(info["splits"]),
                    "kept_in": most_held_out(info["splits"]),
                }
            )
        info["split"] = most_held_out(info["splits"])
        kept[clip] = info
    return kept


def _read_events(root: Path, ds: dict, kept: dict, checks: dict):
    """{modality: {clip: [(label, onset, offset)]}} of the evaluation files, and their rows."""
    events = {"audio": defaultdict(list), "visual": defaultdict(list)}
    eval_rows = {}
    by_youtube = {info["youtube_id"]: clip for clip, info in kept.items()}
    for modality in ("audio", "visual"):
        event_file = ds[f"eval_{modality}"]
        rows = read_tsv(resolve(root, event_file), event_file, EVENT_COLUMNS)
        eval_rows[event_file] = len(rows)
        seen = set()
        for line, row in rows:
            clip, label = row["filename"], row["event_labels"]
            where = f"{event_file}:{line}"
            try:
                onset, offset = float(row["onset"]), float(row["offset"])
            except ValueError:
                raise ValueError(
                    f"{where}: expected numeric onset and offset (seconds), got {row!r}"
                ) from None
            item = {"file": event_file, "line": line, "video_id": clip, "label": label}
            item |= {"onset": row["onset"], "offset": row["offset"]}
            drop = False
            if clip not in kept:
                match = FILENAME.match(clip)
                candidate = by_youtube.get(match.group("youtube_id")) if match else None
                checks["eval_row_unmatched"].add(item | {"candidate": candidate})
                drop = True
            if label not in CLASS_INDEX:
                checks["unknown_label"].add({"file": event_file, "line": line, "label": label})
                drop = True
            if onset >= offset:
                checks["empty_event"].add(item)
                drop = True
            elif onset < 0 or offset > CLIP_SECONDS:
                checks["event_out_of_range"].add(item)
                drop = True
            key = (clip, row["onset"], row["offset"], label)
            if key in seen:
                checks["duplicate_row"].add(item)
                drop = True
            seen.add(key)
            if clip in kept:
                if label not in kept[clip]["labels"]:
                    checks["eval_label_not_in_clip_labels"].add(
                        item | {"clip_labels": LABEL_SEPARATOR.join(kept[clip]["labels"])}
                    )
                if kept[clip]["split"] == "train":
                    checks["eval_row_train_clip"].add(item)
            if not drop:
                events[modality][clip].append((label, onset, offset))
    return events, eval_rows


def _manifest_row(clip: str, info: dict, events: dict) -> dict:
    return {
        "video_id": clip,
        "split": info["split"],
        "labels": LABEL_SEPARATOR.join(info["labels"]),
        "source": info["youtube_id"],
        "start": float(info["start"]),
        "end": float(info["end"]),
        "audio_events": events_json(sort_events(events["audio"][clip], CLASS_INDEX)),
        "visual_events": events_json(sort_events(events["visual"][clip], CLASS_INDEX)),
        "boxes": "{}",
    }


def _count(audit, frame, events, label_rows: int, split_counts: dict, eval_rows: dict) -> None:
    evaluated = frame["split"].isin(["val", "test"])
    audit.counts = {
        "label_rows": label_rows,
        "split_file_rows": split_counts,
        "event_file_rows": eval_rows,
        "classes": len(CLASSES),
        "videos": len(frame),
        "videos_per_split": {s: int((frame["split"] == s).sum()) for s in SPLITS},
        "events_kept": {m: int(sum(len(set(v)) for v in events[m].values())) for m in events},
        "val_test_clips_without_audio_events": int(
            (evaluated & (frame.audio_events == "[]")).sum()
        ),
        "val_test_clips_without_visual_events": int(
            (evaluated & (frame.visual_events == "[]")).sum()
        ),
    }


def _compare_with_paper(audit, root, name, frame, label_rows: int, split_counts: dict) -> None:
    """The paper's Table D beside our counts; where they differ by a header line, say so."""
    per_split = audit.counts["videos_per_split"]
    audit.paper = paper_comparison(root, name, [len(frame), *per_split.values()], "videos")
    if not audit.paper:
        return
    lines = [label_rows + 1, *(split_counts[s] + 1 for s in SPLITS)]
    off = [
        f"{column} {paper} = {ours} rows + 1"
        for column, paper, ours, n_lines in zip(
            audit.paper["columns"], audit.paper["paper"], audit.paper["ours"], lines, strict=True
        )
        if paper != ours and paper == n_lines
    ]
    if off:
        audit.notes.append(
            "Where Table D differs from the files, it equals the file's line count including "
            "its header line: " + "; ".join(off) + "."
        )


def _source_checks(kept: dict[str, dict], checks: dict) -> None:
    """Clips cut from the same YouTube video: a leak across splits, a note within one."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for clip, info in kept.items():
        by_source[info["youtube_id"]].append(clip)
    for youtube_id, group in by_source.items():
        if len(group) < 2:
            continue
        splits = {kept[c]["split"] for c in group}
        target = most_held_out(splits)
        for clip in group:
            item = {"video_id": clip, "youtube_id": youtube_id, "split": kept[clip]["split"]}
            if len(splits) > 1:
                checks["source_leak"].add(item | {"kept": kept[clip]["split"] == target})
            else:
                checks["duplicate_source"].add(item)
        if len(splits) > 1:
            for clip in group:
                if HELD_OUT_RANK[kept[clip]["split"]] < HELD_OUT_RANK[target]:
                    del kept[clip]
