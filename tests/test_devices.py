import platform
import resource
import sys

import pytest
import torch

from avexplain.config import ConfigError
from avexplain.devices import keep_freed_memory, pick_device


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


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt's thresholds are glibc's",
)
def test_a_cpu_job_keeps_freed_memory_for_reuse():
    """After pick_device("cpu") a freed 64 MiB block is reused, not faulted in again."""
    pick_device("cpu")
    assert keep_freed_memory()  # cached: the call pick_device made succeeded
    torch.empty(64 << 20, dtype=torch.uint8).fill_(1)  # allocated, touched, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(64 << 20, dtype=torch.uint8).fill_(1)
    # 16,384 pages of 4 KiB if the block had gone back to the kernel
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 1000
