"""Stage 7 (workflow/rules/tables.smk): every paper table, ours beside the paper's numbers, as
CSV and Markdown through one writer. Torch-free."""
