"""The AV-transformer family (paper 002): region encoders, co-attentions and segment classifiers
as one parameterised model `AVT`, plus the DAM reconstruction (spec 5.2), built by name.

Inputs as the AVEL family: visual pool5 maps (B, T, H, W, Dv) (models without region attention
also take GAP vectors (B, T, Dv)), audio embeddings (B, T, Da); R = H*W regions per segment. A
grid model is encoder -> pooling -> classifier (names: avexplain.names):

- Region MLP (paper 4.2): every pool5 region through Linear(Dv -> D) + ReLU, D = 128.
- Encoders: `mlp` (nothing more), `conv3d` (3x3x3 over T, H, W), `lstm` (a BiLSTM per location
  over time), `transformer` and its ablations (Eq. 1-2, `AVTransformer`), `raw` (the pool5
  vectors themselves, no MLP: AVEL's input).
- Poolings over the regions of a segment: `gap` (mean), `ag` (AVEL's audio-guided attention,
  avel.AudioGuidedAttention), `avol` (instance attention, Eq. 3-4, `InstanceAttention`). The
  weights come from the encoded regions; the vectors they pool are the region MLP outputs
  v_r^t, as Eq. 4 is written (`pool_source`: "encoded" pools the encoder outputs, "pool5" the
  raw pool5 vectors, which gives the classifier AVEL's 512-d visual input).
- Classifiers over the T segments (`SegmentClassifier`): `mlp` (per segment), `lstm` (one
  BiLSTM over [a; v]), `avel` (a BiLSTM per modality, concatenated), `avsdn` (AVEL's encoders
  plus an LSTM decoder started from their final states, spec 5.1). The BiLSTMs and the segment
  head are AVEL's (avel.bilstm, avel.SegmentHead); so are the input checks, the loss and the MIL
  pooling (avel.LocalizationModel).

Output dict: `segment_logits` (B, T, C+1; background last), `video_logits` (B, C+1; weak models:
MIL pooling over time, max by default), `space_attention` (B, T, H, W: the co-attention's
weights; absent for GAP) and, with a transformer encoder, `transformer_attention` (B, T, R, R:
the row softmax of Eq. 2). docs/localization.md records how the equations are read."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from avexplain.config import ConfigError
from avexplain.models.avel import DEFAULTS as AVEL_DEFAULTS
from avexplain.models.avel import AudioGuidedAttention, LocalizationModel, SegmentHead, bilstm
from avexplain.names import AVT_NAMES as NAMES
from avexplain.names import AVT_SPECS as SPECS
from avexplain.names import AVT_TRANSFORMER_SWITCHES as TRANSFORMER_SWITCHES
from avexplain.names import AvtSpec as Spec
from avexplain.names import avt_parse as parse

__all__ = [
    "AVT",
    "AVTransformer",
    "DAM",
    "DEFAULTS",
    "InstanceAttention",
    "NAMES",
    "SPECS",
    "SegmentClassifier",
    "build",
    "settings",
    "temporal_window",
]

DEFAULTS = {
    "dim": 128,  # D: region MLP output, transformer and instance-attention width (paper 4.2)
    "similarity": "dot",  # instance attention: "dot" (Eq. 3) or "cosine" (AVOL's wording)
    "pool_source": "regions",  # pooled: region MLP outputs (Eq. 4), "encoded" or "pool5"
    "residual": True,  # v~ = v + context (non-local block); False: the context alone
    "scale": False,  # divide Attn by sqrt(D) (the paper does not)
    "mlp_hidden": 128,  # the MLP classifier's hidden width
}
CHOICES = {"similarity": ("dot", "cosine"), "pool_source": ("regions", "encoded", "pool5")}


def settings(cfg: dict | None) -> tuple[dict, dict]:
    """Split config section `avt` into this family's options (DEFAULTS filled in) and the AVEL
    options it shares (LSTM width, AG attention, head, loss, MIL pooling; avel.DEFAULTS)."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(DEFAULTS) - set(AVEL_DEFAULTS))
    if unknown:
        raise ConfigError(f"config section 'avt' has unknown key(s) {unknown}")
    own = {**DEFAULTS, **{k: v for k, v in cfg.items() if k in DEFAULTS}}
    for key, allowed in CHOICES.items():
        if own[key] not in allowed:
            raise ConfigError(f"config key 'avt.{key}' is {own[key]!r}; expected one of {allowed}")
    return own, {k: v for k, v in cfg.items() if k in AVEL_DEFAULTS}


def temporal_window(time_steps: int, intra: bool, inter: bool, device=None) -> torch.Tensor:
    """(T, T) row-stochastic weights of the frames k whose regions segment t attends to:
    k = t when `intra`, k = t-1 and t+1 when `inter`. Eq. 1 sums over the window; we average,
    so the two boundary segments (one neighbour missing) stay on the scale of the others."""
    steps = torch.arange(time_steps, device=device)
    gap = (steps[:, None] - steps[None, :]).abs()
    mask = ((gap == 0) & intra) | ((gap == 1) & inter)
    counts = mask.sum(1, keepdim=True)
    if (counts == 0).any():
        raise ValueError(
            f"AV-transformer window (intra={intra}, inter={inter}) is empty for T={time_steps}"
        )
    return mask.float() / counts


class AVTransformer(nn.Module):
    """Eq. 1-2 on region features v (B, T, R, D) and audio a (B, T, D).

    Attn^t_{r,i} = (theta(v_r^t) + a^t) . key_i^t with key_i^t = mean_{k in K(t)} phi(v_i^k);
    every row r gets a softmax over the regions i. The value term of Eq. 2 as printed sums the
    softmax over i and multiplies the query's own vector, which returns v_r^t unchanged; we read
    it as the non-local block the paper cites: values g_i^t = mean_{k in K(t)} v_i^k over the
    key frames, v~_r^t = v_r^t + sum_i softmax_i(Attn^t_{r,i}) g_i^t (`residual=False` drops
    the v_r^t). `intra`/`inter` choose K(t) (temporal_window); `audio` adds a^t to the query."""

    def __init__(self, dim: int, intra=True, inter=True, audio=True, residual=True, scale=False):
        super().__init__()
        self.intra, self.inter, self.audio = intra, inter, audio
        self.residual, self.scale = residual, scale
        self.theta = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.phi = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        window = temporal_window(v.shape[1], self.intra, self.inter, v.device)
        keys = torch.einsum("tk,bkid->btid", window, self.phi(v))
        values = torch.einsum("tk,bkid->btid", window, v)
        queries = self.theta(v)
        if self.audio:
            queries = queries + a[:, :, None, :]
        scores = torch.einsum("btrd,btid->btri", queries, keys)
        if self.scale:
            scores = scores / math.sqrt(v.shape[-1])
        attention = scores.softmax(-1)
        context = torch.einsum("btri,btid->btrd", attention, values)
        return (v + context if self.residual else context), attention


class InstanceAttention(nn.Module):
    """AVOL co-attention (Eq. 3-4): M^t = softmax over regions of sim(v~_r^t, a^t), then
    v_att^t = sum_r M_r^t u_r^t. `similarity`: "dot" (Eq. 3) or "cosine" (AVOL's wording) with a
    learnable inverse temperature, without which a 25-49-way softmax of values in [-1, 1] is
    nearly uniform. An audio projection is added only when the widths differ."""

    def __init__(self, dim: int, audio_dim: int, similarity: str = "dot"):
        super().__init__()
        if similarity not in ("dot", "cosine"):
            raise ValueError(f"instance attention similarity '{similarity}': dot or cosine")
        self.similarity = similarity
        self.audio = nn.Identity() if audio_dim == dim else nn.Linear(audio_dim, dim)
        if similarity == "cosine":
            self.log_inverse_temperature = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, keys, values, audio):
        """keys (B, T, R, D), values (B, T, R, Dv), audio (B, T, Da) -> pooled (B, T, Dv) and the
        weights M (B, T, R)."""
        a = self.audio(audio)
        if self.similarity == "cosine":
            scores = F.cosine_similarity(keys, a[:, :, None, :], dim=-1)
            scores = scores * self.log_inverse_temperature.exp()
        else:
            scores = torch.einsum("btrd,btd->btr", keys, a)
        weights = scores.softmax(-1)
        return torch.einsum("btr,btrd->btd", weights, values), weights


class SegmentClassifier(nn.Module):
    """Per-segment scores (B, T, C+1) from audio (B, T, Da) and/or pooled visual (B, T, Dv).

    `mlp`: [a; v] -> Linear(-> mlp_hidden) + ReLU -> Linear(-> C+1), no temporal model. `lstm`:
    one BiLSTM over [a; v] -> head. `avel`: a BiLSTM per modality, outputs concatenated -> head.
    `avsdn` (reconstruction): AVEL's encoders; a decoder LSTM whose input at t is the encoders'
    output e_t (local) and whose initial state is the concatenation of the encoders' final
    states, both directions (global), so its width equals e_t's -> head. Head: AVEL's
    SegmentHead; BiLSTMs: AVEL's (`lstm_hidden` per direction)."""

    def __init__(
        self,
        kind: str,
        input_dims: list[int],
        num_outputs: int,
        lstm_hidden: int = AVEL_DEFAULTS["lstm_hidden"],
        head_hidden: int = AVEL_DEFAULTS["head_hidden"],
        mlp_hidden: int = DEFAULTS["mlp_hidden"],
    ):
        super().__init__()
        self.kind = kind
        total = sum(input_dims)
        if kind == "mlp":
            self.net = nn.Sequential(
                nn.Linear(total, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, num_outputs)
            )
            return
        if kind == "lstm":
            self.encoders = nn.ModuleList([bilstm(total, lstm_hidden)])
        elif kind in ("avel", "avsdn"):
            self.encoders = nn.ModuleList([bilstm(d, lstm_hidden) for d in input_dims])
        else:
            raise ValueError(f"unknown segment classifier '{kind}'")
        width = 2 * lstm_hidden * len(self.encoders)
        if kind == "avsdn":
            self.decoder = nn.LSTM(width, width, num_layers=1, batch_first=True)
        self.head = SegmentHead(width, head_hidden, num_outputs)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.kind == "mlp":
            return self.net(torch.cat(inputs, -1))
        if self.kind == "lstm":
            inputs = [torch.cat(inputs, -1)]
        runs = [lstm(x) for lstm, x in zip(self.encoders, inputs, strict=True)]
        encoded = torch.cat([output for output, _ in runs], -1)
        if self.kind == "avsdn":
            # final (h, c) of each BiLSTM: (2 directions, B, H) -> (B, 2H); then the modalities
            h0 = torch.cat([torch.cat(list(h), -1) for _, (h, _) in runs], -1)[None]
            c0 = torch.cat([torch.cat(list(c), -1) for _, (_, c) in runs], -1)[None]
            encoded, _ = self.decoder(encoded, (h0.contiguous(), c0.contiguous()))
        return self.head(encoded)


class RegionEncoder(nn.Module):
    """Region MLP + the encoder of Table 2/3 -> (regions u (B,T,R,Du), encoded (B,T,R,De))."""

    def __init__(self, kind, visual_dim, audio_dim, dim, grid, residual=True, scale=False):
        super().__init__()
        self.kind, self.grid = kind, tuple(grid)
        if kind == "raw":
            self.out_dim = visual_dim
            return
        self.out_dim = dim
        self.mlp = nn.Sequential(nn.Linear(visual_dim, dim), nn.ReLU())
        if kind == "conv3d":
            self.conv = nn.Sequential(nn.Conv3d(dim, dim, 3, padding=1), nn.ReLU())
        elif kind == "lstm":
            self.lstm = bilstm(dim, dim // 2)  # both directions, like the 3-frame window
        elif kind in TRANSFORMER_SWITCHES:
            intra, inter, audio = TRANSFORMER_SWITCHES[kind]
            # the ablations without audio get no projection (no unused parameters)
            width_differs = audio and audio_dim != dim
            self.audio = nn.Linear(audio_dim, dim) if width_differs else nn.Identity()
            self.transformer = AVTransformer(dim, intra, inter, audio, residual, scale)
        elif kind != "mlp":
            raise ValueError(f"unknown region encoder '{kind}'")

    def forward(self, visual, audio):
        b, t, h, w, _ = visual.shape
        if self.kind == "raw":
            regions = visual.reshape(b, t, h * w, -1)
            return regions, regions, None
        regions = self.mlp(visual)  # (B, T, H, W, D)
        encoded, attention = regions, None
        if self.kind == "conv3d":
            encoded = self.conv(regions.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        elif self.kind == "lstm":
            series = regions.permute(0, 2, 3, 1, 4).reshape(b * h * w, t, -1)
            series = self.lstm(series)[0].reshape(b, h, w, t, -1)
            encoded = series.permute(0, 3, 1, 2, 4)
        flat = regions.reshape(b, t, h * w, -1)
        encoded = encoded.reshape(b, t, h * w, -1)
        if self.kind in TRANSFORMER_SWITCHES:
            encoded, attention = self.transformer(flat, self.audio(audio))
        return flat, encoded, attention


class AVT(LocalizationModel):
    """One grid model of the family (module doc); `spec` from avexplain.names. Input checks,
    the loss (segment targets; weak: video targets) and the MIL pooling are AVEL's."""

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid, *, spec: Spec):
        own, shared = settings(cfg)
        super().__init__(shared, visual_dim, audio_dim, num_classes, time_steps, grid)
        if spec.kind != "grid":
            raise ValueError(f"AVT builds grid models; {spec.name} is {spec.kind}")
        self.spec, self.name, self.weak, self.options = spec, spec.name, spec.weak, own
        self.uses_audio = spec.modality != "visual"
        self.uses_visual = spec.modality != "audio"
        self.gap_only = (spec.encoder, spec.pooling) == ("raw", "gap")
        if not self.gap_only:
            self.visual_forms = ("map",)  # region encoders and attention need the maps
        dims = [audio_dim] if self.uses_audio else []
        if self.uses_visual:
            self.encoder = RegionEncoder(
                spec.encoder, visual_dim, audio_dim, own["dim"], grid, own["residual"], own["scale"]
            )
            out = self.encoder.out_dim  # the region MLP and every encoder keep D (raw: Dv)
            regions = self.grid[0] * self.grid[1]
            if spec.pooling == "ag":
                self.pooling = AudioGuidedAttention(
                    out, audio_dim, regions, self.cfg["attention_dim"], self.cfg["attention"]
                )
            elif spec.pooling == "avol":
                self.pooling = InstanceAttention(out, audio_dim, own["similarity"])
            dims.append(visual_dim if own["pool_source"] == "pool5" else out)
        self.classifier = SegmentClassifier(
            spec.classifier,
            dims,
            self.num_outputs,
            self.cfg["lstm_hidden"],
            self.cfg["head_hidden"],
            own["mlp_hidden"],
        )

    def pool(self, encoded, values, audio):
        """The co-attention: weights from the encoded regions, pooled `values` (B,T,R,Dv)."""
        if self.spec.pooling == "avol":
            return self.pooling(encoded, values, audio)
        b, t, r, _ = encoded.shape
        _, weights = self.pooling(encoded.reshape(b * t, r, -1), audio.reshape(b * t, -1))
        weights = weights.reshape(b, t, r)
        return torch.einsum("btr,btrd->btd", weights, values), weights

    def forward_features(self, visual, audio) -> dict:
        inputs, space, transformer = [], None, None
        if self.uses_audio:
            inputs.append(audio)
        if self.uses_visual and self.gap_only:
            inputs.append(self.gap(visual))
        elif self.uses_visual:
            regions, encoded, transformer = self.encoder(visual, audio)
            source = self.options["pool_source"]
            values = {"regions": regions, "encoded": encoded}.get(source)
            if values is None:  # pool5: the input maps themselves
                values = visual.reshape(*regions.shape[:3], -1)
            if self.spec.pooling == "gap":
                inputs.append(values.mean(2))
            else:
                pooled, weights = self.pool(encoded, values, audio)
                space = weights.reshape(*weights.shape[:2], *self.grid)
                inputs.append(pooled)
        out = self.pooled(self.classifier(inputs))
        if space is not None:
            out["space_attention"] = space
        if transformer is not None:
            out["transformer_attention"] = transformer
        return out


class DAM(LocalizationModel):
    """Dual Attention Matching (Wu et al., ICCV 2019), a reconstruction from its description
    (no code was found; spec 5.2). Per modality a BiLSTM over the segments (audio: VGGish; visual:
    GAP of pool5); a self-attention pooling over time gives each modality's global event vector
    g; each global vector is matched with every local segment of the other modality,
    s_t^v = sigmoid(g^a . h_t^v / sqrt(d)) and s_t^a = sigmoid(g^v . h_t^a / sqrt(d)); the event
    relevance is r_t = (s_t^a + s_t^v) / 2 and the video's category comes from [g^a; g^v].
    A segment is labelled with the video's category when r_t >= 0.5, else background; the
    segment logits encode exactly that rule (see `forward_features`). Supervised only."""

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        _, shared = settings(cfg)
        super().__init__(shared, visual_dim, audio_dim, num_classes, time_steps, grid)
        self.name = "avt_dam"
        hidden = self.cfg["lstm_hidden"]
        width = 2 * hidden
        self.audio_lstm, self.visual_lstm = bilstm(audio_dim, hidden), bilstm(visual_dim, hidden)
        self.audio_pool = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
        self.visual_pool = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
        self.category = nn.Linear(2 * width, num_classes)

    @staticmethod
    def _global(h, pool):
        return torch.einsum("bt,btd->bd", pool(h).squeeze(-1).softmax(-1), h)

    def forward_features(self, visual, audio) -> dict:
        h_a = self.audio_lstm(audio)[0]
        h_v = self.visual_lstm(self.gap(visual))[0]
        g_a, g_v = self._global(h_a, self.audio_pool), self._global(h_v, self.visual_pool)
        root = math.sqrt(h_a.shape[-1])
        s_v = torch.einsum("bd,btd->bt", g_a, h_v) / root
        s_a = torch.einsum("bd,btd->bt", g_v, h_a) / root
        relevance = 0.5 * (torch.sigmoid(s_a) + torch.sigmoid(s_v))
        category_logits = self.category(torch.cat([g_a, g_v], -1))
        # log r_t + log p(c) - max_c log p(c) for events, log(1 - r_t) for background: the
        # argmax is the video's top category iff r_t >= 0.5, DAM's inference rule
        log_p = category_logits.log_softmax(-1)
        events = (log_p - log_p.amax(-1, keepdim=True))[:, None, :]
        events = events + relevance.clamp_min(1e-6).log()[:, :, None]
        background = (1 - relevance).clamp_min(1e-6).log()[:, :, None]
        return {
            "segment_logits": torch.cat([events, background], -1),
            "relevance": relevance,
            "category_logits": category_logits,
        }

    def loss(self, out: dict, targets: torch.Tensor) -> torch.Tensor:
        """BCE of r_t against event/background of each segment + CE of the video category
        (targets: (B, T, C+1) segment targets, background last; the category target is the
        normalised class mass of the video's event segments; all-background videos add none)."""
        is_event = 1 - targets[..., -1].clamp(0, 1)
        relevance = F.binary_cross_entropy(out["relevance"].clamp(1e-6, 1 - 1e-6), is_event)
        mass = targets[..., :-1].sum(1)
        video = mass / mass.sum(-1, keepdim=True).clamp_min(1e-8)
        category = -(video * out["category_logits"].log_softmax(-1)).sum(-1).mean()
        return relevance + category


def build(
    name: str,
    cfg: dict | None,
    visual_dim: int,
    audio_dim: int,
    num_classes: int,
    time_steps: int,
    grid: tuple[int, int],
) -> LocalizationModel:
    """A freshly initialised family model `name` (any grid point of avexplain.names; the
    tables use NAMES); `cfg` is the config section `avt` (DEFAULTS and avel.DEFAULTS fill what
    it omits); `num_classes` counts the event classes, the models add the background."""
    try:
        spec = parse(name)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if spec.kind == "dam":
        return DAM(cfg, visual_dim, audio_dim, num_classes, time_steps, tuple(grid))
    return AVT(cfg, visual_dim, audio_dim, num_classes, time_steps, tuple(grid), spec=spec)
