"""Choose synth's fusion-layers settings on the validation split, never the test split.

Trains the four fusion-layers models (Uni-Audio, Uni-Vision, Naive AV, the five layers) on a
built synth run (`--run-dir`, where the feature stores and onset files exist) once per setting
and seed, and prints per setting and model the best-epoch *validation* accuracy (the vote's
video top-1, the number each model's epoch is chosen on), its mean over the seeds, and the CPU
seconds; then, per setting, the mean over the four models and the seeds and its paired
difference from the first setting (bootstrap over the model x seed pairs). The jobs' test
numbers go to a scratch folder and are ignored. Each setting is a JSON object merged into
`fusion_layers.overrides.synth` (nested objects such as `model` or `train` merged key by key):

    python benchmarks/tune_fusion_layers.py --run-dir <built synth run> \\
        --setting default '{}' --setting dropout '{"model": {"dropout": 0.5}}'

Run it with OMP_NUM_THREADS=1 (as Snakemake runs the jobs) for comparable CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from tune_localization import configured, report_against_first

from avexplain import paths
from avexplain.models.fusion_layers import NAMES
from avexplain.training import fusion_layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--setting", nargs=2, action="append", metavar=("NAME", "JSON"),
                        required=True)  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run = args.run_dir.resolve()
    config = yaml.safe_load((run / "config.yaml").read_text())
    onset_files = sorted(run.glob(paths.onsets("synth", "*")))
    val: dict[str, dict[tuple[str, int], float]] = {}
    print("setting\tmodel\tval_per_seed\tmean_val\tcpu_s")
    for name, text in args.setting:
        cfg = configured(config, json.loads(text), "fusion_layers")
        val[name] = {}
        cpu = 0.0
        with tempfile.TemporaryDirectory() as scratch:
            for folder in ("data", "features", "resources"):
                (Path(scratch) / folder).symlink_to(run / folder)
            for seed in args.seeds:
                out = {m: Path(scratch) / paths.fusion_trained("synth", m, seed, "") for m in NAMES}
                started = time.process_time()
                records = fusion_layers.train_seed(
                    cfg, "synth", seed, out, onset_files, root=scratch, threads=1
                )
                cpu += time.process_time() - started
                val[name].update({(m, seed): r["val"]["top1"] for m, r in records.items()})
        for model in NAMES:
            scores = [val[name][(model, s)] for s in args.seeds]
            per_seed = ", ".join(f"{s:.1f}" for s in scores)
            print(f"{name}\t{model}\t{per_seed}\t{np.mean(scores):.2f}\t{cpu:.1f}", flush=True)
    report_against_first(val, args.setting[0][0], "model x seed runs")


if __name__ == "__main__":
    main()
