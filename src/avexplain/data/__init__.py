"""Stage 1-3 (workflow/rules/data.smk): manifests and audits, downloads, decoding to canonical
clips. Torch-free."""
