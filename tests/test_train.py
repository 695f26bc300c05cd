"""Training: outputs, determinism, in-memory == streamed, resume after SIGKILL, aggregation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from avexplain.testing import stores
from avexplain.training import splits as avsplits
from avexplain.training import train
from avexplain.training.aggregate import aggregate

ROOT = Path(__file__).resolve().parents[1]


def small_config(**train_overrides) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["models"].update(embed_dim=8)
    config["train"].update(epochs=4, batch_size=8, lr_step=2, overrides={})
    config["train"].update(train_overrides)
    return config


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    stores.write_dataset(root, num_videos=40, invalid=(5, 17))
    return root


def run(config, root, out, model="stan", seed=0, **kw):
    return train.train(config, "synth", model, seed, out, root=root, progress=False, **kw)


def test_outputs_follow_the_contract(dataset, tmp_path):
    result = run(small_config(), dataset, tmp_path)
    predictions = np.load(tmp_path / "predictions.npz")
    test = avsplits.open_split(small_config(), "synth", "test", dataset)
    n = len(test)
    assert list(predictions["video_ids"]) == list(test.video_ids)
    assert predictions["scores"].shape == (n, 6)
    assert ((predictions["scores"] >= 0) & (predictions["scores"] <= 1)).all()
    assert predictions["targets"].shape == (n, 6)
    assert predictions["space_attention"].shape == (n, 10, 3, 3)
    assert predictions["time_attention"].shape == (n, 10)
    assert not (tmp_path / "resume.pt").exists()
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["test"] == result["test"] and len(on_disk["history"]) == 4
    assert result["best_epoch"] == 1 + int(np.argmax([h["val"]["mAP"] for h in result["history"]]))
    assert on_disk["provenance"]["features"]["visual"]["weights"] == "random:0"
    # the checkpoint gives back the model that scored the test split
    model, meta = train.load_trained(tmp_path / "checkpoint.pt")
    assert meta["model"] == "stan" and meta["seed"] == 0 and len(meta["classes"]) == 6
    assert not model.training
    data = avsplits.load_split(small_config(), "synth", "test", dataset)
    with torch.no_grad():
        scores = torch.sigmoid(model(data.visual, data.audio)["logits"]).numpy()
    np.testing.assert_allclose(scores, predictions["scores"], rtol=0, atol=1e-6)


def test_invalid_videos_are_dropped(dataset):
    ids = np.concatenate(
        [
            avsplits.open_split(small_config(), "synth", s, dataset).video_ids
            for s in ("train", "val", "test")
        ]
    )
    assert len(ids) == 38 and "synth-00005" not in ids and "synth-00017" not in ids


def test_same_seed_same_result_and_streaming_equals_in_memory(dataset, tmp_path):
    a = run(small_config(), dataset, tmp_path / "a", force_source="memory")
    b = run(small_config(), dataset, tmp_path / "b", force_source="stream")
    assert b["data_path"] == "streamed" and a["data_path"] == "in memory"
    assert a["test"] == b["test"] and a["history"][-1]["loss"] == b["history"][-1]["loss"]
    pa, pb = np.load(tmp_path / "a/predictions.npz"), np.load(tmp_path / "b/predictions.npz")
    np.testing.assert_array_equal(pa["scores"], pb["scores"])
    c = run(small_config(), dataset, tmp_path / "c", seed=1)
    assert c["history"][0]["loss"] != a["history"][0]["loss"]


def test_runs_trained_in_one_job_get_the_numbers_they_get_alone(dataset, tmp_path):
    """rules train_model_seeds and train_single_seed_models: one process trains several models
    and seeds on splits read once; what one run draws does not reach the next."""
    config = small_config(epochs=2)
    runs = {("cam", 0): "cam", ("stan", 1): "s1", ("stan", 0): "s0"}
    together = train.train_runs(
        config, "synth", {r: tmp_path / d for r, d in runs.items()}, dataset, progress=False
    )
    alone = run(config, dataset, tmp_path / "alone", seed=0)
    assert list(together) == list(runs) and together["stan", 0]["seed"] == 0
    assert together["cam", 0]["model"] == "cam"
    assert (
        together["stan", 0]["test"] == alone["test"]
        and together["stan", 0]["history"][-1]["loss"] == (alone["history"][-1]["loss"])
    )
    mine, own = (np.load(tmp_path / d / "predictions.npz") for d in ("s0", "alone"))
    np.testing.assert_array_equal(mine["scores"], own["scores"])


def test_in_memory_limit_decides_the_data_path(dataset, tmp_path):
    result = run(small_config(in_memory_max_gb=0.0), dataset, tmp_path)
    assert result["data_path"] == "streamed"


def test_memory_budget_is_shared_by_the_splits(dataset, monkeypatch):
    config = small_config()
    splits = {s: avsplits.open_split(config, "synth", s, dataset) for s in ("train", "val")}
    # a CPU holds float32, twice the stored float16: room for train, not for both
    budget = 2 * splits["train"].nbytes + splits["val"].nbytes
    settings = {**config["train"], "in_memory_max_gb": budget / 1e9}
    sources = train.data_sources(splits, settings, torch.device("cpu"))
    assert not sources["train"].streaming and sources["val"].streaming
    # held block by block (a block smaller than the split here): the standardized values the
    # streamed path reads
    rows = np.arange(len(splits["val"]))
    read = splits["val"].read(rows)
    monkeypatch.setattr(train.InMemory, "LOAD_BLOCK", 3)
    assert len(splits["val"]) > 3
    held = train.InMemory(splits["val"], torch.device("cpu"), 2)
    assert held.visual.dtype == torch.float32
    np.testing.assert_array_equal(held.visual.numpy(), read[0])
    np.testing.assert_array_equal(held.audio.numpy(), read[1])
    ((visual, _, _),) = held.batches([rows[::-1].copy()])
    np.testing.assert_array_equal(visual.numpy(), read[0][::-1])


KILL_SCRIPT = """
import sys, yaml
from avexplain.training import train
config = yaml.safe_load(open(sys.argv[1]))
train.train(config, "synth", "stan", 0, sys.argv[3], root=sys.argv[2], progress=False, threads=1)
"""


def test_resume_after_sigkill_gives_the_uninterrupted_result(dataset, tmp_path):
    config = small_config()
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    out = tmp_path / "killed"
    env = dict(os.environ, **{train.KILL_ENV: "2"})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(config_path), str(dataset), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (out / "resume.pt").exists() and not (out / "metrics.json").exists()
    saved = torch.load(out / "resume.pt", weights_only=False)
    assert saved["state"]["epoch"] == 2
    # one thread in all three runs: sums split across threads round differently, and this
    # process's count is whatever an earlier test left
    resumed = run(config, dataset, out, threads=1)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    straight = run(config, dataset, tmp_path / "straight", threads=1)
    assert resumed["test"] == straight["test"]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in straight["history"]]
    np.testing.assert_array_equal(
        np.load(out / "predictions.npz")["scores"],
        np.load(tmp_path / "straight/predictions.npz")["scores"],
    )


def test_a_resume_file_of_other_settings_is_ignored(dataset, tmp_path):
    run(small_config(epochs=2), dataset, tmp_path)
    state = {"fingerprint": "other", "state": {"epoch": 99}}
    torch.save(state, tmp_path / "resume.pt")
    result = run(small_config(epochs=2), dataset, tmp_path)
    assert [h["epoch"] for h in result["history"]] == [1, 2]


def test_dataset_overrides_apply():
    config = small_config()
    config["train"]["overrides"] = {"synth": {"epochs": 7}}
    assert train.settings_for(config, "synth")["epochs"] == 7
    assert train.settings_for(config, "ave")["epochs"] == 4


def test_aggregate_mean_std_and_demo_flag(dataset, tmp_path):
    config = small_config(epochs=1)
    paths = []
    for seed in (0, 1):
        run(config, dataset, tmp_path / f"seed-{seed}", seed=seed)
        paths.append(tmp_path / f"seed-{seed}" / "metrics.json")
    result = aggregate(paths, tmp_path / "metrics.json")
    per_seed = [json.loads(p.read_text())["test"]["mAP"] for p in paths]
    assert result["seeds"] == [0, 1]
    assert result["mean"]["mAP"] == pytest.approx(np.mean(per_seed))
    assert result["std"]["mAP"] == pytest.approx(np.std(per_seed, ddof=1))
    assert result["demo_note"] is True and "random weights" in result["note"]
    assert result["provenance"]["feature_weights"] == {"visual": "random:0", "audio": "random:0"}
    assert json.loads((tmp_path / "metrics.json").read_text()) == result


def test_union_dataset_reads_member_stores(tmp_path):
    stores.write_dataset(tmp_path, "ave", num_videos=12, num_classes=4, seed=1)
    stores.write_dataset(tmp_path, "llp", num_videos=12, num_classes=4, seed=2)
    frames = []
    for member in ("ave", "llp"):
        frame = avsplits.avmanifest.read_manifest(tmp_path / f"data/{member}/manifest.csv")
        frame["video_id"] = member + "/" + frame["video_id"]
        frames.append(frame)
    (tmp_path / "data/avr").mkdir(parents=True)
    import pandas as pd

    pd.concat(frames).to_csv(tmp_path / "data/avr/manifest.csv", index=False)
    (tmp_path / "data/avr/classes.txt").write_text((tmp_path / "data/ave/classes.txt").read_text())
    config = small_config()
    config["models"]["standardize"] = False  # compare stored values
    data = avsplits.load_split(config, "avr", "train", tmp_path)
    assert len(data.video_ids) == 14  # 7 training videos of each member
    assert {v.split("/")[0] for v in data.video_ids} == {"ave", "llp"}
    ave = avsplits.load_split(config, "ave", "train", tmp_path)
    first = list(data.video_ids).index("ave/" + ave.video_ids[0])
    assert torch.equal(data.visual[first], ave.visual[0])


def test_missing_store_is_a_clear_error(tmp_path):
    stores.write_dataset(tmp_path, num_videos=10)
    config = small_config()
    config["models"]["visual_backbone"] = "vgg19"
    with pytest.raises(FileNotFoundError, match="vgg19.zarr"):
        avsplits.open_split(config, "synth", "train", tmp_path)


def test_standardization_uses_training_statistics_for_every_split(dataset):
    config = small_config()
    train_split = avsplits.load_split(config, "synth", "train", dataset)
    flat = train_split.visual.reshape(-1, train_split.visual.shape[-1])
    np.testing.assert_allclose(flat.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(flat.std(0, unbiased=False), 1, atol=1e-3)
    config["models"]["standardize"] = False
    raw_train = avsplits.load_split(config, "synth", "train", dataset)
    raw_test = avsplits.load_split(config, "synth", "test", dataset)
    test = avsplits.load_split(small_config(), "synth", "test", dataset)
    mean = raw_train.audio.reshape(-1, 16).double().mean(0)
    std = raw_train.audio.reshape(-1, 16).double().std(0, unbiased=False)
    torch.testing.assert_close(
        test.audio.double(), (raw_test.audio.double() - mean) / std, atol=1e-5, rtol=0
    )
