"""The GPU path, proven in one run (`bash benchmarks/gpu_check.sh`; docs/gpu_check.md).

1. A tiny synth pipeline (8 videos; data, features, STAN and one model of each other family of
   avexplain.models, perturbation tests, ground truth, attention figures) runs through the real
   Snakefile with every `device` key set to cuda (run D). The provenance of its outputs (shard
   markers, store attributes, metrics.json, perturbation.json) must name that device.
2. The same configuration runs on the CPU in float32 (run R), in two phases so that each stage
   is compared on identical inputs: R extracts its own features from D's clips (compared with
   D's stores: the bfloat16 error), then trains and explains on D's stores (compared with D's
   metrics, predictions, perturbation records and ground-truth reports).
3. benchmarks/extract.py, train.py and perturb.py at GPU sizes; each ratio against its target,
   with nvidia-smi's peak memory and utilisation sampled during each step.

Writes OUT/summary.json (every step: ok, seconds, ratios against targets) and OUT/logs/.
`--cpu`: the same steps on the CPU at toy sizes (the CI rehearsal; targets reported, not
enforced). Exit status: 0 when every step passed (and, on a GPU, every target held), 1 when not,
2 when CUDA was asked for and there is none.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from avexplain import paths
from avexplain.testing.workflow import copy_workflow

ROOT = Path(__file__).resolve().parents[1]

DATASET = "synth"
# On a GPU: STAN and one model of each other family module of avexplain.models (baselines,
# explainers, fusion), the two with space attention perturbation-tested. The CPU rehearsal runs
# STAN alone (every stage and code path still runs; each model is a dozen seconds of job start).
MODELS = {"gpu": ["stan", "visual_baseline", "av_abn", "attention_fusion"], "cpu": ["stan"]}
PERTURBED = {"gpu": ["stan", "av_abn"], "cpu": ["stan"]}
SEED = 0  # train.seeds of the check's config

# Tolerances of run D against the float32 CPU run R (docs/gpu_check.md says why each).
FEATURES_RTOL = 0.1  # per value: |d - r| <= rtol |r| + atol ...
FEATURES_ATOL_RMS = 0.1  # ... with atol = 0.1 x the store's RMS value
FEATURES_REL_RMS = 0.03  # and over the store: ||d - r|| / ||r|| <= 0.03
TRAIN_RTOL, TRAIN_ATOL = 0.02, 0.02  # metrics.json (percent metrics, losses), same inputs
SCORES_ATOL = 0.01  # predictions.npz: scores and attention weights in [0, 1]
GROUND_TRUTH_ATOL = 0.02  # hit rates, MAE, AUC, Spearman correlations
PERTURB_Z = 4.0  # perturbation TVDs: different noise draws, compared in distribution
PERTURB_ATOL = 1e-3
# Keys that differ between the two runs by construction (the device, what hashes it, and the
# code version when a commit lands between the runs).
RUN_KEYS = frozenset(
    {
        "device",
        "devices",
        "precision",
        "config_hash",
        "spec_digest",
        "checkpoint_sha256",
        "code_version",
    }
)

# Issue 15's GPU targets: (step, ratio key, minimum, what it means)
TARGETS = [
    ("bench_extract", "resnet152 a/b", 10.0, "ResNet-152 end to end vs the per-video loop"),
    ("bench_extract", "resnet152 a/min_bound", 0.7, "ResNet-152 vs the lesser bound"),
    ("bench_extract", "vggish a/b", 10.0, "VGGish end to end vs the per-video loop"),
    ("bench_extract", "vggish a/min_bound", 0.7, "VGGish vs the lesser bound"),
    ("bench_train", "streamed/read", 0.7, "streamed STAN training vs the read bound"),
    ("bench_train", "resident", 1.0, "the split fits gpu_memory_fraction and trains held"),
    ("bench_perturb", "loop/ours", 20.0, "batched perturbation test vs the per-draw loop"),
]


# --- the pipeline's configuration -------------------------------------------------------


def check_config(config: dict, device: str, precision: str, mode: str) -> dict:
    """config.yaml made tiny (as avexplain.testing.workflow.tiny_workflow; 8 videos in one shard, so that the test
    split has 2) with every stage on `device` and `mode`'s models. Dropout is off: CUDA and CPU generators draw different masks, and
    without it training is a function of its inputs alone, comparable across devices."""
    config = json.loads(json.dumps(config))
    config["run_datasets"] = [DATASET]
    config["clip"]["segments"] = 4
    config["clip"]["overrides"][DATASET] = {"fps": 4, "size": 64}
    config["datasets"][DATASET].update(
        num_videos=8, shard_size=8, classes=2, splits=[0.5, 0.25, 0.25]
    )
    feats = config["features"]
    feats.update(device=device, precision=precision)
    feats["overrides"][DATASET].pop("precision", None)  # the check's precision, not synth's pin
    feats["chunk_videos"].update(vggish=4, mc3_18=4)
    feats["overrides"][DATASET].update(
        image_size=None,  # the clips' own 64 px: 2x2 ResNet maps
        frames_per_segment={"vgg19": 1, "resnet152": 1, "mc3_18": 4},
        backbones=["resnet152", "vggish"],
    )
    config["models"].update(names=MODELS[mode], dropout=0.0)
    config["train"].update(device=device, seeds=[SEED])
    config["train"]["overrides"][DATASET] = {"epochs": 5, "batch_size": 4}
    config["explain"].update(
        device=device,
        noise_levels=[0.0, 0.5, 1.0],
        draws=50,
        perturbation_models=PERTURBED[mode],
        ground_truth_models=["stan"],
        attention_videos=2,
        baseline_draws=5,
    )
    return config


def pipeline_targets(mode: str, figures: bool = True) -> list[str]:
    """What the check builds (the attention figures, CPU-only, only in run D)."""
    out = [paths.metrics(DATASET, m) for m in MODELS[mode]]
    out += [paths.perturbation(DATASET, m, "json") for m in PERTURBED[mode]]
    out.append(paths.ground_truth(DATASET, "stan"))
    return out + ([paths.attention_figures(DATASET)] if figures else [])


def feature_stores() -> list[str]:
    return [paths.store(DATASET, b) for b in ("resnet152", "vggish")]


def write_workflow(dest: Path, device: str, precision: str, mode: str) -> Path:
    root = copy_workflow(dest)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config = check_config(config, device, precision, mode)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def copy_outputs(src: Path, dest: Path, folder: str) -> None:
    """Copy `folder` of one run into another, times kept, so Snakemake (mtime triggers) takes
    the copies as up to date."""
    if (dest / folder).exists():
        shutil.rmtree(dest / folder)
    shutil.copytree(src / folder, dest / folder, copy_function=shutil.copy2)


# --- provenance ----------------------------------------------------------------------------


def device_records(run: Path, mode: str) -> dict[str, list[tuple[str, str]]]:
    """(file, recorded device) of every output that records one, by kind of job."""
    records = {"extract": [], "store": [], "train": [], "aggregate": [], "perturbation": []}
    for marker in sorted(run.glob(paths.shard_marker(DATASET, "*", "*"))):
        records["extract"].append((str(marker), json.loads(marker.read_text()).get("device")))
    import zarr

    for store in feature_stores():
        attrs = zarr.open_group(run / store, mode="r").attrs
        for dev in attrs.get("devices") or [None]:
            records["store"].append((store, dev))
    for model in MODELS[mode]:
        seed_file = run / paths.trained(DATASET, model, SEED)
        records["train"].append((str(seed_file), json.loads(seed_file.read_text()).get("device")))
        agg = json.loads((run / paths.metrics(DATASET, model)).read_text())
        for seed, rec in agg["per_seed"].items():
            records["aggregate"].append((f"{model} seed {seed}", rec.get("device")))
    for model in PERTURBED[mode]:
        path = run / paths.perturbation(DATASET, model, "json")
        records["perturbation"].append((str(path), json.loads(path.read_text()).get("device")))
    return records


def provenance_problems(records: dict, device: str, mode: str) -> list[str]:
    """Every job that computes on a device must say it ran on `device` (cuda, cuda:0, cpu)."""
    expected = {
        "extract": 2,  # two backbones, one shard
        "store": 2,
        "train": len(MODELS[mode]),
        "perturbation": len(PERTURBED[mode]),
    }
    problems = []
    for kind, rows in records.items():
        if len(rows) < expected.get(kind, 1):
            problems.append(f"{kind}: {len(rows)} records, expected {expected.get(kind, 1)}")
        for name, dev in rows:
            if str(dev).split(":")[0] != device:
                problems.append(f"{kind}: {name} ran on {dev}, not {device}")
    return problems


# --- comparisons ---------------------------------------------------------------------------


def compare_features(run_d: Path, run_r: Path) -> tuple[list[str], dict]:
    """Each store of D against R's float32 one: per value within FEATURES_RTOL and an atol
    scaled to the store (random-weight maps are ~0.01, VGGish vectors ~1), and over the store a
    relative RMS error within FEATURES_REL_RMS. Returns (problems, relative RMS per store)."""
    import zarr

    from avexplain import compare

    problems, errors = [], {}
    for store in feature_stores():
        ref = np.asarray(zarr.open_group(run_r / store, mode="r")["features"][...], np.float64)
        dev = np.asarray(zarr.open_group(run_d / store, mode="r")["features"][...], np.float64)
        rms = float(np.sqrt(np.mean(ref**2)))
        problems += compare.compare_path(
            run_d / store,
            run_r / store,
            store,
            rtol=FEATURES_RTOL,
            atol=FEATURES_ATOL_RMS * rms,
            ignore_keys=compare.VOLATILE_KEYS | RUN_KEYS,
        )
        if ref.shape == dev.shape:
            rel = float(np.linalg.norm(dev - ref) / max(np.linalg.norm(ref), 1e-30))
            errors[store] = round(rel, 6)
            if rel > FEATURES_REL_RMS:
                problems.append(f"{store}: relative RMS error {rel:.4f} > {FEATURES_REL_RMS}")
    return problems, errors


def compare_npz(a: Path, b: Path, name: str, atol: float) -> list[str]:
    """predictions.npz: the same arrays; floats within `atol`, the rest equal."""
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if set(za.files) != set(zb.files):
            return [f"{name}: arrays {sorted(za.files)} vs {sorted(zb.files)}"]
        problems = []
        for key in za.files:
            x, y = za[key], zb[key]
            if x.shape != y.shape:
                problems.append(f"{name}/{key}: shape {x.shape} vs {y.shape}")
            elif x.dtype.kind == "f":
                worst = float(np.nanmax(np.abs(x - y))) if x.size else 0.0
                if not np.allclose(x, y, rtol=0, atol=atol, equal_nan=True):
                    problems.append(f"{name}/{key}: max |d-r| {worst:g} > {atol}")
            elif not np.array_equal(x, y):
                problems.append(f"{name}/{key}: values differ")
        return problems


def perturbation_tolerance(mean_a: float, mean_b: float, draws: int, videos: int) -> float:
    """Allowed |mean TVD of D - mean TVD of R| at one mask and noise level, over `videos` x
    `draws` independent draws each. A TVD lies in [0, 1], so a draw's variance is at most
    mu (1 - mu) (Bhatia-Davis), and by concavity the mean over videos's at most mu (1 - mu) /
    (videos x draws) with mu the overall mean; PERTURB_Z standard errors of the difference
    (about 1 in 16,000 for a normal mean), plus PERTURB_ATOL for the models' own difference."""
    var = sum(max(0.0, m * (1 - m)) for m in (mean_a, mean_b)) / (draws * videos)
    return PERTURB_Z * math.sqrt(var) + PERTURB_ATOL


def compare_perturbation(a: Path, b: Path, name: str) -> list[str]:
    """perturbation.json of D and R: the same videos, levels and draws; mask coverage within
    one cell (a near-tie at the 0.5 attention threshold may flip one); the mean TVD per mask and
    level within `perturbation_tolerance` (the noise comes from each device's own generator)."""
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    problems = [
        f"{name}.{k}: {ra.get(k)!r} vs {rb.get(k)!r}"
        for k in ("noise_variances", "draws", "fast_path", "video_ids")
        if ra.get(k) != rb.get(k)
    ]
    if problems:
        return problems
    draws, levels = ra["draws"], ra["noise_variances"]
    for mask, per_video in ra["tvd_per_video"].items():
        # (seeds, videos, levels) or (videos, levels): every seed's video is one sample
        x = np.asarray(per_video, float).reshape(-1, len(levels))
        y = np.asarray(rb["tvd_per_video"][mask], float).reshape(-1, len(levels))
        videos = x.shape[0]
        for k, level in enumerate(levels):
            ma, mb = float(x[:, k].mean()), float(y[:, k].mean())
            tol = perturbation_tolerance(ma, mb, draws, videos)
            if abs(ma - mb) > tol:
                problems.append(
                    f"{name}: {mask} mask, noise {level}: mean TVD {ma:.4f} vs {mb:.4f} "
                    f"(tolerance {tol:.4f})"
                )
    for modality, per_mask in ra["mask_coverage"].items():
        for mask, cov in per_mask.items():
            x = np.asarray(cov, float)
            y = np.asarray(rb["mask_coverage"][modality][mask], float)
            # one cell of the smallest map: maps are T x H x W (visual) or T (audio) cells
            cell = 1.0 / (4 * 2 * 2) if modality == "visual" else 1.0 / 4
            if x.shape != y.shape or not np.allclose(
                x, y, rtol=0, atol=cell + 1e-6, equal_nan=True
            ):
                problems.append(f"{name}: {modality} {mask} coverage {x.tolist()} vs {y.tolist()}")
    return problems


def compare_downstream(run_d: Path, run_r: Path, mode: str) -> list[str]:
    """Training and explanations of D against R's CPU ones on the same stores."""
    from avexplain import compare

    ignore = compare.VOLATILE_KEYS | RUN_KEYS | {"checkpoint"}
    problems = []
    for model in MODELS[mode]:
        folder = str(Path(paths.trained(DATASET, model, SEED)).parent)
        problems += compare.compare_path(
            run_d / folder / "metrics.json",
            run_r / folder / "metrics.json",
            f"{folder}/metrics.json",
            rtol=TRAIN_RTOL,
            atol=TRAIN_ATOL,
            ignore_keys=ignore,
        )
        problems += compare_npz(
            run_d / folder / "predictions.npz",
            run_r / folder / "predictions.npz",
            f"{folder}/predictions.npz",
            SCORES_ATOL,
        )
    for model in PERTURBED[mode]:
        rel = paths.perturbation(DATASET, model, "json")
        problems += compare_perturbation(run_d / rel, run_r / rel, rel)
    rel = paths.ground_truth(DATASET, "stan")
    problems += compare.compare_path(
        run_d / rel, run_r / rel, rel, atol=GROUND_TRUTH_ATOL, ignore_keys=ignore | {"provenance"}
    )
    return problems


# --- benchmark outputs -> ratios -----------------------------------------------------------


def parse_extract(text: str) -> dict[str, float]:
    """Per backbone block of benchmarks/extract.py's output: a/b, a/c and a/min(bounds)."""
    ratios = {}
    for block in re.split(r"\n(?=\w+: \d+ clips)", text):
        head = re.match(r"(\w+): \d+ clips", block)
        if not head:
            continue
        name = head.group(1)
        for key, pattern in (
            ("a/b", r"a/b = ([\d.]+)"),
            ("a/c", r"a/c = ([\d.]+)"),
            ("a/min_bound", r"a / min\(bounds\) = ([\d.]+)"),
        ):
            found = re.search(pattern, block)
            if found:
                ratios[f"{name} {key}"] = float(found.group(1))
    return ratios


def parse_train(text: str) -> dict:
    """The JSON record benchmarks/train.py prints last."""
    found = re.search(r"^\{\n.*^\}$", text, re.S | re.M)
    if not found:
        raise ValueError("no JSON record in benchmarks/train.py's output")
    return json.loads(found.group(0))


def parse_perturb(text: str) -> dict[str, float]:
    found = re.search(r"ratio b/a(?: per mask)?: ([\d.]+)x", text)
    if not found:
        raise ValueError("no ratio in benchmarks/perturb.py's output")
    return {"loop/ours": float(found.group(1))}


def judge(step: str, ratios: dict, enforce: bool) -> list[dict]:
    """Each of the step's targets with its measured ratio; `met` None when not measured."""
    rows = []
    for name, key, minimum, meaning in TARGETS:
        if name != step:
            continue
        value = ratios.get(key)
        rows.append(
            {
                "ratio": key,
                "value": value,
                "target": minimum,
                "met": None if value is None else bool(value >= minimum),
                "enforced": enforce,
                "what": meaning,
            }
        )
    return rows


# --- nvidia-smi sampling -------------------------------------------------------------------


class GpuSampler:
    """nvidia-smi's memory.used and utilization.gpu every 200 ms, in the background; `window`
    gives the peaks between two times. Raw samples go to `csv`."""

    def __init__(self, csv: Path):
        self.samples: list[tuple[float, float, float]] = []
        self.proc = None
        exe = shutil.which("nvidia-smi")
        if exe is None:
            return
        self.out = csv.open("w")
        self.out.write("time,memory_used_mib,utilization_gpu_percent\n")
        self.proc = subprocess.Popen(
            [
                exe,
                "--query-gpu=memory.used,utilization.gpu",
                "--format=csv,noheader,nounits",
                "-lms",
                "200",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                # one line per GPU; the check uses the first (CUDA_VISIBLE_DEVICES' device 0)
                mem, util = (float(v) for v in line.split(",")[:2])
            except ValueError:
                continue
            now = time.time()
            self.samples.append((now, mem, util))
            self.out.write(f"{now:.3f},{mem:.0f},{util:.0f}\n")

    def window(self, start: float, end: float) -> dict | None:
        rows = [s for s in list(self.samples) if start <= s[0] <= end]
        if not rows:
            return None
        return {
            "peak_memory_mib": max(r[1] for r in rows),
            "peak_utilization_percent": max(r[2] for r in rows),
            "mean_utilization_percent": round(sum(r[2] for r in rows) / len(rows), 1),
            "samples": len(rows),
        }

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.reader.join(timeout=10)  # it writes to self.out until nvidia-smi's output ends
            self.out.close()


# --- the check -----------------------------------------------------------------------------


class Check:
    def __init__(self, out: Path, cpu: bool, cores: int):
        self.out, self.cpu, self.cores = out, cpu, cores
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.steps: list[dict] = []
        self.gpu = GpuSampler(out / "nvidia-smi.csv") if not cpu else None
        self.env = dict(os.environ)
        bindir = Path(sys.executable).parent
        self.env["PATH"] = f"{bindir}{os.pathsep}{self.env.get('PATH', '')}"
        self.snakemake = str(bindir / "snakemake")

    def step(self, name: str, action) -> dict:
        """Run `action(log_path) -> dict` (its extra fields for the summary); an exception
        fails the step with its message. Prints one line per step."""
        log = self.logs / f"{name}.log"
        started, wall = time.perf_counter(), time.time()
        record = {"step": name, "ok": True, "log": str(log.relative_to(self.out))}
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            record.update(action(log) or {})
        except Exception as err:  # noqa: BLE001 - every failure is reported, the check goes on
            record.update(ok=False, error=f"{type(err).__name__}: {err}")
        record["seconds"] = round(time.perf_counter() - started, 1)
        if self.gpu is not None:
            record["gpu"] = self.gpu.window(wall, time.time())
        self.steps.append(record)
        status = "ok" if record["ok"] else f"FAILED ({record['error'][:300]})"
        print(f"[gpu_check] {name}: {status} in {record['seconds']} s", flush=True)
        for row in record.get("targets", []):
            missed = "MISSED" if row["enforced"] else "below (not enforced)"
            mark = "n/a" if row["met"] is None else ("met" if row["met"] else missed)
            value = "-" if row["value"] is None else f"{row['value']:.2f}"
            print(f"    {row['ratio']:24s} {value:>8s}  target >= {row['target']:g}  {mark}")
        return record

    def run(self, cmd: list[str], log: Path, cwd: Path = ROOT, timeout: int = 600) -> str:
        """Run `cmd`, stdout and stderr into `log`; its output, or an error naming the log."""
        with log.open("a") as f:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            try:
                proc = subprocess.run(
                    cmd, cwd=cwd, env=self.env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout
                )
            except subprocess.TimeoutExpired as err:
                raise RuntimeError(f"timed out after {timeout} s; see {log}") from err
        text = log.read_text()
        if proc.returncode:
            tail = " | ".join(text.strip().splitlines()[-3:])
            raise RuntimeError(f"exit {proc.returncode}; see {log}: {tail}")
        return text

    def pipeline(self, run: Path, targets: list[str], log: Path, *extra: str) -> None:
        cmd = [self.snakemake, "--profile", "profiles/local", "--cores", str(self.cores)]
        # options after the targets: some take several values (--rerun-triggers)
        self.run([*cmd, *targets, *extra], log, cwd=run, timeout=900)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, help="output folder (default: timestamped)")
    ap.add_argument("--cpu", action="store_true", help="rehearse on the CPU at toy sizes")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    ap.add_argument(
        "--train-scale", type=float, default=None, help="benchmarks/train.py --scale (GPU: 1)"
    )
    ap.add_argument(
        "--scratch",
        type=Path,
        default=os.environ.get("TMPDIR"),
        help="where benchmarks/train.py writes its store (27 GB at --train-scale 1; node-local "
        "disk, or the read bound measures the network); default $TMPDIR, else the output folder",
    )
    args = ap.parse_args(argv)

    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no GPU (torch sees no CUDA device); --cpu rehearses on the CPU")
        return 2
    device = "cpu" if args.cpu else "cuda"
    mode = "cpu" if args.cpu else "gpu"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = (args.out or ROOT / "benchmarks" / "out" / "gpu_check" / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out, args.cpu, args.cores)
    py = sys.executable
    bench = ROOT / "benchmarks"
    runs = {"device": out / "pipeline" / "device", "reference": out / "pipeline" / "reference"}

    # 1. run D on the device; its provenance names the device
    def device_run(log):
        # auto: bfloat16 where the device has it natively, as a user's run would be
        write_workflow(runs["device"], device, "auto", mode)
        check.pipeline(runs["device"], [*feature_stores(), *pipeline_targets(mode)], log)

    def provenance(log):
        records = device_records(runs["device"], mode)
        log.write_text(json.dumps(records, indent=1) + "\n")
        problems = provenance_problems(records, device, mode)
        if problems:
            raise AssertionError("; ".join(problems))
        return {"records": sum(len(r) for r in records.values())}

    # 2. run R: float32 on the CPU; features from D's clips, then training and explanations on
    #    D's stores (each stage compared on identical inputs)
    def reference_features(log):
        write_workflow(runs["reference"], "cpu", "float32", mode)
        copy_outputs(runs["device"], runs["reference"], "data")
        check.pipeline(runs["reference"], feature_stores(), log, "--rerun-triggers", "mtime")

    def features_compare(log):
        problems, errors = compare_features(runs["device"], runs["reference"])
        log.write_text("\n".join(problems) + "\n")
        if problems:
            raise AssertionError(f"{len(problems)} differences: " + "; ".join(problems[:5]))
        import zarr

        precision = {  # what `auto` resolved to in run D (bfloat16 on a GPU)
            store: zarr.open_group(runs["device"] / store, mode="r").attrs.get("precision")
            for store in feature_stores()
        }
        return {"relative_rms_error": errors, "device_precision": precision}

    def reference_downstream(log):
        ref = runs["reference"]
        shutil.rmtree(ref / "features.float32", ignore_errors=True)
        os.replace(ref / "features", ref / "features.float32")
        copy_outputs(runs["device"], ref, "features")
        targets = pipeline_targets(mode, figures=False)
        check.pipeline(ref, targets, log, "--rerun-triggers", "mtime")
        from avexplain import compare

        # the stores R trained on must be D's, untouched (else the comparison is not on
        # identical inputs)
        same = compare.compare_runs(runs["device"], ref, feature_stores())
        if same:
            raise AssertionError("run R re-extracted the features: " + "; ".join(same[:3]))

    def downstream_compare(log):
        problems = compare_downstream(runs["device"], runs["reference"], mode)
        log.write_text("\n".join(problems) + "\n")
        if problems:
            raise AssertionError(f"{len(problems)} differences: " + "; ".join(problems[:5]))

    check.step("pipeline_device", device_run)
    if check.steps[-1]["ok"]:
        check.step("provenance", provenance)
        check.step("pipeline_reference_features", reference_features)
        if check.steps[-1]["ok"]:
            check.step("compare_features", features_compare)
            check.step("pipeline_reference_downstream", reference_downstream)
            if check.steps[-1]["ok"]:
                check.step("compare_downstream", downstream_compare)

    # 3. the benchmarks, each ratio against its target
    enforce = not args.cpu
    if args.cpu:  # toy sizes: every code path, seconds each
        extract_args = "--n 1 --n-audio 2 --segments 1 --size 64 --frames 1 --repeats 1"
        extract_args += " --workers 1 --no-rss --batch-size 16"
        # 8 videos in 2 batches of 4: streaming still overlaps a read with a step
        train_args = f"--scale {args.train_scale or 0.0006} --batch-size 4 --workers 2"
        # a 2x2 map of 16 channels, 4 draws: the batched and per-draw paths both run (the
        # ratio is not enforced on the CPU)
        perturb_args = "--videos 1 --levels 2 --draws 4 --h 2 --dv 16 --da 8 --classes 4"
    else:  # issue 15's GPU sizes
        extract_args = "--n 64 --n-audio 512 --frames 16"
        train_args = f"--scale {args.train_scale or 1} --threads {min(args.cores, 16)}"
        perturb_args = "--videos 8 --draws 100 --levels 11"

    def bench_extract(log):
        text = check.run(
            [py, str(bench / "extract.py"), "--device", device, *extract_args.split()], log
        )
        ratios = parse_extract(text)
        return {"ratios": ratios, "targets": judge("bench_extract", ratios, enforce)}

    def bench_train(log):
        work = Path(args.scratch or out) / f"gpu_check-train-store-{stamp}"
        cmd = [py, str(bench / "train.py"), "--device", device, "--dir", str(work)]
        try:
            text = check.run([*cmd, *train_args.split()], log, timeout=900)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # AVR-sized at --scale 1: 27 GB
        record = parse_train(text)
        ratios = {"streamed/read": record["train_over_read"]}
        budget = resident_budget_mb(device)
        if budget is not None:  # held in GPU memory within gpu_memory_fraction, and trained
            ratios["resident"] = float(
                record["store_MB"] <= budget and record["train_held_videos_per_s"] > 0
            )
        return {
            "ratios": ratios,
            "record": record,
            "budget_MB": budget,
            "targets": judge("bench_train", ratios, enforce),
        }

    def bench_perturb(log):
        text = check.run(
            [py, str(bench / "perturb.py"), "--device", device, *perturb_args.split()], log
        )
        ratios = parse_perturb(text)
        return {"ratios": ratios, "targets": judge("bench_perturb", ratios, enforce)}

    check.step("bench_extract", bench_extract)
    check.step("bench_train", bench_train)
    check.step("bench_perturb", bench_perturb)
    if check.gpu is not None:
        check.gpu.stop()

    missed = [
        t for s in check.steps for t in s.get("targets", []) if t["enforced"] and t["met"] is False
    ]
    ok = all(s["ok"] for s in check.steps) and not missed
    summary = {
        "ok": ok,
        "mode": "cpu rehearsal" if args.cpu else "gpu",
        "device": device_name(device),
        "torch": torch.__version__,
        "started": stamp,
        "seconds": round(sum(s["seconds"] for s in check.steps), 1),
        "tolerances": {
            "features": f"per value rtol {FEATURES_RTOL}, atol {FEATURES_ATOL_RMS} x RMS; "
            f"relative RMS <= {FEATURES_REL_RMS}",
            "metrics.json": f"rtol {TRAIN_RTOL}, atol {TRAIN_ATOL}",
            "predictions.npz": f"atol {SCORES_ATOL}",
            "ground_truth.json": f"atol {GROUND_TRUTH_ATOL}",
            "perturbation.json": f"mean TVD within {PERTURB_Z} standard errors (Bhatia-Davis "
            f"bound) + {PERTURB_ATOL}; coverage within one cell",
        },
        "steps": check.steps,
        "targets_missed": [f"{t['ratio']} {t['value']} < {t['target']}" for t in missed],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"[gpu_check] {'PASSED' if ok else 'FAILED'}: {out / 'summary.json'}", flush=True)
    return 0 if ok else 1


def resident_budget_mb(device: str) -> float | None:
    """train.gpu_memory_fraction of the GPU's memory in MB (what avexplain.training.train holds on the
    device); None on the CPU, where the target does not apply."""
    if device != "cuda":
        return None
    import torch

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    total = torch.cuda.get_device_properties(0).total_memory
    return round(config["train"]["gpu_memory_fraction"] * total / 1e6, 1)


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name(0)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


if __name__ == "__main__":
    sys.exit(main())
