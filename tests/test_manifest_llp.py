"""LLP manifest and audit against counts computed here, independently, with pandas."""

import json
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
import yaml

from avexplain.data.datasets.llp import CLASSES, parse_filename
from avexplain.data.manifest import build_manifest

ROOT = Path(__file__).resolve().parents[1]
LLP = ROOT / "resources" / "datasets" / "llp"
SPLIT_FILES = {"train": "AVVP_train.csv", "val": "AVVP_val_pd.csv", "test": "AVVP_test_pd.csv"}


def read(name):
    return pd.read_csv(LLP / name, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def built():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    return build_manifest(config, "llp", ROOT)


@pytest.fixture(scope="module")
def raw():
    full = read("AVVP_dataset_full.csv")
    splits = {s: read(f) for s, f in SPLIT_FILES.items()}
    evals = {m: read(f"AVVP_eval_{m}.csv") for m in ("audio", "visual")}
    return full, splits, evals


def test_headline_counts(raw, built):
    full, splits, evals = raw
    frame, classes, audit = built
    assert len(full) == 11849 and full.filename.is_unique
    assert {s: len(d) for s, d in splits.items()} == {"train": 10000, "val": 649, "test": 1200}
    assert {m: len(d) for m, d in evals.items()} == {"audio": 4131, "visual": 2495}
    assert len(frame) == 11849
    split_of = {f: s for s, d in splits.items() for f in d.filename}
    assert dict(zip(frame.video_id, frame.split, strict=True)) == split_of
    assert list(frame.video_id) == list(full.filename)  # manifest keeps the file's order
    assert classes == CLASSES and len(set(classes)) == 25
    assert set(classes) == {x for labels in full.event_labels for x in labels.split(",")}


def test_no_source_leak_by_youtube_id(raw, built):
    full, splits, _ = raw
    youtube = pd.concat([d.assign(split=s) for s, d in splits.items()])
    youtube["yt"] = youtube.filename.str.rsplit("_", n=2).str[0]
    per_id = youtube.groupby("yt").split.nunique()
    assert built[2]["checks"]["source_leak"]["count"] == int((per_id > 1).sum()) == 0
    assert youtube.yt.nunique() == 11849  # one clip per YouTube id: no same-split repeats either
    assert built[2]["checks"]["duplicate_source"]["count"] == 0


def test_eval_audit_counts(raw, built):
    full, _, evals = raw
    checks = built[2]["checks"]
    a, v = (
        "resources/datasets/llp/AVVP_eval_audio.csv",
        "resources/datasets/llp/AVVP_eval_visual.csv",
    )
    unmatched = {m: int((~d.filename.isin(full.filename)).sum()) for m, d in evals.items()}
    assert unmatched == {"audio": 14, "visual": 11}
    assert checks["eval_row_unmatched"]["by_file"] == {a: 14, v: 11}
    empty = {
        m: int((d.onset.astype(float) >= d.offset.astype(float)).sum()) for m, d in evals.items()
    }
    assert empty == {"audio": 6, "visual": 0}
    assert checks["empty_event"]["count"] == 6 and checks["empty_event"]["by_file"] == {a: 6}
    dups = {m: int(d.duplicated().sum()) for m, d in evals.items()}
    assert dups == {"audio": 8, "visual": 0}
    assert checks["duplicate_row"]["by_file"] == {a: 8}
    labels = dict(zip(full.filename, full.event_labels.str.split(","), strict=True))
    outside = sum(
        int(
            sum(
                lb not in labels[f]
                for f, lb in zip(d.filename, d.event_labels, strict=True)
                if f in labels
            )
        )
        for d in evals.values()
    )
    assert checks["eval_label_not_in_clip_labels"]["count"] == outside == 127
    # the one unmatched name whose YouTube id has a clip is reported with it, not repaired
    candidates = {i["video_id"]: i["candidate"] for i in checks["eval_row_unmatched"]["items"]}
    assert candidates["19jWnmYnlD8_30_400"] == "19jWnmYnlD8_30_40"
    assert sum(c is not None for c in candidates.values()) == 1


def test_events_equal_the_cleaned_event_files(raw, built):
    full, _, evals = raw
    frame = built[0]
    for modality, d in evals.items():
        on, off = d.onset.astype(float), d.offset.astype(float)
        keep = d[d.filename.isin(full.filename) & (on < off)].drop_duplicates()
        expected = defaultdict(set)
        for f, o, e, lb in keep.itertuples(index=False):
            expected[f].add((lb, float(o), float(e)))
        got = {
            vid: {(lb, float(o), float(e)) for lb, o, e in json.loads(cell)}
            for vid, cell in zip(frame.video_id, frame[f"{modality}_events"], strict=True)
        }
        assert {k: v for k, v in got.items() if v} == dict(expected)
        assert sum(len(v) for v in expected.values()) == built[2]["counts"]["events_kept"][modality]
    assert (frame.loc[frame.split == "train", "audio_events"] == "[]").all()


def test_windows_and_labels(raw, built):
    full = raw[0]
    frame = built[0].set_index("video_id")
    row = frame.loc["AP0061o0Nvk_101.8_111.8"]
    assert (row.source, row.start, row.end) == ("AP0061o0Nvk", 101.8, 111.8)
    assert ((frame.end - frame.start).round(6) == 10).all()
    for f, labels in zip(full.filename[:500], full.event_labels[:500], strict=True):
        assert frame.loc[f, "labels"] == ";".join(sorted(labels.split(","), key=CLASSES.index))


def test_parse_filename_from_the_right():
    assert parse_filename("a_b-c_12_5.5_15.5") == ("a_b-c_12", "5.5", "15.5")
    assert parse_filename("-_x-Y_9abcd_0_10") == ("-_x-Y_9abcd", "0", "10")
    with pytest.raises(ValueError, match=r"f\.csv:3: expected a clip name"):
        parse_filename("noseconds", "f.csv:3")


def test_paper_comparison(built):
    cmp = built[2]["paper_comparison"]
    assert cmp["paper"] == [11850, 10000, 650, 1200] and cmp["ours"] == [11849, 10000, 649, 1200]
    assert not cmp["agrees"]
    assert "val 650 = 649 rows + 1" in built[2]["notes"][0]
