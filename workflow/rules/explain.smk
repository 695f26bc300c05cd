# Stage 6: explanations of the trained models (docs/explanations.md): perturbation tests,
# pointing games against the synth ground truth, attention figures. One trained model per
# dataset x model is explained: the one of the dataset's first training seed.


STAGE_TARGETS.append(
    lambda dataset: [
        paths.perturbation_figure(dataset),
        paths.attention_figures(dataset),
    ]
)


# The perturbation plot reads small files: on a cluster it runs on the login node.
localrules:
    perturbation_figure,


rule perturbation_test:
    input:
        unpack(explain_inputs),
    output:
        csv=paths.perturbation(ext="csv"),
        record=paths.perturbation(ext="json"),
    log:
        "logs/explain/{dataset}/{model}/perturbation.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/{model}/perturbation.tsv"
    conda:
        "../../envs/avexplain.yaml"
    resources:
        gpu=lambda wc: avconfig.gpu_request(
            avconfig.section_for(config, "explain", wc.dataset)["device"],
            workflow.local_exec,
        ),
    script:
        "../scripts/perturbation_test.py"


rule perturbation_figure:
    input:
        unpack(
            lambda wc: {
                m: paths.perturbation(wc.dataset, m)
                for m in config["explain"]["perturbation_models"]
            }
        ),
    output:
        png=report(
            paths.perturbation_figure(),
            caption="../report/perturbation_figure.rst",
            category="STAN paper",
            subcategory="{dataset}",
            labels={"result": "Figure 3: perturbation test"},
        ),
    log:
        "logs/explain/{dataset}/perturbation_figure.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/perturbation_figure.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        models=config["explain"]["perturbation_models"],
        provenance=lambda wc: provenance_caption([wc.dataset]),
    script:
        "../scripts/perturbation_figure.py"


rule ground_truth:
    input:
        unpack(explain_inputs),
    output:
        report=paths.ground_truth(),
    log:
        "logs/explain/{dataset}/{model}/ground_truth.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/{model}/ground_truth.tsv"
    conda:
        "../../envs/avexplain.yaml"
    script:
        "../scripts/ground_truth.py"


rule attention_figures:
    input:
        predictions=lambda wc: explained(wc.dataset, "stan", "predictions.npz"),
        clips=lambda wc: [
            paths.clips(m, s) for m in media_of(wc.dataset) for s in shards(m)
        ],
        manifests=lambda wc: model_inputs(wc)["manifests"],
    output:
        figures=report(
            directory(paths.attention_figures()),
            patterns=["{name}.png"],
            caption="../report/attention_figures.rst",
            category="STAN paper",
            subcategory="{dataset}",
            labels={"result": "Figure 4: attention of test video {name}"},
        ),
    log:
        "logs/explain/{dataset}/attention_figures.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/attention_figures.tsv"
    conda:
        "../../envs/avexplain.yaml"
    params:
        provenance=lambda wc: provenance_caption([wc.dataset]),
    script:
        "../scripts/attention_figures.py"


# --- the localization families' space attention (docs/localization.md) ---------------------
# On synth (the dataset with boxes): the AVE paper's audio-guided attention and the
# AV-transformer's attentions scored against the true boxes beside STAN's space attention, and
# drawn like STAN's figures (first seed).
STAGE_TARGETS.append(
    lambda dataset: (
        [
            paths.localization_pointing(dataset),
            *[
                paths.localization_figures(dataset, family, model)
                for family, model in names.LOCALIZATION_ATTENTION.values()
            ],
        ]
        if dataset == "synth" and dataset in avlocruns.datasets(config)
        else []
    )
)


rule localization_pointing:
    input:
        unpack(
            lambda wc: {
                key: avlocruns.seed_predictions(config, wc.dataset, family, model)
                for key, (family, model) in names.LOCALIZATION_ATTENTION.items()
            }
        ),
        stan=lambda wc: [
            paths.trained(wc.dataset, "stan", s, "predictions.npz")
            for s in train_seeds(wc.dataset, "stan")
        ],
        manifest=paths.manifest(),
    output:
        report=paths.localization_pointing(),
    log:
        "logs/explain/{dataset}/localization_pointing.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/localization_pointing.tsv"
    wildcard_constraints:
        dataset="synth",
    conda:
        "../../envs/avexplain.yaml"
    params:
        attentions=list(names.LOCALIZATION_ATTENTION),
    script:
        "../scripts/localization_pointing.py"


rule localization_attention_figures:
    input:
        predictions=lambda wc: avlocruns.seed_predictions(
            config, wc.dataset, wc.family, wc.model
        )[0],
        clips=lambda wc: [
            paths.clips(m, s) for m in media_of(wc.dataset) for s in shards(m)
        ],
        manifest=paths.manifest(),
    output:
        figures=report(
            directory(paths.localization_figures()),
            patterns=["{name}.png"],
            caption="../report/localization_attention_figures.rst",
            category="Localization families",
            subcategory="{dataset}",
            labels={"result": "{family}/{model}: attention of test video {name}"},
        ),
    log:
        "logs/explain/{dataset}/{family}/{model}/attention_figures.log",
    benchmark:
        "benchmarks/out/explain/{dataset}/{family}/{model}/attention_figures.tsv"
    wildcard_constraints:
        family="|".join(names.LOCALIZATION_FAMILIES),
        model="|".join(m for _, m in names.LOCALIZATION_ATTENTION.values()),
    conda:
        "../../envs/avexplain.yaml"
    params:
        provenance=lambda wc: provenance_caption([wc.dataset]),
    script:
        "../scripts/localization_attention_figures.py"
