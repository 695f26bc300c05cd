"""Intrinsic explanation models of Table 2: CAM, ABN and their audio-visual extensions.

They are image models: a video becomes one map by averaging its segments' projected maps over
time (a mean commutes with the 1x1 conv, so this is the conv of the time-averaged map), and
their spatial explanation is one map per video, returned broadcast over T.
- `cam`: 1x1 conv to K class activation maps, global average pooling gives the logits; the
  explanation is the map of the top-scored class scaled to [0, 1].
- `abn`: attention branch network. Its attention branch has the same class maps (with their
  own classifier and loss) and a conv + sigmoid that turns them into one attention map; the
  perception branch classifies the features reweighted by (1 + attention), as in ABN.
- `av_cam`, `av_abn`: the same on the concatenation of the visual map and the tiled audio
  embedding (an MLP on the time-averaged audio features)."""

from __future__ import annotations

import torch
from torch import nn

from avexplain.models.base import VisualModel, minmax, output, projection


class _VideoMap(VisualModel):
    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio):
        super().__init__(visual_dim, audio_dim, num_classes, time_steps, grid)
        d, p = cfg["embed_dim"], cfg["dropout"]
        self.uses_audio = audio
        self.visual_linear = nn.Linear(visual_dim, d)
        self.visual_act = nn.Sequential(nn.ReLU(), nn.Dropout(p))
        self.feature_dim = d
        if audio:
            self.audio = projection(audio_dim, d, p)
            self.feature_dim = 2 * d

    def video_map(self, visual_projected, audio):
        """(B,H,W,D'): the time-averaged visual map, with the audio embedding tiled beside it."""
        x = self.visual_act(visual_projected.mean(dim=1))
        if self.uses_audio:
            a = self.audio(audio.mean(dim=1))
            x = torch.cat([x, a[:, None, None, :].expand(*x.shape[:3], a.shape[-1])], dim=-1)
        return x

    def broadcast(self, attention):
        return attention[:, None].expand(-1, self.time_steps, -1, -1)


class CAM(_VideoMap):
    attention_modules = ()  # the map explains the logits; nothing is weighted by it

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio=False):
        super().__init__(cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio)
        self.name = "av_cam" if audio else "cam"
        self.cam = nn.Linear(self.feature_dim, num_classes)

    def forward_features(self, visual_projected, audio):
        maps = self.cam(self.video_map(visual_projected, audio))  # (B,H,W,K)
        logits = maps.mean(dim=(1, 2))
        top = logits.argmax(dim=1)
        chosen = maps[torch.arange(len(maps)), :, :, top]  # (B,H,W)
        return output(logits, space_attention=self.broadcast(minmax(chosen, (1, 2))))


class ABN(_VideoMap):
    attention_modules = ("gate",)

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio=False):
        super().__init__(cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio)
        self.name = "av_abn" if audio else "abn"
        k = cfg["space_gate_kernel"]
        self.cam = nn.Linear(self.feature_dim, num_classes)
        self.gate = nn.Conv2d(num_classes, 1, k, padding=k // 2)
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward_features(self, visual_projected, audio):
        x = self.video_map(visual_projected, audio)
        maps = self.cam(x)
        attention = torch.sigmoid(self.gate(maps.permute(0, 3, 1, 2)).squeeze(1))  # (B,H,W)
        perceived = x * (1 + attention[..., None])  # ABN's residual attention mechanism
        logits = self.classifier(perceived.mean(dim=(1, 2)))
        return output(
            logits, space_attention=self.broadcast(attention), aux_logits=[maps.mean(dim=(1, 2))]
        )
