"""The torch device a stage runs on, from its `device` config key (auto | cpu | cuda)."""

from __future__ import annotations

import torch

from avexplain.config import ConfigError


def pick_device(setting: str, key: str = "device") -> torch.device:
    """auto: CUDA when visible, else the CPU (the same code runs on both); `key` names the
    config key in the error when CUDA is asked for and absent."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key {key} is 'cuda' but no CUDA device is visible")
    return torch.device(setting)
