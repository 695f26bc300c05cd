"""The explanations stage's jobs (avexplain.explain.jobs) and the tables built from them on hand-made artefacts of the models
stage: Table 3, the perturbation CSV and figure, the ground-truth report and table, and the
attention figures over a real (tiny) canonical clip. The trained model and its features come
from a stand-in for the models stage's loader."""

import json
import wave
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from avexplain.explain import jobs
from avexplain.tables import stan_table3, synth_explanations
from avexplain.testing.models import TinySTAN
from avexplain.training import train as train_module

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "resources" / "paper_numbers.yaml"
T, FPS, SIZE = 2, 4, 32


@pytest.fixture
def config():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["clip"].update(segments=T, fps=FPS, size=SIZE, overrides={})  # not synth's own
    cfg["explain"].update(noise_levels=[0.0, 0.5, 1.0], draws=20, attention_videos=2, overrides={})
    return cfg


def _manifest(root: Path, dataset: str, rows: list[dict]) -> Path:
    cols = ["video_id", "split", "labels", "source", "start", "end", "audio_events",
            "visual_events", "boxes"]  # fmt: skip
    frame = pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows])
    frame["start"], frame["end"] = 0.0, float(T)
    frame["audio_events"] = frame["audio_events"].replace("", "[]")
    frame["boxes"] = frame["boxes"].replace("", "{}")
    path = root / "data" / dataset / "manifest.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _predictions(path: Path, ids, time=None, space=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"video_ids": np.array(ids), "scores": np.full((len(ids), 3), 0.5),
              "targets": np.zeros((len(ids), 3))}  # fmt: skip
    if time is not None:
        arrays["time_attention"] = np.asarray(time, dtype=np.float32)
    if space is not None:
        arrays["space_attention"] = np.asarray(space, dtype=np.float32)
    np.savez(path, **arrays)
    return path


def test_table3_puts_paper_numbers_beside_ours(tmp_path, config):
    events = ['[["a", 0, 1]]', "[]", '[["b", 1, 2]]']
    inputs = {}
    for ds in ("ave", "synth"):
        man = _manifest(tmp_path, ds, [{"video_id": f"v{i}", "audio_events": e}
                                       for i, e in enumerate(events)])  # fmt: skip
        inputs[ds] = {
            "manifest": man,
            "stan": _predictions(tmp_path / ds / "stan.npz", ["v0", "v1", "v2"],
                                 time=[[0.9, 0.2], [0.5, 0.5], [0.4, 0.7]]),
            "stan_audio": _predictions(tmp_path / ds / "audio.npz", ["v2", "v1", "v0"],
                                       time=[[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]),
        }  # fmt: skip
    csv, md = tmp_path / "t3.csv", tmp_path / "t3.md"
    stan_table3.write(config, inputs, PAPER, csv, md)
    table = pd.read_csv(csv)
    # stan soft: v0 |0.9-1|,|0.2-0| -> 0.15; v2 |0.4-0|,|0.7-1| -> 0.35; v1 has no events
    soft = table.set_index("method").loc["STAN (audio-visual) + soft attention"]
    assert float(soft["ave_ours"]) == pytest.approx(0.25)
    assert float(soft["ave_paper"]) == 0.46
    assert soft["synth_paper"] == "-"  # the paper has no synth: a dash, never a zero
    binary = table.set_index("method").loc["STAN (audio) + binary attention"]
    assert float(binary["synth_ours"]) == pytest.approx(0.5)  # 0.5 binarises to 1
    text = md.read_text()
    # the paper's three columns always, ours beside them (LLP and AVR not run here: dashes)
    assert (
        "| STAN (audio-visual) + soft attention | 0.25 | 0.46 | – | 0.40 | – | 0.37 | 0.25 | – |"
        in text
    )
    assert "Annotated test videos: ave 2, synth 2." in text
    rows = table.set_index("method")
    ones = rows.loc["all ones (every segment attended; soft = binary)"]
    assert float(ones["ave_ours"]) == pytest.approx(0.5)  # one of two segments is an event
    auc = rows.loc["STAN (audio-visual): ROC AUC per video (higher is better)"]
    assert float(auc["synth_ours"]) == 1.0
    # no training split in this manifest: no event prior, a dash
    assert rows.loc["training split's event prior per segment (soft)"]["ave_ours"] == "-"


def test_table3_dash_when_no_video_is_annotated(tmp_path, config):
    man = _manifest(tmp_path, "llp", [{"video_id": "v0"}])
    preds = _predictions(tmp_path / "p.npz", ["v0"], time=[[0.1, 0.9]])
    inputs = {"llp": {"manifest": man, "stan": preds, "stan_audio": preds}}
    stan_table3.write(config, inputs, PAPER, tmp_path / "t.csv", tmp_path / "t.md")
    assert (
        "| STAN (audio) + soft attention | – | 0.47 | – | 0.42 |" in (tmp_path / "t.md").read_text()
    )


class _Feats:
    def __init__(self, n=3):
        g = torch.Generator().manual_seed(0)
        self.video_ids = np.array([f"v{i}" for i in range(n)])
        self.visual = torch.rand(n, T, 3, 3, 12, generator=g)
        self.audio = torch.randn(n, T, 6, generator=g)


@pytest.fixture
def trained(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = TinySTAN(12, 6, 3, dim=6)
    ckpt = tmp_path / "checkpoint.pt"
    torch.save(model.state_dict(), ckpt)

    def fake_features(config, dataset, max_videos=None, root="."):
        feats = _Feats()
        n = len(feats.video_ids) if max_videos is None else min(max_videos, 3)
        return feats, n, (None, None)

    def fake_load_trained(checkpoint, device="cpu"):
        return model, {"model": "stan", "visual_backbone": "resnet152", "seed": 0}

    from avexplain.training import train

    monkeypatch.setattr(jobs, "load_test_features", fake_features)
    monkeypatch.setattr(train, "load_trained", fake_load_trained)
    return ckpt


def test_perturbation_job_writes_csv_record_and_figure(tmp_path, config, trained):
    csv, record = tmp_path / "stan" / "perturbation.csv", tmp_path / "stan" / "perturbation.json"
    jobs.write_perturbation_test(config, "synth", "stan", trained, csv, record)
    table = pd.read_csv(csv)
    assert len(table) == 4 * 3 and set(table["mask"]) == {
        "relevant", "irrelevant", "relevant_random", "irrelevant_random"
    }  # fmt: skip
    # each control covers as much as its mask
    by_mask = table.groupby("mask")["coverage_visual"].first()
    assert by_mask["relevant"] == pytest.approx(by_mask["relevant_random"])
    assert (table["videos"] == 3).all() and (table["draws"] == 20).all()
    assert (table[table["noise_variance"] == 0]["tvd_mean"] == 0).all()
    rec = json.loads(record.read_text())
    assert len(rec["tvd_per_video"]["relevant"][0]) == 3  # seeds x videos x levels
    assert rec["attention"] == "fixed" and rec["noise_space"] == "standardized"
    assert rec["provenance"]["checkpoint_sha256"] and rec["provenance"]["config_hash"]
    png = tmp_path / "perturbation.png"
    jobs.write_perturbation_figure(config, "synth", {"stan": csv, "abn": csv}, png)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_ground_truth_report_and_table(tmp_path, config, trained):
    boxes = json.dumps({"0": [0.0, 0.0, 0.3, 0.3], "1": [0.0, 0.0, 0.3, 0.3]})
    man = _manifest(tmp_path, "synth", [
        {"video_id": "v0", "audio_events": '[["a", 0, 1]]', "boxes": boxes, "split": "test"},
        {"video_id": "v1", "audio_events": '[["a", 1, 2]]', "boxes": boxes, "split": "test"},
        {"video_id": "v2", "audio_events": '[["a", 0, 1]]', "boxes": boxes, "split": "test"},
        {"video_id": "t0", "audio_events": '[["a", 0, 1]]', "boxes": boxes, "split": "train"},
    ])  # fmt: skip
    space = np.zeros((3, T, 3, 3))
    space[:, :, 0, 0] = 1.0  # peak in the top-left cell, where the box is
    preds = _predictions(tmp_path / "p.npz", ["v0", "v1", "v2"],
                         time=[[0.9, 0.1], [0.2, 0.8], [0.6, 0.3]], space=space)  # fmt: skip
    out = tmp_path / "stan" / "ground_truth.json"
    jobs.write_ground_truth(config, "synth", "stan", preds, man, trained, out)
    rep = json.loads(out.read_text())
    assert rep["spatial"]["model"]["hit_rate"] == 1.0
    assert rep["spatial"]["uniform"]["hit_rate"] == pytest.approx(1 / 9)
    assert rep["temporal"]["model"]["auc"] == 1.0 and rep["temporal"]["uniform"]["auc"] == 0.5
    assert rep["spatial"]["best_fixed_cell"]["hit_rate"] == 1.0  # learned from t0's box
    assert rep["temporal"]["event_prior"]["mae_soft"] == pytest.approx(1 / 3)
    assert "space_attention" in rep["randomisation"]
    # no validation split here: the map is read at its peak, the paper's reading
    assert rep["spatial"]["per_seed"][0]["validation"]["sign"] == 1
    assert rep["spatial"]["oriented"]["hit_rate"] == 1.0
    assert rep["spatial"]["trough"]["hit_rate"] == 0.0  # the eight tied zeros miss the box
    synth_explanations.write(config, {"stan": out}, tmp_path / "g.csv", tmp_path / "g.md")
    table = pd.read_csv(tmp_path / "g.csv")
    assert table["attention"].tolist()[:4] == [
        "stan", "stan, sign from validation", "stan, lowest cell", "uniform baseline"
    ]  # fmt: skip
    assert {"centre baseline", "best fixed cell baseline", "saliency baseline",
            "all ones baseline", "event prior baseline"} <= set(table["attention"])  # fmt: skip
    assert "| stan | stan | 1.00 |" in (tmp_path / "g.md").read_text()


def test_ground_truth_reads_the_map_at_the_end_validation_points_with(
    tmp_path, config, trained, monkeypatch
):
    """A model whose lowest space attention is where the validation boxes are is read at its
    trough on test: the orientation is chosen on validation, not on the test videos."""
    val = _Feats(4)
    model = train_module.load_trained(trained)[0]
    with torch.no_grad():
        maps = model(val.visual, val.audio)["space_attention"].numpy()  # (4, T, 3, 3)
    val_boxes = []
    for video in maps:  # each second's box: the map's lowest cell
        cells = [np.unravel_index(m.argmin(), m.shape) for m in video]
        val_boxes.append({str(t): [x / 3 + 0.01, y / 3 + 0.01, (x + 1) / 3 - 0.01,
                                   (y + 1) / 3 - 0.01] for t, (y, x) in enumerate(cells)})  # fmt: skip
    monkeypatch.setattr(jobs, "_validation", lambda *a: ((val.visual, val.audio), val_boxes))
    boxes = json.dumps({"0": [0.0, 0.0, 0.3, 0.3]})
    man = _manifest(tmp_path, "synth", [
        {"video_id": f"v{i}", "audio_events": '[["a", 0, 1]]', "boxes": boxes, "split": "test"}
        for i in range(3)
    ] + [{"video_id": "t0", "boxes": boxes, "split": "train"}])  # fmt: skip
    space = np.zeros((3, T, 3, 3))
    space[:, :, 2, 2] = 1.0  # test maps: the box's cell (top left) is among the lowest
    space[:, :, 0, 0] = -1.0  # ... and the only lowest
    preds = _predictions(tmp_path / "p.npz", ["v0", "v1", "v2"], time=[[0.9, 0.1]] * 3,
                         space=space)  # fmt: skip
    out = tmp_path / "gt.json"
    jobs.write_ground_truth(config, "synth", "stan", preds, man, trained, out)
    spatial = json.loads(out.read_text())["spatial"]
    validation = spatial["per_seed"][0]["validation"]
    assert validation["sign"] == -1 and validation["trough"] == 1.0
    assert validation["seconds"] == 4 * T
    assert spatial["model"]["hit_rate"] == 0.0  # the peak (bottom right) misses
    assert spatial["oriented"]["hit_rate"] == spatial["trough"]["hit_rate"] == 1.0


def _write_clip(folder: Path, video_id: str):
    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(folder / f"{video_id}.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for i in range(T * FPS):
            img = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
            img[:, : 4 * (i + 1)] = (200, 60, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    samples = (0.3 * np.sin(np.arange(T * 16000) * 0.05) * 32767).astype("<i2")
    with wave.open(str(folder / f"{video_id}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.tobytes())


def test_attention_figures_per_video_and_grid(tmp_path, config):
    man = _manifest(tmp_path, "synth", [
        {"video_id": "synth-00000", "audio_events": '[["a", 1, 2]]', "labels": "disc_beep"},
        {"video_id": "synth-00001"}, {"video_id": "synth-00002"},
    ])  # fmt: skip
    clips = tmp_path / "data" / "synth" / "clips" / "shard-000"
    _write_clip(clips, "synth-00000")
    _write_clip(clips, "synth-00002")  # synth-00001 has no clip: skipped, the next one drawn
    space = np.random.default_rng(0).random((3, T, 3, 3))
    preds = _predictions(tmp_path / "p.npz", ["synth-00000", "synth-00001", "synth-00002"],
                         time=[[0.2, 0.9]] * 3, space=space)  # fmt: skip
    out = tmp_path / "results" / "synth" / "stan" / "attention"
    jobs.write_attention_figures(config, "synth", preds, man, out, root=tmp_path)
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.png", "synth-00000.png", "synth-00002.png",
    ]  # fmt: skip
    assert (out / "grid.png").read_bytes()[:4] == b"\x89PNG"


def test_clip_paths_resolve_union_ids(tmp_path, config):
    _manifest(tmp_path, "llp", [{"video_id": f"x{i}"} for i in range(130)])
    mp4, wav = jobs.clip_paths(config, "avr", "llp/x129", root=tmp_path)
    assert mp4 == tmp_path / "data/llp/clips/shard-001/x129.mp4"  # shard_size 128
    with pytest.raises(ValueError, match="member"):
        jobs.clip_paths(config, "avr", "nope/x1", root=tmp_path)
