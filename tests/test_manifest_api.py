"""The public manifest API the Snakefile uses, the written files, checksums, synth delegation."""

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from avexplain.data import manifest
from avexplain.data.datasets import synth
from avexplain.data.datasets.common import COLUMNS
from avexplain.testing.workflow import copy_workflow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    return copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))


def outputs(folder: Path) -> dict:
    names = {"manifest": "manifest.csv", "classes": "classes.txt"}
    names |= {"audit_md": "audit.md", "audit_json": "audit.json"}
    return {k: str(folder / v) for k, v in names.items()}


def test_input_files(config):
    ave = manifest.input_files(config, "ave")
    llp = manifest.input_files(config, "llp")
    assert ave[0] == "resources/datasets/ave/Annotations.txt" and len(ave) == 7  # + the cml split
    assert len(llp) == 6 and "resources/datasets/llp/AVVP_eval_visual.csv" in llp
    assert manifest.input_files(config, "avr") == [*ave, *llp, "resources/avr_class_map.yaml"]
    assert manifest.input_files(config, "synth") == []
    assert all((ROOT / p).exists() for p in manifest.input_files(config, "avr"))


def test_count_videos(config, monkeypatch):
    assert manifest.count_videos(config, "ave", ROOT) == 4097
    assert manifest.count_videos(config, "llp", ROOT) == 11849
    avr = manifest.build_manifest(config, "avr", ROOT)[0]
    assert manifest.count_videos(config, "avr", ROOT) == len(avr)
    monkeypatch.setitem(
        sys.modules, "avexplain.data.datasets.synth", None
    )  # importing it would fail
    assert manifest.count_videos(config, "synth", ROOT) == config["datasets"]["synth"]["num_videos"]
    with pytest.raises(KeyError, match="datasets.nope"):
        manifest.count_videos(config, "nope", ROOT)


def test_run_writes_deterministic_outputs(config, tmp_path):
    manifest.run(config, "ave", outputs(tmp_path / "a"), ROOT)
    manifest._CACHE.clear()
    manifest.run(config, "ave", outputs(tmp_path / "b"), ROOT)
    for name in ("manifest.csv", "classes.txt", "audit.md", "audit.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    frame, classes, audit = manifest.build_manifest(config, "ave", ROOT)
    back = manifest.read_manifest(tmp_path / "a" / "manifest.csv")
    assert list(back.columns) == COLUMNS
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert manifest.read_classes(tmp_path / "a" / "classes.txt") == classes
    assert json.loads((tmp_path / "a" / "audit.json").read_text()) == audit
    md = (tmp_path / "a" / "audit.md").read_text()
    assert "| split_leak | 18 |" in md and "| ours | 4097 | 3294 | 401 | 402 |" in md


def test_checksum_mismatch_names_the_file(config, tmp_path):
    shutil.copytree(ROOT / "resources" / "datasets", tmp_path / "resources" / "datasets")
    edited = tmp_path / "resources" / "datasets" / "ave" / "valSet.txt"
    edited.write_text(edited.read_text().replace("Church bell", "Church bells", 1))
    with pytest.raises(ValueError, match=r"resources/datasets/ave/valSet\.txt: sha256 \w+ differs"):
        manifest.build_manifest(config, "ave", tmp_path)


def test_unlisted_file_is_recorded_as_unverified(config, tmp_path):
    shutil.copytree(ROOT / "resources" / "datasets" / "ave", tmp_path / "mine")
    config["datasets"]["ave"]["annotations"] = str(tmp_path / "mine" / "Annotations.txt")
    audit = manifest.build_manifest(config, "ave", ROOT)[2]
    assert audit["inputs"][config["datasets"]["ave"]["annotations"]]["verified"] == "not listed"
    assert audit["inputs"]["resources/datasets/ave/valSet.txt"]["verified"] == "ok"


def test_malformed_line_names_file_and_line(config, tmp_path):
    shutil.copytree(ROOT / "resources" / "datasets" / "ave", tmp_path / "mine")
    path = tmp_path / "mine" / "Annotations.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = "Church bell&abc&good&zero&10\n"
    path.write_text("".join(lines))
    config["datasets"]["ave"]["annotations"] = str(path)
    with pytest.raises(ValueError, match=r"Annotations\.txt:3: expected 'Category&VideoID"):
        manifest.build_manifest(config, "ave", ROOT)


def fake_synth(n):
    rows = [
        {
            "video_id": f"synth-{i:05d}",
            "split": ["train", "val", "test"][i % 3],
            "labels": "beep",
            "source": "generated",
            "start": 0,
            "end": 10,
            "audio_events": '[["beep", 1, 3]]',
            "visual_events": '[["beep", 1, 3]]',
            "boxes": '{"1": [0.1, 0.1, 0.5, 0.5]}',
        }
        for i in range(n)
    ]
    return lambda config: (pd.DataFrame(rows), ["beep", "hum"])


def test_synth_is_an_ordinary_builder(config, monkeypatch):
    n = config["datasets"]["synth"]["num_videos"]
    monkeypatch.setattr(synth, "build_manifest", fake_synth(n))
    frame, classes, audit = manifest.build_manifest(config, "synth", ROOT)
    assert len(frame) == n and classes == ["beep", "hum"] and list(frame.columns) == COLUMNS
    assert audit["counts"]["videos"] == n
    assert manifest.input_files(config, "synth") == []


def test_validate_rejects_contract_breaks():
    good = pd.DataFrame([["a", "train", "x", "s", 0.0, 10.0, "[]", "[]", "{}"]], columns=COLUMNS)
    manifest.validate_manifest(good, ["x"], "t")
    for column, value, message in [
        ("labels", "y", "not in the class list"),
        ("split", "dev", "split values"),
        ("audio_events", '[["x", 3, 3]]', "bad audio_events"),
    ]:
        bad = good.assign(**{column: value})
        with pytest.raises(ValueError, match=message):
            manifest.validate_manifest(bad, ["x"], "t")
    with pytest.raises(ValueError, match="not in class order"):
        manifest.validate_manifest(good.assign(labels="y;x"), ["x", "y"], "t")


@pytest.mark.slow
def test_snakemake_builds_the_real_manifests(tmp_path):
    copy_workflow(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    targets = ["data/ave/manifest.csv", "data/llp/manifest.csv", "data/avr/manifest.csv"]
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *targets],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for dataset in ("ave", "llp", "avr"):
        folder = tmp_path / "data" / dataset
        frame = manifest.build_manifest(config, dataset, ROOT)[0]
        pd.testing.assert_frame_equal(
            manifest.read_manifest(folder / "manifest.csv"), frame, check_dtype=False
        )
        assert json.loads((folder / "audit.json").read_text())["dataset"] == dataset
        assert (tmp_path / "logs" / "manifest" / f"{dataset}.log").exists()
