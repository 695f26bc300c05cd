# Stage 4: canonical clips -> frozen CNN features, one Zarr store per dataset x backbone.
# Shard jobs write disjoint chunk-aligned regions of a staging store and leave a marker when
# done; finalize validates all shards and renames the store into place (docs/features.md).
import os


wildcard_constraints:
    backbone="|".join(BACKBONES),


# Downloads every published weight file into the cache; a local rule so that on a cluster it
# runs on the login node, which has internet, and compute nodes only read the cache.
localrules:
    prefetch_weights,


rule prefetch_weights:
    output:
        record=f"{config['features']['cache_dir']}/prefetched.json",
    log:
        "logs/features/prefetch_weights.log",
    benchmark:
        "benchmarks/out/features/prefetch_weights.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        cache_dir=lambda wildcards, output: os.path.dirname(output.record),
        backbones=BACKBONES,
    script:
        "../scripts/prefetch_weights.py"


rule extract_features:
    input:
        clips="data/{media}/clips/shard-{shard}",
        manifest="data/{media}/manifest.csv",
        weights=weight_inputs,
    output:
        marker="features/{media}/.staging/{backbone}.shards/shard-{shard}.json",
    log:
        "logs/features/{media}/{backbone}/shard-{shard}.log",
    benchmark:
        "benchmarks/out/features/{media}/{backbone}/shard-{shard}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    threads: lambda wc: 1 + feature_settings(wc)["decode_workers"]
    resources:
        gpu=1,
    params:
        settings=feature_settings,
        clip=config["clip"],
        seed=config["seed"],
        shard_size=lambda wc: config["datasets"][wc.media]["shard_size"],
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
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/finalize_features.py"
