"""The torch device a stage runs on, from its `device` config key (auto | cpu | cuda), and the
precision its frozen networks compute in (auto | float32 | bfloat16)."""

from __future__ import annotations

import ctypes
import functools
import logging

import torch

from avexplain.config import ConfigError

log = logging.getLogger(__name__)


def pick_device(setting: str, key: str = "device") -> torch.device:
    """auto: CUDA when visible, else the CPU (the same code runs on both); `key` names the
    config key in the error when CUDA is asked for and absent."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key {key} is 'cuda' but no CUDA device is visible")
    if setting == "cpu":
        keep_freed_memory()
    return torch.device(setting)


# glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def keep_freed_memory(threshold: int = 1 << 30) -> bool:
    """Keep freed blocks below `threshold` bytes in the heap for reuse. glibc hands each one
    above its mmap threshold (32 MiB at most) back to the kernel, so every forward pass on the
    CPU faults its activations in again, page by page (`benchmarks/allocator.py`: 1.22x the
    CPU seconds of ResNet-152 passes). Blocks over 64 MiB allocated off the main thread still
    come from the kernel (glibc's per-thread arenas grow in heaps of 64 MiB); jobs compute in
    their main thread. No effect on results; a no-op where the C library has no mallopt.
    Returns whether the setting took."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, threshold)
    )


def native_bfloat16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 in hardware: CUDA from Ampere on; CPUs with AVX-512
    BF16 or AMX, through oneDNN (elsewhere bfloat16 is emulated, slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def pick_precision(setting: str, device: torch.device, key: str = "precision") -> torch.dtype:
    """auto: bfloat16 where the device has it natively (2-3x the float32 speed of the
    convolutional backbones, CPU and GPU alike), else float32."""
    if setting == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    if setting == "bfloat16" and not native_bfloat16(device):
        log.warning("config key %s is bfloat16, which %s only emulates (slow)", key, device)
    if setting not in ("float32", "bfloat16"):
        raise ConfigError(f"config key {key} is '{setting}': expected auto, float32 or bfloat16")
    return getattr(torch, setting)
