"""ResNet-152 forward passes on the CPU with glibc's default allocator settings, then with
`avexplain.devices.keep_freed_memory` (what every CPU job sets through `pick_device`), in the
same process: user and kernel CPU seconds, page faults, and the ratio of CPU seconds
(docs/features.md, "Speed").

    python benchmarks/allocator.py [--size 128] [--batch 64] [--passes 4]
"""

from __future__ import annotations

import argparse
import resource

import torch
import torchvision

from avexplain.devices import keep_freed_memory


def measure(trunk, x, passes: int) -> tuple[float, float, int]:
    """(user s, system s, minor page faults) of `passes` forward passes after a warm-up."""
    with torch.inference_mode():
        trunk(x)
        before = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(passes):
            trunk(x)
        after = resource.getrusage(resource.RUSAGE_SELF)
    return (
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        after.ru_minflt - before.ru_minflt,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="input side (the synth demo's 128)")
    ap.add_argument("--batch", type=int, default=64, help="frames per pass (features.batch_size)")
    ap.add_argument("--passes", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as one extraction job on the demo's 2 cores
    torch.manual_seed(0)
    net = torchvision.models.resnet152()
    trunk = torch.nn.Sequential(*list(net.children())[:-2]).eval()
    trunk = trunk.to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(
        memory_format=torch.channels_last
    )
    rows = {"glibc default": measure(trunk, x, args.passes)}
    if not keep_freed_memory():
        print("this C library has no mallopt: nothing to compare")
        return
    rows["keep_freed_memory"] = measure(trunk, x, args.passes)
    for name, (user, system, faults) in rows.items():
        print(f"{name:>17}: user {user:6.1f} s, system {system:5.1f} s, {faults:>9,} page faults")
    (u0, s0, _), (u1, s1, _) = rows.values()
    print(f"CPU seconds, default / keep_freed_memory: {(u0 + s0) / (u1 + s1):.2f}")


if __name__ == "__main__":
    main()
