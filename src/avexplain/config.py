"""Configuration loading and validation with errors that name the key and what was expected."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type, or points at a missing file."""


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate(config: dict, schema_path: Path = SCHEMA, root: Path | None = None) -> dict:
    """Check `config` against the JSON schema and check that configured files exist.

    Raises ConfigError naming every offending key (dotted path) and what was expected.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    _coerce_strings(config, validator)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            for name in extra:
                problems.append(
                    f"config key '{_key([*err.absolute_path, name])}' is unknown "
                    f"(expected one of: {allowed})"
                )
        else:
            problems.append(f"config key '{_key(err.absolute_path)}': {err.message}")
    problems += _check_model_names(config)
    root = Path(root or Path.cwd())
    for dataset in config.get("run_datasets", []):
        if dataset not in config.get("datasets", {}):
            problems.append(
                f"config key 'run_datasets' names '{dataset}', which is not under 'datasets'"
            )
    for dataset in config.get("run_datasets", []):
        ds = config.get("datasets", {}).get(dataset, {})
        if ds.get("kind") == "custom":
            for key in ("video_dir", "labels_csv"):
                if not ds.get(key):
                    problems.append(
                        f"config key 'datasets.{dataset}.{key}' is empty; a custom dataset needs "
                        "a folder of videos (video_dir) and a labels CSV (labels_csv)"
                    )
    for key_path, value in _file_keys(config):
        if value is not None and not (root / value).exists():
            problems.append(
                f"config key '{_key(key_path)}' points at '{value}', which does not exist"
            )
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


# `--config 'train={epochs: 30}'`: Snakemake reads a nested value with YAML's base loader, so
# every scalar in it arrives as a string. A string where the schema wants a number or a boolean
# is converted when it is one, in place, before validation; otherwise the message names the key.
_COERCE = {
    "integer": lambda s: int(s),
    "number": lambda s: int(s) if s.strip().lstrip("+-").isdigit() else float(s),
    "boolean": lambda s: {"true": True, "false": False}[s.strip().lower()],
    "null": lambda s: {"null": None, "~": None, "none": None}[s.strip().lower()],
}
_UNSET = object()


def _coerce_strings(config: dict, validator) -> None:
    for _ in range(100):  # each pass fixes the errors it sees; nested ones show up next pass
        changed = False
        for err in validator.iter_errors(config):
            if err.validator != "type" or not isinstance(err.instance, str):
                continue
            wanted = err.validator_value
            wanted = [wanted] if isinstance(wanted, str) else list(wanted)
            value = _UNSET
            for kind in wanted:
                try:
                    value = _COERCE[kind](err.instance)
                    break
                except (KeyError, ValueError):
                    continue
            if value is _UNSET or not err.absolute_path:
                continue  # reported by the validation proper, naming the key
            parent = config
            for part in list(err.absolute_path)[:-1]:
                parent = parent[part]
            parent[err.absolute_path[-1]] = value
            changed = True
        if not changed:
            return


def _check_model_names(config: dict) -> list[str]:
    """Model names in the explain section must be models the run trains (models.names)."""
    from avexplain.names import MODELS

    trained = (config.get("models") or {}).get("names") or []
    problems = []
    for key in ("perturbation_models", "ground_truth_models"):
        for name in (config.get("explain") or {}).get(key) or []:
            if name not in MODELS:
                problems.append(
                    f"config key 'explain.{key}' names '{name}', which is not a model "
                    f"(expected one of: {', '.join(MODELS)})"
                )
            elif trained and name not in trained:
                problems.append(
                    f"config key 'explain.{key}' names '{name}', which models.names does not "
                    "train: add it to models.names or remove it here"
                )
    return problems


FILE_KEYS = ("annotations", "labels", "eval_audio", "eval_visual", "class_map", "labels_csv")


def _file_keys(config: dict):
    """Yield (key path, value) for every configured input file of the datasets in use."""
    datasets = config.get("datasets", {})
    used = set(config.get("run_datasets", []))
    for name in list(used):
        used.update(datasets.get(name, {}).get("members", []))
    for name in sorted(used):
        ds = datasets.get(name, {})
        for key in (*FILE_KEYS, "video_dir"):
            if isinstance(ds.get(key), str):
                yield ["datasets", name, key], ds[key]
        splits = ds.get("splits")
        if isinstance(splits, dict):
            for split, path in splits.items():
                yield ["datasets", name, "splits", split], path
        local_dir = (ds.get("source") or {}).get("local_dir")
        if local_dir is not None:
            yield ["datasets", name, "source", "local_dir"], local_dir


def load(path: str | Path, root: Path | None = None) -> dict:
    """Read and validate a YAML configuration file."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of configuration keys at the top level")
    return validate(config, root=root or path.parent)


def config_hash(config: dict) -> str:
    """A short, stable hash of the configuration, recorded in every output's provenance."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def section_for(config: dict, section: str, dataset: str) -> dict:
    """Config `section` with `section.overrides.<dataset>` applied: a nested mapping is merged
    key by key (e.g. one backbone's frames_per_segment), anything else replaced."""
    settings = copy.deepcopy({k: v for k, v in config[section].items() if k != "overrides"})
    for key, value in (config[section].get("overrides") or {}).get(dataset, {}).items():
        if isinstance(value, dict):
            settings[key] = {**settings.get(key, {}), **value}
        else:
            settings[key] = value
    return settings


def clip_for(config: dict, dataset: str) -> dict:
    """The canonical clip settings of `dataset`: `clip` with `clip.overrides.<dataset>` (fps,
    size) applied. A union (AVR) reads its members' clips, so they must agree."""
    spec = config["datasets"].get(dataset) or {}
    if spec.get("kind") == "union":
        members = {m: clip_for(config, m) for m in spec["members"]}
        first = next(iter(members.values()))
        if any(clip != first for clip in members.values()):
            raise ConfigError(
                f"config key clip.overrides: the members of union dataset {dataset} "
                f"({', '.join(members)}) have different clip settings; their clips are read as "
                "one dataset, so give them the same fps and size"
            )
        return first
    return section_for(config, "clip", dataset)


def visible_gpus() -> int:
    """NVIDIA GPUs a job on this machine would see, without importing torch (the Snakefile calls
    this): the driver's /proc/driver/nvidia/gpus entries, none when CUDA_VISIBLE_DEVICES hides
    them all."""
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return 0
    gpus = Path("/proc/driver/nvidia/gpus")
    return sum(1 for _ in gpus.iterdir()) if gpus.is_dir() else 0


def gpu_request(device: str, local: bool) -> int:
    """The `gpu` resource of a job whose device key is `device` (auto | cpu | cuda). On a cluster
    a GPU whenever the job may use one; on this machine (`local`) an `auto` job asks for one only
    when the machine has one: the local profile's gpu=1 keeps a GPU box's jobs off each other's
    memory, and must not make a CPU-only machine run its jobs one at a time."""
    if device == "cpu" or (local and device == "auto" and not visible_gpus()):
        return 0
    return 1
