"""Choose synth's regularisation on the validation split, never the test split.

Trains STAN on a built synth run (`--run-dir`, where `features/synth/*.zarr` exist) for every
setting of the grid and every seed, and prints the best-epoch *validation* mAP (the quantity
training itself selects epochs on) and the epoch it came from; the test split is not read for
the choice (train() writes test predictions, which this script ignores). The defaults of
config.yaml (`models.dropout`, `train.weight_decay`, `train.overrides.synth.epochs`) are the
setting with the best mean validation mAP over the seeds; docs/models.md records the numbers.

    python benchmarks/tune_synth.py --run-dir <workflow folder> --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from avexplain.training.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--model", default="stan")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dropout", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--weight-decay", type=float, nargs="+", default=[1e-4])
    parser.add_argument("--epochs", type=int, nargs="+", default=None,
                        help="epoch budgets to compare (default: the config's)")  # fmt: skip
    args = parser.parse_args()
    config = yaml.safe_load((args.run_dir / "config.yaml").read_text())
    budgets = sorted(args.epochs or [config["train"]["overrides"]["synth"]["epochs"]])
    print("dropout\tweight_decay\tepochs\tseed\tval_mAP\tbest_epoch\tcpu_s")
    results = {}
    for dropout, wd in itertools.product(args.dropout, args.weight_decay):
        cfg = copy.deepcopy(config)
        cfg["models"]["dropout"] = dropout
        cfg["train"]["weight_decay"] = wd
        cfg["train"]["overrides"]["synth"].pop("weight_decay", None)
        cfg["train"]["overrides"]["synth"]["epochs"] = budgets[-1]
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as out:
                started = time.process_time()
                record = train(cfg, "synth", args.model, seed, out, root=args.run_dir,
                               threads=1, progress=False)  # fmt: skip
                cpu = time.process_time() - started
            for epochs in budgets:  # what a run of `epochs` epochs would have selected
                best = max(record["history"][:epochs], key=lambda h: h["val"]["mAP"])
                val = best["val"]["mAP"]
                results.setdefault((dropout, wd, epochs), []).append(val)
                print(f"{dropout}\t{wd}\t{epochs}\t{seed}\t{val:.2f}\t{best['epoch']}\t{cpu:.1f}",
                      flush=True)  # fmt: skip
    print("\nmean validation mAP over seeds:")
    for (dropout, wd, epochs), vals in results.items():
        print(f"dropout {dropout}, weight decay {wd}, {epochs} epochs: "
              f"{np.mean(vals):.2f} ± {np.std(vals):.2f}")  # fmt: skip
    best = max(results, key=lambda k: np.mean(results[k]))
    print(json.dumps({"best": {"dropout": best[0], "weight_decay": best[1], "epochs": best[2]}}))


if __name__ == "__main__":
    main()
