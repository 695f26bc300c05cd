"""A single-node SLURM cluster on 127.0.0.1 for the tests: munged, slurmctld and slurmd from the
distribution's packages, every config, socket, spool and log file under one temporary folder.

No slurmdbd: accounting is off, so `sacct` fails and job states come from `squeue`, which keeps
finished jobs for MinJobAge seconds (docs/cluster.md). Needs root (the daemons run as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo", "srun")
NODE = "avx-node"
PARTITION = "debug"

SLURM_CONF = """\
ClusterName=avexplain-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
# no cgroups in a container: plain process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# the node advertises the CPUs and memory below, not the machine's: the profile's real requests
# (e.g. 32 GB for extraction) then schedule unchanged on a small test machine
SlurmdParameters=config_overrides
ReturnToService=2
# squeue reports a finished job for MinJobAge s; the executor polls with squeue (>= 120 s)
MinJobAge=300
SchedulerParameters=sched_interval=2
MpiDefault=none
NodeName={node} NodeAddr=127.0.0.1 NodeHostname={hostname} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


class SlurmUnavailable(RuntimeError):
    """SLURM cannot run here (not root, binaries missing, a daemon does not start)."""


def missing_requirements() -> str | None:
    """Why a cluster cannot be started on this machine, or None when it can be tried."""
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root"
    missing = [b for b in DAEMONS + CLIENTS if not _which(b)]
    if missing:
        return f"SLURM/munge binaries not found: {', '.join(missing)} (apt-get install slurmctld slurmd munge)"
    return None


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalSlurm:
    """Start with `start()`, stop with `stop()`; `env` is what client commands need."""

    def __init__(self, root: Path, cpus: int = 8, mem_mb: int = 262144):
        self.root = Path(root)
        self.cpus = cpus
        self.mem_mb = mem_mb
        self.conf = self.root / "slurm.conf"
        self.procs: list[subprocess.Popen] = []

    @property
    def client_env(self) -> dict:
        """What a process needs to use this cluster: SLURM_CONF, and bin/ first on PATH (its srun
        sets SLURM_CONF again: the snakemake job step strips SLURM_* variables before srun)."""
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {"SLURM_CONF": str(self.conf), "PATH": path}

    @property
    def env(self) -> dict:
        return {**os.environ, **self.client_env}

    def start(self, timeout: float = 60.0) -> LocalSlurm:
        why = missing_requirements()
        if why:
            raise SlurmUnavailable(why)
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        munge_dir = self.root / "munge"
        os.chmod(munge_dir, 0o700)
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        socket_path = munge_dir / "munge.socket"
        self.conf.write_text(
            SLURM_CONF.format(
                root=self.root,
                ctld_port=_free_port(),
                d_port=_free_port(),
                munge_socket=socket_path,
                node=NODE,
                hostname=socket.gethostname().split(".")[0],
                cpus=self.cpus,
                mem_mb=self.mem_mb,
                partition=PARTITION,
            )
        )
        self._write_srun_wrapper()
        self._spawn(
            "munged",
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={socket_path}",
            f"--pid-file={munge_dir / 'munged.pid'}",
            f"--log-file={munge_dir / 'munged.log'}",
            f"--seed-file={munge_dir / 'munged.seed'}",
        )
        self._wait(lambda: socket_path.exists(), timeout, "munged did not create its socket")
        self._spawn("slurmctld", "-D", "-f", str(self.conf))
        self._wait(self._controller_up, timeout, "slurmctld does not answer")
        self._spawn("slurmd", "-D", "-N", NODE, "-f", str(self.conf))
        self._wait(self._node_idle, timeout, f"node {NODE} did not become idle")
        return self

    def _write_srun_wrapper(self) -> None:
        wrapper = self.root / "bin" / "srun"
        wrapper.parent.mkdir(exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{_which("srun")}" "$@"\n')
        wrapper.chmod(0o755)

    def _spawn(self, daemon: str, *args: str) -> None:
        log = open(self.root / f"{daemon}.out", "wb")  # noqa: SIM115 (closed with the process)
        self.procs.append(
            subprocess.Popen(
                [_which(daemon), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def _client(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)

    def _controller_up(self) -> bool:
        return self._client("sinfo", "-h").returncode == 0

    def _node_idle(self) -> bool:
        out = self._client("sinfo", "-h", "-N", "-o", "%T").stdout
        return out.strip().startswith("idle")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise SlurmUnavailable(f"{what}: {dead[0].args[0]} exited\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise SlurmUnavailable(f"{what} within {timeout:.0f} s\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for name in ("munged.out", "slurmctld.out", "slurmd.out", "slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()


def write_test_profile(repo_profile: Path, dest: Path) -> Path:
    """profiles/slurm with the test cluster's partition, no account (no accounting database),
    no GPUs (gpu: 0: the GPU rules then run on CPUs, which their code supports) and quick
    status polling; every other setting (retries, memory and time per attempt) is kept."""
    profile = yaml.safe_load(repo_profile.read_text())
    resources = profile["default-resources"]
    resources["slurm_partition"] = PARTITION
    resources.pop("slurm_account", None)
    profile["slurm-no-account"] = True
    for rule_resources in profile["set-resources"].values():
        if "cpus_per_gpu" in rule_resources:  # a GPU rule: run it on CPUs
            rule_resources["gpu"] = 0
    # first status check after 2 s instead of 40 s (still < MinJobAge / 3, see docs/cluster.md)
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["slurm-keep-successful-logs"] = True
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


# CI sets this: there SLURM must start, and a test that cannot start it fails instead of skipping.
REQUIRE_ENV = "AVEXPLAIN_REQUIRE_SLURM"


def unavailable(reason: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but SLURM cannot run: {reason}")
    print(f"\nSLURM tests skipped: {reason}")
    pytest.skip(f"SLURM unavailable: {reason}")
