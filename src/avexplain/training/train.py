"""Training and evaluation of one model on one dataset with one seed (paper section 4).

Protocol: Adam with the same step schedule and seed for every model; after every epoch the
model is scored on the validation split, and the weights with the best validation mAP are the
result (`checkpoint.pt`), evaluated once on the test split (`predictions.npz`, `metrics.json`).

Features come from the stores (`avexplain.training.splits`). The splits are read once and kept on
the device while their size there together stays within `train.in_memory_max_gb` (float32 on a
CPU; on a GPU float16, within `train.gpu_memory_fraction` of its memory); the others are
streamed: each batch's chunks are read by dask threads while the model works on the previous
batch. Batches hold the same videos in the same order either way, so both paths give the same
result.

Determinism and resumption: the model is initialised from the seed; epoch e shuffles with
numpy's generator seeded [seed, e] and reseeds torch (dropout) from the same pair, so an epoch
depends only on the weights it starts from. After every epoch `resume.pt` (weights, optimizer,
schedule, best weights, history) is written atomically; a re-run after a kill continues from it
and ends with exactly the result of an uninterrupted run."""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avexplain import models as avmodels
from avexplain.config import ConfigError, config_hash, section_for
from avexplain.devices import pick_device
from avexplain.provenance import code_version
from avexplain.training import metrics as avmetrics
from avexplain.training import splits as avsplits

log = logging.getLogger(__name__)
KILL_ENV = "AVEXPLAIN_TEST_KILL_AFTER_EPOCH"  # tests: SIGKILL the job once that epoch is saved
TRAIN_KEYS = (
    "seeds",
    "epochs",
    "batch_size",
    "lr",
    "lr_step",
    "lr_gamma",
    "weight_decay",
    "device",
    "in_memory_max_gb",
    "gpu_memory_fraction",
    "stream_workers",
)
# settings that change how features reach the model, not the result (both paths are identical)
NOT_IN_RESULT = ("seeds", "stream_workers", "in_memory_max_gb", "gpu_memory_fraction")


def settings_for(config: dict, dataset: str) -> dict:
    """The `train` section with the dataset's overrides applied."""
    settings = section_for(config, "train", dataset)
    missing = [k for k in TRAIN_KEYS if k not in settings]
    if missing:
        raise ConfigError(f"config section 'train' lacks {missing}")
    return settings


def _seed_of(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def make_deterministic(threads: int | None = None) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # torch.use_deterministic_algorithms(True, warn_only=True) minus its import of
    # torch._inductor (about 4 s per job) to set the compiler's flag: nothing here compiles
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    if threads:
        torch.set_num_threads(threads)


# --- batches -----------------------------------------------------------------------------


class InMemory:
    """A split read once, on the device. On a GPU float16 as stored (half the memory),
    standardized to float32 per batch; on a CPU standardized once into float32 (twice the
    memory, counted in its budget): converting and standardizing every batch again cost a
    CPU job about 15 % of its training time. Both give every batch the same values.

    Read block by block straight into the device tensors, so loading a 27 GB split onto a GPU
    never holds more than one block (LOAD_BLOCK videos) in host memory."""

    streaming = False
    LOAD_BLOCK = 256

    @staticmethod
    def holds_float32(device: torch.device) -> bool:
        """Whether the split is held standardized in float32 (the CPU) or as stored (float16)."""
        return device.type != "cuda"

    @classmethod
    def bytes_per_stored_byte(cls, device: torch.device) -> int:
        return 2 if cls.holds_float32(device) else 1

    def __init__(self, split: avsplits.LazySplit, device: torch.device, workers: int):
        # standardized float32 (CPU) or the stored float16 values, exact, standardized per batch
        # exactly as `split.read` does
        self.ready = self.holds_float32(device)
        dtype = torch.float32 if self.ready else torch.float16
        self.visual = torch.empty(split.visual_shape, dtype=dtype, device=device)
        self.audio = torch.empty(split.audio_shape, dtype=dtype, device=device)
        for start in range(0, len(split), self.LOAD_BLOCK):
            block = slice(start, min(start + self.LOAD_BLOCK, len(split)))
            rows = np.arange(block.start, block.stop)
            visual, audio = split.read(rows, workers, stored=not self.ready)
            self.visual[block] = torch.from_numpy(visual)
            self.audio[block] = torch.from_numpy(audio)
        self.targets = torch.from_numpy(split.targets).to(device)
        self.norms = [
            None if norm is None else [torch.as_tensor(x, device=device) for x in norm]
            for norm in (split.visual_norm, split.audio_norm)
        ]
        self.device = device

    def _standardize(self, values, norm):
        # in place on the batch's fresh float32 copy: the same values as (values - mean) / std
        # without two more batch-sized temporaries
        if norm is None:
            return values
        return values.sub_(norm[0]).div_(norm[1])

    def batches(self, rows_per_batch):
        for rows in rows_per_batch:
            index = torch.as_tensor(rows, device=self.device)
            if self.ready:
                yield self.visual[index], self.audio[index], self.targets[index]
                continue
            yield (
                self._standardize(self.visual[index].float(), self.norms[0]),
                self._standardize(self.audio[index].float(), self.norms[1]),
                self.targets[index],
            )


class Streaming:
    """A split read batch by batch from the stores, the next batch prefetched in a thread."""

    streaming = True

    def __init__(self, split: avsplits.LazySplit, device: torch.device, workers: int):
        self.split, self.device, self.workers = split, device, workers
        self.targets = torch.from_numpy(split.targets)

    def _read(self, rows):
        visual, audio = self.split.read(rows, self.workers)
        return torch.from_numpy(visual), torch.from_numpy(audio), self.targets[rows]

    def batches(self, rows_per_batch):
        rows_per_batch = list(rows_per_batch)
        if not rows_per_batch:
            return
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(self._read, rows_per_batch[0])
            for k in range(len(rows_per_batch)):
                visual, audio, targets = pending.result()
                if k + 1 < len(rows_per_batch):
                    pending = pool.submit(self._read, rows_per_batch[k + 1])
                yield (
                    visual.to(self.device, non_blocking=True),
                    audio.to(self.device, non_blocking=True),
                    targets.to(self.device),
                )


def memory_budget(settings: dict, device: torch.device) -> float:
    """Bytes the splits of a job may take on the device (see InMemory): on CUDA a share of the
    GPU's memory (`train.gpu_memory_fraction`: AVR's 27 GB of maps fit an 80 GB GPU), else
    `train.in_memory_max_gb` of host memory."""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        return settings["gpu_memory_fraction"] * total
    return settings["in_memory_max_gb"] * 1e9


def data_sources(splits: dict, settings: dict, device: torch.device, force: str | None = None):
    """Each split held in memory while the budget lasts (in split order), else streamed."""
    left = memory_budget(settings, device)
    sources = {}
    for name, split in splits.items():
        held = split.nbytes * InMemory.bytes_per_stored_byte(device)
        streaming = force == "stream" or (force is None and held > left)
        log.info(
            "%s split of %d videos, %.2f GB stored: %s",
            name,
            len(split),
            split.nbytes / 1e9,
            "streamed from the store" if streaming else f"held in memory ({device})",
        )
        kind = Streaming if streaming else InMemory
        sources[name] = kind(split, device, settings["stream_workers"])
        left -= 0 if streaming else held
    return sources


def chunks_of(rows: np.ndarray, size: int) -> list[np.ndarray]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


# --- the loop ----------------------------------------------------------------------------


@torch.no_grad()
def predict(model, source, num: int, batch_size: int) -> dict[str, np.ndarray]:
    """Sigmoid scores (and attention, where the model has it) for rows 0..num-1 in order."""
    model.eval()
    parts: dict[str, list] = {"scores": [], "space_attention": [], "time_attention": []}
    for visual, audio, _ in source.batches(chunks_of(np.arange(num), batch_size)):
        out = model(visual, audio)
        parts["scores"].append(torch.sigmoid(out["logits"]).float().cpu().numpy())
        for key in ("space_attention", "time_attention"):
            if out[key] is not None:
                parts[key].append(out[key].float().cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items() if v}


def run_epoch(model, optimizer, source, rows_per_batch) -> list[float]:
    """One pass of Adam steps over the batches; the loss of every batch."""
    model.train()
    losses = []
    for visual, audio, targets in source.batches(rows_per_batch):
        loss = model.loss(model(visual, audio), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _fingerprint(dataset, name, seed, settings, model_config, sizes) -> str:
    return config_hash(
        {
            "dataset": dataset,
            "model": name,
            "seed": seed,
            "train": {k: v for k, v in settings.items() if k not in NOT_IN_RESULT},
            "models": model_config,
            "sizes": sizes,
        }
    )


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def train(
    config: dict,
    dataset: str,
    model_name: str,
    seed: int,
    out_dir: str | Path,
    root: str | Path = ".",
    threads: int | None = None,
    force_source: str | None = None,
    progress: bool = True,
) -> dict:
    """Train, select on validation mAP, evaluate on test; write checkpoint.pt,
    predictions.npz and metrics.json (this seed) into `out_dir`; return the metrics record."""
    runs = train_runs(
        config, dataset, {(model_name, seed): out_dir}, root, threads, force_source, progress
    )
    return runs[model_name, seed]


def train_runs(
    config: dict,
    dataset: str,
    out_dirs: dict[tuple[str, int], str | Path],
    root: str | Path = ".",
    threads: int | None = None,
    force_source: str | None = None,
    progress: bool = True,
) -> dict[tuple[str, int], dict]:
    """`train` for each (model, seed) of `out_dirs` ({(model, seed): folder}) on splits read
    once: one job of rule train_model_seeds or train_single_seed_models. Every run reseeds
    what it draws, so its numbers are those it gets alone; {(model, seed): metrics record}."""
    settings = settings_for(config, dataset)
    make_deterministic(threads)
    device = pick_device(settings["device"], "train.device")
    splits = {s: avsplits.open_split(config, dataset, s, root) for s in avsplits.SPLITS}
    sources = data_sources(splits, settings, device, force_source)
    shared = {"splits": splits, "sources": sources, "settings": settings, "device": device}
    run = functools.partial(_train_seed, config, dataset, progress=progress, **shared)
    return {(m, s): run(m, s, Path(out_dir)) for (m, s), out_dir in out_dirs.items()}


def _train_seed(
    config, dataset, model_name, seed, out_dir, *, splits, sources, settings, device, progress
) -> dict:
    """Phases: a fresh model; resuming a killed run; the epochs; the outputs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model_config = {k: v for k, v in config["models"].items() if k != "names"}
    t, h, w, dv = splits["train"].visual_shape[1:]
    dims = {
        "visual_dim": dv,
        "audio_dim": splits["train"].audio_shape[-1],
        "num_classes": len(splits["train"].classes),
        "time_steps": t,
        "grid": [h, w],
    }
    torch.manual_seed(seed)
    model = avmodels.build(model_name, model_config, **{**dims, "grid": (h, w)}).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
    )
    schedule = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=settings["lr_step"], gamma=settings["lr_gamma"]
    )
    sizes = {s: len(sp) for s, sp in splits.items()}
    checkpoint = Checkpoint(
        out_dir / "resume.pt",
        _fingerprint(dataset, model_name, seed, settings, model_config, sizes),
        model,
        optimizer,
        schedule,
    )
    state = checkpoint.resume(device)
    bar = tqdm(
        range(state["epoch"], settings["epochs"]),
        desc=f"{dataset}/{model_name}/seed-{seed}",
        disable=not progress,
    )
    for epoch in bar:
        record = run_training_epoch(
            model, optimizer, schedule, sources, splits, settings, seed, epoch
        )
        state["history"].append(record)
        if state["best"] is None or record["val"]["mAP"] > state["best"]["val"]["mAP"]:
            state["best"] = {
                "epoch": epoch + 1,
                "val": record["val"],
                "weights": copy.deepcopy(model.state_dict()),
            }
        state["epoch"] = epoch + 1
        bar.set_postfix(loss=f"{record['loss']:.3f}", val_mAP=f"{record['val']['mAP']:.1f}")
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
        checkpoint.save(state)
    model.load_state_dict(state["best"]["weights"])
    meta = {
        "model": model_name,
        "dataset": dataset,
        "seed": seed,
        "classes": splits["train"].classes,
        "visual_backbone": config["models"]["visual_backbone"],
        "audio_backbone": config["models"]["audio_backbone"],
        "model_config": model_config,
        "dims": dims,
        "best_epoch": state["best"]["epoch"],
        "features": splits["train"].provenance,
        "config_hash": config_hash({"models": model_config, "train": settings}),
        "code_version": code_version(),
    }
    result = write_outputs(model, meta, state, sources, splits, settings, device, out_dir)
    checkpoint.path.unlink(missing_ok=True)
    return result


def run_training_epoch(model, optimizer, schedule, sources, splits, settings, seed, epoch):
    """One epoch in a seeded order, then the validation metrics: the epoch's history record."""
    started = time.perf_counter()
    torch.manual_seed(_seed_of(seed, epoch))
    order = np.random.default_rng([seed, epoch]).permutation(len(splits["train"]))
    losses = run_epoch(model, optimizer, sources["train"], chunks_of(order, settings["batch_size"]))
    schedule.step()
    val = predict(model, sources["val"], len(splits["val"]), settings["batch_size"])
    return {
        "epoch": epoch + 1,
        "loss": float(np.mean(losses)),
        "val": avmetrics.evaluate(splits["val"].targets, val["scores"]),
        "seconds": round(time.perf_counter() - started, 3),
    }


class Checkpoint:
    """resume.pt: the model, optimizer and schedule after each epoch, so that a killed job
    resumes where it stopped; ignored when written for other settings (the fingerprint)."""

    def __init__(self, path: Path, fingerprint: str, model, optimizer, schedule):
        self.path, self.fingerprint = path, fingerprint
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        # Fault injection for the resume test: SIGKILL after this many epochs.
        self.kill_after = int(os.environ.get(KILL_ENV, "-1"))

    def resume(self, device) -> dict:
        state = {"epoch": 0, "best": None, "history": []}
        if not self.path.exists():
            return state
        saved = torch.load(self.path, map_location=device, weights_only=False)
        if saved.get("fingerprint") != self.fingerprint:
            log.info("ignoring %s: written for other settings", self.path)
            return state
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        log.info("resuming %s after epoch %d", self.path, saved["state"]["epoch"])
        return saved["state"]

    def save(self, state: dict) -> None:
        _save_atomic(
            {
                "fingerprint": self.fingerprint,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "state": state,
            },
            self.path,
        )
        if state["epoch"] == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


def write_outputs(model, meta, state, sources, splits, settings, device, out_dir: Path) -> dict:
    """The best model's test predictions and metrics: checkpoint.pt, predictions.npz and
    metrics.json; returns the metrics record."""
    test = predict(model, sources["test"], len(splits["test"]), settings["batch_size"])
    _save_atomic({"state_dict": state["best"]["weights"], "meta": meta}, out_dir / "checkpoint.pt")
    np.savez_compressed(
        out_dir / "predictions.npz",
        video_ids=splits["test"].video_ids,
        targets=splits["test"].targets,
        **test,
    )
    provenance = ("visual_backbone", "audio_backbone", "features", "config_hash", "code_version")
    result = {
        **{k: meta[k] for k in ("model", "dataset", "seed", "best_epoch")},
        "test": avmetrics.evaluate(splits["test"].targets, test["scores"]),
        "val": state["best"]["val"],
        "history": state["history"],
        "provenance": {k: meta[k] for k in provenance},
        "device": str(device),
        "data_path": "streamed" if sources["train"].streaming else "in memory",
    }
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def load_trained(checkpoint_path: str | Path, device: str | torch.device = "cpu"):
    """(model in eval mode, meta dict) from a checkpoint written by `train`."""
    saved = torch.load(checkpoint_path, map_location=device, weights_only=False)
    meta = saved["meta"]
    dims = dict(meta["dims"], grid=tuple(meta["dims"]["grid"]))
    model = avmodels.build(meta["model"], meta["model_config"], **dims)
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval(), meta
