"""The demo-sized synth run shared by the acceptance tests of the models and explanation stages.

It is the repository's own configuration (the one `make demo` runs), built once per session in a
scratch copy of the workflow, as far as those tests need: the five models of the unimodal
comparison and STAN's explanations. Set AVEXPLAIN_SYNTH_RUN to a workflow directory to reuse a
run (e.g. the repository after `make demo`); what is missing there is built."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from workflow_runner import copy_workflow, snakemake

UNIMODAL = ("stan_audio", "stan_visual", "audio_baseline", "visual_baseline")
TARGETS = (
    *(f"results/synth/{m}/metrics.json" for m in ("stan", *UNIMODAL)),
    "results/synth/stan/perturbation.csv",
    "results/synth/stan/ground_truth.json",
    "results/synth/stan/attention",
    "results/tables/stan_table3.md",
)


@pytest.fixture(scope="session")
def synth_run(tmp_path_factory) -> Path:
    given = os.environ.get("AVEXPLAIN_SYNTH_RUN")
    root = Path(given) if given else copy_workflow(tmp_path_factory.mktemp("synth-run"))
    snakemake(root, *TARGETS, timeout=3600)
    return root
