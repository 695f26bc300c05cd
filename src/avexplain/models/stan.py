"""STAN, the space-time attention network (paper section 3), and its unimodal ablations.

Equation by equation (B videos, T segments, H x W grid, K classes, D = models.embed_dim):
- Eq. 1, composition: the audio MLP sees [a_t, mean_t a] and is tiled over the grid; the visual
  map goes through a 1x1 conv; the two are concatenated into x^st (D' = 2D).
- Eq. 2, space attention: a 1x1 conv gives the class activation maps M_t (K channels); the
  space gate (a conv to one channel + sigmoid) turns them into A^s_t (H x W) per time step.
- Eq. 3, time features: an MLP on [a_t, mean_t a] plus an MLP on the spatially averaged map,
  composed by addition into x^t (T x D).
- Eq. 4, time attention: the CAV layer (K values per step) and the time gate (MLP + sigmoid).
- Eq. 5-6: A^st = A^s x A^t (outer product over time), x^st reweighted by A^st.
- Eq. 7-8: three classifiers (final on the pooled reweighted x^st, CAM and CAV each pooled),
  summed BCE; the final classifier is the prediction.

`visual_linear` packs the two linear maps the visual input meets first: the 1x1 conv of Eq. 1
(first D outputs) and the first layer of the visual time MLP of Eq. 3 (last D outputs). A
spatial mean commutes with a linear map, so the time branch receives exactly W^t_v mean(v_t)
while the whole model still starts with one Linear (the contract of the explanation stage).

Ablations (paper section 4.2): `stan_audio` keeps only the audio path and the time attention
(two classifiers: final and CAV); `stan_visual` keeps only the visual path with both
attentions (three classifiers)."""

from __future__ import annotations

import torch
from torch import nn

from avexplain.models.base import Model, VisualModel, output, projection, tile, with_global_mean


class SpaceTimeAttention(nn.Module):
    """CAM/CAV layers and the space and time gates (Eq. 2 and 4)."""

    def __init__(self, st_dim, t_dim, num_classes, gate_kernel, gate_hidden, space=True):
        super().__init__()
        self.space = space
        if space:
            self.cam = nn.Linear(st_dim, num_classes)  # W_s: 1x1 conv to K class maps
            self.space_gate = nn.Conv2d(num_classes, 1, gate_kernel, padding=gate_kernel // 2)
        self.cav = nn.Linear(t_dim, num_classes)  # W_t: K class activation values per step
        self.time_gate = nn.Sequential(
            nn.Linear(num_classes, gate_hidden), nn.ReLU(), nn.Linear(gate_hidden, 1)
        )

    def space_attention(self, x_st):
        """x_st (B,T,H,W,D') -> class maps M (B,T,H,W,K) and A^s (B,T,H,W) in [0,1]."""
        maps = self.cam(x_st)
        b, t, h, w, k = maps.shape
        gate = self.space_gate(maps.reshape(b * t, h, w, k).permute(0, 3, 1, 2))
        return maps, torch.sigmoid(gate.reshape(b, t, h, w))

    def time_attention(self, x_t):
        """x_t (B,T,D) -> class values V (B,T,K) and A^t (B,T) in [0,1]."""
        values = self.cav(x_t)
        return values, torch.sigmoid(self.time_gate(values).squeeze(-1))


class STAN(VisualModel):
    """Audio-visual STAN (`stan`) and the visual-only ablation (`stan_visual`)."""

    attention_modules = ("attention.space_gate", "attention.time_gate")

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio=True):
        super().__init__(visual_dim, audio_dim, num_classes, time_steps, grid)
        d, p = cfg["embed_dim"], cfg["dropout"]
        self.name = "stan" if audio else "stan_visual"
        self.uses_audio = audio
        self.embed_dim = d
        self.visual_linear = nn.Linear(visual_dim, 2 * d)  # [W^st_v ; W^t_v], see module doc
        self.visual_act = nn.Sequential(nn.ReLU(), nn.Dropout(p))
        st_dim = d
        if audio:
            self.audio_st = projection(2 * audio_dim, d, p)  # F^st_MLP of Eq. 1
            self.audio_t = projection(2 * audio_dim, d, p)  # F^t_MLP of Eq. 3
            st_dim = 2 * d  # concatenation: D' = 2D
        self.attention = SpaceTimeAttention(
            st_dim, d, num_classes, cfg["space_gate_kernel"], cfg["time_gate_hidden"]
        )
        self.classifier = nn.Linear(st_dim, num_classes)

    def forward_features(self, visual_projected, audio):
        d = self.embed_dim
        v_st = self.visual_act(visual_projected[..., :d])  # (B,T,H,W,D)
        v_t = self.visual_act(visual_projected[..., d:].mean(dim=(2, 3)))  # (B,T,D)
        if self.uses_audio:
            a = with_global_mean(audio)
            x_st = torch.cat([v_st, tile(self.audio_st(a), self.grid)], dim=-1)
            x_t = v_t + self.audio_t(a)  # Eq. 3: composition by addition
        else:
            x_st, x_t = v_st, v_t
        maps, a_s = self.attention.space_attention(x_st)
        values, a_t = self.attention.time_attention(x_t)
        a_st = a_s * a_t[:, :, None, None]  # Eq. 5: outer product over (T) x (T,H,W)
        x_hat = x_st * a_st[..., None]  # Eq. 6
        logits = self.classifier(x_hat.mean(dim=(1, 2, 3)))
        cam_logits = maps.mean(dim=(1, 2, 3))  # CAM classifier: space-time average of M
        cav_logits = values.mean(dim=1)  # CAV classifier: time average of V
        return output(
            logits,
            space_attention=a_s,
            time_attention=a_t,
            aux_logits=[cam_logits, cav_logits],
            space_time_attention=a_st,
        )


class STANAudio(Model):
    """`stan_audio`: audio features only, time attention only (paper section 4.2)."""

    name = "stan_audio"
    uses_visual = False
    attention_modules = ("attention.time_gate",)

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__(visual_dim, audio_dim, num_classes, time_steps, grid)
        d, p = cfg["embed_dim"], cfg["dropout"]
        self.audio_st = projection(2 * audio_dim, d, p)
        self.audio_t = projection(2 * audio_dim, d, p)
        self.attention = SpaceTimeAttention(
            d, d, num_classes, cfg["space_gate_kernel"], cfg["time_gate_hidden"], space=False
        )
        self.classifier = nn.Linear(d, num_classes)

    def forward_features(self, visual, audio):
        a = with_global_mean(audio)
        x_st, x_t = self.audio_st(a), self.audio_t(a)  # (B,T,D) each
        values, a_t = self.attention.time_attention(x_t)
        logits = self.classifier((x_st * a_t[..., None]).mean(dim=1))
        return output(logits, time_attention=a_t, aux_logits=[values.mean(dim=1)])
