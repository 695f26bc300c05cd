import sys
from pathlib import Path

# Test helpers (workflow_runner) sit beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

# Session-wide pipeline runs: the demo-sized synth run (acceptance tests of the models and
# explanations) and the tiny run (determinism and SLURM tests).
from synth_run import synth_run  # noqa: E402, F401
from tiny_run import local_run  # noqa: E402, F401
