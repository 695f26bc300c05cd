"""The localization families wired into the pipeline: one training job per group and seed on
random stores, its metrics and predictions, the aggregation over seeds, the tables beside the
paper's numbers, and the planning-time checks (a dataset without segment labels is named; AVE
plans)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from avexplain import names, paths
from avexplain.config import ConfigError
from avexplain.data.segment_labels import SegmentLabelsMissing
from avexplain.tables import localization as tables
from avexplain.testing import stores
from avexplain.testing.workflow import copy_workflow, snakemake
from avexplain.training import localization_runs as runs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Random stores of 40 videos (the family's synth visual backbone and VGGish), each with
    one audio-visual event."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    # 8 principal components of the 16 channels: the projection's path, whatever synth's setting
    config["localization"]["overrides"]["synth"].update(
        epochs=2, batch_size=8, seeds=[0, 1], group_seeds={}, visual_components=8
    )
    root = stores.write_dataset(
        tmp_path_factory.mktemp("loc"), num_videos=40, num_classes=3, grid=(2, 2),
        visual_dim=16, audio_dim=8,
        visual_backbone=runs.settings_for(config, "synth")["visual_backbone"],
    )  # fmt: skip
    manifest = root / paths.manifest("synth")
    frame = pd.read_csv(manifest, keep_default_na=False)
    events = [json.dumps([[lab, i % 4, i % 4 + 4]]) for i, lab in enumerate(frame["labels"])]
    frame["audio_events"] = frame["visual_events"] = events
    frame.to_csv(manifest, index=False)
    return root, config


def test_one_job_for_all_seeds_gives_each_seed_its_own_numbers(dataset):
    """The training job trains every seed of its group on features read once: each seed's
    weights and test numbers equal those of a process that trains that seed alone."""
    root, config = dataset
    together = runs.train_group_seeds(config, "synth", "avel_table3", [1, 0], root, threads=1)
    alone = runs.train_group(config, "synth", "avel_table3", 0, root=root, threads=1)
    assert list(together) == [1, 0]
    for model, record in alone.items():
        mine = together[0][model]
        assert mine["provenance"]["weights_sha256"] == record["provenance"]["weights_sha256"]
        assert mine["test"] == record["test"] and mine["history"] == record["history"]
    assert runs.job_outputs(config, "synth", "avel_table3", "metrics.json") == [
        paths.localization_trained("synth", "avel", m, s)
        for m in names.LOCALIZATION_GROUPS["avel_table3"]
        for s in (0, 1)
    ]


def test_group_job_writes_every_model_and_the_table(dataset, tmp_path):
    root, config = dataset
    for seed in (0, 1):
        records = runs.train_group(config, "synth", "avel_table1", seed, root=root, threads=1)
        assert list(records) == names.LOCALIZATION_GROUPS["avel_table1"]
    record = json.loads(
        (root / paths.localization_trained("synth", "avel", "av_att", 0)).read_text()
    )
    assert 0 <= record["test"]["accuracy"] <= 100
    assert {"all_background", "majority"} <= set(record["anchors"])
    maps = runs.settings_for(config, "synth")["visual_backbone"]
    assert record["provenance"]["features"][maps]["backbone"] == maps
    assert len(record["provenance"]["weights_sha256"]) == 64
    assert record["provenance"]["settings"]["visual_components"] == 8
    # the attention reads 8 principal components; V, which averages the map, the 16 channels
    assert record["visual_components"] == 8
    v = json.loads((root / paths.localization_trained("synth", "avel", "v", 0)).read_text())
    assert v["visual_components"] is None
    pred = np.load(
        root / paths.localization_trained("synth", "avel", "av_att", 0, "predictions.npz")
    )
    assert pred["space_attention"].shape[2:] == (2, 2)
    np.testing.assert_allclose(pred["space_attention"].sum((2, 3)), 1, rtol=1e-5)

    files = []
    for _, model in tables.models("avel_table1"):
        seeds = runs.seed_files(config, "synth", "avel", model)
        out = root / paths.localization_metrics("synth", "avel", model)
        result = runs.aggregate([root / s for s in seeds], out)
        assert result["seeds"] == [0, 1] and result["model"] == model
        files.append(out)
    outputs = {k: tmp_path / f"t.{k}" for k in ("csv", "md", "html")}
    tables.write("avel_table1", files, ROOT / paths.PAPER_NUMBERS, ["synth"], outputs)
    md = outputs["md"].read_text()
    assert "| A+V-att |" in md and "(72.7)" in md and "(66.7)" in md  # paper beside ours
    assert "Anchors on synth test: all background" in md and "majority" in md
    frame = pd.read_csv(outputs["csv"])
    assert len(frame) == 10 and (frame["seeds"] == 2).all()


def test_cross_modality_job_and_table(dataset, tmp_path):
    root, config = dataset
    records = runs.train_group(config, "synth", "avel_table3", 0, root=root, threads=1)
    for record in records.values():
        test = record["test"]
        assert {"a2v", "v2a", "chance", "queries"} <= set(test) and test["queries"] > 0
        assert 0 < test["chance"] < 100


def test_audio_map_group_reads_the_vggish_maps(dataset):
    """Supplementary Table 3's group: its job reads the family's visual maps and the VGGish
    maps store (not the vectors); the models get the audio grid from the store; its table
    reads V and V-att from Table 1's group."""
    root, config = dataset
    stores.write_audio_maps(root, grid=(3, 2))
    maps = runs.settings_for(config, "synth")["visual_backbone"]
    assert runs.job_inputs(config, "synth", "avel_supp3")["stores"] == [
        paths.store("synth", b) for b in sorted([maps, names.AUDIO_MAPS])
    ]
    assert runs.job_inputs(config, "ave", "avel_supp3")["stores"] == [
        "features/ave/vgg19.zarr",
        "features/ave/vggish_maps.zarr",
    ]
    records = runs.train_group(config, "synth", "avel_supp3", 0, root=root, threads=1)
    assert list(records) == names.AUDIO_MAP_MODELS
    assert set(records["a_map"]["provenance"]["features"]) == {maps, names.AUDIO_MAPS}
    pred = np.load(
        root / paths.localization_trained("synth", "avel", "a_map_v_coatt", 0, "predictions.npz")
    )
    assert pred["audio_attention"].shape[2:] == (3, 2)
    assert pred["space_attention"].shape[2:] == (2, 2)
    layout = tables.LAYOUTS["avel_supp3"]()
    assert [m for _, m, _ in layout.rows] == ["A′", "A′-att", "V", "V-att", "A′+V", "A′+V-co-att"]
    assert [m for _, m in tables.models("avel_supp3")] == [
        "a_map", "a_map_att", "v", "v_att", "a_map_v", "a_map_v_coatt"
    ]  # fmt: skip
    assert names.localization_group("avel", "v_att") == "avel_table1"


def test_group_seeds_and_unknown_names():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    synth = config["localization"]["overrides"]["synth"]["group_seeds"]
    for group in names.LOCALIZATION_GROUPS:
        assert runs.group_seeds(config, "synth", group) == synth.get(group, [0, 1, 2])
        assert runs.group_seeds(config, "ave", group) == [0, 1, 2]
    assert runs.group_seeds(config, "synth", "avel_supp2") == [0]
    config["localization"]["group_seeds"] = {"avel_table9": [0]}
    with pytest.raises(ConfigError, match="avel_table9"):
        runs.settings_for(config, "ave")
    config["localization"]["group_seeds"] = {}
    config["localization"]["model_epochs"] = {"avt_dan": 30}
    with pytest.raises(ConfigError, match=r"model_epochs.*\['avt_dan'\]"):
        runs.settings_for(config, "ave")
    config["localization"]["model_epochs"] = {"avt_dam": 30}
    settings = runs.settings_for(config, "ave")
    assert runs.epochs_for(settings, "avt_dam") == 30
    assert runs.epochs_for(settings, "a") == settings["epochs"]
    with pytest.raises(ConfigError, match="'nope' is not a trained model"):
        runs.seed_files(config, "ave", "avel", "nope")
    with pytest.raises(SegmentLabelsMissing, match="'custom'"):
        runs.seed_files(config, "custom", "avel", "a")


def test_every_table_cell_is_a_trained_model_or_cited():
    trained = {
        (names.localization_family(g), m) for g, ms in names.LOCALIZATION_GROUPS.items() for m in ms
    }
    for table in tables.TABLES:
        assert set(tables.models(table)) <= trained, table
    paper = yaml.safe_load((ROOT / paths.PAPER_NUMBERS).read_text())
    assert np.isnan(tables._paper_value(paper, None))  # e.g. DMRFE's early column
    for table in tables.TABLES:  # every paper key of a layout exists in paper_numbers.yaml
        for _, method, cells in tables.LAYOUTS[table]().rows:
            for cell in cells:
                if cell.paper:
                    value = tables._paper_value(paper, cell.paper)
                    assert not np.isnan(value), (table, method, cell.paper)


def test_planning(tmp_path):
    """A segment target of a dataset without segment labels fails at planning time naming it;
    AVE plans every localization table (dry run)."""
    root = copy_workflow(tmp_path / "wf")
    proc = snakemake(root, "-n", paths.localization_metrics("llp", "avel", "av_att"), check=False)
    assert proc.returncode != 0
    assert "SegmentLabelsMissing" in proc.stderr + proc.stdout
    assert "dataset 'llp'" in proc.stderr + proc.stdout
    targets = [paths.table(t) for t in tables.TABLES]
    proc = snakemake(root, "-n", *targets, "--config", "run_datasets=[ave]")
    out = proc.stdout + proc.stderr
    for group in names.LOCALIZATION_GROUPS:
        assert f"train_{group}" in out, group
    assert "results/ave/avel/av_att/seed-2/metrics.json" in out
