"""Stage 4 (workflow/rules/features.smk): frozen CNN features into chunked Zarr stores. Light:
the torch modules (backbones, extract) are imported only where used."""
