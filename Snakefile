# The avexplain pipeline: raw videos -> canonical clips -> frozen features -> models ->
# explanations -> the papers' tables. See README.md and docs/ for the data flow.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule all:
    input:
        all_targets(),
    default_target: True
