# Input functions and stage targets of the explanations stage (explain.smk). Functions only:
# the rules live in explain.smk. The stage reads the models stage's artefacts
# (results/{dataset}/{model}/seed-{seed}/checkpoint.pt, predictions.npz; docs/formats.md).


def explain_seed(dataset):
    """The first training seed of the dataset (train.seeds, or its per-dataset override): one
    trained model per dataset x model is explained."""
    return avconfig.section_for(config, "train", dataset)["seeds"][0]


def trained_file(dataset, model, name):
    return f"results/{dataset}/{model}/seed-{explain_seed(dataset)}/{name}"


def explain_checkpoint(wildcards):
    return trained_file(wildcards.dataset, wildcards.model, "checkpoint.pt")


def explain_predictions(wildcards):
    return trained_file(wildcards.dataset, wildcards.model, "predictions.npz")


def stan_predictions(wildcards):
    return trained_file(wildcards.dataset, "stan", "predictions.npz")


def explain_media(dataset):
    """The datasets whose stores and clips a dataset is made of (AVR: its members)."""
    return config["datasets"][dataset].get("members", [dataset])


def explain_feature_inputs(wildcards):
    """The feature stores avexplain.features_io.load_split reads for the dataset's test split."""
    models = config.get("models", {})
    backbones = [
        models.get("visual_backbone", "resnet152"),
        models.get("audio_backbone", "vggish"),
    ]
    return [
        f"features/{m}/{b}.zarr"
        for m in explain_media(wildcards.dataset)
        for b in backbones
    ]


def explain_clip_inputs(wildcards):
    return [
        f"data/{m}/clips/shard-{s}"
        for m in explain_media(wildcards.dataset)
        for s in shards(m)
    ]


def explain_manifest_inputs(wildcards):
    return [
        f"data/{d}/manifest.csv"
        for d in dict.fromkeys([wildcards.dataset, *explain_media(wildcards.dataset)])
    ]


def perturbation_csvs(wildcards):
    return {
        m: f"results/{wildcards.dataset}/{m}/perturbation.csv"
        for m in config["explain"]["perturbation_models"]
    }


def table3_datasets():
    # custom datasets publish no audio events: nothing to point at
    return [
        d for d in config["run_datasets"] if config["datasets"][d]["kind"] != "custom"
    ]


def table3_inputs(wildcards):
    files = {}
    for d in table3_datasets():
        files[f"{d}_manifest"] = f"data/{d}/manifest.csv"
        for m in ("stan", "stan_audio"):
            files[f"{d}_{m}"] = trained_file(d, m, "predictions.npz")
    return files


def ground_truth_reports(wildcards):
    return {
        m: f"results/synth/{m}/ground_truth.json"
        for m in config["explain"]["ground_truth_models"]
    }


def explain_targets(dataset):
    targets = [
        f"results/{dataset}/perturbation.png",
        f"results/{dataset}/stan/attention",
        "results/tables/stan_table3.md",
    ]
    if config["datasets"][dataset]["kind"] == "synth":
        targets.append("results/tables/synth_explanations.md")
    return targets


STAGE_TARGETS.append(explain_targets)
