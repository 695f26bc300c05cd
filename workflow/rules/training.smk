# Stage 5: frozen features -> trained models -> test metrics, one job per dataset x model x seed
# (docs/models.md); the seeds of a model are aggregated into its metrics.json.


STAGE_TARGETS.append(
    lambda dataset: [paths.metrics(dataset, m) for m in config["models"]["names"]]
)


# Seconds of bookkeeping: on a cluster it runs on the login node (no scheduling wait).
localrules:
    aggregate_seeds,


rule train_model:
    input:
        unpack(model_inputs),
    output:
        checkpoint=paths.trained(name="checkpoint.pt"),
        predictions=paths.trained(name="predictions.npz"),
        metrics=paths.trained(name="metrics.json"),
    log:
        "logs/models/{dataset}/{model}/seed-{seed}.log",
    benchmark:
        "benchmarks/out/models/{dataset}/{model}/seed-{seed}.tsv"
    conda:
        "../../envs/avexplain.yaml"
    # one core each: on a 2-core machine two models train side by side
    threads: 1
    resources:
        # local runs treat resources as unlimited; on a cluster a GPU is requested unless cpu
        gpu=lambda wc: int(
            avconfig.section_for(config, "train", wc.dataset)["device"] != "cpu"
        ),
    script:
        "../scripts/train_model.py"


rule aggregate_seeds:
    input:
        lambda wc: [
            paths.trained(wc.dataset, wc.model, s) for s in train_seeds(wc.dataset)
        ],
    output:
        metrics=paths.metrics(),
    log:
        "logs/models/{dataset}/{model}/aggregate.log",
    benchmark:
        "benchmarks/out/models/{dataset}/{model}/aggregate.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/aggregate_seeds.py"
