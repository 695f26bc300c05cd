"""Pieces every model shares: the output dictionary, the loss, input checks, small layers.

Shapes are channels-last throughout: visual (B, T, H, W, Dv), audio (B, T, Da). A 1x1
convolution over a map is an nn.Linear on the last axis; models with a visual input expose that
first projection as `visual_linear`, and `forward(v, a)` is by construction
`forward_projected(visual_linear(v), a)`, so the explanation stage can perturb projected maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Multi-label binary cross-entropy of one classifier: summed over classes (Eq. 7),
    averaged over the videos of the batch."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1).mean()


def output(logits, space_attention=None, time_attention=None, aux_logits=(), **extra) -> dict:
    return {
        "logits": logits,
        "space_attention": space_attention,
        "time_attention": time_attention,
        "aux_logits": list(aux_logits),
        **extra,
    }


def projection(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    """A one-layer MLP (Linear, ReLU, dropout): every 'MLP' of the paper's equations."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Dropout(dropout))


def with_global_mean(audio: torch.Tensor) -> torch.Tensor:
    """[a_t, mean_t a] for every t (Eq. 1 and 3): each segment also sees the whole track."""
    return torch.cat([audio, audio.mean(1, keepdim=True).expand_as(audio)], dim=-1)


def tile(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, T, D) -> (B, T, H, W, D): the spatial tiling operator of Eq. 1."""
    b, t, d = x.shape
    return x[:, :, None, None, :].expand(b, t, *grid, d)


def minmax(maps: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Scale maps to [0, 1] over `dims` (class activation maps have no natural range)."""
    low = maps.amin(dim=dims, keepdim=True)
    high = maps.amax(dim=dims, keepdim=True)
    return (maps - low) / (high - low).clamp_min(1e-8)


class Model(nn.Module):
    """Base of every model: input checks and the summed BCE of all classifiers (Eq. 8)."""

    name = "model"
    uses_visual = True
    uses_audio = True
    # Submodules whose outputs make the attention (its pre-sigmoid gates): the explanation stage
    # holds them at their clean values under noise (avexplain.explain.perturbation.HeldAttention).
    # () = the attention does not feed the prediction; None = undeclared (cannot be held).
    attention_modules: tuple[str, ...] | None = None

    def __init__(self, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__()
        self.visual_dim, self.audio_dim = visual_dim, audio_dim
        self.num_classes, self.time_steps, self.grid = num_classes, time_steps, tuple(grid)

    def check_inputs(self, visual: torch.Tensor | None, audio: torch.Tensor | None, dv=None):
        t, (h, w) = self.time_steps, self.grid
        if self.uses_visual and visual is not None:
            dv = dv or self.visual_dim
            if tuple(visual.shape[1:]) != (t, h, w, dv):
                raise ValueError(
                    f"{self.name}: visual input of shape {tuple(visual.shape)}, expected "
                    f"(batch, {t}, {h}, {w}, {dv})"
                )
        if self.uses_audio and audio is not None:
            if tuple(audio.shape[1:]) != (t, self.audio_dim):
                raise ValueError(
                    f"{self.name}: audio input of shape {tuple(audio.shape)}, expected "
                    f"(batch, {t}, {self.audio_dim})"
                )

    def loss(self, out: dict, targets: torch.Tensor) -> torch.Tensor:
        """Sum of the BCE losses of the final and the auxiliary classifiers."""
        total = bce(out["logits"], targets)
        for logits in out["aux_logits"]:
            total = total + bce(logits, targets)
        return total

    def forward(self, visual, audio):
        self.check_inputs(visual, audio)
        return self.forward_features(visual, audio)

    def forward_features(self, visual, audio):  # pragma: no cover - abstract
        raise NotImplementedError


class VisualModel(Model):
    """A model whose first operation on the visual input is `visual_linear` (a 1x1 conv)."""

    visual_linear: nn.Linear

    def forward(self, visual, audio):
        self.check_inputs(visual, audio)
        return self.forward_projected(self.visual_linear(visual), audio)

    def forward_projected(self, visual_projected, audio):
        self.check_inputs(visual_projected, audio, dv=self.visual_linear.out_features)
        return self.forward_features(visual_projected, audio)
