"""Per-process CPU accounting for any run of Python processes (a Snakemake run, the suite): with
this folder on PYTHONPATH every Python process appends one line to $CPU_LOG when it exits:
pid, wall seconds, its own CPU seconds (user + system), its waited-for children's, and its
command line. `python benchmarks/cpu_log/summary.py $CPU_LOG` adds them up per script.

    PYTHONPATH=benchmarks/cpu_log CPU_LOG=/tmp/cpu.tsv snakemake --cores 2 <targets>
"""

import atexit
import os
import resource
import sys
import time

_STARTED = time.time()


def _write() -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = "\t".join(
        [
            str(os.getpid()),
            f"{time.time() - _STARTED:.1f}",
            f"{own.ru_utime + own.ru_stime:.1f}",
            f"{children.ru_utime + children.ru_stime:.1f}",
            " ".join(sys.argv)[:300].replace("\t", " "),
        ]
    )
    with open(os.environ["CPU_LOG"], "a") as log:
        log.write(line + "\n")


if os.environ.get("CPU_LOG"):
    atexit.register(_write)
