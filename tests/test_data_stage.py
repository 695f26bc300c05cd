"""The data stage through the real Snakefile: generation, download status, decode, faults."""

import pandas as pd
import pytest
import yaml

from avexplain.testing.workflow import copy_workflow, snakemake


@pytest.fixture(scope="module")
def small_workflow(tmp_path_factory):
    root = copy_workflow(tmp_path_factory.mktemp("wf"))
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["datasets"]["synth"].update(num_videos=8, shard_size=4)
    # 4 s at 64 px: a missing input fails decode whatever the clip's length and size
    config["clip"].update(segments=4, overrides={"synth": {"fps": 4, "size": 64}})
    # feature chunks must divide the shard size (checked at parse time)
    config["features"]["chunk_videos"].update(vggish=4, mc3_18=4)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


@pytest.mark.slow
def test_video_vanishing_before_decode_is_recorded_not_fatal(small_workflow):
    root = small_workflow
    snakemake(root, "data/synth/download/shard-000.csv", "data/synth/download/shard-001.csv")
    status = pd.read_csv(root / "data/synth/download/shard-001.csv")
    assert (status.status == "present").all()
    gone = status.iloc[0]
    (root / gone.path).unlink()  # disappears between download and decode
    snakemake(root, "data/synth/clips/shard-000", "data/synth/clips/shard-001")
    report = pd.read_csv(root / "data/synth/clips/shard-001/report.csv").set_index("video_id")
    assert report.loc[gone.video_id, "status"] == "failed"
    assert isinstance(report.loc[gone.video_id, "error"], str)
    assert not (root / f"data/synth/clips/shard-001/{gone.video_id}.mp4").exists()
    ok = report.drop(gone.video_id)
    assert (ok.status == "ok").all() and len(ok) == 3
    assert len(list((root / "data/synth/clips/shard-000").glob("*.mp4"))) == 4
    # the decode failure is a row of missing.csv, with its stage and the decoder's reason
    snakemake(root, "data/synth/missing.csv")
    missing = pd.read_csv(root / "data/synth/missing.csv", dtype=str, keep_default_na=False)
    assert missing["video_id"].tolist() == [gone.video_id]
    assert missing["stage"].tolist() == ["decode"]
    assert missing["reason"].iloc[0].startswith("decode failed: no such file")


@pytest.mark.slow
def test_bad_config_stops_before_any_job(small_workflow, tmp_path):
    root = copy_workflow(tmp_path / "bad")
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["clip"]["fpss"] = 3
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(root, "data/synth/manifest.csv", check=False)
    assert proc.returncode != 0
    assert "config key 'clip.fpss' is unknown" in proc.stderr + proc.stdout
    assert not (root / "data").exists()
