"""The explanations stage's jobs, one function per rule of workflow/rules/explain.smk:
each reads the models stage's artefacts (docs/formats.md), computes, and writes its outputs with
provenance. The training stage is imported lazily, inside the functions that need a trained
model, so the rest works and is testable without torch's model code loaded."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from avexplain import paths
from avexplain.data.clips import read_frames, read_wave
from avexplain.data.manifest import read_manifest
from avexplain.devices import pick_device
from avexplain.explain import figures, pointing
from avexplain.explain.perturbation import MASKS, perturbation_test
from avexplain.explain.randomisation import randomisation_check
from avexplain.provenance import record_provenance

log = logging.getLogger(__name__)


def _write_json(path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=float) + "\n")


def load_model_and_features(config: dict, dataset: str, checkpoint, max_videos=None, root="."):
    """The trained model (eval mode) and the test split's features, through the models
    stage's API (avexplain.training.train.load_trained, avexplain.training.splits.load_split)."""
    from avexplain.training.splits import load_split
    from avexplain.training.train import load_trained

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


def write_perturbation_test(config, dataset, model_name, checkpoint, out_csv, out_json, root="."):
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
        "provenance": record_provenance(config, checkpoint, meta),
    })  # fmt: skip


def write_perturbation_figure(config, dataset, csvs: dict, out_png):
    tables = {model: pd.read_csv(path) for model, path in csvs.items()}
    figures.perturbation_figure(tables, dataset, out_png, record_provenance(config))


# --- ground truth on synth: space and time pointing games, randomisation check -----------


def write_ground_truth(config, dataset, model_name, predictions, manifest, checkpoint, out_json,
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
    report["provenance"] = record_provenance(config, checkpoint, meta)
    _write_json(out_json, report)


# --- attention figures -----------------------------------------------------------------------


def clip_paths(config, dataset, video_id, root=".") -> tuple[Path, Path]:
    """The canonical clip (mp4, wav) of a video in the clips of shard row // shard_size; AVR ids (`ave/...`, `llp/...`) resolve to their member dataset."""
    root = Path(root)
    ds_cfg = config["datasets"][dataset]
    if ds_cfg["kind"] == "union":
        member, _, inner = video_id.partition("/")
        if member not in ds_cfg["members"]:
            raise ValueError(f"{dataset} video id {video_id!r} does not start with a member name")
        return clip_paths(config, member, inner, root)
    ids = list(read_manifest(root / paths.manifest(dataset))["video_id"])
    try:
        row = ids.index(video_id)
    except ValueError:
        raise ValueError(f"{video_id!r} is not in {paths.manifest(dataset)}") from None
    folder = root / paths.clips(dataset, paths.shard_id(row // ds_cfg["shard_size"]))
    return folder / f"{video_id}.mp4", folder / f"{video_id}.wav"


def write_attention_figures(config, dataset, predictions, manifest, out_dir, root="."):
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
    meta = record_provenance(config)
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
