"""Small models implementing the models' contract (docs/explanations.md) with attention that a
test can set by hand: visual_linear, forward, forward_projected, and the output dict (logits,
space_attention, time_attention, aux_logits)."""

from __future__ import annotations

import torch
from torch import nn


class TinySTAN(nn.Module):
    """STAN-shaped: 1x1 projection of the visual map, audio projection, a space attention from
    the fused map, a time attention from the pooled fused map, A^st-weighted pooling, and a
    classifier; the CAM and CAV classifiers give the aux logits."""

    def __init__(self, visual_dim: int, audio_dim: int, num_classes: int, dim: int = 32):
        super().__init__()
        self.visual_linear = nn.Linear(visual_dim, dim)
        self.audio_linear = nn.Linear(audio_dim, dim)
        self.space = nn.Linear(dim, 1)
        self.time = nn.Linear(dim, 1)
        self.classifier = nn.Linear(dim, num_classes)
        self.cam = nn.Linear(dim, num_classes)
        self.cav = nn.Linear(dim, num_classes)

    def forward(self, visual, audio):
        return self.forward_projected(self.visual_linear(visual), audio)

    def forward_projected(self, visual_projected, audio):
        v = torch.relu(visual_projected)
        a = torch.relu(self.audio_linear(audio))
        fused = v + a[:, :, None, None, :]
        space = torch.sigmoid(self.space(fused)).squeeze(-1)  # (B,T,H,W)
        time = torch.sigmoid(self.time(fused.mean(dim=(2, 3)))).squeeze(-1)  # (B,T)
        st = space * time[..., None, None]
        pooled = (fused * st[..., None]).mean(dim=(1, 2, 3))
        return {
            "logits": self.classifier(pooled),
            "space_attention": space,
            "time_attention": time,
            "space_time_attention": st,
            "aux_logits": [self.cam(v.mean(dim=(1, 2, 3))), self.cav(a.mean(dim=1))],
        }

    def loss(self, output, targets):
        bce = nn.functional.binary_cross_entropy_with_logits
        return sum(bce(lg, targets) for lg in [output["logits"], *output["aux_logits"]])


class _TwoLinears(nn.Module):
    """The contract's entry: visual and audio Linear projections, a classifier on both."""

    def __init__(self, visual_dim: int, audio_dim: int, num_classes: int, dim: int = 16):
        super().__init__()
        self.visual_linear = nn.Linear(visual_dim, dim)
        self.audio_linear = nn.Linear(audio_dim, dim)
        self.classifier = nn.Linear(2 * dim, num_classes)

    def forward(self, visual, audio):
        return self.forward_projected(self.visual_linear(visual), audio)


class UninformativeAttention(_TwoLinears):
    """Attention that says nothing: a fixed checkerboard (exactly half the cells and segments
    >= 0.5) while the classifier pools all cells alike. Relevant and irrelevant perturbations
    then hit equally many exchangeable cells (T and T*H*W even), so their TVDs must agree."""

    def forward_projected(self, visual_projected, audio):
        b, t, h, w, _ = visual_projected.shape
        grid = torch.arange(t * h * w, device=audio.device).reshape(t, h, w) % 2
        space = (0.25 + 0.5 * grid.float()).expand(b, t, h, w)
        time = (0.25 + 0.5 * (torch.arange(t, device=audio.device) % 2).float()).expand(b, t)
        # linear in the input: the noise's effect depends only on how many cells it hits
        v = visual_projected.mean(dim=(1, 2, 3))
        a = self.audio_linear(audio).mean(dim=1)
        return {
            "logits": self.classifier(torch.cat([v, a], dim=-1)),
            "space_attention": space,
            "time_attention": time,
            "space_time_attention": space,  # the mask the visual map gets: the checkerboard
            "aux_logits": [],
        }


class VisualOnlyABN(nn.Module):
    """ABN-like: one spatial attention map per video broadcast over T, no time attention and no
    fast path (no visual_linear): exercises the input-space path."""

    def __init__(self, visual_dim: int, audio_dim: int, num_classes: int, dim: int = 16):
        super().__init__()
        self.proj = nn.Linear(visual_dim, dim)
        self.att = nn.Linear(dim, 1)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, visual, audio):
        v = torch.relu(self.proj(visual))
        att = torch.sigmoid(self.att(v.mean(dim=1))).squeeze(-1)  # (B,H,W)
        att = att[:, None].expand(-1, v.shape[1], -1, -1)
        pooled = (v * att[..., None]).mean(dim=(1, 2, 3))
        return {
            "logits": self.classifier(pooled),
            "space_attention": att,
            "time_attention": None,
            "aux_logits": [],
        }


class GatedAttention(_TwoLinears):
    """Hard 0/1 attention that gates the features: noise where attention is 0 cannot reach the
    classifier (irrelevant TVD exactly 0), noise where it is 1 must (relevant TVD > 0)."""

    def forward_projected(self, visual_projected, audio):
        b, t, h, w, _ = visual_projected.shape
        space = (torch.arange(h * w, device=audio.device).reshape(h, w) % 3 == 0).float()
        space = space.expand(b, t, h, w)
        time = (torch.arange(t, device=audio.device) < t // 2).float().expand(b, t)
        st = space * time[..., None, None]
        v = (visual_projected * st[..., None]).mean(dim=(1, 2, 3))
        a = (self.audio_linear(audio) * time[..., None]).mean(dim=1)
        return {
            "logits": self.classifier(torch.cat([v, a], dim=-1)),
            "space_attention": space,
            "time_attention": time,
            "aux_logits": [],
        }
