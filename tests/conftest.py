import os
from pathlib import Path

import pytest

from avexplain.testing.workflow import SYNTH_TARGETS, build, copy_workflow, snakemake, tiny_workflow


# Session-wide pipeline runs: the demo-sized synth run (acceptance tests of the models and
# explanations) and the tiny run (determinism and SLURM tests).
@pytest.fixture(scope="session")
def synth_run(tmp_path_factory) -> Path:
    """The repository's own configuration built once per session in a scratch copy, as far as
    the acceptance tests need. AVEXPLAIN_SYNTH_RUN names a workflow folder to reuse (e.g. the
    repository after `make demo`); what is missing there is built."""
    given = os.environ.get("AVEXPLAIN_SYNTH_RUN")
    root = Path(given) if given else copy_workflow(tmp_path_factory.mktemp("synth-run"))
    snakemake(root, *SYNTH_TARGETS, timeout=3600)
    return root


@pytest.fixture(scope="session")
def local_run(tmp_path_factory) -> Path:
    """The tiny workflow built once on this machine with the local profile (the reference)."""
    root = tiny_workflow(tmp_path_factory.mktemp("local-run"))
    build(root, "--profile", "profiles/local")
    return root


def pytest_collection_modifyitems(config, items):
    """Longest first, so that the two pytest-xdist workers never end on a long module while the
    other waits: the demo-sized synth run, then the tiny run with the SLURM cluster (it mostly
    waits on the scheduler while the synth run computes), then modules with end-to-end (slow)
    tests; the quick modules fill in at the end. pyproject.toml turns off xdist's own reorder
    (most tests first), which puts the tiny run's two tests behind every bigger module."""

    def rank(item):
        names = set(getattr(item, "fixturenames", ()))
        if "synth_run" in names:
            return 0
        if names & {"slurm_cluster", "local_run"}:
            return 1
        return 2 if item.get_closest_marker("slow") else 3

    items.sort(key=rank)  # stable: the order within each rank is kept


# Modules that build the tiny run (session fixture local_run): one worker takes them all, so the
# run is built once. (pytest-xdist's own xdist_group marks do not take with pytest 9.2.)
TINY_RUN_MODULES = ("test_determinism.py", "slurm/test_slurm.py", "test_features_pipeline.py")
# Modules that read the demo-sized synth run (session fixture synth_run): likewise one worker.
SYNTH_RUN_MODULES = (
    "test_synth_acceptance.py",
    "test_localization_acceptance.py",
    "test_fusion_layers_workflow.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedRunScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            if module.endswith(SYNTH_RUN_MODULES):
                return "synth-run"
            return "tiny-run" if module.endswith(TINY_RUN_MODULES) else module

    return SharedRunScheduling(config, log)
