"""Names of the AVE paper's localization models (avexplain.models.avel), without importing torch:
the Snakefile plans with them. Each name is a Snakemake wildcard value ([a-z0-9_]).

Families (docs/localization.md): the supervised AVEL models of Table 1 and their weakly
supervised twins (`w_` prefix); the audio-map models of supplementary Table 3; the fusion methods of Table 2 as `fusion_{operator}_{stage}`
plus `dmrfe`; ED-TCN; the cross-modality embeddings of Table 3."""

from __future__ import annotations

AVEL_MODELS = ["a", "v", "v_att", "av", "av_att"]
WEAK_MODELS = [f"w_{name}" for name in AVEL_MODELS]
# supplementary Table 3: A' (VGGish pool4 maps, spatial mean), A'-att (visual-guided audio
# attention), A'+V, A'+V co-attention
AUDIO_MAP_MODELS = ["a_map", "a_map_att", "a_map_v", "a_map_v_coatt"]
FUSION_OPERATORS = [
    "additive",
    "mp",
    "gated",
    "mb",
    "gmu",
    "gmb",
    "concat",
    "mrn",
    "dmrn",
]
FUSION_STAGES = ["early", "late", "decision"]
FUSION_MODELS = [f"fusion_{op}_{stage}" for op in FUSION_OPERATORS for stage in FUSION_STAGES]
CML_MODELS = ["avdln", "dcca"]
SEGMENT_MODELS = [
    *AVEL_MODELS,
    *WEAK_MODELS,
    *AUDIO_MAP_MODELS,
    *FUSION_MODELS,
    "dmrfe",
    "ed_tcn",
]
NAMES = [*SEGMENT_MODELS, *CML_MODELS]


def task_of(name: str) -> str:
    """`segment` (per-second C+1 scores) or `cml` (cross-modality embeddings)."""
    if name not in NAMES:
        raise KeyError(f"unknown localization model '{name}'; expected one of {NAMES}")
    return "cml" if name in CML_MODELS else "segment"


def is_weak(name: str) -> bool:
    """Trained on video-level labels (multiple-instance pooling over time)."""
    return name in WEAK_MODELS
