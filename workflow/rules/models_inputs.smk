# Input functions and targets of the models stage (models.smk); functions only.
from avexplain import recognition_tables as avtables


def train_seeds(dataset):
    return avconfig.section_for(config, "train", dataset)["seeds"]


def store_datasets(dataset):
    """Datasets whose feature stores `dataset` reads (AVR: its members')."""
    ds = config["datasets"][dataset]
    return ds["members"] if ds["kind"] == "union" else [dataset]


def train_inputs(wildcards):
    backbones = [
        config["models"]["visual_backbone"],
        config["models"]["audio_backbone"],
    ]
    return {
        "manifest": f"data/{wildcards.dataset}/manifest.csv",
        "classes": f"data/{wildcards.dataset}/classes.txt",
        "stores": [
            f"features/{d}/{b}.zarr"
            for d in store_datasets(wildcards.dataset)
            for b in backbones
        ],
    }


def seed_metrics(wildcards):
    return [
        f"results/{wildcards.dataset}/{wildcards.model}/seed-{s}/metrics.json"
        for s in train_seeds(wildcards.dataset)
    ]


def train_gpus(wildcards):
    # local runs treat resources as unlimited; on a cluster a GPU is requested unless cpu is set
    return (
        0
        if avconfig.section_for(config, "train", wildcards.dataset)["device"] == "cpu"
        else 1
    )


def table_results():
    """{(dataset, model): aggregated metrics.json} of every run dataset and tabled model."""
    tabled = {m for t in avtables.LAYOUTS for m in avtables.table_models(t)}
    return {
        (d, m): f"results/{d}/{m}/metrics.json"
        for d in config["run_datasets"]
        for m in config["models"]["names"]
        if m in tabled
    }


def table_outputs():
    return {
        f"{table}_{ext}": f"results/tables/stan_{table}.{ext}"
        for table in avtables.LAYOUTS
        for ext in ("csv", "md")
    }


def model_targets(dataset):
    targets = [f"results/{dataset}/{m}/metrics.json" for m in config["models"]["names"]]
    if dataset in config["run_datasets"]:
        targets += list(table_outputs().values())
    return targets


STAGE_TARGETS.append(model_targets)
