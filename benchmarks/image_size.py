"""ResNet-152 frames/s at the synth demo's candidate input sides, one thread, float32, random
weights: the cost behind `features.overrides.synth.image_size` (docs/features.md). Prints each
side's frames/s and its ratio to 160 px, measured in the same process.

    python benchmarks/image_size.py [--sizes 160 128 96] [--batch 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[160, 128, 96])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="timed passes; the best is kept")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = torchvision.models.resnet152()
    trunk = torch.nn.Sequential(*list(net.children())[:-2]).eval()
    trunk = trunk.to(memory_format=torch.channels_last)  # as avexplain.features.extract does
    rates = {}
    for side in args.sizes:
        x = torch.randn(args.batch, 3, side, side).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            grid = tuple(trunk(x).shape[-2:])  # untimed warm-up
            best = float("inf")
            for _ in range(args.repeats):
                started = time.perf_counter()
                trunk(x)
                best = min(best, time.perf_counter() - started)
        rates[side] = args.batch / best
        print(f"{side} px: maps {grid[0]}x{grid[1]}, {rates[side]:.2f} frames/s")
    if 160 in rates:
        for side, rate in rates.items():
            print(f"{side} px / 160 px: {rate / rates[160]:.2f}x the frames/s")


if __name__ == "__main__":
    main()
