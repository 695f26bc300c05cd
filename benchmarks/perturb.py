"""Perturbation test speed: ours against the plain per-draw loop of Algorithm B.

On the same STAN-shaped model, the same random feature maps (T x H x W x Dv visual, T x Da
audio) and the same noise levels, in one run:
  (a) ours: avexplain.explain.perturbation.perturbation_test, draws batched, masked noise drawn
      in the projected space after `visual_linear` (Cholesky factor of W W^T);
  (b) loop: avexplain.explain.perturbation.perturbation_loop, one Dv-dim noise draw and one full
      forward pass per draw, as Algorithm B is written.
Prints both times, the ratio b/a, the masks' coverage and the largest difference of the mean
TVDs (the two agree in distribution, not draw by draw).

The model is avexplain.models.build("stan", ...) with random weights, or a trained checkpoint.

    python benchmarks/perturb.py                         # 2-core CPU defaults (about a minute)
    python benchmarks/perturb.py --videos 8 --draws 100 --levels 11 --device cuda
    python benchmarks/perturb.py --run-dir . --checkpoint results/synth/stan/seed-0/checkpoint.pt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from avexplain.explain.perturbation import ALL_MASKS, perturbation_loop, perturbation_test

ROOT = Path(__file__).resolve().parents[1]


def stan_model(args):
    """A trained checkpoint (--checkpoint), else the project's STAN with random weights when
    avexplain.models exists, else the test stand-in."""
    if args.checkpoint:
        from avexplain.training.train import load_trained

        model, meta = load_trained(args.checkpoint)
        return model, f"trained {meta['model']} from {args.checkpoint}"
    shape = dict(visual_dim=args.dv, audio_dim=args.da, num_classes=args.classes)
    from avexplain import models

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    # the models stage's settings (embed_dim, ...) live in the `models` section
    model = models.build(
        "stan", config["models"], time_steps=args.t, grid=(args.h, args.h), **shape
    )
    return model, "avexplain.models.build('stan', config.yaml's models section), random weights"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--levels", type=int, default=3, help="noise variances evenly in [0, 1]")
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--t", type=int, default=10)
    ap.add_argument("--h", type=int, default=7, help="grid H = W")
    ap.add_argument("--dv", type=int, default=2048)
    ap.add_argument("--da", type=int, default=128)
    ap.add_argument("--classes", type=int, default=28)
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--device", default="cpu", help="device of (a); the loop runs on the CPU")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", help="a workflow directory: take --dataset's test features")
    ap.add_argument("--dataset", default="synth")
    ap.add_argument(
        "--checkpoint",
        help="a trained checkpoint.pt (its attention gives realistic masks); the feature shape "
        "options must match what it was trained on",
    )
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model, which = stan_model(args)
    model.eval()
    if args.run_dir:  # the run's test features: the masks the trained attention really gives
        from avexplain.training.splits import load_split

        run = Path(args.run_dir)
        config = yaml.safe_load((run / "config.yaml").read_text())
        feats = load_split(config, args.dataset, "test", root=run)
        visual, audio = feats.visual[: args.videos], feats.audio[: args.videos]
        print(f"features: {args.dataset} test split of {run}")
    else:
        g = torch.Generator().manual_seed(args.seed)
        visual = torch.rand(args.videos, args.t, args.h, args.h, args.dv, generator=g)
        audio = torch.randn(args.videos, args.t, args.da, generator=g)
    levels = np.linspace(0, 1, args.levels).round(4).tolist()
    print(f"model: {which}")
    print(f"videos {len(visual)}, maps {'x'.join(map(str, visual.shape[1:]))}, audio "
          f"{'x'.join(map(str, audio.shape[1:]))}, noise variances {levels}, {args.draws} draws, ours 4 masks (2 + same-size random controls), loop 2, "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip

    start = time.perf_counter()
    ours = perturbation_test(model, visual, audio, levels, args.draws, seed=args.seed,
                             batch_size=args.batch_size, device=args.device)  # fmt: skip
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    loop = perturbation_loop(model.cpu(), visual, audio, levels, args.draws, seed=args.seed)
    t_loop = time.perf_counter() - start

    cov = ours["coverage"]["visual"].mean(axis=0)
    print(f"visual cells covered: relevant {cov[0]:.2f}, irrelevant {cov[1]:.2f}")
    print(f"mean TVD, relevant: ours {ours['tvd'][:, 0].mean():.5f}  loop "
          f"{loop[:, 0].mean():.5f}; irrelevant: ours {ours['tvd'][:, 1].mean():.5f}  loop "
          f"{loop[:, 1].mean():.5f}")  # fmt: skip
    diff = np.abs(ours["tvd"][:, :2] - loop).max()
    print(f"largest |mean TVD difference| per video/mask/level: {diff:.5f}")
    # ours also runs the two controls: compare the time per mask
    per_mask = (t_loop / 2) / (t_ours / len(ALL_MASKS))
    print(
        f"(a) ours: {t_ours:.2f} s (4 masks)   (b) plain loop: {t_loop:.2f} s (2 masks)   "
        f"ratio b/a per mask: {per_mask:.1f}x"
    )


if __name__ == "__main__":
    main()
