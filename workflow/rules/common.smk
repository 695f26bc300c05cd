# Shared set-up: configuration validation, the datasets and their shards, global wildcard
# constraints, the stage targets that `rule all` and `rule demo` collect, and the few helpers
# that rules of several stages use. The stage files hold rules only (`snakemake --lint` wants
# functions apart from rules): each input is a lambda over avexplain.paths beside its rule.
import functools
import os

from avexplain import config as avconfig
from avexplain import rerun as avrerun
from avexplain import runlock as avrunlock
from avexplain import names, paths
from avexplain.data import manifest as avmanifest
from avexplain.provenance import describe_features
from avexplain.shards import shard_ids

# One command at a time per project folder: a second snakemake command (even a dry run) stops
# here instead of removing the running one's lock (avexplain.runlock, docs/troubleshooting.md).
if workflow.is_main_process:
    avrunlock.acquire(os.getcwd())

# Stop before any job when the configuration is wrong, naming the key and what was expected.
avconfig.validate(config, root=workflow.basedir)
# The recovery commands that jobs print repeat the user's --configfile and --config.
avrerun.record(workflow.overwrite_configfiles, dict(workflow.config_settings.config))

DATASETS = list(config["datasets"])
# AVR is a union of AVE and LLP: it has a manifest and an audit, but no videos of its own.
MEDIA_DATASETS = [d for d in DATASETS if config["datasets"][d]["kind"] != "union"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    media="|".join(MEDIA_DATASETS),
    shard=r"\d{3}",
    backbone="|".join(names.BACKBONES),
    model="|".join(names.MODELS),
    seed=r"\d+",


@functools.cache
def num_videos(dataset):
    """Rows of the dataset's manifest, computed at parse time (cheap: annotation files only)."""
    return avmanifest.count_videos(config, dataset, root=workflow.basedir)


def shards(dataset):
    return shard_ids(num_videos(dataset), config["datasets"][dataset]["shard_size"])


def media_of(dataset):
    """The datasets whose videos, clips and stores `dataset` is made of (AVR: its members)."""
    return config["datasets"][dataset].get("members", [dataset])


# Each stage's .smk registers a function dataset -> [final files of that stage]; `rule all` and
# `rule demo` ask every stage for its targets, so adding a stage touches only its own file.
STAGE_TARGETS = []


def targets_for(datasets):
    return [t for d in datasets for stage in STAGE_TARGETS for t in stage(d)]


def train_seeds(dataset, model):
    """The seeds `model` is trained with on `dataset` (train.single_seed_models: the first)."""
    settings = avconfig.section_for(config, "train", dataset)
    seeds = settings["seeds"]
    return seeds[:1] if model in settings.get("single_seed_models", []) else seeds


def several_seeds():
    """The models trained with several seeds (synth: three), each in one job that trains every
    seed (`train_model_seeds`), as {"seeds", "datasets", "models"}. Its outputs are fixed when
    the workflow is read, so these datasets must share one seed list and one set of such
    models."""
    pairs = {
        (d, m): tuple(train_seeds(d, m))
        for d in config["datasets"]
        for m in config["models"]["names"]
        if len(train_seeds(d, m)) > 1
    }
    datasets = sorted({d for d, _ in pairs})
    models = sorted({m for _, m in pairs})
    lists = set(pairs.values())
    if len(lists) > 1 or len(pairs) != len(datasets) * len(models):
        raise avconfig.ConfigError(
            "config keys 'train.seeds' / 'train.single_seed_models' (and their overrides): "
            "every dataset that trains a model with several seeds must use the same seed list "
            f"for the same models; got {sorted(pairs.items())}"
        )
    return {
        "seeds": list(next(iter(lists), ())),
        "datasets": datasets,
        "models": models,
    }


def single_seed_models():
    """The models trained with the first seed only (train.single_seed_models: synth's eight
    comparison models), all in one job per dataset (`train_single_seed_models`), as {"seed",
    "datasets", "models"}. As for several_seeds(), these datasets must share the list and the
    first seed."""
    lists = {}
    for d in config["datasets"]:
        settings = avconfig.section_for(config, "train", d)
        single = set(settings.get("single_seed_models", []))
        models = tuple(m for m in config["models"]["names"] if m in single)
        if models:
            lists[d] = (settings["seeds"][0], models)
    if len(set(lists.values())) > 1:
        raise avconfig.ConfigError(
            "config keys 'train.seeds' / 'train.single_seed_models' (and their overrides): "
            "every dataset that trains models with one seed in one job must list the same "
            f"models and the same first seed; got {sorted(lists.items())}"
        )
    seed, models = next(iter(lists.values()), (0, ()))
    return {"seed": seed, "datasets": sorted(lists), "models": list(models)}


def explained(dataset, model, name):
    """A file of the trained model that is explained: the one of its first seed."""
    return paths.trained(dataset, model, train_seeds(dataset, model)[0], name)


def model_inputs(wildcards):
    """The manifest(s), class list and feature stores a job on a trained model of
    `wildcards.dataset` reads (AVR: its members' stores and manifests, after its own).
    """
    backbones = [
        config["models"]["visual_backbone"],
        config["models"]["audio_backbone"],
    ]
    media = media_of(wildcards.dataset)
    return {
        "manifests": [
            paths.manifest(d) for d in dict.fromkeys([wildcards.dataset, *media])
        ],
        "classes": paths.classes(wildcards.dataset),
        "stores": [paths.store(m, b) for m in media for b in backbones],
    }


def explain_inputs(wildcards):
    """model_inputs plus the explained model's checkpoints and test predictions, one of each
    training seed (the explanation's evidence is the mean over seeds)."""
    seeds = train_seeds(wildcards.dataset, wildcards.model)
    return {
        **model_inputs(wildcards),
        "checkpoint": [
            paths.trained(wildcards.dataset, wildcards.model, s, "checkpoint.pt")
            for s in seeds
        ],
        "predictions": [
            paths.trained(wildcards.dataset, wildcards.model, s, "predictions.npz")
            for s in seeds
        ],
    }


def provenance_caption(datasets):
    """What a report caption says of where its numbers come from."""
    return describe_features(config, datasets)
