"""AVE manifest and audit against counts computed here, independently, from the raw files."""

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from avexplain.data.manifest import build_manifest

ROOT = Path(__file__).resolve().parents[1]
AVE = ROOT / "resources" / "datasets" / "ave"
SPLIT_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}
RANK = {"train": 0, "val": 1, "test": 2}


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture(scope="module")
def built(config):
    return build_manifest(config, "ave", ROOT)


@pytest.fixture(scope="module")
def raw():
    ann = [line.rstrip("\n").split("&") for line in open(AVE / "Annotations.txt")]
    splits = {s: [line.rstrip("\n") for line in open(AVE / f)] for s, f in SPLIT_FILES.items()}
    return ann, splits


def test_headline_counts(raw, built):
    ann, splits = raw
    frame, classes, audit = built
    assert len(ann) == 4143
    assert {s: len(v) for s, v in splits.items()} == {"train": 3339, "val": 402, "test": 402}
    assert audit["counts"]["annotation_rows"] == 4143
    assert audit["counts"]["split_file_rows"] == {"train": 3339, "val": 402, "test": 402}
    assert len(classes) == 28
    assert len(frame) == len({a[1] for a in ann}) == 4097


def test_class_order_is_first_appearance(raw, built):
    ann, _ = raw
    seen = []
    for a in ann:
        if a[0] not in seen:
            seen.append(a[0])
    assert built[1] == seen
    assert built[1][:3] == ["Church bell", "Male speech, man speaking", "Bark"]


def test_duplicates_and_leaks_match_independent_count(raw, built):
    ann, splits = raw
    frame, _, audit = built
    ids = Counter(a[1] for a in ann)
    dups = {k for k, n in ids.items() if n > 1}
    checks = audit["checks"]
    assert checks["duplicate_video_id"]["count"] == len(dups) == 45
    assert {i["video_id"] for i in checks["duplicate_video_id"]["items"]} == dups
    for name, file in [("Annotations.txt", None), *SPLIT_FILES.items()]:
        rows = [a.split("&")[1] for a in splits[name]] if file else [a[1] for a in ann]
        repeated = sum(1 for n in Counter(rows).values() if n > 1)
        key = f"resources/datasets/ave/{file or name}"
        assert checks["duplicate_video_id"]["by_file"][key] == repeated

    split_of_line = defaultdict(set)
    for split, lines in splits.items():
        for line in lines:
            split_of_line[line].add(split)
    video_splits = defaultdict(set)
    for a in ann:
        video_splits[a[1]] |= split_of_line["&".join(a)]
    leaks = {v for v, s in video_splits.items() if len(s) > 1}
    assert checks["split_leak"]["count"] == len(leaks) == 18
    assert {i["video_id"] for i in checks["split_leak"]["items"]} == leaks
    expected = {v: max(s, key=RANK.get) for v, s in video_splits.items()}
    assert dict(zip(frame.video_id, frame.split, strict=True)) == expected
    assert Counter(expected.values()) == {"train": 3294, "val": 401, "test": 402}
    assert audit["counts"]["videos_per_split"] == {"train": 3294, "val": 401, "test": 402}
    # nothing evaluated on is trained on
    assert not set(frame.video_id[frame.split == "train"]) & set(
        frame.video_id[frame.split != "train"]
    )
    for name in ("split_row_not_in_annotations", "annotation_row_without_split", "duplicate_row"):
        assert checks[name]["count"] == 0
    assert sum(len(v) for v in splits.values()) == len(split_of_line)  # no line in two files


def test_labels_and_events(raw, built):
    ann, _ = raw
    frame, classes, audit = built
    labels = defaultdict(set)
    events = defaultdict(set)
    for cat, vid, _, start, end in ann:
        labels[vid].add(cat)
        if int(start) < int(end):
            events[vid].add((cat, int(start), int(end)))
    empty = [a for a in ann if int(a[3]) >= int(a[4])]
    assert audit["checks"]["empty_event"]["count"] == len(empty) == 1
    assert audit["checks"]["empty_event"]["items"][0]["video_id"] == empty[0][1]
    for row in frame.itertuples():
        names = row.labels.split(";")
        assert set(names) == labels[row.video_id]
        assert names == sorted(names, key=classes.index)
        assert row.audio_events == row.visual_events
        assert {tuple(e) for e in json.loads(row.audio_events)} == events[row.video_id]
        assert row.source == f"AVE_Dataset/AVE/{row.video_id}.mp4"
        assert (row.start, row.end) == (0.0, 10.0)
    # the video with the empty event keeps its label and has no event
    vid = empty[0][1]
    row = frame.set_index("video_id").loc[vid]
    assert row.labels == empty[0][0] and row.audio_events == "[]"


def test_paper_comparison_is_honest(built):
    cmp = built[2]["paper_comparison"]
    assert cmp["paper"] == [4143, 3339, 402, 402]
    assert cmp["ours"] == [4097, 3294, 401, 402]
    assert cmp["agrees"] is False
    assert any("annotation rows" in note for note in built[2]["notes"])
