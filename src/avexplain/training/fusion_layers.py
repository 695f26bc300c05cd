"""Training recipe of the event-specific fusion layers (Senocak et al.).

- `SETTINGS`, `optimizer_and_scheduler`: SGD from lr 1e-2, x0.1 when validation accuracy has not
  risen for 3 epochs; `epoch_labels`: the seeded single label per multi-label training video.
- `train_seeds`, `evaluate`: one job per dataset trains the four models of Table 1 with each
  seed and scores them with the read-outs of `avexplain.training.fusion_readouts` (the vote,
  the label sets, the modality bias, the uniquely correct videos), which need no torch.
docs/fusion_layers.md lists the choices the paper leaves open."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from avexplain import paths
from avexplain.config import ConfigError, clip_for, config_hash, section_for
from avexplain.models.fusion_layers import single_labels
from avexplain.names import SPLITS
from avexplain.training.fusion_readouts import (
    layer_correct,
    modality_bias,
    prediction_sets,
    set_f1,
    top_n_sets,
    unique_correct,
    video_accuracy,
    vote,
)

log = logging.getLogger(__name__)
RECIPES = ("frozen_features", "end_to_end")

SETTINGS = {
    "lr": 1e-2,  # paper
    "plateau_epochs": 3,  # paper: lr x 0.1 once validation accuracy has not risen for 3 epochs
    "plateau_factor": 0.1,  # paper
    "momentum": 0.9,  # the rest: not in the paper (docs/fusion_layers.md)
    "weight_decay": 1e-4,
    "batch_size": 32,
    "epochs": 30,
    "label_draw": "per_epoch",  # per_epoch | once: when a multi-label video's label is redrawn
    "confidence": "logit",  # logit | softmax: the score compared by the vote's tie rule
    "vote_rule": "plurality",  # plurality | majority (see `vote`)
}


def settings(overrides: dict | None = None) -> dict:
    """SETTINGS with `overrides` (e.g. the config's fusion_layers section); unknown keys fail."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown fusion-layers settings {sorted(unknown)}")
    out = {**SETTINGS, **overrides}
    if out["label_draw"] not in ("per_epoch", "once"):
        raise ValueError(f"label_draw must be per_epoch or once, got {out['label_draw']}")
    return out


def optimizer_and_scheduler(params, cfg: dict | None = None):
    """SGD and its plateau schedule. Call `scheduler.step(val_accuracy)` once per epoch: the lr
    drops at the end of the `plateau_epochs`-th epoch in a row without a strictly higher
    validation accuracy (torch's patience counts the epochs tolerated, hence the minus one)."""
    cfg = settings(cfg)
    optimizer = torch.optim.SGD(
        params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="max",
        factor=cfg["plateau_factor"],
        patience=cfg["plateau_epochs"] - 1,
        threshold=0.0,
        threshold_mode="abs",
    )
    return optimizer, scheduler


def epoch_labels(
    targets: np.ndarray,
    seed: int,
    epoch: int,
    cfg: dict | None = None,
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """The single training label of every video for `epoch`: redrawn each epoch
    (label_draw: per_epoch) or drawn once (once); seeded by (seed, epoch, video)."""
    cfg = settings(cfg)
    return single_labels(targets, seed, epoch if cfg["label_draw"] == "per_epoch" else 0, ids)


# ----------------------------------------------------------------------------- pipeline jobs
# One job per dataset trains the four models of Table 1 with every seed on the same inputs
# (read once): `train_seeds`. `aggregate` turns the seeds into each model's metrics.json with
# the paired intervals Table 1 prints.

SECTION = "fusion_layers"
E2E_STAGES = ("uni_audio", "uni_vision", "fusion_layers", "naive_av")  # backbones flow forward


def config_for(config: dict, dataset: str) -> dict:
    """The `fusion_layers` config section with the dataset's overrides applied."""
    if SECTION not in config:
        raise ConfigError(f"config lacks the section '{SECTION}' (docs/fusion_layers.md)")
    cfg = section_for(config, SECTION, dataset)
    settings(cfg["train"])  # unknown keys fail here, naming them
    if cfg["recipe"] not in RECIPES:
        raise ConfigError(f"config key {SECTION}.recipe: expected one of {RECIPES}")
    if cfg["recipe"] == "end_to_end":  # only this recipe samples frames from the clips
        steps, fps = cfg["end_to_end"]["steps_per_second"], clip_for(config, dataset)["fps"]
        if steps > fps:
            raise ConfigError(
                f"config key {SECTION}.end_to_end.steps_per_second is {steps}, more than the "
                f"{fps} frames a second of {dataset}'s clips (clip.fps with its overrides)"
            )
    return cfg


def _features_config(config: dict, cfg: dict) -> dict:
    """The config as avexplain.training.splits reads it, with this family's two backbones."""
    models = {
        **config["models"],
        "visual_backbone": cfg["visual_backbone"],
        "audio_backbone": cfg["audio_backbone"],
    }
    return {**config, "models": models}


def frozen_splits(config: dict, dataset: str, onset_files, root=".") -> dict:
    """{split: dict(ids, visual (N,T,Dv), audio (N,T,Da), onsets (N,T), targets (N,C))} as
    float32 tensors from the stores (standardized as `models.standardize` says), classes,
    provenance."""
    from avexplain.features.onsets import load_masks
    from avexplain.training import splits as avsplits

    cfg = config_for(config, dataset)
    features_config = _features_config(config, cfg)
    out = {}
    for name in SPLITS:
        lazy = avsplits.open_split(features_config, dataset, name, root)
        data = lazy.load()
        # a map store (e.g. ResNet-152) enters as its grid average, the backbone's global
        # average pool, as MC3-18's stored vector is
        visual = data.visual.mean(dim=(2, 3)) if data.visual.ndim == 5 else data.visual
        out[name] = {
            "ids": data.video_ids,
            "inputs": (
                visual,
                data.audio,
                torch.from_numpy(load_masks(onset_files, data.video_ids)),
            ),
            "targets": data.targets,
            "classes": data.classes,
            "provenance": lazy.provenance,
        }
    return out


class ClipSplit:
    """The end-to-end recipe's inputs of one split, read from the canonical clips per batch:
    frames at `steps_per_second`, the wave, and onsets on the same grid (computed once)."""

    def __init__(self, rows: list[tuple[str, Path, Path]], targets, clip, steps, onset_params):
        from avexplain.features.onsets import clip_onsets

        self.rows, self.clip, self.steps = rows, clip, steps
        self.onsets = torch.from_numpy(
            np.stack(
                [
                    clip_onsets(wav, clip["segments"], clip["sample_rate"], steps, **onset_params)
                    for _, _, wav in rows
                ]
            )
        )
        self.targets = torch.from_numpy(targets)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        rows = [self.rows[i] for i in np.asarray(index).ravel()]
        frames, waves = zip(
            *(load_clip(mp4, wav, self.clip, self.steps) for _, mp4, wav in rows),
            strict=True,
        )
        return (
            torch.from_numpy(np.stack(frames)),
            torch.from_numpy(np.stack(waves)),
            self.onsets[index],
        )


def step_frame_indices(fps: int, segments: int, steps_per_second: int) -> np.ndarray:
    """Indices of the clip frames sampled at `steps_per_second` (centred bins), T * steps."""
    from avexplain.features.backbones import segment_frame_indices

    within = segment_frame_indices(fps, steps_per_second)
    return (np.arange(segments)[:, None] * fps + within).ravel()


def load_clip(
    video_path, wav_path, clip: dict, steps_per_second: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """A canonical clip's frames at `steps_per_second` (T*s, size, size, 3) uint8 and its wave
    (T * sample_rate,) float32, the inputs of `EndToEnd` (clip: the config's clip section)."""
    t, fps, sr = int(clip["segments"]), int(clip["fps"]), int(clip["sample_rate"])
    from avexplain.data.clips import read_frames, read_wave

    keep = step_frame_indices(fps, t, steps_per_second)
    frames = read_frames(video_path, t * fps, int(clip["size"]), keep)
    return frames, read_wave(wav_path, t * sr, sr)


def clip_splits(config: dict, dataset: str, clips_dirs, root=".") -> dict:
    """The end-to-end recipe's splits: every manifest video with a canonical clip."""
    from avexplain.data import manifest as avmanifest
    from avexplain.training.splits import multi_hot

    cfg = config_for(config, dataset)
    root = Path(root)
    manifest_path = root / paths.manifest(dataset)
    frame = avmanifest.read_manifest(manifest_path)
    classes = avmanifest.read_classes(root / paths.classes(dataset))
    where = {}
    for folder in clips_dirs:
        for wav in Path(root, folder).glob("*.wav"):
            mp4 = wav.with_suffix(".mp4")
            if mp4.exists():
                where[wav.stem] = (mp4, wav)
    out = {}
    for name in SPLITS:
        part = frame[(frame["split"] == name) & frame["video_id"].isin(where)]
        if part.empty:
            raise ValueError(f"{manifest_path}: no video of split '{name}' has a canonical clip")
        rows = [(v, *where[v]) for v in part["video_id"]]
        targets = multi_hot(part["labels"].tolist(), classes, str(manifest_path))
        e2e = cfg["end_to_end"]
        data = ClipSplit(
            rows, targets, clip_for(config, dataset), e2e["steps_per_second"], cfg["onsets"]
        )
        out[name] = {
            "ids": part["video_id"].to_numpy(dtype=str),
            "inputs": data,
            "targets": data.targets,
            "classes": classes,
            "provenance": {"clips": sorted(str(c) for c in clips_dirs)},
        }
    return out


def _batches(inputs, rows_per_batch, device):
    for rows in rows_per_batch:
        index = torch.as_tensor(rows)
        parts = inputs[index] if isinstance(inputs, ClipSplit) else [x[index] for x in inputs]
        yield [None if x is None else x.to(device) for x in parts], index


@torch.no_grad()
def predict(model, split: dict, batch_size: int, device) -> np.ndarray:
    """(N, L, C) layer logits of a split, in order."""
    model.eval()
    rows = np.arange(len(split["targets"]))
    chunks = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    return np.concatenate(
        [
            model(*inputs)["layer_logits"].float().cpu().numpy()
            for inputs, _ in _batches(split["inputs"], chunks, device)
        ]
    )


def fit(model, data: dict, cfg: dict, seed: int, device, ids_train) -> dict:
    """SGD with the plateau schedule on val video accuracy (the vote); returns the best epoch's
    weights (strictly higher val accuracy wins; ties keep the earlier), its epoch and the
    history. Each epoch draws the single training label of every video from (seed, epoch, id)."""
    train_cfg = settings(cfg["train"])
    optimizer, scheduler = optimizer_and_scheduler(model.parameters(), train_cfg)
    targets = data["train"]["targets"].numpy()
    best, history = None, []
    for epoch in range(train_cfg["epochs"]):
        started = time.perf_counter()
        model.train()
        torch.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
        labels = torch.from_numpy(epoch_labels(targets, seed, epoch, train_cfg, ids_train))
        order = np.random.default_rng([seed, epoch]).permutation(len(targets))
        size = train_cfg["batch_size"]
        chunks = [order[i : i + size] for i in range(0, len(order), size)]
        losses = []
        for inputs, index in _batches(data["train"]["inputs"], chunks, device):
            loss = model.loss(model(*inputs), labels[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        val_logits = predict(model, data["val"], size, device)
        val = video_accuracy(
            data["val"]["targets"],
            vote(val_logits, train_cfg["vote_rule"], train_cfg["confidence"]),
        )
        scheduler.step(val)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": float(np.mean(losses)),
                "val_accuracy": 100 * val,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        if best is None or val > best["val"]:
            best = {"epoch": epoch + 1, "val": val, "weights": copy.deepcopy(model.state_dict())}
    return {**best, "history": history}


def evaluate(layer_logits: np.ndarray, targets, layers, cfg: dict) -> dict:
    """Test metrics of one model (percent where a share): the vote's video accuracy (`top1`),
    each layer's accuracy, the F1 of the layers' prediction set (five-layer model) or of the
    top-N of its scores for N = 1..5 (one-layer models: Naive AV's Table 2 rows), and for the
    five-layer model the modality bias and the uniquely correct counts."""
    train_cfg = settings(cfg["train"])
    targets = np.asarray(targets)
    predicted = vote(layer_logits, train_cfg["vote_rule"], train_cfg["confidence"])
    correct = layer_correct(layer_logits, targets)
    out = {
        "top1": 100 * video_accuracy(targets, predicted),
        "layer_accuracy": {
            name: 100 * float(correct[:, i].mean()) for i, name in enumerate(layers)
        },
    }
    if len(layers) > 1:
        sets = prediction_sets(layer_logits)
        out["set_f1"] = 100 * set_f1(targets, sets)
        out["set_size"] = float(sets.sum(1).mean())
        bias = modality_bias(layer_logits, targets, layers, train_cfg["confidence"])
        out["modality_bias"] = {
            "counts": bias["counts"],
            "votes": bias["votes"].tolist(),
            "assignment": bias["assignment"].tolist(),
        }
        out["unique_correct"] = unique_correct(layer_logits, targets, layers)
    else:
        scores = np.asarray(layer_logits)[:, 0]
        top = min(5, scores.shape[1])
        out["top_n_f1"] = {
            str(n): 100 * set_f1(targets, top_n_sets(scores, n)) for n in range(1, top + 1)
        }
    return out


def train_seed(
    config: dict,
    dataset: str,
    seed: int,
    out_dirs: dict[str, str | Path],
    onset_files=(),
    clips_dirs=(),
    root=".",
    threads: int | None = None,
) -> dict:
    """`train_seeds` with one seed: {model: metrics record}."""
    runs = train_seeds(config, dataset, {seed: out_dirs}, onset_files, clips_dirs, root, threads)
    return runs[seed]


def train_seeds(
    config: dict,
    dataset: str,
    out_dirs: dict[int, dict[str, str | Path]],
    onset_files=(),
    clips_dirs=(),
    root=".",
    threads: int | None = None,
) -> dict[int, dict]:
    """For each seed of `out_dirs` ({seed: {model: folder}}), train its models on one
    dataset, select each on validation accuracy, and write checkpoint.pt, predictions.npz (test
    video ids, targets, layer logits) and metrics.json into its folder. The inputs are read
    once for all seeds (a seed's numbers are those it gets alone). The recipe (config
    `fusion_layers.recipe`) says whether they are the stored features (`onset_files`: the
    onset shards) or the canonical clips (`clips_dirs`; backbones carried from the audio and
    vision stages to the audio-visual models, as the paper trains them). Returns
    {seed: {model: metrics record}}."""
    from avexplain.devices import pick_device
    from avexplain.models import fusion_layers as fl
    from avexplain.training.train import make_deterministic

    cfg = config_for(config, dataset)
    unknown = {m for dirs in out_dirs.values() for m in dirs} - set(fl.NAMES)
    if unknown:
        raise ValueError(f"unknown fusion-layers models {sorted(unknown)}; expected {fl.NAMES}")
    make_deterministic(threads)
    device = pick_device(cfg["device"], f"{SECTION}.device")
    if cfg["recipe"] == "end_to_end":
        data = clip_splits(config, dataset, clips_dirs, root)
    else:
        data = frozen_splits(config, dataset, onset_files, root)
    return {
        seed: _train_models(config, dataset, cfg, seed, dirs, data, onset_files, device)
        for seed, dirs in out_dirs.items()
    }


def _train_models(config, dataset, cfg, seed, out_dirs, data, onset_files, device) -> dict:
    from avexplain.features.backbones import KINETICS_MEAN, KINETICS_STD
    from avexplain.models import fusion_layers as fl
    from avexplain.provenance import code_version

    end_to_end = cfg["recipe"] == "end_to_end"
    train = data["train"]
    classes = train["classes"]
    results, trained = {}, {}
    for name in [m for m in (E2E_STAGES if end_to_end else fl.NAMES) if m in out_dirs]:
        torch.manual_seed(seed)
        if end_to_end:
            e2e = cfg["end_to_end"]
            model = fl.EndToEnd(
                cfg["model"],
                len(classes),
                segments=int(config["clip"]["segments"]),
                steps_per_second=e2e["steps_per_second"],
                head=name,
                sample_rate=int(config["clip"]["sample_rate"]),
                audio_channels=e2e["audio_channels"],
                frame_size=e2e["frame_size"],
                video_normalisation=(KINETICS_MEAN, KINETICS_STD),
            )
            model.load_backbones(*trained.values())  # the paper's stages: A, V, then A+V
            dims = {"num_classes": len(classes), "steps_per_second": e2e["steps_per_second"]}
        else:
            visual, audio, _ = train["inputs"]
            dims = {
                "visual_dim": visual.shape[-1],
                "audio_dim": audio.shape[-1],
                "num_classes": len(classes),
                "time_steps": visual.shape[1],
            }
            model = fl.build(name, cfg["model"], **dims)
        model.to(device)
        best = fit(model, data, cfg, seed, device, train["ids"])
        model.load_state_dict(best["weights"])
        trained[name] = model
        test_logits = predict(model, data["test"], settings(cfg["train"])["batch_size"], device)
        layers = list(model.head.layers if end_to_end else model.layers)
        out_dir = Path(out_dirs[name])
        out_dir.mkdir(parents=True, exist_ok=True)
        provenance = {
            "features": train["provenance"],
            "onsets": None if end_to_end else _onset_params(onset_files),
            "config_hash": config_hash({SECTION: cfg, "models": config["models"]}),
            "code_version": code_version(),
        }
        meta = {
            "model": name,
            "dataset": dataset,
            "seed": seed,
            "classes": classes,
            "dims": dims,
            "recipe": fl.recipe(model),
            "model_config": cfg["model"],
        }
        torch.save(
            {"state_dict": best["weights"], "meta": meta, "provenance": provenance},
            out_dir / "checkpoint.pt",
        )
        np.savez_compressed(
            out_dir / "predictions.npz",
            video_ids=data["test"]["ids"],
            targets=data["test"]["targets"].numpy(),
            layer_logits=test_logits,
            layers=np.array(layers),
        )
        record = {
            "model": name,
            "dataset": dataset,
            "seed": seed,
            "recipe": fl.recipe(model),
            "best_epoch": best["epoch"],
            "val": {"top1": 100 * best["val"]},
            "test": evaluate(test_logits, data["test"]["targets"].numpy(), layers, cfg),
            "test_videos": len(data["test"]["ids"]),
            "classes": classes,
            "history": best["history"],
            "provenance": provenance,
            "device": str(device),
        }
        if "onset" in layers and not end_to_end:
            onsets = data["test"]["inputs"][2]
            record["test"]["onset_fallback_videos"] = int((~onsets.any(1)).sum())
        (out_dir / "metrics.json").write_text(json.dumps(record, indent=1) + "\n")
        log.info("%s/%s seed %d: test %s", dataset, name, seed, record["test"]["top1"])
        results[name] = record
    return results


def _onset_params(onset_files) -> dict | None:
    for path in onset_files:
        with np.load(path) as data:
            return json.loads(str(data["params"]))
    return None
