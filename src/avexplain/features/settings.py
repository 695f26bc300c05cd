"""The feature settings of a dataset (config `features` + its overrides), checked at parse time.

Kept apart from avexplain.features.extract, which imports torch: the Snakefile needs only these, and every
Snakemake process (the planner and each cluster job) parses the Snakefile, so importing torch
there would cost seconds per job."""

from __future__ import annotations

from avexplain.config import ConfigError, clip_for, section_for


def settings_for(config: dict, dataset: str) -> dict:
    """The `features` section with the dataset's overrides applied (e.g. the synth demo's)."""
    return section_for(config, "features", dataset)


def check_settings(config: dict, dataset: str) -> dict:
    """The dataset's feature settings, or a ConfigError naming the key that cannot work."""
    settings = settings_for(config, dataset)
    shard_size = config["datasets"][dataset]["shard_size"]
    fps = clip_for(config, dataset)["fps"]
    problems = []
    # only the backbones this dataset extracts: a chunk size of another one cannot matter here
    for name, chunk in settings["chunk_videos"].items():
        if name in settings["backbones"] and shard_size % chunk:
            problems.append(
                f"config key features.chunk_videos.{name} is {chunk}, which does not divide "
                f"datasets.{dataset}.shard_size {shard_size} (shards must write whole chunks)"
            )
    for name, count in settings["frames_per_segment"].items():
        if count > fps:
            problems.append(
                f"config key features.frames_per_segment.{name} (dataset {dataset}) is {count}, "
                f"more than the {fps} frames a segment has (clip.fps with its overrides)"
            )
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return settings
