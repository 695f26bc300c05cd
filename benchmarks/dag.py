"""Planning time of the full reproduction: `snakemake -n` over every dataset of the config
(synth, AVE, LLP, AVR), every backbone and every shard, offline, from a clean copy of the
workflow (no data/: the shard counts come from the published annotation files at parse time).

Prints the number of jobs, the planning wall time and the time of a bare parse (`--list`), so a
slow DAG can be told apart from a slow Snakefile. The target is at most 60 s on 2 cores.

    python benchmarks/dag.py                    # all datasets, config.yaml's shard sizes
    python benchmarks/dag.py --shard-size 32    # 4x more shard jobs
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from avexplain.testing.workflow import copy_workflow

ROOT = Path(__file__).resolve().parents[1]

DATASETS = ["synth", "ave", "llp", "avr"]


def snakemake(workdir: Path, *args: str) -> tuple[float, str]:
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    start = time.perf_counter()
    proc = subprocess.run(
        [exe, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return elapsed, proc.stdout + proc.stderr


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--shard-size", type=int, help="override every real dataset's shard_size")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = copy_workflow(Path(tmp))
        config = ["--config", f"run_datasets=[{','.join(args.datasets)}]"]
        if args.shard_size:
            # an extra config file is merged key by key into config.yaml
            sizes = {d: {"shard_size": args.shard_size} for d in ("ave", "llp", "avr")}
            (workdir / "shards.yaml").write_text(yaml.safe_dump({"datasets": sizes}))
            config = ["--configfile", "config.yaml", "shards.yaml", *config]
        parse_s, _ = snakemake(workdir, "--list", *config)
        plan_s, out = snakemake(workdir, "-n", "--quiet", "rules", *config)
    total = re.search(r"^total\s+(\d+)", out, flags=re.M)
    print(out[out.find("Job stats") :].strip() if "Job stats" in out else out[-2000:])
    print(f"datasets: {' '.join(args.datasets)}")
    print(f"jobs: {total.group(1) if total else '?'}")
    print(f"parse (--list): {parse_s:.1f} s")
    print(f"plan (-n): {plan_s:.1f} s  (target: <= 60 s on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
