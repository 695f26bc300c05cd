"""Test helpers shared by tests/ and benchmarks/: random stores, tiny clips, small models, the
workflow runner and a local SLURM cluster. Not used by the pipeline."""
