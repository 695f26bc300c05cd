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
from avexplain.config import ConfigError, clip_for, section_for
from avexplain.data.clips import read_frames, read_wave
from avexplain.data.manifest import read_manifest
from avexplain.devices import pick_device
from avexplain.explain import figures, pointing
from avexplain.explain.perturbation import ALL_MASKS, perturbation_test
from avexplain.explain.randomisation import randomisation_check
from avexplain.provenance import record_provenance

log = logging.getLogger(__name__)


def _write_json(path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=float) + "\n")


def load_model_and_features(config: dict, dataset: str, checkpoint, max_videos=None, root="."):
    """The trained model (eval mode) and the test split's features, through the models
    stage's API (avexplain.training.train.load_trained, avexplain.training.splits.load_split)."""
    from avexplain.training.train import load_trained

    model, meta = load_trained(checkpoint)
    feats, n, _ = load_test_features(config, dataset, max_videos, root)
    return model.eval(), meta, feats, n


def load_test_features(config: dict, dataset: str, max_videos=None, root="."):
    """(features, videos used, (visual, audio) per-channel std of the training split or None)."""
    from avexplain.training.splits import open_split

    split = open_split(config, dataset, "test", root=root)
    feats = split.load()
    n = len(feats.video_ids) if max_videos is None else min(max_videos, len(feats.video_ids))
    if n == 0:
        raise ValueError(f"{dataset}: the test split has no valid videos to explain")
    stds = tuple(None if norm is None else np.asarray(norm[1]) for norm in
                 (split.visual_norm, split.audio_norm))  # fmt: skip
    return feats, n, stds


def explain_settings(config: dict, dataset: str) -> dict:
    """The `explain` section with the dataset's overrides applied."""
    return section_for(config, "explain", dataset)


def noise_scales(settings: dict, stds) -> tuple:
    """Per-channel multipliers of standard noise in the space the model reads (standardized
    features): `standardized` adds N(0, sigma^2) there (sigma^2 = 1 is noise as large as each
    channel's spread over the training split); `raw` adds N(0, sigma^2) to the stored
    features, i.e. N(0, sigma^2 / std_c^2) after standardization."""
    space = settings["noise_space"]
    if space == "standardized" or all(s is None for s in stds):
        return None, None
    if space == "raw":
        return tuple(None if s is None else 1.0 / np.maximum(s, 1e-12) for s in stds)
    raise ConfigError(
        f"config key 'explain.noise_space' is {space!r}; expected standardized or raw"
    )


def _as_list(value) -> list:
    return [value] if isinstance(value, str | Path) else list(value)


# --- perturbation tests -------------------------------------------------------------------


def summarise_perturbation(tvd: np.ndarray, variances, model: str, dataset: str, draws: int,
                           coverage=None):  # fmt: skip
    """Per (mask, noise level): mean, std and standard error over videos of the per-video TVD
    (averaged over seeds when `tvd` is (seeds, N, masks, levels)), with each mask's mean
    coverage of the visual cells and audio segments."""
    seeds = 1 if tvd.ndim == 3 else tvd.shape[0]
    per_video = tvd if tvd.ndim == 3 else tvd.mean(axis=0)
    rows = []
    n = per_video.shape[0]
    for j, which in enumerate(ALL_MASKS):
        cov = {
            f"coverage_{k}": float(np.nanmean(v[..., j])) if np.isfinite(v[..., j]).any() else None
            for k, v in (coverage or {}).items()
        }
        for k, var in enumerate(variances):
            col = per_video[:, j, k]
            std = float(col.std(ddof=1)) if n > 1 else 0.0
            rows.append({
                "dataset": dataset, "model": model, "mask": which, "noise_variance": var,
                "tvd_mean": float(col.mean()), "tvd_std": std, "tvd_sem": std / np.sqrt(n),
                "videos": n, "draws": draws, "seeds": seeds, **cov,
            })  # fmt: skip
    return pd.DataFrame(rows)


def write_perturbation_test(config, dataset, model_name, checkpoints, out_csv, out_json, root="."):
    """The perturbation test of every trained seed of one model (`checkpoints`: one per seed),
    on the same test videos and noise draws."""
    from avexplain.training.train import load_trained

    settings = explain_settings(config, dataset)
    checkpoints = _as_list(checkpoints)
    feats, n, stds = load_test_features(config, dataset, settings["max_videos"], root)
    visual_scale, audio_scale = noise_scales(settings, stds)
    device = pick_device(settings["device"], "explain.device")
    variances = [float(v) for v in settings["noise_levels"]]
    tvds, coverage, seeds, metas = [], [], [], []
    for checkpoint in checkpoints:
        model, meta = load_trained(checkpoint)
        seeds.append(meta.get("seed"))
        metas.append(meta)
        log.info("%s/%s seed %s: %d test videos, %d noise levels x %d draws x %d masks on %s, "
                 "attention %s", dataset, model_name, meta.get("seed"), n, len(variances),
                 settings["draws"], len(ALL_MASKS), device, settings["attention"])  # fmt: skip
        result = perturbation_test(
            model, feats.visual[:n], feats.audio[:n], variances, settings["draws"],
            seed=config["seed"], batch_size=settings["batch_size"], fast=settings["fast_path"],
            device=device, attention=settings["attention"], visual_scale=visual_scale,
            audio_scale=audio_scale,
            progress=lambda it: tqdm(it, desc=f"perturb {dataset}/{model_name}"),
        )  # fmt: skip
        tvds.append(result["tvd"])
        coverage.append(result["coverage"])
    tvd = np.stack(tvds)  # (seeds, N, masks, levels)
    cov = {k: np.stack([c[k] for c in coverage]) for k in ("visual", "audio")}
    table = summarise_perturbation(tvd, variances, model_name, dataset, settings["draws"], cov)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    _write_json(out_json, {
        "dataset": dataset, "model": model_name, "noise_variances": variances, "seeds": seeds,
        "draws": settings["draws"], "fast_path": settings["fast_path"], "device": str(device),
        "attention": settings["attention"], "noise_space": settings["noise_space"],
        "masks": list(ALL_MASKS),
        "video_ids": [str(v) for v in feats.video_ids[:n]],
        "tvd_per_video": {m: tvd[:, :, j].tolist() for j, m in enumerate(ALL_MASKS)},
        "mask_coverage": {k: {m: v[:, :, j].tolist() for j, m in enumerate(ALL_MASKS)}
                          for k, v in cov.items()},
        "provenance": record_provenance(config, checkpoints[0], metas[0]),
        "checkpoints": [str(c) for c in checkpoints],
    })  # fmt: skip


def write_perturbation_figure(config, dataset, csvs: dict, out_png):
    tables = {model: pd.read_csv(path) for model, path in csvs.items()}
    figures.perturbation_figure(tables, dataset, out_png, record_provenance(config))


# --- ground truth on synth: space and time pointing games, randomisation check -----------


def split_boxes(frame, split: str) -> list[dict]:
    """The per-second boxes of the manifest's videos of one split."""
    rows = frame[frame["split"] == split]
    return [json.loads(b or "{}") for b in rows["boxes"]]


def write_ground_truth(config, dataset, model_name, predictions, manifest, checkpoints, out_json,
                     root="."):  # fmt: skip
    """Space and time pointing games of every seed's test attention (`predictions`, one per
    seed, beside `checkpoints`) against the ground truth, with the baselines, and the
    randomisation check; `model` entries average the per-video scores over seeds."""
    from avexplain.training.train import load_trained

    settings = explain_settings(config, dataset)
    seed, draws, segments = config["seed"], settings["baseline_draws"], config["clip"]["segments"]
    predictions, checkpoints = _as_list(predictions), _as_list(checkpoints)
    preds = [np.load(p, allow_pickle=False) for p in predictions]
    frame = read_manifest(manifest)
    ids = [str(v) for v in preds[0]["video_ids"]]
    for path, pred in zip(predictions, preds, strict=True):
        if [str(v) for v in pred["video_ids"]] != ids:
            raise ValueError(f"{path}: test videos differ from those of {predictions[0]}")
    feats, n, _ = load_test_features(config, dataset, settings["max_videos"], root)
    if [str(v) for v in feats.video_ids] != ids:
        raise ValueError(f"{predictions[0]}: test videos differ from the {dataset} test split")
    report = {"dataset": dataset, "model": model_name, "test_videos": len(ids),
              "seeds": [], "baseline_draws": draws}  # fmt: skip
    per_seed = {"temporal": [], "spatial": [], "randomisation": []}
    masks, rows = pointing.annotated(frame, ids, segments)
    train_ids = list(frame.loc[frame["split"] == "train", "video_id"])
    train_masks, _ = pointing.annotated(frame, train_ids, segments)
    boxes = dict(zip(frame["video_id"], frame["boxes"], strict=True))
    per_video_boxes = [json.loads(boxes.get(v) or "{}") for v in ids]
    saliency = feats.visual.float().norm(dim=-1).numpy()  # (N,T,H,W): where the map is strong
    has_space = "space_attention" in preds[0].files
    val = _validation(config, dataset, frame, boxes, root) if has_space else None
    for pred, checkpoint in zip(preds, checkpoints, strict=True):
        model, meta = load_trained(checkpoint)
        report["seeds"].append(meta.get("seed"))
        if "time_attention" in pred.files and len(rows):
            per_seed["temporal"].append(pointing.temporal_game(pred["time_attention"][rows], masks))
        if "space_attention" in pred.files:
            space = pred["space_attention"]
            game = pointing.spatial_game(space, per_video_boxes, seed, draws,
                                         train_boxes=split_boxes(frame, "train"),
                                         saliency=saliency)  # fmt: skip
            if game is not None:  # the map's trough, and the end validation points with
                val_maps = attention_maps(model, *val[0])["space_attention"] if val else space[:0]
                orient = pointing.orientation(val_maps, val[1] if val else [])
                game["trough"] = pointing.peak_game(-space, per_video_boxes)
                game["oriented"] = pointing.peak_game(orient["sign"] * space, per_video_boxes)
                game["orientation"] = orient
            per_seed["spatial"].append(game)
        per_seed["randomisation"].append(
            randomisation_check(model.eval(), feats.visual[:n], feats.audio[:n], seed)
        )
    if per_seed["temporal"]:
        prior = pointing.event_prior(train_masks) if len(train_masks) else None
        report["temporal"] = {
            "model": _seed_mean(per_seed["temporal"]),
            **pointing.temporal_baselines(masks, seed, draws, prior),
            "per_seed": [_strip(g) for g in per_seed["temporal"]],
        }
    if per_seed["spatial"] and per_seed["spatial"][0] is not None:
        games = per_seed["spatial"]
        readings = ("model", "trough", "oriented")  # the model's maps; the rest: baselines
        report["spatial"] = {
            **{k: v for k, v in games[0].items() if k not in (*readings, "orientation")},
            **{k: _seed_mean([g[k] for g in games]) for k in readings},
            "per_seed": [_seed_readings(g) for g in games],
        }
    report["randomisation"] = _seed_mean(per_seed["randomisation"])
    report["provenance"] = record_provenance(
        config, checkpoints[0], load_trained(checkpoints[0])[1]
    )
    _write_json(out_json, report)


def _validation(config, dataset, frame, boxes: dict, root):
    """((visual, audio) as the model reads them, per-video boxes) of the validation split, or
    None when it has no videos; `boxes`: the manifest's boxes column by video id."""
    from avexplain.training.splits import open_split

    if not (frame["split"] == "val").any():
        return None
    feats = open_split(config, dataset, "val", root=root).load()
    return (feats.visual, feats.audio), [json.loads(boxes.get(str(v)) or "{}")
                                         for v in feats.video_ids]  # fmt: skip


def attention_maps(model, visual, audio, batch_size: int = 8) -> dict[str, np.ndarray]:
    """The model's space (N,T,H,W) and time (N,T) attention, those it has, on features as it
    reads them."""
    import torch

    parts: dict[str, list] = {"space_attention": [], "time_attention": []}
    with torch.no_grad():
        for i in range(0, len(visual), batch_size):
            out = model(visual[i : i + batch_size], audio[i : i + batch_size])
            for key, maps in parts.items():
                if out.get(key) is not None:
                    maps.append(out[key].float().cpu())
    return {k: torch.cat(v).numpy() for k, v in parts.items() if v}


def _seed_readings(game: dict) -> dict:
    """One seed's hit rates (peak, trough, oriented) and its validation orientation."""
    return {**_strip(game["model"]), "trough_hit_rate": game["trough"]["hit_rate"],
            "oriented_hit_rate": game["oriented"]["hit_rate"],
            "validation": game["orientation"]}  # fmt: skip


def _strip(game: dict) -> dict:
    return {k: v for k, v in game.items() if k != "per_video"}


def _seed_mean(games: list[dict]) -> dict:
    """Numbers averaged over seeds, key by key (nested dicts too); per-video lists averaged
    element-wise (NaN where a video has no value)."""
    out = {}
    for key, first in games[0].items():
        values = [g[key] for g in games]
        if isinstance(first, dict):
            out[key] = _seed_mean(values)
        elif isinstance(first, list):
            out[key] = np.mean(np.array(values, dtype=float), axis=0).tolist()
        elif isinstance(first, int | float) and first is not None:
            out[key] = float(np.mean(values)) if not isinstance(first, bool) else first
            if isinstance(first, int) and all(v == first for v in values):
                out[key] = first
        else:
            out[key] = first
    return out


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
    clip = clip_for(config, dataset)
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
