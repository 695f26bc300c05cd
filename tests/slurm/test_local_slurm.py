"""The SLURM test harness decides correctly between running, skipping and failing."""

from __future__ import annotations

import pytest
import yaml

from avexplain.testing.slurm import PARTITION, missing_requirements, unavailable, write_test_profile
from avexplain.testing.workflow import ROOT


def test_missing_binaries_or_root_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert "needs root" in missing_requirements()
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr(
        "avexplain.testing.slurm._which", lambda name: None if name == "slurmd" else name
    )
    assert "slurmd" in missing_requirements()


def test_required_slurm_fails_instead_of_skipping(monkeypatch):
    monkeypatch.setenv("AVEXPLAIN_REQUIRE_SLURM", "1")
    with pytest.raises(pytest.fail.Exception, match="cannot run: no binaries"):
        unavailable("no binaries")
    monkeypatch.delenv("AVEXPLAIN_REQUIRE_SLURM")
    with pytest.raises(pytest.skip.Exception, match="no binaries"):
        unavailable("no binaries")


def test_test_profile_changes_only_what_the_test_node_needs(tmp_path):
    real = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    test = yaml.safe_load(
        (
            write_test_profile(ROOT / "profiles/slurm/config.yaml", tmp_path) / "config.yaml"
        ).read_text()
    )
    assert test["default-resources"]["slurm_partition"] == PARTITION
    assert "slurm_account" not in test["default-resources"] and test["slurm-no-account"]
    for rule in ("extract_features", "train_model", "perturbation_test"):
        assert test["set-resources"][rule]["gpu"] == 0
    for rule, resources in real["set-resources"].items():
        for key, value in resources.items():
            if key != "gpu":
                assert test["set-resources"][rule][key] == value
    assert test["retries"] == real["retries"]
    assert test["slurm-status-command"] == real["slurm-status-command"] == "squeue"
