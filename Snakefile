# ferrepro: reproduce facial-expression-recognition papers end to end.
# Thin on purpose: the configuration is validated and expanded into targets in workflow/rules/common.smk,
# and every rule calls the `ferrepro` package (src/ferrepro), which holds all the logic.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
