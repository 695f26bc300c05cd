# Stage 1-3: annotation files -> manifest + audit; download (or generate) videos; decode clips.


# Bookkeeping over a few files: on a cluster these run on the login node, where they take
# seconds, instead of waiting a scheduling round-trip each.
localrules:
    manifest,
    missing,


rule manifest:
    input:
        manifest_inputs,
    output:
        manifest="data/{dataset}/manifest.csv",
        classes="data/{dataset}/classes.txt",
        audit_md="data/{dataset}/audit.md",
        audit_json="data/{dataset}/audit.json",
    log:
        "logs/manifest/{dataset}.log",
    benchmark:
        "benchmarks/out/manifest/{dataset}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/manifest.py"


# Videos land in data/{media}/videos/, a cache that is not a Snakemake output: re-running a shard
# (after a code or config change) never deletes what was already downloaded.
rule download:
    input:
        manifest="data/{media}/manifest.csv",
    output:
        status="data/{media}/download/shard-{shard}.csv",
    log:
        "logs/download/{media}/shard-{shard}.log",
    benchmark:
        "benchmarks/out/download/{media}/shard-{shard}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        video_dir="data/{media}/videos",
    script:
        "../scripts/download.py"


rule missing:
    input:
        manifest="data/{media}/manifest.csv",
        status=lambda wc: expand(
            "data/{media}/download/shard-{shard}.csv",
            media=wc.media,
            shard=shards(wc.media),
        ),
    output:
        missing="data/{media}/missing.csv",
    log:
        "logs/missing/{media}.log",
    benchmark:
        "benchmarks/out/missing/{media}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/missing.py"


rule decode:
    input:
        status="data/{media}/download/shard-{shard}.csv",
        # the present-fraction check gates all decoding: no compute is spent on a failed download
        missing="data/{media}/missing.csv",
    output:
        clips=directory("data/{media}/clips/shard-{shard}"),
    log:
        "logs/decode/{media}/shard-{shard}.log",
    benchmark:
        "benchmarks/out/decode/{media}/shard-{shard}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/decode.py"
