"""Custom datasets: a labels CSV and a folder of videos."""

import copy
from collections import Counter
from pathlib import Path

import pytest
import yaml

from avexplain.data.datasets.custom import assign_splits
from avexplain.data.manifest import build_manifest, count_videos, input_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config(tmp_path):
    config = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    config["datasets"]["custom"].update(video_dir="videos", labels_csv="labels.csv")
    (tmp_path / "videos").mkdir()
    return config


def write(tmp_path, text):
    (tmp_path / "labels.csv").write_text(text)


def test_with_split_column(tmp_path, config):
    write(tmp_path, "video_id,labels,split\nb,dog;cat,val\na,cat;dog,train\nc,bird,test\n")
    for name in ("a.mp4", "b.MKV", "stray.mp4", "notes.txt"):
        (tmp_path / "videos" / name).write_text(name)  # distinct: identical files are audited
    frame, classes, audit = build_manifest(config, "custom", tmp_path)
    assert classes == ["bird", "cat", "dog"]
    assert list(frame.video_id) == ["b", "a", "c"]
    assert list(frame.split) == ["val", "train", "test"]
    assert list(frame.labels) == ["cat;dog", "cat;dog", "bird"]
    assert list(frame.source) == ["videos/b.MKV", "videos/a.mp4", "videos/c.mp4"]
    assert (frame.end == config["clip"]["segments"]).all() and (frame.start == 0).all()
    checks = audit["checks"]
    assert [i["video_id"] for i in checks["missing_video_file"]["items"]] == ["c"]
    assert [i["file"] for i in checks["unlabelled_video_file"]["items"]] == ["stray.mp4"]
    assert count_videos(config, "custom", tmp_path) == 3
    assert input_files(config, "custom") == ["labels.csv"]


def test_labels_may_contain_commas(tmp_path, config):
    write(tmp_path, 'video_id,labels\nv1,"Violin, fiddle;Cat"\nv2,Cat\nv3,Cat\nv4,Cat\nv5,Cat\n')
    frame, classes, _ = build_manifest(config, "custom", tmp_path)
    assert classes == ["Cat", "Violin, fiddle"]
    assert frame.set_index("video_id").loc["v1", "labels"] == "Cat;Violin, fiddle"


def test_seeded_split_without_column(tmp_path, config):
    ids = [f"v{i:02d}" for i in range(50)]
    write(tmp_path, "video_id,labels\n" + "".join(f"{v},x\n" for v in ids))
    first = build_manifest(config, "custom", tmp_path)[0]
    write(tmp_path, "video_id,labels\n" + "".join(f"{v},x\n" for v in reversed(ids)))
    second = build_manifest(config, "custom", tmp_path)[0]
    split_a = dict(zip(first.video_id, first.split, strict=True))
    assert split_a == dict(zip(second.video_id, second.split, strict=True))  # order-independent
    assert Counter(split_a.values()) == {"train": 30, "val": 10, "test": 10}
    assert split_a == assign_splits(ids, config["seed"])
    assert assign_splits(ids, 1) != assign_splits(ids, 0)  # the seed matters
    assert list(split_a.values())[:10] != ["train"] * 10  # shuffled, not cut in id order


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "video_id,split\na,train\n",
            r"labels\.csv:1: missing column\(s\) labels; expected columns",
        ),
        ("video_id,labels,splits\na,x,val\n", r"labels\.csv:1: unknown column\(s\) splits"),
        ("video_id,labels\na,x\nb, ; \n", r"labels\.csv:3: empty labels for 'b'"),
        (
            "video_id,labels\na,x\nb,y\na,z\n",
            r"labels\.csv:4: duplicate video_id 'a' \(first on line 2\)",
        ),
        (
            "video_id,labels,split\na,x,train\nb,y,validation\n",
            r"labels\.csv:3: unknown split 'validation'; expected one of train, val, test",
        ),
        ("video_id,labels\na,x,extra\n", r"labels\.csv:2: expected 2 fields"),
        ("", r"labels\.csv:1: the file is empty"),
    ],
)
def test_bad_csv_names_file_line_and_expectation(tmp_path, config, text, message):
    write(tmp_path, text)
    with pytest.raises(ValueError, match=message):
        build_manifest(config, "custom", tmp_path)
