# The avexplain pipeline: raw videos -> canonical clips -> frozen features -> models ->
# explanations -> the papers' tables. See README.md and docs/ for the data flow.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/models_inputs.smk"
include: "workflow/rules/explain_inputs.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/explain.smk"


rule all:
    default_target: True
    input:
        targets_for(config["run_datasets"]),


# `make demo`: everything the pipeline can produce for the embedded synth dataset.
rule demo:
    input:
        targets_for(["synth"]),
