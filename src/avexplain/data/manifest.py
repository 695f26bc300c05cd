"""Dataset manifests: one row per video (docs/formats.md), its class list and its data audit.

`build_manifest` dispatches on `datasets.<name>.kind` to the builders in `avexplain.data.datasets`;
`count_videos` and `input_files` are what the Snakefile asks at parse time; `run` is the body of
the `manifest` rule.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pandas as pd

from avexplain.data.audit import Audit, render_markdown
from avexplain.data.datasets import ave, avr, custom, llp, synth
from avexplain.data.datasets.common import (
    COLUMNS,
    LABEL_SEPARATOR,
    resolve,
)
from avexplain.files import sha256
from avexplain.names import SPLITS

log = logging.getLogger(__name__)

_BUILDERS = {"ave": ave, "llp": llp, "custom": custom, "synth": synth}
# (dataset, config, root, input file hashes) -> (frame, classes, audit): the Snakefile asks for
# the count of every dataset at parse time, and AVR rebuilds its members. Custom manifests also
# depend on the video folder, and synth on its generator, so those two are always rebuilt.
_CACHE: dict[tuple, tuple] = {}
_CACHED_KINDS = {"ave", "llp", "union"}


def dataset_config(config: dict, dataset: str) -> dict:
    datasets = config.get("datasets") or {}
    if dataset not in datasets:
        raise KeyError(
            f"config key 'datasets.{dataset}' is missing; configured datasets: {', '.join(datasets)}"
        )
    return datasets[dataset]


def input_files(config: dict, dataset: str) -> list[str]:
    """The annotation files a dataset's manifest is built from (paths as configured)."""
    ds = dataset_config(config, dataset)
    if ds["kind"] == "union":
        return [f for m in ds["members"] for f in input_files(config, m)] + [ds["class_map"]]
    return _BUILDERS[ds["kind"]].input_files(ds)


def _stamp(config: dict, dataset: str, root: Path) -> tuple:
    """Cache key: the dataset, the whole config, the root and the inputs' contents."""
    stamps = []
    for path in input_files(config, dataset):
        full = resolve(root, path)
        stamps.append((path, sha256(full) if full.exists() else None))
    blob = json.dumps(config, sort_keys=True, default=str)
    return (dataset, blob, str(Path(root).resolve()), tuple(stamps))


def build_manifest(config: dict, dataset: str, root: str | Path = ".") -> tuple:
    """(manifest DataFrame in the columns of docs/formats.md, class names, audit dict)."""
    root = Path(root)
    if dataset_config(config, dataset)["kind"] not in _CACHED_KINDS:
        return _build(config, dataset, root)
    key = _stamp(config, dataset, root)
    if key not in _CACHE:
        _CACHE[key] = _build(config, dataset, root)
    frame, classes, audit = _CACHE[key]
    return frame.copy(), list(classes), copy.deepcopy(audit)


def _build(config: dict, dataset: str, root: Path):
    ds = dataset_config(config, dataset)
    kind = ds["kind"]
    log.info("building the %s manifest (kind %s)", dataset, kind)
    if kind == "union":
        # the members are built here (and cached) and handed over: the union builder never
        # reaches back into this module
        members = {m: build_manifest(config, m, root) for m in ds["members"]}
        frame, classes, audit = avr.build(config, dataset, root, members)
    else:
        frame, classes, audit = _BUILDERS[kind].build(config, dataset, root)
    validate_manifest(frame, classes, dataset)
    audit_splits(frame, audit)
    return frame, list(classes), audit.to_dict()


class EmptySplitError(ValueError):
    """A split of the manifest has no video: training or evaluation could not run on it."""


def _split_advice(ds: dict, dataset: str, counts: dict[str, int]) -> str:
    """What to change in the configuration or the inputs so that every split gets videos."""
    kind = ds["kind"]
    if kind == "custom":
        return (
            f"give each split at least one video in the `split` column (train, val or test) of "
            f"datasets.{dataset}.labels_csv ({ds.get('labels_csv')}), adding the column if it "
            f"has none, or label more videos: without the column the {sum(counts.values())} "
            "videos are split 60/20/20 (at least 5 give each split one)"
        )
    if kind == "synth":
        return (
            f"raise datasets.{dataset}.num_videos (now {ds.get('num_videos')}) or give every "
            f"fraction of datasets.{dataset}.splits (now {ds.get('splits')}) a share"
        )
    if kind == "union":
        return f"fix the split of its members ({', '.join(ds.get('members', []))})"
    return (
        f"check the split files datasets.{dataset}.splits: each must list videos of the "
        "annotations (restore the published files, see resources/datasets/SOURCES.md)"
    )


def audit_splits(frame: pd.DataFrame, audit: Audit) -> None:
    """Record the splits without a single video (require_splits stops the run on them)."""
    empty = audit.check(
        "empty_split",
        "splits (train, val, test) without a single video",
        "stops the run before any job: training, model selection (val) and evaluation each "
        "need their split",
    )
    for split in SPLITS:
        if not (frame["split"] == split).any():
            empty.add({"split": split})


def require_splits(config: dict, dataset: str, frame: pd.DataFrame, audit: dict) -> None:
    """Raise EmptySplitError naming the dataset, the empty split(s) and what to change. Called
    where the run is decided (the Snakefile's count at parse time, the manifest rule), so an
    empty split never reaches training (it used to fail there with an IndexError)."""
    empty = [item["split"] for item in audit["checks"]["empty_split"]["items"]]
    if not empty:
        return
    counts = {s: int((frame["split"] == s).sum()) for s in SPLITS}
    shown = ", ".join(f"{s} {n}" for s, n in counts.items())
    advice = _split_advice(dataset_config(config, dataset), dataset, counts)
    raise EmptySplitError(
        f"dataset '{dataset}': split(s) {', '.join(empty)} would have no video ({shown}). "
        f"To fix it, {advice}; then run snakemake again."
    )


def count_videos(config: dict, dataset: str, root: str | Path = ".") -> int:
    """Rows of the dataset's manifest; cheap enough for Snakefile parse time."""
    ds = dataset_config(config, dataset)
    if ds["kind"] == "synth":
        # synth makes exactly num_videos videos (checked when its manifest is built), and the
        # count must not need the generator at parse time.
        return int(ds["num_videos"])
    frame, _, audit = build_manifest(config, dataset, root)
    require_splits(config, dataset, frame, audit)
    return len(frame)


def validate_manifest(frame: pd.DataFrame, classes: list[str], where: str) -> None:
    """Check the contract of docs/formats.md; a failure here is a bug in a builder."""
    problems = []
    if list(frame.columns) != COLUMNS:
        problems.append(f"columns {list(frame.columns)}, expected {COLUMNS}")
    else:
        index = {c: i for i, c in enumerate(classes)}
        if len(index) != len(classes):
            problems.append("a class is listed twice")
        if frame["video_id"].duplicated().any():
            problems.append(
                f"repeated video_id {frame.video_id[frame.video_id.duplicated()].tolist()[:5]}"
            )
        bad_split = ~frame["split"].isin(SPLITS)
        if bad_split.any():
            problems.append(f"split values {sorted(set(frame.split[bad_split]))}")
        for row in frame.itertuples(index=False):
            labels = row.labels.split(LABEL_SEPARATOR) if row.labels else []
            if not labels or any(lb not in index for lb in labels):
                problems.append(f"{row.video_id}: labels {row.labels!r} not in the class list")
            elif [index[lb] for lb in labels] != sorted({index[lb] for lb in labels}):
                problems.append(f"{row.video_id}: labels {row.labels!r} not in class order")
            for column in ("audio_events", "visual_events"):
                for label, onset, offset in json.loads(getattr(row, column)):
                    if label not in index or not onset < offset:
                        problems.append(
                            f"{row.video_id}: bad {column} [{label}, {onset}, {offset}]"
                        )
            if not isinstance(json.loads(row.boxes), dict):
                problems.append(f"{row.video_id}: boxes is not a JSON object")
            if len(problems) > 20:
                break
    if problems:
        raise ValueError(
            f"manifest of {where} breaks docs/formats.md:\n  - " + "\n  - ".join(problems)
        )


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest.csv back with the types it was written with (ids stay strings)."""
    text = {c: str for c in COLUMNS if c not in ("start", "end")}
    return pd.read_csv(path, dtype={**text, "start": float, "end": float}, keep_default_na=False)


def read_classes(path: str | Path) -> list[str]:
    return Path(path).read_text().splitlines()


def write(frame: pd.DataFrame, classes: list[str], audit: dict, outputs: dict) -> None:
    for path in outputs.values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(outputs["manifest"], index=False)
    Path(outputs["classes"]).write_text("".join(f"{c}\n" for c in classes))
    Path(outputs["audit_json"]).write_text(json.dumps(audit, indent=1) + "\n")
    Path(outputs["audit_md"]).write_text(render_markdown(audit) + "\n")


def run(config: dict, dataset: str, outputs: dict, root: str | Path = ".") -> None:
    """Build `dataset`'s manifest and write manifest, classes, audit_md and audit_json outputs."""
    frame, classes, audit = build_manifest(config, dataset, root)
    require_splits(config, dataset, frame, audit)
    write(frame, classes, audit, outputs)
    counts = {k: v["count"] for k, v in audit["checks"].items() if v["count"]}
    log.info(
        "%s: %d videos %s, %d classes; audit: %s",
        dataset,
        len(frame),
        audit["counts"].get("videos_per_split"),
        len(classes),
        counts or "nothing found",
    )
