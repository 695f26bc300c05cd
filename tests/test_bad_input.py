"""Issue 16, bad input: every failure names its cause and its fix, and nothing is lost.

One test per defect (each failed before the fix): an empty split, missing.csv and decode
failures, offline weights and a weight file of another backbone, the printed recovery command,
damaged and deleted store chunks, a BOM in a labels CSV, `.3gp` files, explain model names,
chunk sizes of unused backbones, identical videos across splits, nested --config strings.
The Snakemake-level checks (recovery command, run lock, missing.csv surviving) are in
test_bad_input_workflow.py; the fuzz test of bad video files in test_fuzz_videos.py."""

from __future__ import annotations

import copy
import json
import shlex
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from avexplain import rerun
from avexplain.config import ConfigError, validate
from avexplain.data.datasets import ave
from avexplain.data.download import fetch
from avexplain.data.download.local import index_folder
from avexplain.data.manifest import EmptySplitError, build_manifest, count_videos, run
from avexplain.features import backbones, store, weights
from avexplain.features.settings import check_settings
from avexplain.testing.clips import settings
from avexplain.testing.stores import write_random_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    return copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))


@pytest.fixture
def custom(tmp_path, config):
    config["datasets"]["custom"].update(video_dir="videos", labels_csv="labels.csv")
    (tmp_path / "videos").mkdir()
    return config


# --- 1. an empty split stops the manifest, naming the dataset, the split and the fix ----------


def test_empty_split_stops_at_manifest_time(tmp_path, custom):
    (tmp_path / "labels.csv").write_text("video_id,labels\na,x\nb,x\nc,y\n")  # 2/1/0
    _, _, audit = build_manifest(custom, "custom", tmp_path)
    assert audit["checks"]["empty_split"]["items"] == [{"split": "test"}]
    with pytest.raises(EmptySplitError) as err:
        count_videos(custom, "custom", tmp_path)  # what the Snakefile asks at parse time
    message = str(err.value)
    assert "dataset 'custom'" in message and "split(s) test" in message
    assert "train 2, val 1, test 0" in message
    assert "`split` column" in message and "datasets.custom.labels_csv" in message
    # five videos give every split one; the audit shows the check with its 0
    (tmp_path / "labels.csv").write_text("video_id,labels\n" + "a,x\nb,x\nc,y\nd,y\ne,x\n")
    frame, _, audit = build_manifest(custom, "custom", tmp_path)
    assert audit["checks"]["empty_split"]["count"] == 0
    assert set(frame.split) == {"train", "val", "test"}


def test_empty_split_of_synth_names_its_keys(tmp_path, config):
    config["datasets"]["synth"].update(num_videos=4, splits=[0.75, 0.25, 0.0])
    outputs = {k: tmp_path / k for k in ("manifest", "classes", "audit_md", "audit_json")}
    with pytest.raises(EmptySplitError, match=r"datasets\.synth\.num_videos"):
        run(config, "synth", outputs, ROOT)  # the manifest rule
    assert not (tmp_path / "manifest").exists()


# --- 2 and 5. missing.csv: download misses and decode failures, kept when the check fails -----


def _status(path: Path, rows) -> Path:
    pd.DataFrame(rows, columns=fetch.STATUS_COLUMNS).to_csv(path, index=False)
    return path


def _report(folder: Path, rows) -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=["video_id", "status", "repairs", "error"]).to_csv(
        folder / "report.csv", index=False
    )
    return folder


def _manifest(path: Path, ids) -> Path:
    from avexplain.data.datasets.common import COLUMNS

    rows = [[v, "train", "x", f"src-{v}", 0.0, 10.0, "[]", "[]", "{}"] for v in ids]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False)
    return path


def test_decode_failures_join_missing_csv_and_the_check_runs_after_decode(tmp_path, config):
    manifest = _manifest(tmp_path / "manifest.csv", ["v0", "v1", "v2", "v3"])
    status = _status(
        tmp_path / "s.csv",
        [
            ["v0", "present", "x/v0.mp4", ""],
            ["v1", "present", "x/v1.mp4", ""],
            ["v2", "present", "x/v2.mp4", ""],
            ["v3", "missing", "", "not in local_dir (x)"],
        ],
    )
    clips = _report(
        tmp_path / "clips",
        [["v0", "ok", "", ""], ["v1", "failed", "", "unreadable video x/v1.mp4: moov atom"]],
    )  # v2: in no report (its decode shard not run)
    out = tmp_path / "missing.csv"
    missing = fetch.collect_missing(config, "custom", manifest, [status], out, clip_dirs=[clips])
    assert missing.values.tolist() == [
        ["v1", "src-v1", "decode", "decode failed: unreadable video x/v1.mp4: moov atom"],
        ["v2", "src-v2", "decode", "no decode report (its shard was not decoded)"],
        ["v3", "src-v3", "download", "not in local_dir (x)"],
    ]
    # 1 of 4 below 0.5: the check names the record, which is still there afterwards
    with pytest.raises(fetch.TooFewVideos) as err:
        fetch.check_present(config, "custom", manifest, out, tmp_path / "present.json")
    message = str(err.value)
    assert "only 1 of 4 videos have a clip" in message and str(out) in message
    assert "decode: decode failed: unreadable video" in message
    assert out.exists() and not (tmp_path / "present.json").exists()
    config["download"]["min_present_fraction"] = 0.25
    summary = fetch.check_present(config, "custom", manifest, out, tmp_path / "present.json")
    assert summary["missing_by_stage"] == {"decode": 2, "download": 1}
    assert json.loads((tmp_path / "present.json").read_text())["present"] == 1


def test_identical_clips_in_two_splits_are_reported_by_the_present_check(tmp_path, config, caplog):
    """AVE/LLP: byte-identical canonical clips in different splits are listed in present.json
    and the log (not dropped: the splits are the papers'); copies within one split are not."""
    manifest = _manifest(tmp_path / "manifest.csv", ["v0", "v1", "v2", "v3", "v4"])
    frame = pd.read_csv(manifest)
    frame["split"] = ["train", "test", "train", "val", "val"]
    frame.to_csv(manifest, index=False)
    out = tmp_path / "missing.csv"
    pd.DataFrame(columns=["video_id", "source", "stage", "reason"]).to_csv(out, index=False)
    shards = [tmp_path / "clips" / "shard-000", tmp_path / "clips" / "shard-001"]
    for d in shards:
        d.mkdir(parents=True)
    contents = {"v0": b"same video", "v1": b"same video", "v2": b"other video", "v3": b"twin"}
    contents["v4"] = b"twin"  # v3 and v4 are copies, but both in val
    for i, (video, data) in enumerate(contents.items()):
        (shards[i % 2] / f"{video}.mp4").write_bytes(data)
    (shards[0] / "x9.mp4").write_bytes(b"same video")  # not in the manifest: ignored
    summary = fetch.check_present(
        config, "ave", manifest, out, tmp_path / "present.json", clip_dirs=shards
    )
    (group,) = summary["duplicates_across_splits"]
    assert group["videos"] == {"v0": "train", "v1": "test"}
    assert json.loads((tmp_path / "present.json").read_text())["duplicates_across_splits"] == [
        group
    ]
    assert "identical clips in different splits" in caplog.text and "v1" in caplog.text


def test_when_every_video_fails_the_error_points_to_the_report(tmp_path, config):
    config["download"]["min_present_fraction"] = 0.0  # even with no threshold at all
    manifest = _manifest(tmp_path / "manifest.csv", ["v0", "v1"])
    status = _status(tmp_path / "s.csv", [["v0", "present", "a", ""], ["v1", "present", "b", ""]])
    clips = _report(tmp_path / "c", [["v0", "failed", "", "empty"], ["v1", "failed", "", "empty"]])
    out = tmp_path / "missing.csv"
    fetch.collect_missing(config, "custom", manifest, [status], out, clip_dirs=[clips])
    with pytest.raises(fetch.TooFewVideos, match=r"no video has a clip(.|\n)*missing\.csv"):
        fetch.check_present(config, "custom", manifest, out)


# --- 3. weights: offline, and a file made for another backbone --------------------------------


def test_prefetch_offline_says_so_once_with_both_ways_on(tmp_path, monkeypatch):
    def offline(url, dst, **kw):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(weights, "download_url_to_file", offline)
    cache = tmp_path / "cache"
    with pytest.raises(weights.WeightsOfflineError) as err:
        weights.prefetch(cache, ["vggish", "mc3_18"])
    message = str(err.value)
    assert "looks offline" in message and f"features.cache_dir = {cache}" in message
    for name in ("vggish-10086976.pth", "vggish_pca_params-970ea276.pth", "mc3_18-a90a0ba3.pth"):
        assert name in message
    assert "features.weights: random" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no urllib chain
    # the files copied in by hand: prefetch checks them and downloads nothing
    for name in ("vggish-10086976.pth", "vggish_pca_params-970ea276.pth"):
        (cache / name).write_bytes(b"weights")
    assert set(weights.prefetch(cache, ["vggish"])) == {
        "vggish-10086976.pth",
        "vggish_pca_params-970ea276.pth",
    }


def test_weight_file_of_another_backbone_names_file_and_keys(tmp_path):
    net = backbones.VGGishSegments(weights.Weights(None, "random:0")).net
    torch.save(net.state_dict(), tmp_path / "vggish.pth")
    w = weights.resolve("mc3_18", str(tmp_path / "vggish.pth"), tmp_path, 0)
    with pytest.raises(weights.WeightsMismatchError) as err:
        backbones.build("mc3_18", w, settings())
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'vggish.pth'}: not a mc3_18 weight file")
    assert "Missing keys" in message and "stem.0.weight" in message
    assert "Unexpected keys" in message and "features.0.weight" in message


# --- 4. the recovery command: the one target first, the user's config kept -------------------


def test_rebuild_command_targets_one_store_and_keeps_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(rerun.RUN_ARGS_ENV, raising=False)
    rerun.record([tmp_path / "my config.yaml"], {"train": {"epochs": 3}, "seed": 2})
    command = rerun.rebuild_store(tmp_path / "features/ave/vggish.zarr")
    args = shlex.split(command)
    assert args[:4] == ["snakemake", "features/ave/vggish.zarr", "--cores", "1"]
    assert args[4:6] == ["--configfile", "my config.yaml"]
    assert args[6:9] == ["--config", "train={epochs: 3}", "seed=2"]
    assert args[9:] == ["--forcerun", "extract_features", "finalize_features"]


# --- 6. damaged and deleted chunks ------------------------------------------------------------


def test_corrupt_chunk_names_store_and_video(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "features/ave/vggish.zarr"
    write_random_store(path, "vggish", 4, (2, 8), ("video", "segment", "channel"), 1)
    chunk = path / "features/c/2/0/0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    feats = store.open_features(path)
    feats.features[:2].compute()  # the other chunks still read
    with pytest.raises(store.StoreError) as err:
        feats.features.compute()
    message = str(err.value)
    assert str(Path("features/ave/vggish.zarr")) in message and "video-000002" in message
    assert "snakemake features/ave/vggish.zarr --cores 1" in message
    assert "--forcerun extract_features finalize_features" in message


def test_deleted_chunk_reads_as_invalid(tmp_path):
    path = tmp_path / "vggish.zarr"
    write_random_store(path, "vggish", 4, (2, 8), ("video", "segment", "channel"), 1)
    (path / "features/c/1/0/0").unlink()
    feats = store.open_features(path)
    assert feats.valid.tolist() == [True, False, True, True]
    values = feats.features.compute()
    assert np.isfinite(values[feats.valid]).all()


# --- 8. smaller ones --------------------------------------------------------------------------


def test_labels_csv_with_a_byte_order_mark(tmp_path, custom):
    text = "video_id,labels,split\na,x,train\nb,x,val\nc,y,test\n"
    (tmp_path / "labels.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    frame, _, _ = build_manifest(custom, "custom", tmp_path)
    assert list(frame.video_id) == ["a", "b", "c"]
    path = tmp_path / "Annotations.txt"
    path.write_bytes(b"\xef\xbb\xbfChurch bell&RUrQ5Yx4b2c&Good&0&10\n")
    assert ave.read_rows(path, "Annotations.txt")[0].category == "Church bell"


def test_3gp_is_a_video_everywhere(tmp_path, custom):
    (tmp_path / "labels.csv").write_text("video_id,labels,split\na,x,train\nb,x,val\nc,y,test\n")
    for name in ("a.3gp", "b.3GP", "c.mp4"):
        (tmp_path / "videos" / name).write_bytes(name.encode())
    _, _, audit = build_manifest(custom, "custom", tmp_path)
    assert audit["checks"]["missing_video_file"]["count"] == 0
    assert set(index_folder(tmp_path / "videos")) == {"a", "b", "c"}


def test_explain_model_names_are_checked(config):
    config["explain"]["perturbation_models"] = ["stan", "stann"]
    config["models"]["names"] = [m for m in config["models"]["names"] if m != "abn"]
    with pytest.raises(ConfigError) as err:
        validate(config, root=ROOT)
    message = str(err.value)
    assert "'explain.perturbation_models' names 'stann', which is not a model" in message
    assert "'explain.perturbation_models' names 'abn', which models.names does not" not in message
    config["explain"]["perturbation_models"] = ["stan", "abn"]
    with pytest.raises(ConfigError, match="names 'abn', which models.names does not train"):
        validate(config, root=ROOT)


def test_chunk_videos_checked_only_for_backbones_the_dataset_uses(config):
    config["features"]["chunk_videos"]["mc3_18"] = 5  # divides no shard size
    check_settings(config, "synth")  # synth extracts resnet152 and vggish only
    with pytest.raises(ConfigError, match=r"features\.chunk_videos\.mc3_18 is 5"):
        check_settings(config, "ave")


def test_identical_videos_in_two_splits_are_found_by_content(tmp_path, custom):
    (tmp_path / "labels.csv").write_text(
        "video_id,labels,split\n" + "a,x,train\nb,x,val\nc,y,test\nd,y,train\ncopy_of_c,y,train\n"
    )
    for name, data in [("a", b"aa"), ("b", b"bb"), ("c", b"cc"), ("d", b"dd")]:
        (tmp_path / "videos" / f"{name}.mp4").write_bytes(data)
    shutil.copy(tmp_path / "videos/c.mp4", tmp_path / "videos/copy_of_c.mkv")
    frame, _, audit = build_manifest(custom, "custom", tmp_path)
    check = audit["checks"]["duplicate_content_across_splits"]
    assert check["count"] == 1
    assert check["items"][0]["videos"] == {"c": "test", "copy_of_c": "train"}
    assert check["items"][0]["kept_in"] == "test"
    assert "copy_of_c" not in set(frame.video_id) and "c" in set(frame.video_id)


def test_nested_config_strings_become_numbers_or_name_the_key(config):
    # what `--config 'train={epochs: 30, lr: 0.01}' 'explain={max_videos: null}'` hands over
    config["train"].update(epochs="30", lr="0.01", batch_size="16")
    config["explain"]["max_videos"] = "null"
    config["models"]["standardize"] = "true"
    validate(config, root=ROOT)
    assert config["train"]["epochs"] == 30 and config["train"]["lr"] == 0.01
    assert config["explain"]["max_videos"] is None and config["models"]["standardize"] is True
    config["train"]["epochs"] = "thirty"
    with pytest.raises(ConfigError, match=r"config key 'train\.epochs': 'thirty' is not of type"):
        validate(config, root=ROOT)
