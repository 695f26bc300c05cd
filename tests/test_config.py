import copy
from pathlib import Path

import pytest
import yaml

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
