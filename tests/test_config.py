import copy
from pathlib import Path

import pytest
import yaml

from avexplain import config as avconfig
from avexplain.config import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid(config):
    validate(config, root=ROOT)


def test_unknown_key_is_named(config):
    config["datasets"]["synth"]["num_vidoes"] = 3
    with pytest.raises(ConfigError, match=r"datasets\.synth\.num_vidoes' is unknown"):
        validate(config, root=ROOT)


def test_wrong_type_names_key(config):
    config["clip"]["fps"] = "sixteen"
    with pytest.raises(ConfigError, match=r"clip\.fps.*not of type 'integer'"):
        validate(config, root=ROOT)


def test_clip_overrides_apply_per_dataset_and_a_union_needs_agreeing_members(config):
    assert avconfig.clip_for(config, "synth") == {
        **{k: v for k, v in config["clip"].items() if k != "overrides"},
        **config["clip"]["overrides"]["synth"],
    }
    assert avconfig.clip_for(config, "ave")["fps"] == config["clip"]["fps"]
    assert avconfig.clip_for(config, "avr") == avconfig.clip_for(config, "ave")
    config["clip"]["overrides"]["llp"] = {"size": 160}
    with pytest.raises(ConfigError, match=r"clip\.overrides.*avr \(ave, llp\)"):
        avconfig.clip_for(config, "avr")
    config["clip"]["overrides"]["synth"]["segments"] = 5  # shared by every dataset
    with pytest.raises(ConfigError, match=r"clip\.overrides\.synth\.segments' is unknown"):
        validate(config, root=ROOT)


def test_missing_file_is_named(config):
    config = copy.deepcopy(config)
    config["run_datasets"] = ["ave"]
    config["datasets"]["ave"]["annotations"] = "resources/datasets/ave/nope.txt"
    with pytest.raises(ConfigError, match=r"datasets\.ave\.annotations.*nope\.txt.*does not exist"):
        validate(config, root=ROOT)


def test_custom_dataset_needs_folder(config):
    config["run_datasets"] = ["custom"]
    with pytest.raises(ConfigError, match=r"datasets\.custom\.video_dir' is empty"):
        validate(config, root=ROOT)


def test_gpu_request_follows_the_device_key_and_the_machine(monkeypatch):
    """auto asks for a GPU on a cluster, and on this machine only when it has one: a CPU-only
    machine must not run its 'GPU' jobs one at a time under the local profile's gpu=1."""
    monkeypatch.setattr(avconfig, "visible_gpus", lambda: 0)
    assert avconfig.gpu_request("auto", local=True) == 0
    assert avconfig.gpu_request("auto", local=False) == 1
    assert avconfig.gpu_request("cuda", local=True) == 1
    assert avconfig.gpu_request("cpu", local=False) == 0
    monkeypatch.setattr(avconfig, "visible_gpus", lambda: 2)
    assert avconfig.gpu_request("auto", local=True) == 1


def test_visible_gpus_respects_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert avconfig.visible_gpus() == 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert avconfig.visible_gpus() == 0
