# Stage 5: frozen features -> trained models -> test metrics, one job per dataset x model (x seed
# where the model has one seed; docs/models.md); the seeds of a model are aggregated into its
# metrics.json.


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
        gpu=lambda wc: avconfig.gpu_request(
            avconfig.section_for(config, "train", wc.dataset)["device"],
            workflow.local_exec,
        ),
    params:
        runs=lambda wc: [(wc.model, int(wc.seed))],
    script:
        "../scripts/train_model.py"


# A model trained with several seeds (synth: three) is one job that trains them all on the
# splits read once: the imports (torch, TorchDynamo through torch.optim) and the reads are
# about 12 s of each job on the 2-core machine. "(?!)" matches nothing: no such model.
SEVERAL_SEEDS = several_seeds()


rule train_model_seeds:
    input:
        unpack(model_inputs),
    output:
        checkpoint=[
            paths.trained(seed=s, name="checkpoint.pt") for s in SEVERAL_SEEDS["seeds"]
        ],
        predictions=[
            paths.trained(seed=s, name="predictions.npz")
            for s in SEVERAL_SEEDS["seeds"]
        ],
        metrics=[
            paths.trained(seed=s, name="metrics.json") for s in SEVERAL_SEEDS["seeds"]
        ],
    log:
        "logs/models/{dataset}/{model}/train.log",
    benchmark:
        "benchmarks/out/models/{dataset}/{model}/train.tsv"
    wildcard_constraints:
        dataset="|".join(SEVERAL_SEEDS["datasets"]) or "(?!)",
        model="|".join(SEVERAL_SEEDS["models"]) or "(?!)",
    conda:
        "../../envs/avexplain.yaml"
    threads: 1
    resources:
        gpu=lambda wc: avconfig.gpu_request(
            avconfig.section_for(config, "train", wc.dataset)["device"],
            workflow.local_exec,
        ),
    params:
        runs=lambda wc: [(wc.model, s) for s in SEVERAL_SEEDS["seeds"]],
    script:
        "../scripts/train_model.py"


# Likewise the models trained with one seed only (synth: Table 2's eight comparison models): one
# job per dataset, not eight (about 70 CPU-s of imports and reads fewer on the 2-core machine).
SINGLE_SEED = single_seed_models()


rule train_single_seed_models:
    input:
        unpack(model_inputs),
    output:
        checkpoint=[
            paths.trained(model=m, seed=SINGLE_SEED["seed"], name="checkpoint.pt")
            for m in SINGLE_SEED["models"]
        ],
        predictions=[
            paths.trained(model=m, seed=SINGLE_SEED["seed"], name="predictions.npz")
            for m in SINGLE_SEED["models"]
        ],
        metrics=[
            paths.trained(model=m, seed=SINGLE_SEED["seed"], name="metrics.json")
            for m in SINGLE_SEED["models"]
        ],
    log:
        "logs/models/{dataset}/single_seed_models.log",
    benchmark:
        "benchmarks/out/models/{dataset}/single_seed_models.tsv"
    wildcard_constraints:
        dataset="|".join(SINGLE_SEED["datasets"]) or "(?!)",
    conda:
        "../../envs/avexplain.yaml"
    threads: 1
    resources:
        gpu=lambda wc: avconfig.gpu_request(
            avconfig.section_for(config, "train", wc.dataset)["device"],
            workflow.local_exec,
        ),
    params:
        runs=[(m, SINGLE_SEED["seed"]) for m in SINGLE_SEED["models"]],
    script:
        "../scripts/train_model.py"


ruleorder: train_single_seed_models > train_model_seeds > train_model


rule aggregate_seeds:
    input:
        lambda wc: [
            paths.trained(wc.dataset, wc.model, s)
            for s in train_seeds(wc.dataset, wc.model)
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


# --- the localization families (docs/localization.md, "Pipeline") -------------------------
# One job per dataset x group trains every model of the group (avexplain.names.
# LOCALIZATION_GROUPS) with each of its seeds, on features read once; each model's seeds are then
# aggregated into results/{dataset}/{family}/{model}/metrics.json (one job per group). Built for
# the run datasets in localization.datasets; a dataset without segment labels asked for fails at
# planning time, naming the dataset.
from itertools import product

from avexplain.training import localization_runs as avlocruns

STAGE_TARGETS.append(
    lambda dataset: (
        [
            paths.localization_metrics(dataset, family, model)
            for family, model in avlocruns.planned_models(config, dataset)
        ]
        if dataset in avlocruns.datasets(config)
        else []
    )
)


# The training rules are written per dataset of localization.datasets: a group's seeds (its
# job's outputs) may differ between datasets (localization.overrides).
for dataset, group in product(
    config["localization"]["datasets"], names.LOCALIZATION_GROUPS
):

    rule:
        name:
            f"train_{group}_{dataset}"
        input:
            unpack(
                lambda wc, dataset=dataset, group=group: avlocruns.job_inputs(
                    config, dataset, group
                )
            ),
        output:
            metrics=avlocruns.job_outputs(config, dataset, group, "metrics.json"),
            predictions=avlocruns.job_outputs(config, dataset, group, "predictions.npz"),
        log:
            f"logs/localization/{dataset}/{group}/train.log",
        benchmark:
            f"benchmarks/out/localization/{dataset}/{group}/train.tsv"
        # the scheduler knows no durations: the groups (the longest jobs) start as soon as their
        # features exist, bigger ones first (models x seeds), instead of one ending the run alone
        priority:
            len(names.LOCALIZATION_GROUPS[group])
            * len(avlocruns.group_seeds(config, dataset, group))
        conda:
            "../../envs/avexplain.yaml"
        # one core each: on a 2-core machine two groups train side by side
        threads: 1
        resources:
            gpu=lambda wc, dataset=dataset: avconfig.gpu_request(
                avlocruns.settings_for(config, dataset)["device"],
                workflow.local_exec,
            ),
        params:
            dataset=dataset,
            group=group,
            seeds=avlocruns.group_seeds(config, dataset, group),
        script:
            "../scripts/train_localization.py"


for group in names.LOCALIZATION_GROUPS:

    rule:
        name:
            f"aggregate_{group}"
        input:
            lambda wc, group=group: avlocruns.group_seed_files(
                config, wc.dataset, group
            ),
        output:
            metrics=avlocruns.group_metrics(group),
        log:
            f"logs/localization/{{dataset}}/{group}/aggregate.log",
        benchmark:
            f"benchmarks/out/localization/{{dataset}}/{group}/aggregate.tsv"
        # seconds of bookkeeping for all models of the group: on a cluster, the login node
        localrule: True
        conda:
            "../../envs/avexplain.yaml"
        params:
            group=group,
        script:
            "../scripts/aggregate_localization.py"


# Event-specific fusion layers (docs/fusion_layers.md): one job per dataset trains the four
# models of the paper's Table 1 with every seed on the same inputs, read once: the stored
# MC3-18 + VGGish features and onset masks (recipe frozen_features), or the canonical clips
# (end_to_end).
STAGE_TARGETS.append(
    lambda dataset: (
        [paths.fusion_metrics(dataset, m) for m in names.FUSION_LAYER_MODELS]
        if dataset in config["fusion_layers"]["datasets"]
        else []
    )
)


rule train_fusion_layers:
    input:
        manifest=paths.manifest(),
        classes=paths.classes(),
        stores=lambda wc: (
            [
                paths.store(
                    wc.dataset,
                    avconfig.section_for(config, "fusion_layers", wc.dataset)[kind],
                )
                for kind in ("visual_backbone", "audio_backbone")
            ]
            if avconfig.section_for(config, "fusion_layers", wc.dataset)["recipe"]
            == "frozen_features"
            else []
        ),
        onsets=lambda wc: (
            [paths.onsets(wc.dataset, s) for s in shards(wc.dataset)]
            if avconfig.section_for(config, "fusion_layers", wc.dataset)["recipe"]
            == "frozen_features"
            else []
        ),
        clips=lambda wc: (
            [paths.clips(wc.dataset, s) for s in shards(wc.dataset)]
            if avconfig.section_for(config, "fusion_layers", wc.dataset)["recipe"]
            == "end_to_end"
            else []
        ),
    output:
        [
            paths.fusion_trained(model=m, seed=s, name=name)
            for m in names.FUSION_LAYER_MODELS
            for s in config["fusion_layers"]["seeds"]
            for name in ("metrics.json", "predictions.npz", "checkpoint.pt")
        ],
    log:
        "logs/models/{dataset}/fusion_layers/train.log",
    benchmark:
        "benchmarks/out/models/{dataset}/fusion_layers/train.tsv"
    conda:
        "../../envs/avexplain.yaml"
    threads: 1
    resources:
        gpu=lambda wc: avconfig.gpu_request(
            avconfig.section_for(config, "fusion_layers", wc.dataset)["device"],
            workflow.local_exec,
        ),
    params:
        out_dirs=lambda wc: {
            s: {
                m: os.path.dirname(paths.fusion_trained(wc.dataset, m, s))
                for m in names.FUSION_LAYER_MODELS
            }
            for s in config["fusion_layers"]["seeds"]
        },
    script:
        "../scripts/train_fusion_layers.py"


rule aggregate_fusion_layers:
    input:
        lambda wc: [
            paths.fusion_trained(wc.dataset, m, s, name)
            for m in names.FUSION_LAYER_MODELS
            for s in config["fusion_layers"]["seeds"]
            for name in ("metrics.json", "predictions.npz")
        ],
    output:
        **{m: paths.fusion_metrics(model=m) for m in names.FUSION_LAYER_MODELS},
    log:
        "logs/models/{dataset}/fusion_layers/aggregate.log",
    benchmark:
        "benchmarks/out/models/{dataset}/fusion_layers/aggregate.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        seed_dirs=lambda wc: {
            m: [
                os.path.dirname(paths.fusion_trained(wc.dataset, m, s))
                for s in config["fusion_layers"]["seeds"]
            ]
            for m in names.FUSION_LAYER_MODELS
        },
        settings=lambda wc: avconfig.section_for(config, "fusion_layers", wc.dataset),
    script:
        "../scripts/aggregate_fusion_layers.py"
