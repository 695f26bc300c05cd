"""The models of the paper's Tables 1 and 2, built by name: `build(name, ...)`.

Every model maps visual (B,T,H,W,Dv) and audio (B,T,Da) features to a dict with `logits`
(B,C), `space_attention` (B,T,H,W) or None, `time_attention` (B,T) or None and `aux_logits`
(a list of (B,C)); `model.loss(output, targets)` sums the BCE of all its classifiers.
docs/models.md describes each model and the choices the paper leaves open."""

from __future__ import annotations

from functools import partial

from torch import nn

from avexplain.config import ConfigError
from avexplain.models.base import Model, VisualModel
from avexplain.models.baselines import AudioBaseline, AverageEnsemble, VisualBaseline
from avexplain.models.explainers import ABN, CAM
from avexplain.models.fusion import AttentionFusion, FiLM, Relationship
from avexplain.models.stan import STAN, STANAudio
from avexplain.names import MODELS as NAMES

REGISTRY = {
    "stan": partial(STAN, audio=True),
    "stan_audio": STANAudio,
    "stan_visual": partial(STAN, audio=False),
    "audio_baseline": AudioBaseline,
    "visual_baseline": VisualBaseline,
    "cam": partial(CAM, audio=False),
    "abn": partial(ABN, audio=False),
    "av_cam": partial(CAM, audio=True),
    "av_abn": partial(ABN, audio=True),
    "relationship": Relationship,
    "average_ensemble": AverageEnsemble,
    "film": FiLM,
    "attention_fusion": AttentionFusion,
}
assert list(REGISTRY) == NAMES, "avexplain.names.MODELS lists the models of REGISTRY"
MODEL_KEYS = ("embed_dim", "dropout", "space_gate_kernel", "time_gate_hidden")

__all__ = ["NAMES", "REGISTRY", "Model", "VisualModel", "build"]


def build(
    name: str,
    model_config: dict,
    visual_dim: int,
    audio_dim: int,
    num_classes: int,
    time_steps: int,
    grid: tuple[int, int],
) -> nn.Module:
    """A freshly initialised model `name` (one of NAMES) sized for the given features."""
    if name not in REGISTRY:
        raise ConfigError(
            f"unknown model '{name}' (config key models.names); expected one of {NAMES}"
        )
    missing = [k for k in MODEL_KEYS if k not in model_config]
    if missing:
        raise ConfigError(f"config section 'models' lacks {missing}")
    model = REGISTRY[name](
        model_config, visual_dim, audio_dim, num_classes, time_steps, tuple(grid)
    )
    model.name = name
    return model
