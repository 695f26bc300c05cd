# The avexplain pipeline: raw videos -> canonical clips -> frozen features -> models ->
# explanations -> the papers' tables. One rule file per stage, mirroring the stage packages of
# src/avexplain (docs/architecture.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# `snakemake --report results/report.html`: every table and figure with its caption
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/tables.smk"


rule all:
    default_target: True
    input:
        targets_for(config["run_datasets"]),


# `make demo`: everything the pipeline can produce for the embedded synth dataset.
rule demo:
    input:
        targets_for(["synth"]),
