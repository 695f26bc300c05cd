"""Choose synth's localization settings on the validation split, never the test split.

Trains every group of the localization families (or `--groups`) on a built synth run
(`--run-dir`, where `features/synth/*.zarr` exist) once per setting, with one seed, and prints
per group the mean *validation* score of its models (the quantity each model's epoch is chosen
on: segment accuracy, or video accuracy for the weak models) and the CPU seconds; then, per
setting, the paired difference from the first one over every segment model (the cross-modality
models, selected on their loss, are left out) with a 95 % bootstrap interval. The jobs' test
numbers are written into a scratch folder and ignored. Each setting is a JSON object merged into
`localization.overrides.synth` (nested objects such as `avt` merged key by key):

    python benchmarks/tune_localization.py --run-dir <built synth run> \\
        --setting stored '{"visual_components": null}' --setting k256 '{"visual_components": 256}'

`--budgets 10 20 30` also reads each model's validation history (train with a setting whose
epochs are the largest budget) and prints, per budget E, the best validation score within the
first E epochs (what a budget of E selects) and its CPU share, against the smallest budget;
`--histories FILE` writes every model's validation history ({setting: {group/model: [...]}}):

    python benchmarks/tune_localization.py --run-dir <run> --budgets 10 20 30 \\
        --setting e30 '{"epochs": 30, "model_epochs": {}}' --histories /tmp/histories.json

Run it with OMP_NUM_THREADS=1 (as Snakemake runs the jobs) for comparable CPU seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from avexplain import names
from avexplain.training import localization_runs


def configured(config: dict, change: dict, section: str = "localization") -> dict:
    """`config` with `change` merged into `{section}.overrides.synth` and synth its only dataset."""
    config = copy.deepcopy(config)
    config[section]["datasets"] = ["synth"]
    synth = config[section].setdefault("overrides", {}).setdefault("synth", {})
    for key, value in change.items():
        synth[key] = {**synth.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def report_against_first(val: dict[str, dict], first: str, what: str) -> None:
    """Per setting: the mean of its validation scores (`val[setting][run]`) and its paired
    difference from setting `first` with a 95 % bootstrap interval over the runs."""
    rng = np.random.default_rng(0)
    keys = sorted(val[first])
    for name in val:
        values = np.array([val[name][k] for k in keys])
        diff = values - np.array([val[first][k] for k in keys])
        boot = diff[rng.integers(0, len(diff), (10000, len(diff)))].mean(1)
        low, high = np.percentile(boot, [2.5, 97.5])
        print(f"{name}: mean validation {values.mean():.2f} over {len(keys)} {what}; "
              f"minus {first}: {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--setting", nargs=2, action="append", metavar=("NAME", "JSON"),
                        required=True)  # fmt: skip
    parser.add_argument("--groups", nargs="+", default=list(names.LOCALIZATION_GROUPS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budgets", nargs="+", type=int, default=[])
    parser.add_argument("--histories", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run = args.run_dir.resolve()
    config = yaml.safe_load((run / "config.yaml").read_text())
    val: dict[str, dict[tuple[str, str], float]] = {}
    histories: dict[str, dict[str, list[float]]] = {}
    print("setting\tgroup\tmean_val\tcpu_s")
    for name, text in args.setting:
        cfg = configured(config, json.loads(text))
        val[name] = {}
        with tempfile.TemporaryDirectory() as scratch:
            for folder in ("data", "features", "resources"):
                (Path(scratch) / folder).symlink_to(run / folder)
            for group in args.groups:
                started = time.process_time()
                records = localization_runs.train_group(
                    cfg, "synth", group, args.seed, root=scratch, threads=1
                )
                cpu = time.process_time() - started
                scores = {m: r["val"] for m, r in records.items() if r["task"] == "segment"}
                histories.setdefault(name, {}).update(
                    {f"{group}/{m}": [h["val"] for h in r["history"]] for m, r in records.items()}
                )
                val[name].update({(group, m): v for m, v in scores.items()})
                for budget in args.budgets:
                    within = {
                        (group, m): max(h["val"] for h in r["history"][:budget])
                        for m, r in records.items()
                        if r["task"] == "segment"
                    }
                    val.setdefault(f"{name}@{budget}", {}).update(within)
                    spent = sum(
                        r["cpu_seconds"] * min(budget, len(r["history"])) / len(r["history"])
                        for r in records.values()
                    )
                    mean = np.mean(list(within.values())) if within else float("nan")
                    print(f"{name}@{budget}\t{group}\t{mean:.2f}\t{spent:.1f}", flush=True)
                mean = np.mean(list(scores.values())) if scores else float("nan")
                print(f"{name}\t{group}\t{mean:.2f}\t{cpu:.1f}", flush=True)
    if args.histories:
        args.histories.write_text(json.dumps(histories, indent=1))
    first = args.setting[0][0]
    report_against_first(
        val, f"{first}@{min(args.budgets)}" if args.budgets else first, "segment models"
    )


if __name__ == "__main__":
    main()
