import pytest
import torch

from avexplain.config import ConfigError
from avexplain.devices import pick_device


def test_auto_follows_cuda_and_cpu_is_always_there():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto", "train.device").type == expected
    assert pick_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_absent_cuda_names_the_config_key():
    with pytest.raises(ConfigError, match="explain.device"):
        pick_device("cuda", "explain.device")


def test_precision_auto_follows_native_bfloat16_and_names_the_key():
    from avexplain.devices import native_bfloat16, pick_precision

    cpu = torch.device("cpu")
    expected = torch.bfloat16 if native_bfloat16(cpu) else torch.float32
    assert pick_precision("auto", cpu) == expected
    assert pick_precision("float32", cpu) == torch.float32
    assert pick_precision("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="features.precision is 'half'"):
        pick_precision("half", cpu, "features.precision")
