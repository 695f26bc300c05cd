"""The explanations stage's jobs, one function per Snakemake rule (workflow/rules/explain.smk):
each reads the models stage's artefacts (docs/formats.md), computes, and writes its outputs with
provenance. The models stage (avexplain.train, avexplain.features_io) is imported lazily, inside
the functions that need a trained model, so the rest works and is testable without it."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from avexplain.clipio import read_frames, read_wave
from avexplain.config import config_hash
from avexplain.devices import pick_device
from avexplain.explain import figures, pointing
from avexplain.explain.perturbation import MASKS, perturbation_test
from avexplain.explain.randomisation import randomisation_check
from avexplain.manifest import read_manifest
from avexplain.provenance import code_version

log = logging.getLogger(__name__)
PAPER_NUMBERS = Path(__file__).resolve().parents[3] / "resources" / "paper_numbers.yaml"
TABLE3_ROWS = [  # (paper key, model, binary, label)
    ("stan_audio_soft", "stan_audio", False, "STAN (audio) + soft attention"),
    ("stan_soft", "stan", False, "STAN (audio-visual) + soft attention"),
    ("stan_audio_binary", "stan_audio", True, "STAN (audio) + binary attention"),
    ("stan_binary", "stan", True, "STAN (audio-visual) + binary attention"),
]
DASH = "—"


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonable(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool | list)}


def provenance(config: dict, checkpoint=None, meta: dict | None = None) -> dict:
    """What an output depends on: the configuration's hash, the code version, and the trained
    model (checkpoint hash and the metadata the models stage saved, e.g. backbones, weights)."""
    out = {"config_hash": config_hash(config), "code_version": code_version()}
    if checkpoint is not None:
        out["checkpoint"] = str(checkpoint)
        out["checkpoint_sha256"] = _sha256(checkpoint)
    if meta:
        out["model_meta"] = {k: v for k, v in _jsonable(meta).items() if k != "classes"}
    return out


def _write_json(path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=float) + "\n")


def load_model_and_features(config: dict, dataset: str, checkpoint, max_videos=None, root="."):
    """The trained model (eval mode) and the test split's features, through the models
    stage's API (avexplain.train.load_trained, avexplain.features_io.load_split)."""
    from avexplain.features_io import load_split
    from avexplain.train import load_trained

    model, meta = load_trained(checkpoint)
    feats = load_split(config, dataset, "test", root=root)
    n = len(feats.video_ids) if max_videos is None else min(max_videos, len(feats.video_ids))
    if n == 0:
        raise ValueError(f"{dataset}: the test split has no valid videos to explain")
    return model.eval(), meta, feats, n


# --- perturbation tests -------------------------------------------------------------------


def summarise_perturbation(tvd: np.ndarray, variances, model: str, dataset: str, draws: int):
    """Per (mask, noise level): mean, std and standard error over videos of the per-video TVD."""
    rows = []
    n = tvd.shape[0]
    for j, which in enumerate(MASKS):
        for k, var in enumerate(variances):
            col = tvd[:, j, k]
            std = float(col.std(ddof=1)) if n > 1 else 0.0
            rows.append({
                "dataset": dataset, "model": model, "mask": which, "noise_variance": var,
                "tvd_mean": float(col.mean()), "tvd_std": std, "tvd_sem": std / np.sqrt(n),
                "videos": n, "draws": draws,
            })  # fmt: skip
    return pd.DataFrame(rows)


def run_perturbation(config, dataset, model_name, checkpoint, out_csv, out_json, root="."):
    settings = config["explain"]
    model, meta, feats, n = load_model_and_features(
        config, dataset, checkpoint, settings["max_videos"], root
    )
    device = pick_device(settings["device"], "explain.device")
    variances = [float(v) for v in settings["noise_levels"]]
    log.info("%s/%s: %d test videos, %d noise levels x %d draws x 2 masks on %s",
             dataset, model_name, n, len(variances), settings["draws"], device)  # fmt: skip
    result = perturbation_test(
        model, feats.visual[:n], feats.audio[:n], variances, settings["draws"],
        seed=config["seed"], batch_size=settings["batch_size"], fast=settings["fast_path"],
        device=device, progress=lambda it: tqdm(it, desc=f"perturb {dataset}/{model_name}"),
    )  # fmt: skip
    table = summarise_perturbation(result["tvd"], variances, model_name, dataset, settings["draws"])
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    _write_json(out_json, {
        "dataset": dataset, "model": model_name, "noise_variances": variances,
        "draws": settings["draws"], "fast_path": settings["fast_path"], "device": str(device),
        "video_ids": [str(v) for v in feats.video_ids[:n]],
        "tvd_per_video": {m: result["tvd"][:, j].tolist() for j, m in enumerate(MASKS)},
        "mask_coverage": {k: {m: v[:, j].tolist() for j, m in enumerate(MASKS)}
                          for k, v in result["coverage"].items()},
        "provenance": provenance(config, checkpoint, meta),
    })  # fmt: skip


def run_perturbation_figure(config, dataset, csvs: dict, out_png):
    tables = {model: pd.read_csv(path) for model, path in csvs.items()}
    figures.perturbation_figure(tables, dataset, out_png, provenance(config))


# --- Table 3: pointing game for sounds ----------------------------------------------------


def temporal_scores(predictions, manifest, segments: int) -> dict | None:
    """MAE soft/binary of a model's test time attention against the audio event annotations;
    None when the dataset has no annotated test video."""
    pred = np.load(predictions, allow_pickle=False)
    if "time_attention" not in pred.files:
        raise ValueError(f"{predictions}: no time_attention; the pointing game needs one")
    masks, rows = pointing.annotated(read_manifest(manifest), pred["video_ids"], segments)
    if len(rows) == 0:
        return None
    return pointing.temporal_game(pred["time_attention"][rows], masks)


def _fmt(value) -> str:
    return (
        DASH if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.2f}"
    )


def run_table3(config, inputs: dict, out_csv, out_md, paper_numbers=PAPER_NUMBERS):
    """inputs: {dataset: {"manifest": path, "stan": predictions, "stan_audio": predictions}}."""
    paper = yaml.safe_load(Path(paper_numbers).read_text())["stan"]["table3"]
    segments = config["clip"]["segments"]
    scores = {
        ds: {
            m: temporal_scores(files[m], files["manifest"], segments)
            for m in ("stan", "stan_audio")
        }
        for ds, files in inputs.items()
    }
    rows = []
    for key, model, binary, label in TABLE3_ROWS:
        row = {"method": label}
        for ds in inputs:
            s = scores[ds][model]
            row[f"{ds}_ours"] = None if s is None else s["mae_binary" if binary else "mae_soft"]
            row[f"{ds}_paper"] = paper.get(key, {}).get(ds)
        rows.append(row)
    table = pd.DataFrame(rows)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.map(lambda v: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else v).to_csv(
        out_csv, index=False, float_format="%.4f"
    )
    prov = provenance(config)
    header = "| method | " + " | ".join(f"{ds} ours | {ds} paper" for ds in inputs) + " |"
    lines = [
        "# Table 3 — pointing game for sounds (MAE, lower is better)",
        "",
        "Time attention of the test videos against the binary mask of their annotated audio "
        "events; soft attention and attention binarised at 0.5. Paper numbers from "
        "resources/paper_numbers.yaml (— where the paper has none or no video is annotated).",
        "",
        header,
        "|" + " --- |" * (1 + 2 * len(inputs)),
    ]
    for row in rows:
        cells = [_fmt(row[f"{ds}_{w}"]) for ds in inputs for w in ("ours", "paper")]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    lines += ["", "Annotated test videos: " + ", ".join(
        f"{ds} {scores[ds]['stan']['videos'] if scores[ds]['stan'] else 0}" for ds in inputs
    ) + ".", "", f"config hash {prov['config_hash']}, {prov['code_version']}", ""]  # fmt: skip
    Path(out_md).write_text("\n".join(lines))


# --- ground truth on synth: space and time pointing games, randomisation check -----------


def run_ground_truth(config, dataset, model_name, predictions, manifest, checkpoint, out_json,
                     root="."):  # fmt: skip
    settings = config["explain"]
    seed, draws = config["seed"], settings["baseline_draws"]
    pred = np.load(predictions, allow_pickle=False)
    frame = read_manifest(manifest)
    ids = [str(v) for v in pred["video_ids"]]
    report = {"dataset": dataset, "model": model_name, "test_videos": len(ids)}
    if "time_attention" in pred.files:
        masks, rows = pointing.annotated(frame, ids, config["clip"]["segments"])
        if len(rows):
            report["temporal"] = {
                "model": pointing.temporal_game(pred["time_attention"][rows], masks),
                **pointing.temporal_baselines(masks, seed, draws),
            }
    if "space_attention" in pred.files:
        boxes = dict(zip(frame["video_id"], frame["boxes"], strict=True))
        per_video = [json.loads(boxes.get(v) or "{}") for v in ids]
        report["spatial"] = pointing.spatial_game(pred["space_attention"], per_video, seed, draws)
    model, meta, feats, n = load_model_and_features(
        config, dataset, checkpoint, settings["max_videos"], root
    )
    report["randomisation"] = randomisation_check(model, feats.visual[:n], feats.audio[:n], seed)
    report["provenance"] = provenance(config, checkpoint, meta)
    _write_json(out_json, report)


def run_ground_truth_table(reports: dict, out_csv, out_md, config):
    """One row per model and per baseline: spatial hit rate, temporal MAE and AUC, and the
    randomisation check's Spearman correlations."""
    rows = []
    for model, path in reports.items():
        rep = json.loads(Path(path).read_text())
        sp, tm, rnd = (
            rep.get("spatial") or {},
            rep.get("temporal") or {},
            rep.get("randomisation", {}),
        )
        for who in ("model", "uniform", "random"):
            rows.append({
                "model": model, "attention": model if who == "model" else f"{who} baseline",
                "space_hit_rate": (sp.get(who) or {}).get("hit_rate"),
                "time_mae_soft": (tm.get(who) or {}).get("mae_soft"),
                "time_mae_binary": (tm.get(who) or {}).get("mae_binary"),
                "time_auc": (tm.get(who) or {}).get("auc"),
                **{f"randomised_{key}_{stat}": (rnd.get(f"{key}_attention") or {}).get(name)
                   if who == "model" else None
                   for key in ("space", "time")
                   for stat, name in (("spearman", "spearman_mean"),
                                      ("abs_spearman", "spearman_abs_mean"))},
            })  # fmt: skip
    table = pd.DataFrame(rows)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.4f", na_rep="-")
    cols = list(table.columns)
    lines = [
        "# Explanations against the synth ground truth",
        "",
        "Space: hit rate of the space attention's peak cell inside the sounding object's box, "
        "per annotated second (higher is better). Time: MAE of the time attention against the "
        "true audio events, soft and binarised at 0.5 (lower is better), and ROC AUC (0.5 = "
        "no idea when). Randomised: Spearman correlation (and its absolute value) between the "
        "attention of the trained model and of a re-initialised copy, mean over videos (near "
        "0: the attention depends on the weights; near ±1: on the input alone).",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + " --- |" * len(cols),
    ]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(
            str(r[c]) if isinstance(r[c], str) else _fmt(r[c]) for c in cols) + " |")  # fmt: skip
    prov = provenance(config)
    lines += ["", f"config hash {prov['config_hash']}, {prov['code_version']}", ""]
    Path(out_md).write_text("\n".join(lines))


# --- attention figures -----------------------------------------------------------------------


def clip_paths(config, dataset, video_id, root=".") -> tuple[Path, Path]:
    """The canonical clip (mp4, wav) of a video: data/{dataset}/clips/shard-{k}/, k its manifest
    row // shard_size; AVR ids (`ave/...`, `llp/...`) resolve to their member dataset."""
    root = Path(root)
    ds_cfg = config["datasets"][dataset]
    if ds_cfg["kind"] == "union":
        member, _, inner = video_id.partition("/")
        if member not in ds_cfg["members"]:
            raise ValueError(f"{dataset} video id {video_id!r} does not start with a member name")
        return clip_paths(config, member, inner, root)
    ids = list(read_manifest(root / "data" / dataset / "manifest.csv")["video_id"])
    try:
        row = ids.index(video_id)
    except ValueError:
        raise ValueError(f"{video_id!r} is not in data/{dataset}/manifest.csv") from None
    folder = root / "data" / dataset / "clips" / f"shard-{row // ds_cfg['shard_size']:03d}"
    return folder / f"{video_id}.mp4", folder / f"{video_id}.wav"


def run_attention_figures(config, dataset, predictions, manifest, out_dir, root="."):
    """Figures for the first `explain.attention_videos` test videos (predictions order) that
    have a canonical clip: one PNG per video and a grid of them."""
    clip = config["clip"]
    t, fps, size, sr = clip["segments"], clip["fps"], clip["size"], clip["sample_rate"]
    pred = np.load(predictions, allow_pickle=False)
    frame = read_manifest(manifest).set_index("video_id")
    space = pred["space_attention"] if "space_attention" in pred.files else None
    time = pred["time_attention"] if "time_attention" in pred.files else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = provenance(config)
    written = []
    for i, vid in enumerate(str(v) for v in pred["video_ids"]):
        if len(written) == config["explain"]["attention_videos"]:
            break
        mp4, wav = clip_paths(config, dataset, vid, root)
        if not (mp4.exists() and wav.exists()):
            log.warning("%s: no canonical clip at %s, skipped", vid, mp4)
            continue
        middles = np.arange(t) * fps + fps // 2  # the middle frame of each second
        frames = read_frames(mp4, t * fps, size, middles)
        wave = read_wave(wav, t * sr, sr)
        events = frame.loc[vid, "audio_events"] if vid in frame.index else "[]"
        mask = pointing.event_mask(events, t) if pointing.parse_events(events) else None
        labels = frame.loc[vid, "labels"] if vid in frame.index else ""
        path = out_dir / f"{vid.replace('/', '__')}.png"
        figures.attention_figure(
            frames, None if space is None else space[i], wave[::4],
            None if time is None else time[i], mask, f"{vid} — {labels}", path, meta,
        )  # fmt: skip
        written.append(path)
    if not written:
        raise ValueError(f"{dataset}: no test video with predictions has a canonical clip")
    figures.image_grid(written, out_dir / "grid.png", meta, f"Space and time attention — {dataset}")
