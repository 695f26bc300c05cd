"""Configuration loading and validation with errors that name the key and what was expected."""

from __future__ import annotations

import copy
import hashlib
import json
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
