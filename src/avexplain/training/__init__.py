"""Stage 5 (workflow/rules/training.smk): splits read from the stores, training, metrics, the
aggregation over seeds. Light: torch is imported by the modules that need it."""
