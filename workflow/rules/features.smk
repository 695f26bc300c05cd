# Stage 4: canonical clips -> frozen CNN features, one Zarr store per dataset x backbone.
# Shard jobs write disjoint chunk-aligned regions of a staging store and leave a marker when
# done; finalize validates all shards and renames the store into place (docs/features.md).
import os

from avexplain import extract as avextract

BACKBONES = ["vgg19", "resnet152", "vggish", "mc3_18"]

# Stop at parse time when the feature settings cannot work for a dataset (e.g. a chunk size
# that does not divide the shard size), naming the config key.
for _dataset in MEDIA_DATASETS:
    avextract.check_settings(config, _dataset)


wildcard_constraints:
    backbone="|".join(BACKBONES),


def feature_targets(dataset):
    # AVR has no store of its own: avexplain.store.open_union reads the AVE and LLP stores
    if dataset not in MEDIA_DATASETS:
        return []
    return [f"features/{dataset}/{b}.zarr" for b in config["features"]["backbones"]]


STAGE_TARGETS.append(feature_targets)


def feature_settings(wildcards):
    return avextract.settings_for(config, wildcards.media)


def weight_inputs(wildcards):
    """Pretrained weights come from the prefetch rule's cache, so it runs (once) first."""
    if feature_settings(wildcards)["weights"] == "pretrained":
        return [f"{config['features']['cache_dir']}/prefetched.json"]
    return []


# Downloads every published weight file into the cache; a local rule so that on a cluster it
# runs on the login node, which has internet, and compute nodes only read the cache.
localrules:
    prefetch_weights,


rule prefetch_weights:
    output:
        record=f"{config['features']['cache_dir']}/prefetched.json",
    params:
        cache_dir=lambda wildcards, output: os.path.dirname(output.record),
        backbones=BACKBONES,
    log:
        "logs/features/prefetch_weights.log",
    benchmark:
        "benchmarks/out/features/prefetch_weights.tsv"
    script:
        "../scripts/prefetch_weights.py"


rule extract_features:
    input:
        clips="data/{media}/clips/shard-{shard}",
        manifest="data/{media}/manifest.csv",
        weights=weight_inputs,
    output:
        marker="features/{media}/.staging/{backbone}.shards/shard-{shard}.json",
    params:
        settings=feature_settings,
        clip=config["clip"],
        seed=config["seed"],
        shard_size=lambda wc: config["datasets"][wc.media]["shard_size"],
    threads: lambda wc: 1 + feature_settings(wc)["decode_workers"]
    resources:
        gpu=1,
    log:
        "logs/features/{media}/{backbone}/shard-{shard}.log",
    benchmark:
        "benchmarks/out/features/{media}/{backbone}/shard-{shard}.tsv"
    script:
        "../scripts/extract_features.py"


rule finalize_features:
    input:
        markers=lambda wc: expand(
            "features/{media}/.staging/{backbone}.shards/shard-{shard}.json",
            media=wc.media,
            backbone=wc.backbone,
            shard=shards(wc.media),
        ),
    output:
        store=directory("features/{media}/{backbone}.zarr"),
    log:
        "logs/features/{media}/{backbone}/finalize.log",
    benchmark:
        "benchmarks/out/features/{media}/{backbone}/finalize.tsv"
    script:
        "../scripts/finalize_features.py"
