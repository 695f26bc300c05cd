"""The Snakemake profiles: valid for Snakemake, resources that fit the rules, retries that ask
for more memory and time. (The SLURM profile on a real cluster: tests/slurm/.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from avexplain import names
from avexplain.config import section_for
from avexplain.data.manifest import count_videos
from avexplain.features.settings import settings_for
from avexplain.shards import shard_ids
from avexplain.testing.workflow import RUN_TARGETS, copy_workflow, snakemake, tiny_workflow

ROOT = Path(__file__).resolve().parents[1]
SLURM = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
GPU_RULES = {
    "extract_features",
    "train_model",
    "train_model_seeds",
    "train_single_seed_models",
    "perturbation_test",
}


def _workflow_rules() -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    return set(re.findall(r"^rule (\w+):", text, flags=re.M))


def _at(expression, attempt: int):
    return eval(str(expression), {"attempt": attempt})


def test_slurm_resources_name_real_rules():
    unknown = set(SLURM["set-resources"]) - _workflow_rules()
    assert not unknown, f"profiles/slurm sets resources for rules that do not exist: {unknown}"


def test_slurm_retries_get_more_memory_and_time():
    assert SLURM["retries"] >= 1
    for name, resources in [
        ("default", SLURM["default-resources"]),
        *SLURM["set-resources"].items(),
    ]:
        merged = {**SLURM["default-resources"], **resources}
        for key in ("mem_mb", "runtime"):
            first, second = _at(merged[key], 1), _at(merged[key], 2)
            assert second > first > 0, f"{name}.{key}: {first} on attempt 1, {second} on attempt 2"


def test_slurm_gpu_rules_ask_cpus_per_gpu_not_per_task():
    # SLURM's executor ignores cpus_per_gpu once cpus_per_task is set (docs/cluster.md); the
    # rules, not the profile, say whether a job needs a GPU (train_model: not on device cpu)
    for rule in GPU_RULES:
        resources = SLURM["set-resources"][rule]
        assert resources["cpus_per_gpu"] >= 1
        assert "cpus_per_task" not in resources and "gpu" not in resources
    assert "cpus_per_task" not in SLURM["default-resources"]
    # squeue polling: works with and without an accounting database
    assert SLURM["slurm-status-command"] == "squeue"


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profile_plans_the_run(profile, tmp_path):
    """Snakemake accepts every key of the profile (an unknown rule in set-resources included)
    and plans the run; no SLURM is needed for planning."""
    root = tiny_workflow(tmp_path)
    proc = snakemake(root, "--profile", f"profiles/{profile}", "-n", *RUN_TARGETS)
    out = proc.stdout + proc.stderr
    assert "extract_features" in out and "finalize_features" in out
    if profile == "slurm":
        assert "slurm_partition=" in out and "mem_mb=32000" in out


@pytest.mark.slow
def test_slurm_profile_plans_the_full_reproduction(tmp_path):
    """Every dataset, backbone and shard, planned offline from the published annotation files
    (benchmarks/dag.py times this)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    shards = {
        d: len(shard_ids(count_videos(config, d, ROOT), config["datasets"][d]["shard_size"]))
        for d in ("synth", "ave", "llp")
    }

    def backbones(dataset):
        """The dataset's own backbones (synth: only what STAN uses) and those its families ask
        for: the localization maps, supplementary Table 2's C3D stand-in (MC3-18) and Table 3's
        VGGish maps, the fusion layers' visual and audio stores."""
        wanted = set(settings_for(config, dataset)["backbones"])
        for family in ("localization", "fusion_layers"):
            if dataset in config[family]["datasets"]:
                section = section_for(config, family, dataset)
                wanted |= {section["visual_backbone"], section["audio_backbone"]}
        if dataset in config["localization"]["datasets"]:
            wanted.add(names.AUDIO_MAPS)
            wanted |= {b for _, stores in names.AVEL_SUPP2.values() for b in stores}
            wanted.discard(names.FAMILY_MAPS)
        return wanted

    extractions = sum(n * len(backbones(d)) for d, n in shards.items())
    root = copy_workflow(tmp_path)
    proc = snakemake(
        root, "--profile", "profiles/slurm", "-n", "--config", "run_datasets=[synth,ave,llp,avr]"
    )
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))
    assert int(jobs["extract_features"]) == extractions
    assert int(jobs["download"]) == int(jobs["decode"]) == sum(shards.values())


def test_snakefile_parses_without_importing_torch():
    """Every Snakemake process parses the Snakefile (the planner, and every job): importing
    torch or scikit-learn there would cost seconds per process (sklearn: about 2 s of CPU)."""
    code = (
        "import sys\nfrom snakemake.cli import main\n"
        "try:\n    main(['--list', '--quiet'])\nexcept SystemExit:\n    pass\n"
        "print('loaded:', *sorted({'torch', 'sklearn'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "loaded:"
