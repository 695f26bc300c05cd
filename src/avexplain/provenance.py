"""What every output records about the code that made it (kept free of torch: the Snakefile
and light jobs import it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import avexplain
from avexplain.config import config_hash, section_for
from avexplain.files import sha256


def code_version() -> str:
    """The package version and, in a git checkout, the commit (`-dirty`: uncommitted changes)."""
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"avexplain {avexplain.__version__}" + (f" ({rev})" if rev else "")


def _jsonable(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool | list)}


def record_provenance(config: dict, checkpoint=None, meta: dict | None = None) -> dict:
    """What an output depends on: the configuration's hash, the code version, and the trained
    model (checkpoint hash and the metadata the models stage saved, e.g. backbones, weights)."""
    out = {"config_hash": config_hash(config), "code_version": code_version()}
    if checkpoint is not None:
        out["checkpoint"] = str(checkpoint)
        out["checkpoint_sha256"] = sha256(checkpoint)
    if meta:
        out["model_meta"] = {k: v for k, v in _jsonable(meta).items() if k != "classes"}
    return out


def describe_features(config: dict, datasets: list[str]) -> str:
    """One sentence for captions: which weights each dataset's features came from, and the
    configuration's hash (random weights are named as such: demo numbers, not the paper's)."""
    parts = []
    for dataset in datasets:
        for media in config["datasets"][dataset].get("members", [dataset]):
            weights = section_for(config, "features", media)["weights"]
            if weights == "random":
                text = f"seeded random weights (seed {config['seed']}): pipeline demo numbers"
            elif weights == "pretrained":
                text = "the published pretrained weights"
            else:
                text = f"the weights in {weights}"
            parts.append(f"{media}: {text}")
    return (
        f"Features — {'; '.join(dict.fromkeys(parts))}. Configuration hash {config_hash(config)}."
    )
