"""benchmarks/gpu_check.sh: the no-GPU fast failure, its comparison rules on hand-made records,
and (slow) the whole CPU rehearsal as CI runs it."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402

SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
STEPS = [
    "pipeline_device",
    "provenance",
    "pipeline_reference_features",
    "compare_features",
    "pipeline_reference_downstream",
    "compare_downstream",
    "bench_extract",
    "bench_train",
    "bench_perturb",
]


def _env():
    env = dict(os.environ, PYTHON=sys.executable)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.skipif(
    shutil.which("nvidia-smi") is not None or torch.cuda.is_available(), reason="a GPU is here"
)
def test_without_a_gpu_it_fails_fast_with_one_line(tmp_path):
    started = time.perf_counter()
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "out")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1 and "no GPU" in lines[0]
    assert time.perf_counter() - started < 10  # before torch is even imported
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_a_driver_without_cuda_in_torch_also_fails_in_one_line(tmp_path, capsys):
    assert gpu_check.main([str(tmp_path / "out")]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "no GPU" in out[0]


def test_each_run_extracts_in_the_precision_the_check_gives_it():
    """synth's demo pins float32 (config.yaml); the check's own runs must not inherit the pin."""
    import yaml

    from avexplain.features.settings import settings_for

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert settings_for(config, gpu_check.DATASET)["precision"] == "float32"
    for precision in ("auto", "float32"):
        checked = gpu_check.check_config(config, "cuda", precision, "cpu")
        assert settings_for(checked, gpu_check.DATASET)["precision"] == precision


def test_perturbation_tolerance_is_z_standard_errors_of_the_bhatia_davis_bound():
    # mu = 0.2 and 0.3 over 2 videos x 50 draws: variances 0.16 and 0.21, summed, / 100
    expected = 4.0 * math.sqrt((0.16 + 0.21) / 100) + 1e-3
    assert gpu_check.perturbation_tolerance(0.2, 0.3, 50, 2) == pytest.approx(expected)
    assert gpu_check.perturbation_tolerance(0.0, 0.0, 50, 2) == pytest.approx(1e-3)


def _perturbation_record(tvd_relevant, coverage=0.5):
    return {
        "noise_variances": [0.0, 1.0],
        "draws": 100,
        "fast_path": True,
        "video_ids": ["a", "b"],
        "tvd_per_video": {"relevant": tvd_relevant, "irrelevant": [[0.0, 0.1], [0.0, 0.1]]},
        "mask_coverage": {"visual": {"relevant": [coverage, 0.5], "irrelevant": [0.5, 0.5]}},
    }


def test_perturbation_records_agree_in_distribution_not_draw_by_draw(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_perturbation_record([[0.0, 0.30], [0.0, 0.40]])))
    # means 0.35 vs 0.37: within 4 x sqrt(2 x 0.23 / 200) ~ 0.19
    b.write_text(json.dumps(_perturbation_record([[0.0, 0.36], [0.0, 0.38]])))
    assert gpu_check.compare_perturbation(a, b, "p") == []
    # 0.35 vs 0.75: a real difference (e.g. noise of the wrong scale)
    b.write_text(json.dumps(_perturbation_record([[0.0, 0.7], [0.0, 0.8]])))
    problems = gpu_check.compare_perturbation(a, b, "p")
    assert len(problems) == 1 and "relevant mask, noise 1.0" in problems[0]
    # one visual cell of 16 may flip at a near-tie; two may not
    b.write_text(json.dumps(_perturbation_record([[0.0, 0.30], [0.0, 0.40]], 0.5 + 1 / 16)))
    assert gpu_check.compare_perturbation(a, b, "p") == []
    b.write_text(json.dumps(_perturbation_record([[0.0, 0.30], [0.0, 0.40]], 0.5 + 2 / 16)))
    assert "coverage" in gpu_check.compare_perturbation(a, b, "p")[0]


def test_provenance_names_every_job_not_on_the_device():
    records = {
        "extract": [("m0", "cuda"), ("m1", "cuda:0")],
        "store": [("s0", "cuda"), ("s1", "cpu")],
        "train": [("t", "cuda")],
        "aggregate": [("a", "cuda")],
        "perturbation": [],
    }
    problems = gpu_check.provenance_problems(records, "cuda", "cpu")
    assert problems == ["store: s1 ran on cpu, not cuda", "perturbation: 0 records, expected 1"]


def test_benchmark_outputs_become_ratios_and_targets():
    extract = (
        "device cuda, bfloat16\n\nresnet152: 64 clips, 16 frames/segment, 10240 frames in all\n"
        "  a/b = 12.50\n  a/c = 0.80   (binding bound: model; a / min(bounds) = 0.75)\n"
        "\nvggish: 512 clips, 1 patches/segment, 5120 patches in all\n  a/b = 8.00\n"
        "  a/c = 0.50   (binding bound: decode; a / min(bounds) = 0.65)\n"
    )
    ratios = gpu_check.parse_extract(extract)
    assert ratios == {
        "resnet152 a/b": 12.5,
        "resnet152 a/c": 0.8,
        "resnet152 a/min_bound": 0.75,
        "vggish a/b": 8.0,
        "vggish a/c": 0.5,
        "vggish a/min_bound": 0.65,
    }
    met = {t["ratio"]: t["met"] for t in gpu_check.judge("bench_extract", ratios, True)}
    assert met == {
        "resnet152 a/b": True,
        "resnet152 a/min_bound": True,
        "vggish a/b": False,
        "vggish a/min_bound": False,
    }
    train = 'noise\n{\n "videos": 32,\n "train_over_read": 0.81\n}\n'
    assert gpu_check.parse_train(train) == {"videos": 32, "train_over_read": 0.81}
    assert gpu_check.parse_perturb("(a) ours: 1 s   ratio b/a: 21.5x") == {"loop/ours": 21.5}
    per_mask = "(a) ours: 0.11 s (4 masks)   (b) plain loop: 0.02 s   ratio b/a per mask: 0.4x"
    assert gpu_check.parse_perturb(per_mask) == {"loop/ours": 0.4}
    with pytest.raises(ValueError):
        gpu_check.parse_perturb("Traceback ...")


def test_the_perturbation_benchmark_prints_what_the_check_parses():
    """The benchmark's own output at the rehearsal's size, so a change of its wording fails here."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT.parent / "perturb.py"), "--device", "cpu", "--videos", "1"]
        + "--levels 2 --draws 2 --h 2 --dv 8 --da 4 --classes 2".split(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert gpu_check.parse_perturb(proc.stdout)["loop/ours"] >= 0


@pytest.mark.slow
def test_cpu_rehearsal_passes_and_writes_its_summary(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--cpu", "--cores", "2", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True and summary["mode"] == "cpu rehearsal"
    assert [s["step"] for s in summary["steps"]] == STEPS
    for step in summary["steps"]:
        assert step["ok"] and step["seconds"] >= 0 and (out / step["log"]).is_file()
    by_name = {s["step"]: s for s in summary["steps"]}
    assert by_name["provenance"]["records"] >= 6
    assert set(by_name["compare_features"]["relative_rms_error"]) == set(gpu_check.feature_stores())
    for name in ("bench_extract", "bench_train", "bench_perturb"):
        rows = by_name[name]["targets"]
        assert rows and all(not r["enforced"] for r in rows)
    measured = {r["ratio"] for s in summary["steps"] for r in s.get("targets", [])}
    assert {"resnet152 a/b", "vggish a/min_bound", "streamed/read", "loop/ours"} <= measured
    # the device run really ran every stage
    run = out / "pipeline" / "device"
    assert (run / "results/synth/stan/attention").is_dir()
    assert (run / "results/synth/stan/ground_truth.json").is_file()


def test_gpu_sampler_keeps_each_steps_peaks(tmp_path, monkeypatch):
    """A stand-in nvidia-smi printing `memory.used, utilization.gpu` lines, as the real one
    does with --format=csv,noheader,nounits."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'for i in $(seq 1 200); do echo "$((1000 + i)), $((i % 7 * 10))"; sleep 0.01; done\n'
        "echo '[N/A], [N/A]'; exec sleep 30\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    start = time.time()
    sampler = gpu_check.GpuSampler(tmp_path / "smi.csv")
    deadline = time.time() + 20
    while len(sampler.samples) < 200 and time.time() < deadline:
        time.sleep(0.05)
    sampler.stop()
    peaks = sampler.window(start, time.time())
    assert peaks["samples"] == 200  # the [N/A] line is skipped
    assert peaks["peak_memory_mib"] == 1200 and peaks["peak_utilization_percent"] == 60
    assert sampler.window(start - 10, start - 5) is None
    assert len((tmp_path / "smi.csv").read_text().splitlines()) == 201  # header + samples
