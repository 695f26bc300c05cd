"""The AVE paper's localization family (Tian et al., ECCV 2018), built by name: `build(...)`.

One module, parameterised models (docs/localization.md has every choice):
- `AVEL`: A, V, V-att, A+V, A+V-att of Table 1 (audio-guided visual attention over the pool5
  regions, bidirectional LSTMs, the shared segment head) and, with `weak=True`, their W-* twins
  whose video-level logits are the MIL pooling of the segment logits over time;
- `FusionAVEL`: Table 2's fusion operators (`Fusion`) at the early, late or decision stage, and
  `DMRFE`;
- `EDTCN`: the encoder-decoder temporal convolutional network on GAP visual features;
- `CrossModalEmbedding`: AVDLN (contrastive distance learning) and DCCA for Table 3.

Inputs are channels-last: visual (B,T,H,W,Dv) maps (models without attention also take GAP
vectors (B,T,Dv)), audio (B,T,Da). Segment models return `segment_logits` (B,T,C+1), background
last; weak ones also `video_logits` (B,C+1); attention ones `space_attention` (B,T,H,W).
Cross-modality models return `visual_embedding`, `audio_embedding` (B,T,d) and `distance` (B,T),
and expose `embed(visual, audio)`. `model.loss(out, targets)` takes segment targets (B,T,C+1)
(multi-hot sets; cross-modality models use their event/background split) or, for weak models,
video targets (B,C+1)."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from avexplain.config import ConfigError
from avexplain.names import (
    AUDIO_MAP_MODELS,
    AVEL_MODELS,
    FUSION_OPERATORS,
    FUSION_STAGES,
)
from avexplain.names import AVEL_NAMES as NAMES
from avexplain.names import localization_task as task_of

DEFAULTS = {
    "lstm_hidden": 128,  # per direction: the code's BiLSTMs give 256 outputs
    "attention_dim": 512,  # d of U_v, U_a
    "attention": "paper",  # "paper": Eq. 4 as printed; "code": the AVE code's broadcast
    "head_hidden": 64,
    "fusion_dim": 256,  # d_f of the early/late fusion operators (decision: C+1)
    "loss": "ce",  # "ce": cross-entropy (paper); "code": soft-margin loss on softmax outputs
    "mil_pool": "max",  # weak models: "max" (AVE code, AV-transformer) or "mean" (Eq. 7)
    "margin": 2.0,  # AVDLN contrastive margin (supplementary; cmm_train.py)
    "cml_hidden": 128,
    "cml_dim": 64,
    "leaky_slope": 0.3,  # Keras LeakyReLU default
    "dcca_ridge": 1e-4,
    "tcn_channels": [64, 96],
    "tcn_kernel": 5,
    "tcn_dropout": 0.3,
}
CHOICES = {"attention": ("paper", "code"), "loss": ("ce", "code"), "mil_pool": ("max", "mean")}
DISTANCE_EPS = 1e-7  # Keras K.epsilon() under the square root of the AVDLN distance


def settings(cfg: dict | None) -> dict:
    """DEFAULTS overridden by `cfg` (config section `avel`); unknown keys and values fail."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"config section 'avel' has unknown key(s) {unknown}")
    out = {**DEFAULTS, **cfg}
    for key, allowed in CHOICES.items():
        if out[key] not in allowed:
            raise ConfigError(f"config key 'avel.{key}' is {out[key]!r}; expected one of {allowed}")
    if out["tcn_kernel"] % 2 != 1:
        raise ConfigError(f"config key 'avel.tcn_kernel' is {out['tcn_kernel']}; must be odd")
    return out


# --- shared pieces ------------------------------------------------------------------------


def mil_pool(scores: torch.Tensor, how: str) -> torch.Tensor:
    """(B,T,K) segment scores -> (B,K) video scores: mean (004 Eq. 7) or max over time."""
    if how == "mean":
        return scores.mean(dim=1)
    if how == "max":
        return scores.amax(dim=1)
    raise ValueError(f"MIL pooling {how!r}: expected 'mean' or 'max'")


def soft_targets(targets: torch.Tensor) -> torch.Tensor:
    """Multi-hot sets -> distributions (a set of two classes gets 1/2 each)."""
    sums = targets.sum(-1, keepdim=True)
    if bool((sums <= 0).any()):
        raise ValueError("a target row has no class set (every segment is an event or background)")
    return targets / sums


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
    """Loss of (...,K) logits against (...,K) multi-hot targets, averaged over all rows.

    `ce`: cross-entropy with the normalised set as the target distribution (the paper's words).
    `code`: the AVE code's MultiLabelSoftMarginLoss applied to softmax probabilities."""
    k = logits.shape[-1]
    logits, targets = logits.reshape(-1, k), targets.reshape(-1, k).to(logits.dtype)
    if kind == "ce":
        return F.cross_entropy(logits, soft_targets(targets))
    if kind == "code":
        return F.multilabel_soft_margin_loss(F.softmax(logits, dim=-1), targets)
    raise ValueError(f"loss {kind!r}: expected 'ce' or 'code'")


def euclidean(x: torch.Tensor, y: torch.Tensor, eps: float = DISTANCE_EPS) -> torch.Tensor:
    """sqrt(max(|x - y|^2, eps)) over the last axis (cmm_train.py `euclidean_distance`)."""
    return (x - y).pow(2).sum(-1).clamp_min(eps).sqrt()


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """AVDLN Eq. 10: y D^2 + (1 - y) max(margin - D, 0)^2, averaged over the pairs."""
    same = same.to(distance.dtype)
    far = (margin - distance).clamp_min(0)
    return (same * distance.pow(2) + (1 - same) * far.pow(2)).mean()


def _inv_sqrt(cov: torch.Tensor, floor: float = 1e-12) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag(values.clamp_min(floor).rsqrt()) @ vectors.T


def _whitened_cross(h1: torch.Tensor, h2: torch.Tensor, ridge: float):
    """(Σ11^-1/2 Σ12 Σ22^-1/2, Σ11^-1/2, Σ22^-1/2, means) of paired rows h1 (m,o1), h2 (m,o2)."""
    m = h1.shape[0]
    if m < 2:
        raise ValueError("canonical correlation needs at least two pairs")
    mean1, mean2 = h1.mean(0), h2.mean(0)
    c1, c2 = h1 - mean1, h2 - mean2
    eye1 = torch.eye(h1.shape[1], dtype=h1.dtype, device=h1.device)
    eye2 = torch.eye(h2.shape[1], dtype=h2.dtype, device=h2.device)
    w1 = _inv_sqrt(c1.T @ c1 / (m - 1) + ridge * eye1)
    w2 = _inv_sqrt(c2.T @ c2 / (m - 1) + ridge * eye2)
    return w1 @ (c1.T @ c2 / (m - 1)) @ w2, w1, w2, (mean1, mean2)


def dcca_correlation(h1: torch.Tensor, h2: torch.Tensor, ridge: float) -> torch.Tensor:
    """Total canonical correlation of paired rows: the sum of the singular values (the nuclear
    norm) of Σ11^-1/2 Σ12 Σ22^-1/2 with `ridge` added to both covariances (Andrew et al. 2013)."""
    t, *_ = _whitened_cross(h1, h2, ridge)
    return torch.linalg.matrix_norm(t, ord="nuc")


def bilstm(in_dim: int, hidden: int) -> nn.LSTM:
    """One-layer bidirectional LSTM, zero initial state, batch-first (2*hidden outputs)."""
    return nn.LSTM(in_dim, hidden, num_layers=1, batch_first=True, bidirectional=True)


def xavier(*modules: nn.Module) -> None:
    """xavier_uniform on every Linear weight inside (the AVE code's init; biases stay default)."""
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)


class SegmentHead(nn.Module):
    """The shared per-segment head of att_Net: ReLU -> Linear(d, 64) -> ReLU -> Linear(64, K)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(), nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
        )
        xavier(self.net)

    def forward(self, x):
        return self.net(x)


class AudioGuidedAttention(nn.Module):
    """Audio-guided visual attention (004 Eq. 2-4, `att_Net`): a softmax over the k regions.

    x = W_f tanh(W_v U_v(v) + (W_a U_a(a)) 1^T), w = softmax(x) over regions, and the pooled
    vector is sum_i w_i v_i of the RAW region vectors (not of U_v(v)). W_v, W_a map the d hidden
    units to k rows. mode `paper` indexes the audio term by those rows and broadcasts it over the
    regions (Eq. 4 and the Lua original); `code` indexes it by region (the AVE PyTorch code)."""

    def __init__(self, region_dim: int, query_dim: int, regions: int, hidden: int, mode: str):
        super().__init__()
        if mode not in CHOICES["attention"]:
            raise ValueError(f"attention mode {mode!r}: expected one of {CHOICES['attention']}")
        self.mode = mode
        self.region_proj = nn.Linear(region_dim, hidden)  # U_v (with ReLU)
        self.query_proj = nn.Linear(query_dim, hidden)  # U_a (with ReLU)
        self.region_score = nn.Linear(hidden, regions, bias=False)  # W_v
        self.query_score = nn.Linear(hidden, regions, bias=False)  # W_a
        self.combine = nn.Linear(regions, 1, bias=False)  # W_f
        xavier(self)

    def forward(self, regions: torch.Tensor, query: torch.Tensor):
        """regions (N,k,Dr), query (N,Dq) -> pooled (N,Dr), weights (N,k)."""
        v = self.region_score(F.relu(self.region_proj(regions)))  # (N, region i, row j)
        a = self.query_score(F.relu(self.query_proj(query)))  # (N, k)
        a = a[:, None, :] if self.mode == "paper" else a[:, :, None]
        weights = F.softmax(self.combine(torch.tanh(v + a)).squeeze(-1), dim=-1)
        pooled = torch.bmm(weights.unsqueeze(1), regions).squeeze(1)
        return pooled, weights


# --- models -------------------------------------------------------------------------------


class LocalizationModel(nn.Module):
    """Input checks and the views (regions, GAP) every model of the family shares.

    `visual_forms`/`audio_forms` say which inputs a model takes: "map" (T,H,W,D) or "vector"
    (T,D); a model that only averages a map over space also takes the average itself."""

    name = "localization"
    task = "segment"
    weak = False
    uses_visual = True
    uses_audio = True
    visual_forms: tuple[str, ...] = ("map", "vector")
    audio_forms: tuple[str, ...] = ("vector",)

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio_grid=None):
        super().__init__()
        self.cfg = settings(cfg)
        self.visual_dim, self.audio_dim = visual_dim, audio_dim
        self.num_classes, self.time_steps, self.grid = num_classes, time_steps, tuple(grid)
        self.audio_grid = None if audio_grid is None else tuple(audio_grid)
        self.num_outputs = num_classes + 1  # background last

    def _check(self, kind, x, forms, grid, dim) -> int:
        t = self.time_steps
        shapes = [(t, *grid, dim)] if "map" in forms and grid is not None else []
        shapes += [(t, dim)] if "vector" in forms else []
        if x is None or tuple(x.shape[1:]) not in shapes:
            got = None if x is None else tuple(x.shape)
            want = " or ".join(str(("batch", *s)).replace("'", "") for s in shapes)
            raise ValueError(f"{self.name}: {kind} input of shape {got}, expected {want}")
        return x.shape[0]

    def check_inputs(self, visual, audio) -> None:
        batch = set()
        if self.uses_visual:
            batch.add(self._check("visual", visual, self.visual_forms, self.grid, self.visual_dim))
        if self.uses_audio:
            dims = (self.audio_grid, self.audio_dim)
            batch.add(self._check("audio", audio, self.audio_forms, *dims))
        if len(batch) > 1:
            raise ValueError(f"{self.name}: visual and audio batches differ: {sorted(batch)}")

    @staticmethod
    def gap(x: torch.Tensor) -> torch.Tensor:
        """(B,T,H,W,D) maps -> (B,T,D) global average pooling; vectors pass through."""
        return x.mean(dim=(2, 3)) if x.dim() == 5 else x

    @staticmethod
    def attend(attention: AudioGuidedAttention, maps, query):
        """Attended vectors (B,T,D) of maps (B,T,H,W,D) guided by query (B,T,Dq), and the
        weights as maps (B,T,H,W)."""
        b, t, h, w, d = maps.shape
        pooled, weights = attention(maps.reshape(b * t, h * w, d), query.reshape(b * t, -1))
        return pooled.reshape(b, t, d), weights.reshape(b, t, h, w)

    def forward(self, visual, audio):
        self.check_inputs(visual, audio)
        return self.forward_features(visual, audio)

    def forward_features(self, visual, audio):  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, out: dict, targets: torch.Tensor) -> torch.Tensor:
        """Segment models: loss of the segment logits against (B,T,C+1) targets; weak models:
        of the pooled video logits against (B,C+1) video targets."""
        if self.weak:
            if targets.dim() != 2:
                raise ValueError(
                    f"{self.name} is weakly supervised: it takes video targets (B, C+1), got "
                    f"{tuple(targets.shape)}"
                )
            return classification_loss(out["video_logits"], targets, self.cfg["loss"])
        return classification_loss(out["segment_logits"], targets, self.cfg["loss"])

    def pooled(self, segment_logits: torch.Tensor) -> dict:
        out = {"segment_logits": segment_logits}
        if self.weak:
            out["video_logits"] = mil_pool(segment_logits, self.cfg["mil_pool"])
        return out


class AVEL(LocalizationModel):
    """Table 1 (and supplementary Table 3): an audio BiLSTM and/or a visual BiLSTM, outputs
    concatenated, the shared head per segment. `weak`: W-* (video logits by MIL pooling).

    visual: None, "gap" (spatial mean of the map) or "att" (audio-guided attention; the query
    is the audio vector, or the spatial mean of an audio map). audio: None, "vector" (a_t),
    "gap" (spatial mean of an audio map, A') or "att" (visual-guided attention over the audio
    map's cells with the visual GAP vector as query, A'-att); "att" on both sides is
    co-attention. V-att has no audio LSTM but still uses the audio as its query."""

    def __init__(
        self,
        cfg,
        visual_dim,
        audio_dim,
        num_classes,
        time_steps,
        grid,
        audio_grid=None,
        *,
        audio: str | None,
        visual: str | None,
        weak: bool = False,
    ):
        super().__init__(cfg, visual_dim, audio_dim, num_classes, time_steps, grid, audio_grid)
        if (
            visual not in (None, "gap", "att")
            or audio not in (None, "vector", "gap", "att")
            or not (audio or visual)
        ):
            raise ValueError(f"AVEL: audio={audio!r}, visual={visual!r} is not a model")
        if audio in ("gap", "att") and self.audio_grid is None:
            raise ValueError(f"AVEL: audio={audio!r} needs the audio maps' grid (audio_grid)")
        c, h = self.cfg, self.cfg["lstm_hidden"]
        self.weak, self.audio, self.visual = weak, audio, visual
        self.uses_visual = visual is not None or audio == "att"
        self.uses_audio = audio is not None or visual == "att"
        self.visual_forms = ("map",) if visual == "att" else ("map", "vector")
        self.audio_forms = {
            "vector": ("vector",),
            "gap": ("map", "vector"),
            "att": ("map",),
            None: ("vector", "map"),
        }[audio]
        if visual == "att":
            k = self.grid[0] * self.grid[1]
            self.attention = AudioGuidedAttention(
                visual_dim, audio_dim, k, c["attention_dim"], c["attention"]
            )
        if audio == "att":
            k = self.audio_grid[0] * self.audio_grid[1]
            self.audio_attention = AudioGuidedAttention(
                audio_dim, visual_dim, k, c["attention_dim"], c["attention"]
            )
        self.audio_lstm = bilstm(audio_dim, h) if audio else None
        self.visual_lstm = bilstm(visual_dim, h) if visual else None
        branches = int(audio is not None) + int(visual is not None)
        self.head = SegmentHead(2 * h * branches, c["head_hidden"], self.num_outputs)

    def forward_features(self, visual, audio):
        parts, out = [], {}
        if self.audio == "att":
            a, out["audio_attention"] = self.attend(self.audio_attention, audio, self.gap(visual))
        elif self.audio is not None:
            a = self.gap(audio)
        if self.audio is not None:
            parts.append(self.audio_lstm(a)[0])
        if self.visual == "att":
            v, out["space_attention"] = self.attend(self.attention, visual, self.gap(audio))
        elif self.visual == "gap":
            v = self.gap(visual)
        if self.visual is not None:
            parts.append(self.visual_lstm(v)[0])
        return {**self.pooled(self.head(torch.cat(parts, dim=-1))), **out}


class ResidualBlock(nn.Module):
    """One DMRN block (004 Eq. 5-6 as in `TBMRF_block`): f = (U_a(h_a) + U_v(h_v)) / 2 with
    U = Linear-Tanh-Linear; h_a' = tanh(h_a + f), h_v' = tanh(h_v + f)."""

    def __init__(self, width: int):
        super().__init__()
        self.u_audio = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))
        self.u_visual = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))

    def forward(self, ha, hv):
        f = 0.5 * (self.u_audio(ha) + self.u_visual(hv))
        return torch.tanh(ha + f), torch.tanh(hv + f)


class Fusion(nn.Module):
    """z = op(x_a, x_v) for the operators of Table 2 (σ logistic, ⊙ elementwise, P linear):
    additive P_a x_a + P_v x_v; mp max(P_a x_a, P_v x_v); gated P_a x_a ⊙ σ(G_v x_v);
    mb P_a x_a ⊙ P_v x_v; gmb σ(G[x_a; x_v]) ⊙ P_a x_a ⊙ P_v x_v; gmu g ⊙ tanh(P_a x_a) +
    (1 - g) ⊙ tanh(P_v x_v) with g = σ(G[x_a; x_v]); concat [x_a; x_v]; mrn (one block)
    P_a x_a + tanh(W2_a tanh(W1_a x_a)) ⊙ tanh(W2_v tanh(W1_v x_v)); dmrn: both inputs
    projected to `width` where they differ, one `ResidualBlock`, z = (h_a' + h_v') / 2."""

    def __init__(self, op: str, audio_dim: int, visual_dim: int, width: int):
        super().__init__()
        if op not in FUSION_OPERATORS:
            raise ValueError(f"fusion operator {op!r}: expected one of {FUSION_OPERATORS}")
        self.op = op
        both = audio_dim + visual_dim
        self.out_dim = both if op == "concat" else width
        if op in ("additive", "mp", "gated", "mb", "gmb", "gmu", "mrn"):
            self.p_audio = nn.Linear(audio_dim, width)
        if op in ("additive", "mp", "mb", "gmb", "gmu"):
            self.p_visual = nn.Linear(visual_dim, width)
        if op == "gated":
            self.gate = nn.Linear(visual_dim, width)
        if op in ("gmb", "gmu"):
            self.gate = nn.Linear(both, width)
        if op == "mrn":
            self.r_audio = nn.Sequential(
                nn.Linear(audio_dim, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh()
            )
            self.r_visual = nn.Sequential(
                nn.Linear(visual_dim, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh()
            )
        if op == "dmrn":
            self.p_audio = nn.Identity() if audio_dim == width else nn.Linear(audio_dim, width)
            self.p_visual = nn.Identity() if visual_dim == width else nn.Linear(visual_dim, width)
            self.block = ResidualBlock(width)

    def forward(self, xa: torch.Tensor, xv: torch.Tensor) -> torch.Tensor:
        op = self.op
        if op == "concat":
            return torch.cat([xa, xv], dim=-1)
        if op == "additive":
            return self.p_audio(xa) + self.p_visual(xv)
        if op == "mp":
            return torch.maximum(self.p_audio(xa), self.p_visual(xv))
        if op == "gated":
            return self.p_audio(xa) * torch.sigmoid(self.gate(xv))
        if op == "mb":
            return self.p_audio(xa) * self.p_visual(xv)
        if op == "gmb":
            gate = torch.sigmoid(self.gate(torch.cat([xa, xv], dim=-1)))
            return gate * self.p_audio(xa) * self.p_visual(xv)
        if op == "gmu":
            gate = torch.sigmoid(self.gate(torch.cat([xa, xv], dim=-1)))
            return gate * torch.tanh(self.p_audio(xa)) + (1 - gate) * torch.tanh(self.p_visual(xv))
        if op == "mrn":
            return self.p_audio(xa) + self.r_audio(xa) * self.r_visual(xv)
        ha, hv = self.block(self.p_audio(xa), self.p_visual(xv))
        return 0.5 * (ha + hv)


class FusionAVEL(LocalizationModel):
    """Table 2: audio a_t and the attended visual v_t^att (A+V-att's inputs) fused by `op` at
    `stage`: early (inputs -> one BiLSTM -> head), late (the two BiLSTM outputs -> head) or
    decision (each modality's BiLSTM + head -> fused C+1 scores, a Linear back to C+1 where the
    fused width differs). Concat at the late stage is A+V-att."""

    visual_forms = ("map",)

    def __init__(
        self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, *, op: str, stage: str
    ):
        super().__init__(cfg, visual_dim, audio_dim, num_classes, time_steps, grid)
        if stage not in FUSION_STAGES:
            raise ValueError(f"fusion stage {stage!r}: expected one of {FUSION_STAGES}")
        c, h, k = self.cfg, self.cfg["lstm_hidden"], self.num_outputs
        self.op, self.stage = op, stage
        self.attention = AudioGuidedAttention(
            visual_dim, audio_dim, self.grid[0] * self.grid[1], c["attention_dim"], c["attention"]
        )
        self.final = None
        if stage == "early":
            self.fusion = Fusion(op, audio_dim, visual_dim, c["fusion_dim"])
            self.lstm = bilstm(self.fusion.out_dim, h)
            self.head = SegmentHead(2 * h, c["head_hidden"], k)
        else:
            self.audio_lstm, self.visual_lstm = bilstm(audio_dim, h), bilstm(visual_dim, h)
        if stage == "late":
            self.fusion = Fusion(op, 2 * h, 2 * h, c["fusion_dim"])
            self.head = SegmentHead(self.fusion.out_dim, c["head_hidden"], k)
        if stage == "decision":
            self.audio_head = SegmentHead(2 * h, c["head_hidden"], k)
            self.visual_head = SegmentHead(2 * h, c["head_hidden"], k)
            self.fusion = Fusion(op, k, k, k)
            if self.fusion.out_dim != k:
                self.final = nn.Linear(self.fusion.out_dim, k)

    def forward_features(self, visual, audio):
        v, attention = self.attend(self.attention, visual, audio)
        if self.stage == "early":
            logits = self.head(self.lstm(self.fusion(audio, v))[0])
        elif self.stage == "late":
            logits = self.head(self.fusion(self.audio_lstm(audio)[0], self.visual_lstm(v)[0]))
        else:
            sa = self.audio_head(self.audio_lstm(audio)[0])
            sv = self.visual_head(self.visual_lstm(v)[0])
            logits = self.fusion(sa, sv)
            if self.final is not None:
                logits = self.final(logits)
        return {**self.pooled(logits), "space_attention": attention}


class DMRFE(LocalizationModel):
    """DMRN fusion ensemble (004 §6.2, late): two residual blocks with their own weights; the
    audio branch's tanh(h_a + f_a) and the visual branch's tanh(h_v + f_v) each get a head, and
    the prediction is the mean of the two probabilities (logits: its log). Loss: sum of both."""

    visual_forms = ("map",)

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__(cfg, visual_dim, audio_dim, num_classes, time_steps, grid)
        c, h, k = self.cfg, self.cfg["lstm_hidden"], self.num_outputs
        self.attention = AudioGuidedAttention(
            visual_dim, audio_dim, self.grid[0] * self.grid[1], c["attention_dim"], c["attention"]
        )
        self.audio_lstm, self.visual_lstm = bilstm(audio_dim, h), bilstm(visual_dim, h)
        self.audio_block, self.visual_block = ResidualBlock(2 * h), ResidualBlock(2 * h)
        self.audio_head = SegmentHead(2 * h, c["head_hidden"], k)
        self.visual_head = SegmentHead(2 * h, c["head_hidden"], k)

    def forward_features(self, visual, audio):
        v, attention = self.attend(self.attention, visual, audio)
        ha, hv = self.audio_lstm(audio)[0], self.visual_lstm(v)[0]
        la = self.audio_head(self.audio_block(ha, hv)[0])
        lv = self.visual_head(self.visual_block(ha, hv)[1])
        mean_prob = 0.5 * (F.softmax(la, -1) + F.softmax(lv, -1))
        return {
            "segment_logits": mean_prob.clamp_min(1e-12).log(),
            "branch_logits": [la, lv],
            "space_attention": attention,
        }

    def loss(self, out, targets):
        kind = self.cfg["loss"]
        return sum(classification_loss(lg, targets, kind) for lg in out["branch_logits"])


class EDTCN(LocalizationModel):
    """ED-TCN (Lea et al. 2017, official `ED_TCN`) on GAP visual features. Encoder per layer:
    Conv1d 'same' -> channel dropout -> ReLU -> channel norm -> max-pool 2; decoder: upsample 2
    -> Conv1d -> channel dropout -> ReLU -> channel norm; a per-step Linear to C+1. T is padded
    with zeros to a multiple of 2^layers and the output cropped back to T."""

    uses_audio = False

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__(cfg, visual_dim, audio_dim, num_classes, time_steps, grid)
        channels, k = list(self.cfg["tcn_channels"]), self.cfg["tcn_kernel"]
        self.encoder = nn.ModuleList()
        prev = visual_dim
        for n in channels:
            self.encoder.append(nn.Conv1d(prev, n, k, padding=k // 2))
            prev = n
        self.decoder = nn.ModuleList()
        for n in reversed(channels):
            self.decoder.append(nn.Conv1d(prev, n, k, padding=k // 2))
            prev = n
        self.dropout = nn.Dropout1d(self.cfg["tcn_dropout"])  # SpatialDropout1D: whole channels
        self.classifier = nn.Linear(prev, self.num_outputs)

    @staticmethod
    def channel_norm(x: torch.Tensor) -> torch.Tensor:
        """x / (max over channels of |x| + 1e-5), per time step (official `channel_normalization`)."""
        return x / (x.abs().amax(dim=1, keepdim=True) + 1e-5)

    def forward_features(self, visual, audio):
        x = self.gap(visual).transpose(1, 2)  # (B, D, T)
        t = x.shape[-1]
        step = 2 ** len(self.encoder)
        x = F.pad(x, (0, -t % step))
        for conv in self.encoder:
            x = F.max_pool1d(self.channel_norm(F.relu(self.dropout(conv(x)))), 2)
        for conv in self.decoder:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.channel_norm(F.relu(self.dropout(conv(x))))
        return {"segment_logits": self.classifier(x.transpose(1, 2)[:, :t])}


class CrossModalEmbedding(LocalizationModel):
    """Table 3: a visual tower (GAP) and an audio tower, each Linear(·,128) -> LeakyReLU(0.3) ->
    Linear(128,64) (Glorot weights, zero biases, the Keras defaults of cmm_train.py).

    `contrastive` (AVDLN): trained on same-time segment pairs, y = 1 inside the event, with the
    contrastive loss (margin `margin`). `dcca`: trained on the event pairs only, maximising their
    total canonical correlation; `fit_cca` then fits a linear CCA on the training outputs and
    `embed` returns the canonical projections (until then, the raw tower outputs)."""

    task = "cml"

    def __init__(
        self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, *, objective: str
    ):
        super().__init__(cfg, visual_dim, audio_dim, num_classes, time_steps, grid)
        if objective not in ("contrastive", "dcca"):
            raise ValueError(f"objective {objective!r}: expected 'contrastive' or 'dcca'")
        self.objective = objective
        c = self.cfg
        self.visual_tower = self._tower(visual_dim, c["cml_hidden"], c["cml_dim"], c["leaky_slope"])
        self.audio_tower = self._tower(audio_dim, c["cml_hidden"], c["cml_dim"], c["leaky_slope"])
        d = c["cml_dim"]
        if objective == "dcca":
            # the fitted linear CCA (zero columns beyond its rank): x -> (x - mean) @ proj
            for side in ("visual", "audio"):
                self.register_buffer(f"cca_{side}_mean", torch.zeros(d))
                self.register_buffer(f"cca_{side}_proj", torch.zeros(d, d))
            self.register_buffer("cca_fitted", torch.zeros((), dtype=torch.bool))

    @staticmethod
    def _tower(in_dim, hidden, out_dim, slope):
        tower = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.LeakyReLU(slope), nn.Linear(hidden, out_dim)
        )
        for layer in (tower[0], tower[2]):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        return tower

    def towers(self, visual, audio):
        return self.visual_tower(self.gap(visual)), self.audio_tower(audio)

    def forward_features(self, visual, audio):
        rv, ra = self.towers(visual, audio)
        return {"visual_embedding": rv, "audio_embedding": ra, "distance": euclidean(rv, ra)}

    @staticmethod
    def in_event(targets: torch.Tensor) -> torch.Tensor:
        """(B,T) event/background of segment targets (B,T,C+1); (B,T) 0/1 targets pass."""
        return targets[..., :-1].sum(-1) > 0 if targets.dim() == 3 else targets > 0.5

    def loss(self, out, targets):
        same = self.in_event(targets)
        if self.objective == "contrastive":
            return contrastive_loss(out["distance"], same, self.cfg["margin"])
        if int(same.sum()) < 2:
            raise ValueError("dcca: a batch needs at least two event segments")
        rv, ra = out["visual_embedding"][same], out["audio_embedding"][same]
        return -dcca_correlation(rv, ra, self.cfg["dcca_ridge"])

    @torch.no_grad()
    def fit_cca(
        self, visual_embedding: torch.Tensor, audio_embedding: torch.Tensor, tol: float = 1e-6
    ) -> int:
        """Fit the linear CCA on paired tower outputs (M, d); returns its rank (kept columns)."""
        if self.objective != "dcca":
            raise ValueError(f"{self.name}: fit_cca is for the dcca objective")
        ev, ea = visual_embedding.double(), audio_embedding.double()
        t, wv, wa, (mv, ma) = _whitened_cross(ev, ea, self.cfg["dcca_ridge"])
        u, s, vh = torch.linalg.svd(t)
        rank = int((s > tol).sum())
        pv, pa = torch.zeros_like(wv), torch.zeros_like(wa)
        pv[:, :rank] = (wv @ u)[:, :rank]
        pa[:, :rank] = (wa @ vh.T)[:, :rank]
        for name, value in (
            ("visual_mean", mv),
            ("audio_mean", ma),
            ("visual_proj", pv),
            ("audio_proj", pa),
        ):
            getattr(self, f"cca_{name}").copy_(value.to(self.cca_fitted.device))
        self.cca_fitted.fill_(True)
        return rank

    def embed(self, visual, audio):
        """(B,T,d) visual and audio embeddings whose Euclidean distance localizes."""
        self.check_inputs(visual, audio)
        rv, ra = self.towers(visual, audio)
        if self.objective == "dcca" and bool(self.cca_fitted):
            rv = (rv - self.cca_visual_mean) @ self.cca_visual_proj
            ra = (ra - self.cca_audio_mean) @ self.cca_audio_proj
        return rv, ra


# --- registry -----------------------------------------------------------------------------

_AVEL_KINDS = {
    "a": {"audio": "vector", "visual": None},
    "v": {"audio": None, "visual": "gap"},
    "v_att": {"audio": None, "visual": "att"},
    "av": {"audio": "vector", "visual": "gap"},
    "av_att": {"audio": "vector", "visual": "att"},
}
_AUDIO_MAP_KINDS = {  # supplementary Table 3: VGGish's last pooling maps as the audio input
    "a_map": {"audio": "gap", "visual": None},
    "a_map_att": {"audio": "att", "visual": None},
    "a_map_v": {"audio": "gap", "visual": "gap"},
    "a_map_v_coatt": {"audio": "att", "visual": "att"},
}
REGISTRY = {name: partial(AVEL, **kind) for name, kind in _AVEL_KINDS.items()}
REGISTRY.update({f"w_{n}": partial(AVEL, weak=True, **k) for n, k in _AVEL_KINDS.items()})
REGISTRY.update({name: partial(AVEL, **kind) for name, kind in _AUDIO_MAP_KINDS.items()})
REGISTRY.update(
    {
        f"fusion_{op}_{stage}": partial(FusionAVEL, op=op, stage=stage)
        for op in FUSION_OPERATORS
        for stage in FUSION_STAGES
    }
)
REGISTRY["dmrfe"] = DMRFE
REGISTRY["ed_tcn"] = EDTCN
REGISTRY["avdln"] = partial(CrossModalEmbedding, objective="contrastive")
REGISTRY["dcca"] = partial(CrossModalEmbedding, objective="dcca")
assert list(_AVEL_KINDS) == AVEL_MODELS and list(_AUDIO_MAP_KINDS) == AUDIO_MAP_MODELS
assert sorted(REGISTRY) == sorted(NAMES), "avexplain.names.AVEL_NAMES lists the models of REGISTRY"

__all__ = ["NAMES", "REGISTRY", "build", "settings", "mil_pool", "contrastive_loss"]


def build(
    name: str,
    cfg: dict | None,
    visual_dim: int,
    audio_dim: int,
    num_classes: int,
    time_steps: int,
    grid: tuple[int, int],
    audio_grid: tuple[int, int] | None = None,
) -> LocalizationModel:
    """A freshly initialised localization model `name` (one of NAMES); `cfg` is the `avel`
    config section (DEFAULTS fill what it omits); `num_classes` counts the event classes, the
    models add the background. `audio_grid` (Ha, Wa) is the grid of audio maps, needed by the
    supplementary Table 3 models (`a_map*`) only. The model's `task` is `segment` or `cml`."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown localization model '{name}'; expected one of {NAMES}")
    extra = {}
    if name in AUDIO_MAP_MODELS:
        if audio_grid is None:
            raise ConfigError(f"localization model '{name}' takes audio maps: give audio_grid")
        extra["audio_grid"] = tuple(audio_grid)
    model = REGISTRY[name](
        cfg, visual_dim, audio_dim, num_classes, time_steps, tuple(grid), **extra
    )
    model.name = name
    assert model.task == task_of(name)
    return model
