# Stage 4: canonical clips -> frozen CNN features, one Zarr store per dataset x backbone.
# Shard jobs write disjoint chunk-aligned regions of a staging store and leave a marker when
# done; finalize validates all shards and renames the store into place (docs/features.md).
import os

from avexplain import config as avconfig
from avexplain.features import settings as avfeatures

# Stop at parse time when the feature settings cannot work for a dataset (e.g. a chunk size
# that does not divide the shard size), naming the config key.
for _dataset in MEDIA_DATASETS:
    avfeatures.check_settings(config, _dataset)

# AVR has no store of its own: avexplain.features.store.open_union reads the members' stores.
STAGE_TARGETS.append(
    lambda dataset: [
        paths.store(dataset, b)
        for b in avfeatures.settings_for(config, dataset)["backbones"]
        if dataset in MEDIA_DATASETS
    ]
)


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
        backbones=names.BACKBONES,
    script:
        "../scripts/prefetch_weights.py"


rule extract_features:
    input:
        clips=paths.clips(),
        manifest=paths.manifest("{media}"),
        # enough of the dataset's videos have a clip (rule check_present)
        present=paths.present("{media}"),
        # pretrained weights come from the prefetch rule's cache, so it runs (once) first
        weights=lambda wc: (
            rules.prefetch_weights.output.record
            if avfeatures.settings_for(config, wc.media)["weights"] == "pretrained"
            else []
        ),
    output:
        marker=paths.shard_marker(),
    log:
        "logs/features/{media}/{backbone}/shard-{shard}.log",
    benchmark:
        "benchmarks/out/features/{media}/{backbone}/shard-{shard}.tsv"
    # the scheduler knows no durations: the image CNNs' shards (the longest, and most jobs wait
    # for their maps) start first, side by side, rather than one of them late and alone
    priority: lambda wc: int(wc.backbone in names.IMAGE_BACKBONES)
    conda:
        "../../envs/avexplain.yaml"
    threads: lambda wc: 1 + avfeatures.settings_for(config, wc.media)["decode_workers"]
    resources:
        gpu=lambda wc: avconfig.gpu_request(
            avfeatures.settings_for(config, wc.media)["device"], workflow.local_exec
        ),
    params:
        settings=lambda wc: avfeatures.settings_for(config, wc.media),
        clip=lambda wc: avconfig.clip_for(config, wc.media),
        seed=config["seed"],
        shard_size=lambda wc: config["datasets"][wc.media]["shard_size"],
    script:
        "../scripts/extract_features.py"


rule finalize_features:
    input:
        markers=lambda wc: [
            paths.shard_marker(wc.media, wc.backbone, s) for s in shards(wc.media)
        ],
    output:
        store=directory(paths.store()),
    log:
        "logs/features/{media}/{backbone}/finalize.log",
    benchmark:
        "benchmarks/out/features/{media}/{backbone}/finalize.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/finalize_features.py"


# Audio onsets of every canonical clip (the fusion layers' onset layer): librosa on the WAV,
# one mask (video, segment) per shard beside the feature stores (docs/fusion_layers.md).
rule audio_onsets:
    input:
        clips=paths.clips(),
        manifest=paths.manifest("{media}"),
    output:
        onsets=paths.onsets(),
    log:
        "logs/features/{media}/onsets/shard-{shard}.log",
    benchmark:
        "benchmarks/out/features/{media}/onsets/shard-{shard}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        settings=lambda wc: avconfig.section_for(config, "fusion_layers", wc.media)[
            "onsets"
        ],
        clip=lambda wc: avconfig.clip_for(config, wc.media),
        shard_size=lambda wc: config["datasets"][wc.media]["shard_size"],
    script:
        "../scripts/audio_onsets.py"
