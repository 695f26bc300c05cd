"""The commands the pipeline prints when something must be rebuilt or run again.

A command that is printed must work when pasted: it names the one target to rebuild (never
`rule all`), puts the target before `--forcerun` (whose list would otherwise swallow it) and
repeats the user's own `--configfile`/`--config`. common.smk records those at parse time in the
environment (RUN_ARGS_ENV), which every job of the run inherits; cluster jobs parse the Snakefile
with the same arguments and record them again."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml

RUN_ARGS_ENV = "AVEXPLAIN_RUN_ARGS"


def record(configfiles=(), overwrite_config: dict | None = None) -> str:
    """Remember the run's --configfile and --config arguments for the commands printed later."""
    args = []
    files = [_relative(f).as_posix() for f in configfiles or ()]
    if files:
        args += ["--configfile", *map(shlex.quote, files)]
    if overwrite_config:
        args.append("--config")
        for key, value in overwrite_config.items():
            text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
            text = text.removesuffix("\n...").strip()
            args.append(shlex.quote(f"{key}={text}"))
    os.environ[RUN_ARGS_ENV] = " ".join(args)
    return os.environ[RUN_ARGS_ENV]


def _relative(path: str | Path) -> Path:
    """`path` relative to the working directory when inside it (shorter, and still right)."""
    path = Path(path)
    try:
        return path.relative_to(Path.cwd()) if path.is_absolute() else path
    except ValueError:
        return path


def command(target: str | Path, forcerun: list[str] | tuple[str, ...] = ()) -> str:
    """`snakemake <target> --cores 1 [the run's config args] [--forcerun <rules>]`."""
    parts = ["snakemake", shlex.quote(_relative(target).as_posix()), "--cores", "1"]
    extra = os.environ.get(RUN_ARGS_ENV, "")
    if extra:
        parts.append(extra)
    if forcerun:
        parts += ["--forcerun", *forcerun]
    return " ".join(parts)


def rebuild_store(store_path: str | Path) -> str:
    """The command that re-extracts one feature store (all its shards) and finalizes it."""
    return command(store_path, ["extract_features", "finalize_features"])
