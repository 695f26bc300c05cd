# Stage 6: explanations of the trained models (docs/explanations.md): perturbation tests,
# pointing games (Table 3; space and time against the synth ground truth), attention figures.


# Tables and the perturbation plot read small files: on a cluster they run on the login node.
localrules:
    perturbation_figure,
    pointing_game_table3,
    synth_explanations_table,


rule perturbation_test:
    input:
        checkpoint=explain_checkpoint,
        features=explain_feature_inputs,
        manifests=explain_manifest_inputs,
    output:
        csv="results/{dataset}/{model}/perturbation.csv",
        record="results/{dataset}/{model}/perturbation.json",
    log:
        "logs/explain/{dataset}/{model}/perturbation.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/{model}/perturbation.tsv"
    wildcard_constraints:
        model=r"[a-z0-9_]+",
    conda:
        "../../envs/avexplain.yaml"
    resources:
        gpu=1,
    script:
        "../scripts/explain_perturbation.py"


rule perturbation_figure:
    input:
        unpack(perturbation_csvs),
    output:
        png="results/{dataset}/perturbation.png",
    log:
        "logs/explain/{dataset}/perturbation_figure.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/perturbation_figure.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        models=config["explain"]["perturbation_models"],
    script:
        "../scripts/explain_perturbation_figure.py"


rule pointing_game_table3:
    input:
        unpack(table3_inputs),
    output:
        csv="results/tables/stan_table3.csv",
        md="results/tables/stan_table3.md",
    log:
        "logs/explain/stan_table3.log",
    benchmark:
        "benchmarks/out/explain/stan_table3.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        datasets=table3_datasets(),
    script:
        "../scripts/explain_table3.py"


rule ground_truth:
    input:
        predictions=explain_predictions,
        checkpoint=explain_checkpoint,
        features=explain_feature_inputs,
        manifest="data/{dataset}/manifest.csv",
    output:
        report="results/{dataset}/{model}/ground_truth.json",
    log:
        "logs/explain/{dataset}/{model}/ground_truth.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/{model}/ground_truth.tsv"
    wildcard_constraints:
        model=r"[a-z0-9_]+",
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/explain_ground_truth.py"


rule synth_explanations_table:
    input:
        unpack(ground_truth_reports),
    output:
        csv="results/tables/synth_explanations.csv",
        md="results/tables/synth_explanations.md",
    log:
        "logs/explain/synth_explanations.log",
    benchmark:
        "benchmarks/out/explain/synth_explanations.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        models=config["explain"]["ground_truth_models"],
    script:
        "../scripts/explain_ground_truth_table.py"


rule attention_figures:
    input:
        predictions=stan_predictions,
        clips=explain_clip_inputs,
        manifests=explain_manifest_inputs,
    output:
        figures=directory("results/{dataset}/stan/attention"),
    log:
        "logs/explain/{dataset}/attention_figures.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/attention_figures.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/explain_attention.py"
