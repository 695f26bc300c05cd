"""How STAN's space attention points, seed by seed: which end of the map marks the object.

Trains STAN on a built synth run (`--run-dir`, after `make demo`) with each of `--seeds` in a
scratch folder, as the pipeline trains it (the run's config.yaml; seeds 0-2 give the run's own
numbers), and prints per seed the validation and test mAP, the hit rate of the space map's peak
and of its trough on the validation and the test boxes, the end validation picks
(`explain.pointing.orientation`), and how often the cells in the object's box, and the other
cells, are in the perturbation test's relevant mask (A^st >= 0.5) on test. Then, over the
seeds, the seed-averaged per-video hit rate of the peak and of the validation-picked end against
the run's best fixed cell (`results/synth/stan/ground_truth.json`), with the paired bootstrap
interval of the comparisons table. It describes a trained STAN; nothing in the pipeline is
chosen with it.

    python benchmarks/stan_seeds_pointing.py --run-dir <make demo clone> --seeds 0 1 2 3 4 5 6 7 8 9
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import yaml

from avexplain.data.manifest import read_manifest
from avexplain.explain import pointing
from avexplain.explain.jobs import attention_maps
from avexplain.explain.perturbation import THRESHOLD
from avexplain.tables.comparisons import paired_bootstrap
from avexplain.training.splits import open_split
from avexplain.training.train import load_trained, train


def relevant_shares(space_time: np.ndarray, boxes_per_video: list[dict]) -> tuple[float, float]:
    """Mean share, over the annotated seconds, of the box's cells and of the other cells that
    the relevant mask (A^st >= THRESHOLD) holds."""
    inside, outside = [], []
    for att, boxes in zip(space_time, boxes_per_video, strict=True):
        for t, box in pointing.annotated_seconds(boxes, att.shape[0]):
            cells, relevant = pointing.box_cells(box, att.shape[1:]), att[t] >= THRESHOLD
            inside.append(relevant[cells].mean())
            outside.append(relevant[~cells].mean())
    return float(np.mean(inside)), float(np.mean(outside))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    args = parser.parse_args()
    run = args.run_dir
    config = yaml.safe_load((run / "config.yaml").read_text())
    frame = read_manifest(run / "data/synth/manifest.csv")
    boxes = dict(zip(frame["video_id"], frame["boxes"], strict=True))
    feats = {s: open_split(config, "synth", s, root=run).load() for s in ("val", "test")}
    split_boxes = {s: [json.loads(boxes[str(v)] or "{}") for v in f.video_ids]
                   for s, f in feats.items()}  # fmt: skip
    print("seed\tval_mAP\ttest_mAP\tval_peak\tval_trough\ttest_peak\ttest_trough\tsign"
          "\trelevant_box\trelevant_other")  # fmt: skip
    peak, oriented = [], []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as out:
            record = train(config, "synth", "stan", seed, out, root=run, threads=1,
                           progress=False)  # fmt: skip
            model = load_trained(Path(out) / "checkpoint.pt")[0]
        out = {s: attention_maps(model, f.visual, f.audio) for s, f in feats.items()}
        maps = {s: o["space_attention"] for s, o in out.items()}
        relevant = relevant_shares(maps["test"] * out["test"]["time_attention"][..., None, None],
                                   split_boxes["test"])  # fmt: skip
        val = pointing.orientation(maps["val"], split_boxes["val"])
        test = pointing.orientation(maps["test"], split_boxes["test"])
        peak.append(pointing.peak_game(maps["test"], split_boxes["test"])["per_video"])
        oriented.append(
            pointing.peak_game(val["sign"] * maps["test"], split_boxes["test"])["per_video"]
        )
        print(f"{seed}\t{record['val']['mAP']:.1f}\t{record['test']['mAP']:.1f}\t"
              f"{val['peak']:.2f}\t{val['trough']:.2f}\t{test['peak']:.2f}\t{test['trough']:.2f}"
              f"\t{val['sign']:+d}\t{relevant[0]:.2f}\t{relevant[1]:.2f}", flush=True)  # fmt: skip
    report = json.loads((run / "results/synth/stan/ground_truth.json").read_text())
    fixed = np.asarray(report["spatial"]["best_fixed_cell"]["per_video"], dtype=float)
    print(f"\nover {len(args.seeds)} seeds, test hit rate per video, seeds averaged, minus the "
          "best fixed cell (95 % paired bootstrap interval):")  # fmt: skip
    for name, hits in (("peak", peak), ("end chosen on validation", oriented)):
        stats = paired_bootstrap(np.asarray(hits, dtype=float) - fixed, 10000, config["seed"])
        print(f"{name}: mean hit {np.nanmean(np.nanmean(hits, axis=0)):.3f}, "
              f"{stats['mean']:+.3f} [{stats['low']:+.3f}, {stats['high']:+.3f}]")  # fmt: skip


if __name__ == "__main__":
    main()
