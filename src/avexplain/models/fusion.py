"""Audio-visual learners of Table 2 (paper section 4.2), adapted to segment features.

- `relationship`: a relation network; every grid cell of a segment's visual map is paired
  with that segment's audio embedding, an MLP g scores each pair, the pairs are averaged, an
  MLP f composes them, and the segments are averaged over time. (Pairs of cells x audio would
  cost (HW)^2 per segment; a cell-audio relation is the adaptation the paper describes:
  concatenation and an MLP.)
- `film`: feature-wise linear modulation; the audio embedding of a segment gives a scale and a
  shift for every channel of that segment's visual map (a residual FiLM block).
- `attention_fusion`: audio and visual embeddings of every segment are fused by a weighted
  average whose weights come from a small attention network (softmax over the modalities)."""

from __future__ import annotations

import torch
from torch import nn

from avexplain.models.base import VisualModel, output, projection, tile


class _AudioVisual(VisualModel):
    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__(visual_dim, audio_dim, num_classes, time_steps, grid)
        d, p = cfg["embed_dim"], cfg["dropout"]
        self.visual_linear = nn.Linear(visual_dim, d)
        self.visual_act = nn.Sequential(nn.ReLU(), nn.Dropout(p))
        self.audio = projection(audio_dim, d, p)
        self.classifier = nn.Linear(d, num_classes)


class Relationship(_AudioVisual):
    name = "relationship"

    def __init__(self, cfg, *args):
        super().__init__(cfg, *args)
        d, p = cfg["embed_dim"], cfg["dropout"]
        self.g = nn.Sequential(projection(2 * d, d, p), projection(d, d, p))
        self.f = projection(d, d, p)

    def forward_features(self, visual_projected, audio):
        v = self.visual_act(visual_projected)
        pairs = torch.cat([v, tile(self.audio(audio), self.grid)], dim=-1)
        relations = self.g(pairs).mean(dim=(2, 3))  # (B,T,D)
        return output(self.classifier(self.f(relations).mean(dim=1)))


class FiLM(_AudioVisual):
    name = "film"

    def __init__(self, cfg, *args):
        super().__init__(cfg, *args)
        d = cfg["embed_dim"]
        self.conv = nn.Linear(d, d)  # 1x1 conv of the FiLM block
        self.modulation = nn.Linear(d, 2 * d)  # audio -> (gamma, beta) per channel

    def forward_features(self, visual_projected, audio):
        v = self.visual_act(visual_projected)
        gamma, beta = self.modulation(self.audio(audio)).chunk(2, dim=-1)  # (B,T,D) each
        h = self.conv(v)
        h = torch.relu((1 + gamma[:, :, None, None]) * h + beta[:, :, None, None])
        return output(self.classifier((v + h).mean(dim=(1, 2, 3))))


class AttentionFusion(_AudioVisual):
    name = "attention_fusion"

    def __init__(self, cfg, *args):
        super().__init__(cfg, *args)
        d = cfg["embed_dim"]
        self.score = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 1, bias=False))

    def forward_features(self, visual_projected, audio):
        v = self.visual_act(visual_projected).mean(dim=(2, 3))  # (B,T,D)
        a = self.audio(audio)
        both = torch.stack([a, v], dim=2)  # (B,T,2,D)
        weights = torch.softmax(self.score(both), dim=2)  # over the two modalities
        fused = (weights * both).sum(dim=2)
        return output(self.classifier(fused.mean(dim=1)), modality_weights=weights.squeeze(-1))
