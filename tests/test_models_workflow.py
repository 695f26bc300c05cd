"""The models stage in the Snakefile: dry-runs plan the whole chain offline; one small real run."""

import json
import re

import pytest
import yaml

from avexplain import models
from avexplain.names import FUSION_LAYER_TABLES, UNIMODAL
from avexplain.tables import localization as localization_tables
from avexplain.testing import stores
from avexplain.testing.workflow import copy_workflow, snakemake


def planned_jobs(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:")[-1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_avr_stan_plans_the_whole_chain_offline(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    proc = snakemake(workdir, "-n", "results/avr/stan/metrics.json")
    jobs = planned_jobs(proc.stdout)
    # AVR reads the AVE and LLP stores: manifests, downloads, decoding, extraction of both
    assert jobs["train_model"] == 1 and jobs["aggregate_seeds"] == 1
    assert jobs["finalize_features"] == 4  # resnet152 + vggish for each of AVE and LLP
    for rule in ("manifest", "download", "decode", "extract_features", "prefetch_weights"):
        assert jobs.get(rule, 0) >= 1, rule
    assert (
        "features/ave/resnet152.zarr" in proc.stdout and "features/llp/vggish.zarr" in proc.stdout
    )


def test_demo_trains_every_model_and_builds_both_tables(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    proc = snakemake(workdir, "-n", "demo")
    jobs = planned_jobs(proc.stdout)
    synth = yaml.safe_load((workdir / "config.yaml").read_text())["train"]["overrides"]["synth"]
    assert len(synth["seeds"]) == 3  # synth's claims rest on three seeds (issue 11)
    single = set(synth["single_seed_models"])  # Table 2's comparison models: one seed
    assert single <= set(models.NAMES) and not single & {"stan", *UNIMODAL}
    # one job per model trains its three seeds (train_model_seeds); one job trains the
    # single-seed models (train_single_seed_models)
    assert jobs["train_model_seeds"] == len(models.NAMES) - len(single)
    assert jobs["train_single_seed_models"] == 1 and "train_model" not in jobs
    for model in single:
        assert f"results/synth/{model}/seed-0/metrics.json" in proc.stdout
        assert f"results/synth/{model}/seed-1/" not in proc.stdout
    assert jobs["recognition_tables"] == 1
    assert jobs["synth_comparisons_table"] == 1
    for table in ("stan_table1", "stan_table2"):
        for ext in ("csv", "md"):
            assert f"results/tables/{table}.{ext}" in proc.stdout
    # the other papers' families are part of the demo: every table of theirs is planned
    others = ("localization_pointing", "localization_comparisons")
    for table in (*localization_tables.TABLES, *FUSION_LAYER_TABLES, *others):
        assert f"results/tables/{table}.md" in proc.stdout, table


def test_seeds_are_set_per_dataset_and_trained_in_one_job(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["train"]["overrides"]["synth"]["seeds"] = [0, 1, 2, 3]
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(workdir, "-n", "results/synth/stan/metrics.json")
    assert planned_jobs(proc.stdout)["train_model_seeds"] == 1
    assert "results/synth/stan/seed-3/checkpoint.pt" in proc.stdout
    # (a dataset with one seed plans train_model: test_avr_stan_plans_the_whole_chain_offline)
    # the rule's outputs are fixed when the workflow is read: one seed list for all datasets
    config["train"]["overrides"]["ave"] = {"seeds": [0, 1]}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(workdir, "-n", "results/synth/stan/metrics.json", check=False)
    assert proc.returncode != 0 and "train.single_seed_models" in proc.stdout + proc.stderr
    # and one list of single-seed models
    config["train"]["overrides"]["ave"] = {"single_seed_models": ["cam"]}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(workdir, "-n", "results/synth/stan/metrics.json", check=False)
    assert proc.returncode != 0 and "must list the same models" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_aggregate_and_tables_run_on_existing_features(tmp_path):
    """Stores already in place (as after extraction): two models train through the real rules."""
    workdir = copy_workflow(tmp_path / "wf")
    stores.write_dataset(workdir, num_videos=30)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["models"]["names"] = ["stan", "audio_baseline"]
    config["explain"]["perturbation_models"] = ["stan"]  # the models trained here
    config["models"]["embed_dim"] = 8
    config["train"]["overrides"]["synth"].update(epochs=2, batch_size=8, seeds=[0])
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(workdir, "results/tables/stan_table1.md", "results/tables/stan_table2.md")
    record = json.loads((workdir / "results/synth/stan/metrics.json").read_text())
    assert record["demo_note"] is True and record["seeds"] == [0]
    assert (workdir / "results/synth/stan/seed-0/predictions.npz").exists()
    md = (workdir / "results/tables/stan_table1.md").read_text()
    line = next(row for row in md.splitlines() if "STAN (visual)" in row)
    assert line.count("–") >= 12  # not trained: dashes on every dataset
