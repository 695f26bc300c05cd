import sys
from pathlib import Path

# Test helpers (workflow_runner) sit beside the tests.
sys.path.insert(0, str(Path(__file__).parent))

# One tiny local pipeline run per session, shared by the determinism and SLURM tests.
from tiny_run import local_run  # noqa: E402, F401
