# Stage 5: frozen features -> trained models -> test metrics -> the paper's Tables 1 and 2.
# One job per dataset x model x seed (docs/models.md); seeds are aggregated per model.
from avexplain.model_names import NAMES as MODEL_NAMES


wildcard_constraints:
    model="|".join(MODEL_NAMES),
    seed=r"\d+",


# Seconds of bookkeeping each: on a cluster they run on the login node (no scheduling wait).
localrules:
    aggregate_seeds,
    recognition_tables,


rule train_model:
    input:
        unpack(train_inputs),
    output:
        checkpoint="results/{dataset}/{model}/seed-{seed}/checkpoint.pt",
        predictions="results/{dataset}/{model}/seed-{seed}/predictions.npz",
        metrics="results/{dataset}/{model}/seed-{seed}/metrics.json",
    log:
        "logs/models/{dataset}/{model}/seed-{seed}.log",
    benchmark:
        "benchmarks/out/models/{dataset}/{model}/seed-{seed}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    # one core each: on a 2-core machine two models train side by side
    threads: 1
    resources:
        gpu=train_gpus,
    script:
        "../scripts/train_model.py"


rule aggregate_seeds:
    input:
        seed_metrics,
    output:
        metrics="results/{dataset}/{model}/metrics.json",
    log:
        "logs/models/{dataset}/{model}/aggregate.log",
    benchmark:
        "benchmarks/out/models/{dataset}/{model}/aggregate.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/aggregate_seeds.py"


rule recognition_tables:
    input:
        results=list(table_results().values()),
        paper="resources/paper_numbers.yaml",
    output:
        **table_outputs(),
    log:
        "logs/tables/recognition.log",
    benchmark:
        "benchmarks/out/tables/recognition.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        results=table_results(),
        run_datasets=config["run_datasets"],
    script:
        "../scripts/recognition_tables.py"
