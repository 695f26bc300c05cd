"""CPU seconds per script from a log that benchmarks/cpu_log/sitecustomize.py wrote: processes,
own + children's CPU seconds and wall seconds, largest first. Snakemake's script jobs are
grouped by script name (their temporary copies carry a random prefix).

    python benchmarks/cpu_log/summary.py /tmp/cpu.tsv
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict


def script_of(argv: str) -> str:
    first = argv.split(" ", 1)[0]
    return re.sub(r"^.*/tmp[a-z0-9_]+\.", "", first)  # .snakemake/scripts/tmpXXXX.train.py


def main(path: str) -> None:
    rows = defaultdict(lambda: [0, 0.0, 0.0])
    for line in open(path):
        _, wall, own, children, argv = line.rstrip("\n").split("\t", 4)
        row = rows[script_of(argv)]
        row[0] += 1
        row[1] += float(own) + float(children)
        row[2] += float(wall)
    print(f"{'script':<60} {'processes':>9} {'CPU s':>8} {'wall s':>8}")
    for name, (n, cpu, wall) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
        print(f"{name[-60:]:<60} {n:>9} {cpu:>8.1f} {wall:>8.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
