"""CPU seconds per script from a log that benchmarks/cpu_log/sitecustomize.py wrote: processes,
their own CPU seconds, their waited-for children's and wall seconds, largest own first.
Snakemake's script jobs are grouped by script name (their temporary copies carry a random
prefix). Own seconds add up to the run's Python CPU; a parent's children column repeats its
Python children's rows (Snakemake's holds its jobs) and adds what has no row (ffmpeg, slurmd).

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
    rows = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for line in open(path):
        _, wall, own, children, argv = line.rstrip("\n").split("\t", 4)
        row = rows[script_of(argv)]
        row[0] += 1
        row[1] += float(own)
        row[2] += float(children)
        row[3] += float(wall)
    print(f"{'script':<60} {'processes':>9} {'own CPU s':>9} {'children':>9} {'wall s':>8}")
    for name, (n, own, children, wall) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
        print(f"{name[-60:]:<60} {n:>9} {own:>9.1f} {children:>9.1f} {wall:>8.1f}")
    print(f"{'all processes (own)':<60} {'':>9} {sum(r[1] for r in rows.values()):>9.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
