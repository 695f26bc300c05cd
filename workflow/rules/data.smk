# Stages 1-3: annotation files -> manifest + audit; download (or generate) videos; decode clips;
# the record of what has no clip and the present-fraction check.


STAGE_TARGETS.append(
    lambda dataset: [
        paths.manifest(dataset),
        paths.audit(dataset),
        *(
            paths.clips(dataset, s)
            for s in shards(dataset)
            if dataset in MEDIA_DATASETS
        ),
        *([paths.present(dataset)] if dataset in MEDIA_DATASETS else []),
    ]
)


# Bookkeeping over a few files: on a cluster these run on the login node, where they take
# seconds, instead of waiting a scheduling round-trip each.
localrules:
    manifest,
    missing,
    check_present,


rule manifest:
    input:
        # the annotation files the manifest is built from, so that edits trigger a rebuild
        lambda wc: avmanifest.input_files(config, wc.dataset),
    output:
        manifest=paths.manifest(),
        classes=paths.classes(),
        audit_md=paths.audit(ext="md"),
        audit_json=paths.audit(ext="json"),
    log:
        "logs/manifest/{dataset}.log",
    benchmark:
        "benchmarks/out/manifest/{dataset}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/manifest.py"


# Videos land in the download cache (paths.videos), which is not a Snakemake output: re-running
# a shard (after a code or config change) never deletes what was already downloaded.
rule download:
    input:
        manifest=paths.manifest("{media}"),
    output:
        status=paths.download_status(),
    log:
        "logs/download/{media}/shard-{shard}.log",
    benchmark:
        "benchmarks/out/download/{media}/shard-{shard}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        video_dir=paths.videos(),
    script:
        "../scripts/download.py"


rule decode:
    input:
        status=paths.download_status(),
    output:
        clips=directory(paths.clips()),
    log:
        "logs/decode/{media}/shard-{shard}.log",
    benchmark:
        "benchmarks/out/decode/{media}/shard-{shard}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        # a change of the clip settings re-decodes (Snakemake's params trigger)
        clip=lambda wc: avconfig.clip_for(config, wc.media),
    script:
        "../scripts/decode.py"


# Every video without a clip, with the stage it was lost at (download or decode) and why. This
# rule never fails on the count, so missing.csv survives the check that points to it.
rule missing:
    input:
        manifest=paths.manifest("{media}"),
        status=lambda wc: [paths.download_status(wc.media, s) for s in shards(wc.media)],
        clips=lambda wc: [paths.clips(wc.media, s) for s in shards(wc.media)],
    output:
        missing=paths.missing(),
    log:
        "logs/missing/{media}.log",
    benchmark:
        "benchmarks/out/missing/{media}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/missing.py"


# Stops the run when fewer than download.min_present_fraction of the videos have a clip (or
# none has), pointing to missing.csv; feature extraction waits for it.
rule check_present:
    input:
        manifest=paths.manifest("{media}"),
        missing=paths.missing(),
        # identical clips in different splits are reported (present.json, the log)
        clips=lambda wc: [paths.clips(wc.media, s) for s in shards(wc.media)],
    output:
        present=paths.present(),
    log:
        "logs/check_present/{media}.log",
    benchmark:
        "benchmarks/out/check_present/{media}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/check_present.py"
