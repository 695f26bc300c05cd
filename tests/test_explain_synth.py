"""Acceptance test of the explanations stage on synth, on the demo-sized run the pipeline builds
(tests/synth_run.py): STAN's perturbation test separates relevant from irrelevant features, and
STAN's attention beats the uniform and random baselines in space and in time."""

import json

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(synth_run):
    return synth_run


def test_stan_separates_relevant_from_irrelevant(run_dir):
    table = pd.read_csv(run_dir / "results/synth/stan/perturbation.csv")
    top = table[table["noise_variance"] == table["noise_variance"].max()].set_index("mask")
    rel, irr = top.loc["relevant"], top.loc["irrelevant"]
    # relevant noise changes the prediction more, by more than the sampling error over videos
    margin = 2 * (rel["tvd_sem"] ** 2 + irr["tvd_sem"] ** 2) ** 0.5
    assert rel["tvd_mean"] - irr["tvd_mean"] > margin, (rel.to_dict(), irr.to_dict())


def test_stan_beats_uniform_and_random_attention(run_dir):
    report = json.loads((run_dir / "results/synth/stan/ground_truth.json").read_text())
    space, time = report["spatial"], report["temporal"]
    assert space["model"]["hit_rate"] > space["uniform"]["hit_rate"], space
    assert space["model"]["hit_rate"] > space["random"]["hit_rate"], space
    assert time["model"]["auc"] > time["uniform"]["auc"], time
    assert time["model"]["auc"] > time["random"]["auc"], time


def test_table3_and_figures_exist(run_dir):
    assert "| synth ours | synth paper |" in (run_dir / "results/tables/stan_table3.md").read_text()
    figures = sorted((run_dir / "results/synth/stan/attention").glob("*.png"))
    assert any(p.name == "grid.png" for p in figures) and len(figures) >= 2
