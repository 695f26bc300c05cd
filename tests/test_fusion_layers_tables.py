"""Seeds -> aggregated metrics with paired intervals -> Tables 1-4 and the bias figure, on
hand-made predictions (no training): the numbers the tables print are the ones computed here."""

import json
from pathlib import Path

import numpy as np
import yaml

from avexplain import paths
from avexplain.names import FUSION_LAYER_MODELS, FUSION_LAYER_TABLES, FUSION_LAYERS
from avexplain.tables import fusion_layers as tables
from avexplain.training import fusion_layers as tr
from avexplain.training.fusion_layers_seeds import aggregate, paired_interval, pooled_bias

ROOT = Path(__file__).resolve().parents[1]
CFG = {"train": dict(tr.SETTINGS)}
LAYERS = {"fusion_layers": 5, "naive_av": 1, "uni_audio": 1, "uni_vision": 1}
ACCURACY = {"fusion_layers": 0.8, "naive_av": 0.75, "uni_audio": 0.5, "uni_vision": 0.4}


def fake_seed(out: Path, model: str, seed: int, targets: np.ndarray) -> None:
    """Layer logits whose top-1 is right for the first ACCURACY share of videos."""
    rng = np.random.default_rng([seed, len(model)])
    n, c = targets.shape
    logits = rng.normal(0, 0.1, (n, LAYERS[model], c))
    right = rng.random(n) < ACCURACY[model]
    label = targets.argmax(1)
    logits[np.arange(n), :, np.where(right, label, (label + 1) % c)] += 5
    out.mkdir(parents=True)
    ids = np.array([f"v{i}" for i in range(n)])
    np.savez(out / "predictions.npz", video_ids=ids, targets=targets, layer_logits=logits)
    layers = list(FUSION_LAYERS) if LAYERS[model] == 5 else ["continuous"]
    record = {
        "model": model,
        "dataset": "synth",
        "seed": seed,
        "recipe": {"recipe": "frozen_features", "time_step_s": 1.0},
        "best_epoch": 1,
        "val": {"top1": 50.0},
        "test": tr.evaluate(logits, targets, layers, CFG),
        "test_videos": n,
        "classes": [f"c{i}" for i in range(c)],
        "provenance": {"features": {"visual": {"weights": "random:0"}}},
    }
    (out / "metrics.json").write_text(json.dumps(record))


def test_intervals_tables_and_figure(tmp_path):
    targets = np.eye(4, dtype=np.float32)[np.arange(200) % 4]
    seed_dirs = {
        m: [tmp_path / paths.fusion_trained("synth", m, s, "x").rsplit("/", 1)[0] for s in range(3)]
        for m in FUSION_LAYER_MODELS
    }
    for m, dirs in seed_dirs.items():
        for s, d in enumerate(dirs):
            fake_seed(d, m, s, targets)
    outputs = {m: tmp_path / paths.fusion_metrics("synth", m) for m in FUSION_LAYER_MODELS}
    result = aggregate(seed_dirs, outputs, {"resamples": 500, "confidence": 0.95})
    naive = result["naive_av"]
    assert naive["comparisons"]["uni_audio"]["low"] > 0  # 75 % vs 50 %
    assert naive["comparisons"]["uni_vision"]["difference"] > 20
    vote = result["fusion_layers"]["comparisons"]["naive_av"]
    assert vote["low"] <= vote["difference"] <= vote["high"] and vote["videos"] == 200
    assert sum(result["fusion_layers"]["modality_bias"]["counts"].values()) == 4
    assert set(naive["mean"]["top_n_f1"]) == {"1", "2", "3", "4"}  # 4 classes: top-1..4

    out = {}
    for k, name in enumerate(FUSION_LAYER_TABLES, 1):
        for ext in ("csv", "md", "html"):
            out[f"table{k}_{ext}"] = tmp_path / paths.table(name, ext)
    out["figure"] = tmp_path / paths.fusion_bias_figure()
    tables.write(
        {f"synth/{m}": str(p) for m, p in outputs.items()},
        ROOT / paths.PAPER_NUMBERS,
        ["synth"],
        out,
    )
    table1 = out["table1_md"].read_text()
    assert f"{vote['difference']:+.1f} [{vote['low']:+.1f}, {vote['high']:+.1f}]" in table1
    assert "87.8" in table1 and "†" in table1  # the paper's AVE row; random-weight mark
    assert "illegible" in out["table2_md"].read_text()
    paper = yaml.safe_load((ROOT / paths.PAPER_NUMBERS).read_text())["fusion_layers"]
    assert f"({paper['table3']['ave'][0]})" in out["table3_md"].read_text()
    assert out["figure"].stat().st_size > 1000


def test_paired_interval_and_pooled_bias():
    a, b = np.r_[np.ones(50), np.zeros(50)], np.zeros(100)
    c = paired_interval(a, b, 1000, 0.9)
    assert c["difference"] == 50.0 and c["low"] < 50 < c["high"]
    assert paired_interval(b, b, 200, 0.9)["low"] == 0.0
    bias = pooled_bias([np.array([[2, 1, 0, 0, 0], [0, 0, 0, 0, 0]])] * 2, ["a", "b"])
    assert bias["assignment"] == [0, -1] and bias["counts"]["continuous"] == 1
