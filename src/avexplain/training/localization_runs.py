"""Training jobs of the localization families (the AVE paper's `avel`, the AV-transformer's
`avt`; docs/localization.md, "Pipeline"): one job per dataset x group trains every model of its
group (avexplain.names.LOCALIZATION_GROUPS) with each of its seeds on features read once, and
writes, per model and seed, `metrics.json` (test numbers, anchors, provenance) and
`predictions.npz` (test scores and, where the model has them, its space attention or
cross-modality embeddings). `aggregate` averages a
model's seeds (torch-free: the aggregation job is bookkeeping)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from avexplain import names, paths
from avexplain.config import ConfigError, config_hash, section_for
from avexplain.data.segment_labels import require_segment_labels
from avexplain.files import atomic_write
from avexplain.provenance import code_version

log = logging.getLogger(__name__)

SETTING_KEYS = (
    "visual_backbone",
    "visual_components",
    "audio_backbone",
    "seeds",
    "group_seeds",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "device",
    "avel",
    "avt",
)
# ED-TCN trains with RMSprop, the official code's default (docs/localization.md, ED-TCN)
OPTIMIZERS = {"ed_tcn": "rmsprop"}
# DCCA's objective needs covariance estimates from many event segments: it trains full-batch
FULL_BATCH = ("dcca",)


def settings_for(config: dict, dataset: str) -> dict:
    """The `localization` section with the dataset's overrides applied."""
    settings = section_for(config, "localization", dataset)
    missing = [k for k in SETTING_KEYS if k not in settings]
    if missing:
        raise ConfigError(f"config section 'localization' lacks {missing}")
    unknown = sorted(set(settings["group_seeds"]) - set(names.LOCALIZATION_GROUPS))
    if unknown:
        raise ConfigError(
            f"config key 'localization.group_seeds' ({dataset}) names unknown groups "
            f"{unknown}; expected some of {list(names.LOCALIZATION_GROUPS)}"
        )
    models = {m for group in names.LOCALIZATION_GROUPS.values() for m in group}
    unknown = sorted(set(settings.get("model_epochs") or {}) - models)
    if unknown:
        raise ConfigError(
            f"config key 'localization.model_epochs' ({dataset}) names unknown models {unknown}; "
            f"expected models of avexplain.names.LOCALIZATION_GROUPS"
        )
    return settings


def epochs_for(settings: dict, model: str) -> int:
    """The model's epoch budget: `model_epochs` where it names the model, else `epochs`."""
    return int((settings.get("model_epochs") or {}).get(model, settings["epochs"]))


def group_seeds(config: dict, dataset: str, group: str) -> list[int]:
    """The seeds a group is trained with: its own list in `group_seeds`, else
    `localization.seeds` (the tables say how many seeds each row has)."""
    settings = settings_for(config, dataset)
    return list(settings["group_seeds"].get(group, settings["seeds"]))


def model_group(family: str, model: str) -> str:
    return names.localization_group(family, model)


def trained_files(dataset: str, family: str, model: str, seeds) -> list[str]:
    """The seeds' metrics.json of one model (what its aggregation reads)."""
    return [paths.localization_trained(dataset, family, model, s) for s in seeds]


def datasets(config: dict) -> list[str]:
    """The run datasets the localization families are built for: those of
    `localization.datasets` (which must have segment labels: planned_models checks it)."""
    return [d for d in config["localization"]["datasets"] if d in config["run_datasets"]]


def planned_models(config: dict, dataset: str, groups=None) -> list[tuple[str, str]]:
    """(family, model) of every trained model of `groups` (default all), after checking at
    planning time that `dataset` has segment labels (SegmentLabelsMissing names it)."""
    require_segment_labels(config, dataset)
    groups = groups or list(names.LOCALIZATION_GROUPS)
    return [(names.localization_family(g), m) for g in groups for m in names.LOCALIZATION_GROUPS[g]]


# --- features -----------------------------------------------------------------------------


def _load(config, dataset, split, root, visual_backbones, audio_backbone):
    """Arrays of a split with the visual features of one backbone (maps as stored) or several
    (their GAP vectors concatenated: supplementary Table 2's [VGG-19; MC3-18])."""
    from avexplain.training import localization as loc

    parts = []
    for backbone in visual_backbones:
        arrays, ids = loc.load_arrays(
            config, dataset, split, root, visual_backbone=backbone, audio_backbone=audio_backbone
        )
        parts.append((arrays, ids))
    arrays, ids = parts[0]
    if len(parts) > 1:
        import torch

        for _, other_ids in parts[1:]:
            if list(other_ids) != list(ids):
                raise ValueError(
                    f"{dataset}/{split}: the stores of {visual_backbones} hold different videos"
                )
        vectors = [p[0].visual for p in parts]
        vectors = [v.mean(dim=(2, 3)) if v.ndim == 5 else v for v in vectors]
        arrays.visual = torch.cat(vectors, dim=-1)
    return arrays, ids


def _conflicts(config, dataset, root, train_ids, classes):
    from avexplain.data import manifest as avmanifest
    from avexplain.training import localization as loc

    frame = avmanifest.read_manifest(Path(root) / paths.manifest(dataset)).set_index("video_id")
    rows = frame.loc[list(train_ids)].reset_index()
    kind = config["datasets"][dataset]["kind"]
    return loc.pair_conflicts(rows, classes, synth_config=config if kind == "synth" else None)


def _cml_queries(config, dataset, root, test, test_ids, time_steps):
    """Queries of the test split: AVE's own cross-modality split rows when configured, else
    one query per audio-visual interval of the test targets (synth)."""
    from avexplain.training import localization as loc

    cml = config["datasets"][dataset].get("cml_splits")
    if cml:
        rows = loc.read_cml_split(Path(root) / cml["test"])
        queries, skipped = loc.cml_queries_from_rows(rows, list(test_ids), time_steps)
        return queries, skipped
    return loc.cml_queries(test.targets.numpy()), {}


def _cml_data(config, dataset, root, backbones):
    """AVE: the cross-modality split (cml_*Set.txt) drawn from the videos of every project
    split, each row's targets its own event; other datasets: the project's splits."""
    from avexplain.training import localization as loc

    cml = config["datasets"][dataset].get("cml_splits")
    data = {s: _load(config, dataset, s, root, *backbones) for s in names.SPLITS}
    if not cml:
        return data
    import torch

    visual = torch.cat([data[s][0].visual for s in names.SPLITS])
    audio = torch.cat([data[s][0].audio for s in names.SPLITS])
    where = {v: i for i, v in enumerate(np.concatenate([data[s][1] for s in names.SPLITS]))}
    t_max = audio.shape[1]
    out = {}
    for split in names.SPLITS:
        rows = [r for r in loc.read_cml_split(Path(root) / cml[split]) if r[0] in where]
        index = torch.tensor([where[r[0]] for r in rows], dtype=torch.long)
        targets = torch.zeros(len(rows), t_max, data["train"][0].targets.shape[-1])
        targets[..., -1] = 1
        for i, (_, start, end) in enumerate(rows):
            targets[i, start:end] = 0
            targets[i, start:end, 0] = 1  # event vs background is all a CML model reads
        out[split] = (
            loc.Arrays(visual[index], audio[index], targets),
            np.array([r[0] for r in rows]),
        )
    return out


# --- the job ------------------------------------------------------------------------------


def _state_hash(model) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()


def _dims(train) -> dict:
    """The shape arguments of a model reading `train` (localization.Arrays)."""
    shape = train.visual.shape
    dims = {
        "visual_dim": shape[-1],
        "audio_dim": train.audio.shape[-1],
        "num_classes": train.targets.shape[-1] - 1,
        "time_steps": shape[1],
        "grid": tuple(shape[2:4]) if train.visual.ndim == 5 else (1, 1),
    }
    if train.audio.ndim == 5:  # audio maps (supplementary Table 3)
        dims["audio_grid"] = tuple(train.audio.shape[2:4])
    return dims


def _attends(family, model_name, settings, dims) -> bool:
    """Whether the model attends over the regions of the visual maps (it takes no vectors)."""
    import torch

    with torch.device("meta"):  # the shape of the network, no weights
        probe = _build(family, model_name, settings, dims)
    return "vector" not in probe.visual_forms


def _view(data: dict, view: int | str) -> dict:
    """The cached splits with their visual maps on their first `view` principal components of
    the training split's regions (`localization.visual_components`; docs/localization.md,
    "Principal components on synth"), or, with "average", averaged over the regions."""
    from dataclasses import replace

    from avexplain.training import localization as loc

    visual = {s: data[s][0].visual for s in names.SPLITS}
    if view != "average":
        project = loc.principal_components(visual["train"], view)
        visual = {s: project(v) for s, v in visual.items()}
    else:
        visual = {s: v.mean(dim=(2, 3)) for s, v in visual.items()}
    out = {s: (replace(data[s][0], visual=visual[s]), data[s][1]) for s in names.SPLITS}
    out["provenance"] = data["provenance"]
    return out


def _build(family, model_name, settings, dims):
    if family == "avel":
        from avexplain.models import avel

        network = names.AVEL_SUPP2.get(model_name, (model_name,))[0]
        model = avel.build(network, settings["avel"], **dims)
        model.name = model_name
        return model
    from avexplain.models import avt

    return avt.build(model_name, {**settings["avel"], **settings["avt"]}, **dims)


def _backbones(group, model_name, settings):
    """(visual backbones, audio backbone) a model of the group reads: supplementary Table 2's
    other visual features, Table 3's VGGish maps (names.AUDIO_MAPS) as the audio input."""
    if model_name in names.AUDIO_MAP_MODELS:
        return ((settings["visual_backbone"],), names.AUDIO_MAPS)
    if group == "avel_supp2":
        visual = names.AVEL_SUPP2[model_name][1]
        maps = settings["visual_backbone"]
        return (
            tuple(maps if b == names.FAMILY_MAPS else b for b in visual),
            settings["audio_backbone"],
        )
    return ((settings["visual_backbone"],), settings["audio_backbone"])


def train_group(
    config: dict,
    dataset: str,
    group: str,
    seed: int,
    root: str | Path = ".",
    threads: int | None = None,
) -> dict[str, dict]:
    """Train every model of `group` with `seed` (see train_group_seeds); {model: record}."""
    return train_group_seeds(config, dataset, group, [seed], root, threads)[seed]


def train_group_seeds(
    config: dict,
    dataset: str,
    group: str,
    seeds,
    root: str | Path = ".",
    threads: int | None = None,
) -> dict[int, dict[str, dict]]:
    """Train every model of `group` with each of `seeds`, select each on validation, score it
    on test; write its metrics.json and predictions.npz under `root`. The features (and their
    principal components) are read once for all seeds: a seed's numbers are those it gets
    alone. Returns {seed: {model: metrics record}}."""
    from avexplain.devices import pick_device
    from avexplain.training.train import make_deterministic

    require_segment_labels(config, dataset)
    settings = settings_for(config, dataset)
    make_deterministic(threads)
    device = pick_device(settings["device"], "localization.device")
    cache: dict = {}
    return {
        seed: _train_models(config, dataset, group, seed, root, settings, device, cache)
        for seed in seeds
    }


def _train_models(config, dataset, group, seed, root, settings, device, cache) -> dict[str, dict]:
    import torch

    from avexplain.training import localization as loc

    family = names.localization_family(group)
    records = {}
    for model_name in names.LOCALIZATION_GROUPS[group]:
        started = time.process_time()
        backbones = _backbones(group, model_name, settings)
        key = (backbones[0], backbones[1])
        if key not in cache:
            if group == "avel_table3":
                data = _cml_data(config, dataset, root, backbones)
            else:
                data = {s: _load(config, dataset, s, root, *backbones) for s in names.SPLITS}
            cache[key] = {s: (a.to(device), ids) for s, (a, ids) in data.items()}
            cache[key]["provenance"] = _provenance(config, dataset, backbones, root)
        # a model that attends over the regions reads the maps (their first principal
        # components, if set); the others read the maps' averages, computed once here (the same
        # numbers they would compute, without copying the whole maps into every batch)
        dims = _dims(cache[key]["train"][0])
        attends = _attends(family, model_name, settings, dims)
        components = settings["visual_components"] if attends else None
        view = components if attends else "average"
        if view and cache[key]["train"][0].visual.ndim == 5:
            if (*key, view) not in cache:
                cache[(*key, view)] = _view(cache[key], view)
            key = (*key, view)
            dims = _dims(cache[key]["train"][0])
        data = cache[key]
        (train, train_ids), (val, _), (test, test_ids) = (data[s] for s in names.SPLITS)
        torch.manual_seed(seed)
        model = _build(family, model_name, settings, dims).to(device)
        epochs = epochs_for(settings, model_name)
        conflicts = None
        if model.task == "segment" and model.weak:
            if "conflicts" not in data:
                classes = _classes(root, dataset)
                data["conflicts"] = _conflicts(config, dataset, root, train_ids, classes)
            conflicts = data["conflicts"]
        fitted = loc.fit(
            model,
            train,
            val,
            epochs=epochs,
            batch_size=len(train) if model_name in FULL_BATCH else settings["batch_size"],
            lr=settings["lr"],
            seed=seed,
            weight_decay=settings["weight_decay"],
            conflicts=conflicts,
            optimizer=OPTIMIZERS.get(model_name, "adam"),
        )
        test_targets = test.targets.cpu().numpy()
        out = {"video_ids": np.asarray(test_ids, dtype=str), "targets": test_targets}
        if model.task == "cml":
            visual, audio = loc.embed(model, test.visual, test.audio, settings["batch_size"])
            queries, skipped = _cml_queries(
                config, dataset, root, test, test_ids, dims["time_steps"]
            )
            metrics = loc.cross_modal_localization(visual, audio, queries)
            metrics["skipped"] = skipped
            out.update(visual_embedding=visual, audio_embedding=audio)
            out["queries"] = np.array(queries, dtype=int).reshape(-1, 3)
        else:
            pred = loc.predict(model, test.visual, test.audio, settings["batch_size"])
            metrics = {"accuracy": loc.segment_accuracy(test_targets, pred["segment_scores"])}
            out.update(pred)
        record = {
            "dataset": dataset,
            "family": family,
            "model": model_name,
            "group": group,
            "seed": seed,
            "task": model.task,
            "weak": bool(getattr(model, "weak", False)),
            "test": metrics,
            "anchors": loc.anchor_accuracies(test_targets, train.targets.cpu().numpy()),
            "val": fitted["val"],
            "select": fitted["select"],
            "best_epoch": fitted["best_epoch"],
            "epochs": epochs,
            "history": fitted["history"],
            "test_segments": int(np.prod(test_targets.shape[:2])),
            "visual_components": components,  # None: the visual features as stored
            "cpu_seconds": round(time.process_time() - started, 2),
            "device": str(device),
            "provenance": {
                **data["provenance"],
                "weights_sha256": _state_hash(model),
                "settings": {k: settings[k] for k in SETTING_KEYS if k != "group_seeds"},
            },
        }
        target = Path(root) / paths.localization_trained(dataset, family, model_name, seed)
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(target.with_name("predictions.npz"), **out)
        atomic_write(target, json.dumps(record, indent=1) + "\n")
        log.info(
            "%s/%s seed %d: %s (%.1f CPU s)",
            dataset,
            model_name,
            seed,
            json.dumps(metrics),
            record["cpu_seconds"],
        )
        records[model_name] = record
    return records


def _classes(root, dataset):
    from avexplain.data import manifest as avmanifest

    return avmanifest.read_classes(Path(root) / paths.classes(dataset))


def _provenance(config, dataset, backbones, root) -> dict:
    from avexplain.training import splits as avsplits

    visual, audio = backbones
    features = {}
    for backbone in [*visual, audio]:
        store = avsplits.store_for(config, dataset, backbone, root)
        features[backbone] = avsplits.provenance(store.attrs)
    section = {"localization": config["localization"], "models": config["models"]}
    return {
        "features": features,
        "config_hash": config_hash(section),
        "code_version": code_version(),
    }


# --- aggregation (torch-free) -------------------------------------------------------------


def aggregate(seed_metrics: list[str | Path], out: str | Path) -> dict:
    """A model's metrics over its seeds: mean and std of every test number, the anchors, every
    seed's record (without the epoch history) and the provenance."""
    records = [json.loads(Path(p).read_text()) for p in seed_metrics]
    if not records:
        raise ValueError(f"{out}: no seed to aggregate")
    numeric = [k for k, v in records[0]["test"].items() if isinstance(v, int | float)]
    values = {k: np.array([r["test"][k] for r in records], dtype=float) for k in numeric}
    weights = {b: str(f.get("weights")) for b, f in records[0]["provenance"]["features"].items()}
    random_weights = any(w.startswith("random") for w in weights.values())
    first = records[0]
    result = {
        **{k: first[k] for k in ("dataset", "family", "model", "group", "task", "weak")},
        "seeds": [r["seed"] for r in records],
        "mean": {k: float(v.mean()) for k, v in values.items()},
        "std": {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()},
        "anchors": first["anchors"],
        "per_seed": {
            str(r["seed"]): {k: r[k] for k in ("test", "val", "best_epoch", "cpu_seconds")}
            for r in records
        },
        "metrics": (
            "percent; accuracy: segment accuracy over all test segments, background included; "
            "a2v/v2a: exact-start cross-modality localization, chance its expectation"
        ),
        "provenance": {**first["provenance"], "feature_weights": weights},
        "demo_note": random_weights,
    }
    if random_weights:
        result["note"] = (
            "features from backbones with random weights (offline demo): these numbers test "
            "the pipeline and must not be compared with the paper's"
        )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(result, indent=1) + "\n")
    return result


# --- what the rules ask (torch-free, at planning time) ------------------------------------


def job_inputs(config: dict, dataset: str, group: str) -> dict[str, list[str] | str]:
    """The manifest, class list, feature stores (and AVE's cross-modality split files) a
    group's training job reads."""
    require_segment_labels(config, dataset)
    settings = settings_for(config, dataset)
    backbones = set()
    for model in names.LOCALIZATION_GROUPS[group]:
        visual, audio = _backbones(group, model, settings)
        backbones.update([*visual, audio])
    media = config["datasets"][dataset].get("members", [dataset])
    inputs = {
        "manifest": paths.manifest(dataset),
        "classes": paths.classes(dataset),
        "stores": [paths.store(m, b) for m in media for b in sorted(backbones)],
    }
    cml = config["datasets"][dataset].get("cml_splits")
    if group == "avel_table3" and cml:
        inputs["cml_splits"] = [cml[s] for s in names.SPLITS]
    return inputs


def job_outputs(config: dict, dataset: str, group: str, name: str) -> list[str]:
    """One kind of file of every model of a group, for each of the group's seeds on
    `dataset` (what its training job writes)."""
    family = names.localization_family(group)
    return [
        paths.localization_trained(dataset, family, m, seed, name)
        for m in names.LOCALIZATION_GROUPS[group]
        for seed in group_seeds(config, dataset, group)
    ]


def seed_files(config: dict, dataset: str, family: str, model: str) -> list[str]:
    """The per-seed metrics a model's aggregation reads; fails (naming the dataset) when the
    dataset has no segment labels, or the model is not trained by the family."""
    require_segment_labels(config, dataset)
    try:
        group = names.localization_group(family, model)
    except KeyError as error:
        raise ConfigError(str(error)) from None
    return trained_files(dataset, family, model, group_seeds(config, dataset, group))


def group_seed_files(config: dict, dataset: str, group: str) -> list[str]:
    """Every seed's metrics.json of every model of a group (its aggregation job's input)."""
    family = names.localization_family(group)
    return [
        f for m in names.LOCALIZATION_GROUPS[group] for f in seed_files(config, dataset, family, m)
    ]


def group_metrics(group: str) -> list[str]:
    """Patterns ({dataset}) of the aggregated metrics.json of every model of a group."""
    family = names.localization_family(group)
    return [
        paths.localization_metrics(family=family, model=m) for m in names.LOCALIZATION_GROUPS[group]
    ]


def aggregate_group(config: dict, dataset: str, group: str, root: str | Path = ".") -> dict:
    """Aggregate the seeds of every model of a group; {model: aggregated record}."""
    family = names.localization_family(group)
    return {
        m: aggregate(
            [Path(root) / f for f in seed_files(config, dataset, family, m)],
            Path(root) / paths.localization_metrics(dataset, family, m),
        )
        for m in names.LOCALIZATION_GROUPS[group]
    }


def seed_predictions(config: dict, dataset: str, family: str, model: str) -> list[str]:
    """The per-seed predictions.npz of a model (its space attention for the explain stage)."""
    require_segment_labels(config, dataset)
    group = names.localization_group(family, model)
    return [
        paths.localization_trained(dataset, family, model, s, "predictions.npz")
        for s in group_seeds(config, dataset, group)
    ]
