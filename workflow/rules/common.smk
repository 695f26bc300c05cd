# Shared set-up: configuration validation, the dataset/shard enumeration, input functions.
import functools

from avexplain import config as avconfig
from avexplain import feature_settings as avfeatures
from avexplain import manifest as avmanifest
from avexplain.shards import shard_ids

# Stop before any job when the configuration is wrong, naming the key and what was expected.
avconfig.validate(config, root=workflow.basedir)

DATASETS = list(config["datasets"])
# AVR is a union of AVE and LLP: it has a manifest and an audit, but no videos of its own.
MEDIA_DATASETS = [d for d in DATASETS if config["datasets"][d]["kind"] != "union"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    media="|".join(MEDIA_DATASETS),
    shard=r"\d{3}",


@functools.cache
def num_videos(dataset):
    """Rows of the dataset's manifest, computed at parse time (cheap: annotation files only)."""
    return avmanifest.count_videos(config, dataset, root=workflow.basedir)


def shards(dataset):
    return shard_ids(num_videos(dataset), config["datasets"][dataset]["shard_size"])


def manifest_inputs(wildcards):
    """The annotation files a dataset's manifest is built from, so edits trigger a rebuild."""
    return avmanifest.input_files(config, wildcards.dataset)


# Each stage's .smk registers a function dataset -> [final files of that stage]; `rule all` and
# `rule demo` ask every stage for its targets, so adding a stage touches only its own file.
STAGE_TARGETS = []


def data_targets(dataset):
    targets = [f"data/{dataset}/manifest.csv", f"data/{dataset}/audit.md"]
    if dataset in MEDIA_DATASETS:
        targets += [f"data/{dataset}/clips/shard-{s}" for s in shards(dataset)]
    return targets


STAGE_TARGETS.append(data_targets)


def targets_for(datasets):
    return [t for d in datasets for stage in STAGE_TARGETS for t in stage(d)]


# --- features stage (features.smk) ---
BACKBONES = ["vgg19", "resnet152", "vggish", "mc3_18"]

# Stop at parse time when the feature settings cannot work for a dataset (e.g. a chunk size
# that does not divide the shard size), naming the config key.
for _dataset in MEDIA_DATASETS:
    avfeatures.check_settings(config, _dataset)


def feature_targets(dataset):
    # AVR has no store of its own: avexplain.store.open_union reads the AVE and LLP stores
    if dataset not in MEDIA_DATASETS:
        return []
    backbones = avfeatures.settings_for(config, dataset)["backbones"]
    return [f"features/{dataset}/{b}.zarr" for b in backbones]


STAGE_TARGETS.append(feature_targets)


def feature_settings(wildcards):
    return avfeatures.settings_for(config, wildcards.media)


def weight_inputs(wildcards):
    """Pretrained weights come from the prefetch rule's cache, so it runs (once) first."""
    if feature_settings(wildcards)["weights"] == "pretrained":
        return [f"{config['features']['cache_dir']}/prefetched.json"]
    return []
