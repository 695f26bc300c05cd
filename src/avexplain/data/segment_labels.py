"""Which datasets have segment-level (per-second) audio-visual labels, decided from the
configuration alone and free of torch, so that the Snakefile fails at planning time when a
localization target is asked of a dataset without them (docs/localization.md, Targets)."""

from __future__ import annotations

from avexplain.config import ConfigError
from avexplain.names import SPLITS


class SegmentLabelsMissing(ConfigError):
    """A segment-level target was asked of a dataset (or split) without segment annotations."""


def _segment_problem(config: dict, dataset: str, splits) -> str | None:
    datasets = config.get("datasets") or {}
    if dataset not in datasets:
        return f"dataset '{dataset}' is not under config key 'datasets'"
    ds = datasets[dataset]
    kind = ds.get("kind")
    if kind in ("ave", "synth"):
        return None
    if kind == "llp":
        if "train" in splits:
            return (
                f"dataset '{dataset}' (kind llp) publishes per-second audio and visual events "
                "for its val and test clips only; its train split has video-level labels, so "
                "segment-level training targets do not exist"
            )
        return None
    if kind == "custom":
        return (
            f"dataset '{dataset}' (kind custom) has no audio-visual event annotations: its "
            "manifest's audio_events and visual_events are empty"
        )
    if kind == "union":
        for member in ds.get("members", []):
            problem = _segment_problem(config, member, splits)
            if problem:
                return f"dataset '{dataset}' (union) includes {member}: {problem}"
        return None
    return f"dataset '{dataset}' has kind {kind!r}, which has no segment annotations"


def require_segment_labels(config: dict, dataset: str, splits=SPLITS) -> None:
    """Fail (at planning time: config only) unless `dataset` has segment labels for `splits`."""
    problem = _segment_problem(config, dataset, tuple(splits))
    if problem:
        raise SegmentLabelsMissing(
            f"segment-level localization targets were asked of {problem} (splits {list(splits)})"
        )


def has_segment_labels(config: dict, dataset: str, splits=SPLITS) -> bool:
    """Whether `dataset` has segment labels for `splits` (stage targets skip those without)."""
    return _segment_problem(config, dataset, tuple(splits)) is None
