"""The audit policies on small hand-made files, for the cases the real files do not contain."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from avexplain.data.manifest import build_manifest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    return copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))


def write(path: Path, lines: list[str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)


def test_ave_policies(tmp_path, config):
    ds = config["datasets"]["ave"]
    ds["annotations"] = write(
        tmp_path / "ann.txt",
        [
            "Dog&v1&good&0&10",
            "Cat&v2&good&2&5",
            "Cat&v2&good&2&5",
            "Dog&v3&good&0&10",
            "Cat&v4&good&3&12",
        ],
    )
    ds["splits"] = {
        "train": write(
            tmp_path / "tr.txt", ["Dog&v1&good&0&10", "Cat&v2&good&2&5", "Cat&v4&good&3&12"]
        ),
        "val": write(tmp_path / "va.txt", ["Cat&v2&good&2&5", "Bird&v9&good&0&10"]),
        "test": write(tmp_path / "te.txt", ["Cat&v1&good&0&9"]),
    }
    frame, classes, audit = build_manifest(config, "ave", ROOT)
    checks = {k: v["count"] for k, v in audit["checks"].items()}
    assert classes == ["Dog", "Cat"]
    assert list(frame.video_id) == ["v1", "v2", "v4"]  # v3 is in no split file
    assert list(frame.split) == ["train", "val", "train"]  # v2: train and val -> val
    assert checks == {
        "duplicate_video_id": 1,  # v2
        "duplicate_row": 1,  # the repeated v2 line in ann.txt
        "split_leak": 1,  # v2
        "split_row_not_in_annotations": 2,  # Bird&v9, Cat&v1&..&9
        "annotation_row_without_split": 1,  # v3
        "unknown_label": 1,  # Bird
        "empty_event": 0,
        "event_out_of_range": 1,  # v4 ends at 12
        "empty_split": 1,  # test: its only row is not in the annotations
    }
    assert json.loads(frame.audio_events[1]) == [["Cat", 2, 5]]
    assert frame.audio_events[2] == "[]" and frame.labels[2] == "Cat"


LLP_HEADER = "filename\tevent_labels"
EVENT_HEADER = "filename\tonset\toffset\tevent_labels"


def test_llp_policies(tmp_path, config):
    ds = config["datasets"]["llp"]
    ds["labels"] = write(
        tmp_path / "full.tsv",
        [
            LLP_HEADER,
            "a_b-c_d_0_10\tDog",
            "a_b-c_d_20.5_30.5\tCat,Dog",
            "x_1_11\tSpeech,Kazoo",
            "y_0_10\tCar",
            "z_0_10\tKazoo",
            "y_0_10\tCat",
        ],
    )
    ds["splits"] = {
        "train": write(
            tmp_path / "tr.tsv",
            [LLP_HEADER, "a_b-c_d_0_10\tDog", "x_1_11\tSpeech", "z_0_10\tKazoo"],
        ),
        "val": write(tmp_path / "va.tsv", [LLP_HEADER, "x_1_11\tSpeech,Kazoo", "q_0_10\tCar"]),
        "test": write(tmp_path / "te.tsv", [LLP_HEADER, "a_b-c_d_20.5_30.5\tCat,Dog"]),
    }
    ds["eval_audio"] = write(
        tmp_path / "ea.tsv",
        [
            EVENT_HEADER,
            "a_b-c_d_20.5_30.5\t0\t4\tDog",
            "a_b-c_d_20.5_30.5\t0\t4\tDog",
            "a_b-c_d_20.5_30.5\t5\t5\tCat",
            "a_b-c_d_20.5_30.5\t1\t3\tSpeech",
            "a_b-c_d_0_10\t0\t10\tDog",
            "x_1_11\t2\t12\tSpeech",
            "nope_0_10\t0\t1\tDog",
        ],
    )
    ds["eval_visual"] = write(tmp_path / "ev.tsv", [EVENT_HEADER, "x_1_11\t0\t3\tKazoo"])
    frame, classes, audit = build_manifest(config, "llp", ROOT)
    checks = {k: v["count"] for k, v in audit["checks"].items()}
    # a_b-c_d_0_10 (train) shares its YouTube id with a test clip: dropped as a source leak
    assert list(frame.video_id) == ["a_b-c_d_20.5_30.5", "x_1_11"]
    assert list(frame.split) == ["test", "val"]
    assert list(frame.source) == ["a_b-c_d", "x"]
    assert frame.start.tolist() == [20.5, 1.0]
    assert frame.labels.tolist() == ["Dog;Cat", "Speech"]
    assert checks == {
        "duplicate_video_id": 1,  # y_0_10 twice
        "duplicate_row": 1,  # the repeated Dog event
        "split_leak": 1,  # x_1_11 in train and val
        "source_leak": 2,  # both clips of a_b-c_d
        "duplicate_source": 0,
        "split_row_not_in_annotations": 1,  # q_0_10
        "split_label_mismatch": 1,  # x_1_11 in train says Speech only
        "annotation_row_without_split": 1,  # y_0_10
        "unknown_label": 3,  # Kazoo on x and z, Kazoo event
        "eval_row_unmatched": 2,  # nope_0_10, and a_b-c_d_0_10 dropped as a leak
        "empty_event": 1,
        "event_out_of_range": 1,  # x: offset 12
        "eval_label_not_in_clip_labels": 2,  # Speech on a_b-c_d, Kazoo on x
        "eval_row_train_clip": 0,
        "empty_split": 1,  # train: its rows leak or are unknown
    }
    assert json.loads(frame.audio_events[0]) == [["Dog", 0, 4], ["Speech", 1, 3]]
    assert frame.visual_events[1] == "[]"
