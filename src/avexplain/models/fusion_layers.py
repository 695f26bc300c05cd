"""Event-specific audio-visual fusion layers (Senocak et al.) and their baselines.

One parameterised module, `FusionLayers`, holds any subset of the five layers on per-step
visual (B, T, Dv) and audio (B, T, Da) features, each stream first projected to a common width
D. Every layer pools the concatenation [z^V_t; z^A_t] over a different set of steps and has its
own linear classifier:

- `continuous`: mean over all T steps;
- `instant`: mean over the k steps of highest audio-visual agreement z^V_t . z^A_t;
- `onset`: mean over the steps flagged by an audio-onset mask (B, T); a video without onsets
  falls back to the continuous (or instant) pooling, and the output says which videos did;
- `visual`: the continuous mean with the audio half zeroed, i.e. a classifier on mean_t z^V_t;
- `audio`: the same with the visual half zeroed.

The zeroed half of the visual/audio layers contributes nothing to a linear classifier but its
bias, so those layers classify the one stream they keep (same function, half the weights).

Registered models (`build(name, cfg, visual_dim, audio_dim, num_classes, time_steps)`):
`fusion_layers` (all five), `naive_av` (continuous alone = late concatenation), `uni_audio`
(audio alone) and `uni_vision` (visual alone). Each returns a dict with `logits` (B, C) and
`layer_logits` (B, L, C), L = number of its layers; `logits` of the five-layer model is the mean
of its layers' logits (a convenience for score-based metrics; the paper's prediction is the vote
in `avexplain.training.fusion_readouts`). The loss is single-label cross-entropy summed over layers.

`EndToEnd` is the paper's own recipe as an option: MC3-18 (`VideoTrunk`) on raw frames at
`steps_per_second` and the paper's audio network (`AudioCNN`) on log-mel spectrograms, trained
with the same head (`avexplain.training.fusion_layers.load_clip` reads its inputs from a
canonical clip); `recipe` describes a model for metrics.json. docs/fusion_layers.md
lists every choice the paper leaves open."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
import torchvision
from torch import nn

from avexplain.names import FUSION_LAYER_MODELS, FUSION_LAYERS

LAYERS = FUSION_LAYERS  # continuous, instant, onset, visual, audio: the order of layer_logits
STREAMS = {  # which projected streams each layer concatenates
    "continuous": ("visual", "audio"),
    "instant": ("visual", "audio"),
    "onset": ("visual", "audio"),
    "visual": ("visual",),
    "audio": ("audio",),
}
DEFAULTS = {
    "embed_dim": 512,  # D: the common width of both streams (the paper's backbones give 512)
    "instant_k": None,  # None: max(1, round(T / 10)), the paper's 10 of 100 steps
    "onset_fallback": "continuous",  # pooling of a video without onsets: continuous | instant
    "dropout": 0.0,  # on the projected streams (the paper names none)
    "project": True,  # False: the inputs are already z^V, z^A of width embed_dim (end-to-end)
}


def instant_k(time_steps: int, k: int | None = None) -> int:
    """The number of steps the instant layer pools: k, or 10 % of T (at least one)."""
    k = max(1, round(time_steps / 10)) if k is None else int(k)
    if not 1 <= k <= time_steps:
        raise ValueError(f"instant_k must be in [1, {time_steps}] (time steps), got {k}")
    return k


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over time of x (B, T, D) at the steps where mask (B, T) is True (rows need one)."""
    weights = mask.to(x.dtype)
    return (x * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp_min(1.0)


class FusionLayers(nn.Module):
    """Any subset of the five event-specific layers (see the module docstring)."""

    name = "fusion_layers"

    def __init__(
        self,
        cfg: dict,
        visual_dim: int,
        audio_dim: int,
        num_classes: int,
        time_steps: int,
        layers: Sequence[str] = LAYERS,
    ):
        super().__init__()
        extra = set(cfg or {}) - set(DEFAULTS)
        if extra:
            raise ValueError(f"unknown fusion-layers model settings {sorted(extra)}")
        cfg = {**DEFAULTS, **(cfg or {})}
        unknown = [name for name in layers if name not in LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown fusion layers {unknown}; expected a subset of {LAYERS}")
        if cfg["onset_fallback"] not in ("continuous", "instant"):
            raise ValueError(
                f"onset_fallback must be continuous or instant: {cfg['onset_fallback']}"
            )
        self.layers = tuple(layers)
        self.visual_dim, self.audio_dim = visual_dim, audio_dim
        self.num_classes, self.time_steps = num_classes, time_steps
        self.k = instant_k(time_steps, cfg["instant_k"])
        self.onset_fallback = cfg["onset_fallback"]
        streams = {s for name in self.layers for s in STREAMS[name]}
        self.uses_visual, self.uses_audio = "visual" in streams, "audio" in streams
        d, drop = int(cfg["embed_dim"]), float(cfg["dropout"])
        if not cfg["project"] and (visual_dim, audio_dim) != (d, d):
            raise ValueError(f"project=False needs both inputs of width {d}")
        # only the streams used are built, so a one-stream model's initial weights (drawn from
        # the seeded generator) do not depend on the other stream's width
        self.proj_visual = self.proj_audio = None
        if self.uses_visual:
            # Proj_V stands in for fine-tuning MC3-18
            self.proj_visual = (
                nn.Sequential(nn.Linear(visual_dim, d), nn.ReLU(), nn.Dropout(drop))
                if cfg["project"]
                else nn.Dropout(drop)
            )
        if self.uses_audio:
            # the two-layer Proj_A stands in for the audio network's fc8/fc9 on frozen VGGish
            self.proj_audio = (
                nn.Sequential(
                    nn.Linear(audio_dim, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Dropout(drop)
                )
                if cfg["project"]
                else nn.Dropout(drop)
            )
        self.classifiers = nn.ModuleDict(
            {name: nn.Linear(d * len(STREAMS[name]), num_classes) for name in self.layers}
        )

    @property
    def needs_onsets(self) -> bool:
        return "onset" in self.layers

    def _check(self, x: torch.Tensor | None, dim: int, what: str) -> None:
        if x is None:
            raise ValueError(f"{self.name}: needs the {what} input")
        if tuple(x.shape[1:]) != (self.time_steps, dim):
            raise ValueError(
                f"{self.name}: {what} input of shape {tuple(x.shape)}, expected "
                f"(batch, {self.time_steps}, {dim})"
            )

    def agreement(self, zv: torch.Tensor, za: torch.Tensor) -> torch.Tensor:
        """S_av (B, T): the dot product of the projected streams at each step."""
        return (zv * za).sum(-1)

    def forward(
        self,
        visual: torch.Tensor | None,
        audio: torch.Tensor | None,
        onsets: torch.Tensor | None = None,
    ) -> dict:
        zv = za = None
        if self.uses_visual:
            self._check(visual, self.visual_dim, "visual")
            zv = self.proj_visual(visual)
        if self.uses_audio:
            self._check(audio, self.audio_dim, "audio")
            za = self.proj_audio(audio)
        ref = zv if zv is not None else za
        b = ref.shape[0]
        out: dict = {}
        pooled = {}
        if zv is not None and za is not None:
            joint = torch.cat([zv, za], dim=-1)
            pooled["continuous"] = joint.mean(1)
            # top-k is a selection, not differentiated: gradients reach the selected steps only
            steps = self.agreement(zv, za).topk(self.k, dim=1).indices  # (B, k)
            picked = torch.zeros(b, self.time_steps, dtype=torch.bool, device=ref.device)
            picked.scatter_(1, steps, True)
            pooled["instant"] = masked_mean(joint, picked)
            out["instant_steps"] = picked
            if self.needs_onsets:
                if onsets is None:
                    raise ValueError(f"{self.name}: the onset layer needs an onset mask (B, T)")
                if tuple(onsets.shape) != (b, self.time_steps):
                    raise ValueError(
                        f"{self.name}: onset mask of shape {tuple(onsets.shape)}, expected "
                        f"({b}, {self.time_steps})"
                    )
                onsets = onsets.to(device=ref.device, dtype=torch.bool)
                empty = ~onsets.any(1)
                fallback = picked if self.onset_fallback == "instant" else torch.ones_like(onsets)
                pooled["onset"] = masked_mean(joint, torch.where(empty[:, None], fallback, onsets))
                out["onset_fallback"] = empty
        if zv is not None:
            pooled["visual"] = zv.mean(1)
        if za is not None:
            pooled["audio"] = za.mean(1)
        layer_logits = torch.stack(
            [self.classifiers[name](pooled[name]) for name in self.layers], dim=1
        )
        out["layer_logits"] = layer_logits
        out["logits"] = layer_logits.mean(1)
        return out

    def loss(self, out: dict, labels: torch.Tensor) -> torch.Tensor:
        """Sum over layers of the single-label cross-entropy (labels: (B,) class indices)."""
        layer_logits = out["layer_logits"]
        b, n, c = layer_logits.shape
        return F.cross_entropy(layer_logits.reshape(b * n, c), labels.repeat_interleave(n)) * n


REGISTRY = {
    "fusion_layers": LAYERS,
    "naive_av": ("continuous",),
    "uni_audio": ("audio",),
    "uni_vision": ("visual",),
}
NAMES = list(REGISTRY)
assert tuple(NAMES) == FUSION_LAYER_MODELS, "avexplain.names lists the models of REGISTRY"


def build(
    name: str,
    cfg: dict | None,
    visual_dim: int,
    audio_dim: int,
    num_classes: int,
    time_steps: int,
) -> FusionLayers:
    """A freshly initialised model `name` (one of NAMES) sized for the given features."""
    if name not in REGISTRY:
        raise ValueError(f"unknown fusion-layers model '{name}'; expected one of {NAMES}")
    model = FusionLayers(cfg, visual_dim, audio_dim, num_classes, time_steps, REGISTRY[name])
    model.name = name
    return model


def single_labels(
    targets: np.ndarray, seed: int, epoch: int = 0, ids: Sequence[str] | None = None
) -> np.ndarray:
    """One class index per video, drawn uniformly among its labels (multi-hot rows of
    `targets`, (N, C)), as the paper trains multi-label videos with single-label CE.

    The draw of a video depends only on (seed, epoch, video): its id's CRC-32 when `ids` are
    given (so a reordered or subset split draws the same), else its row. Pass epoch=0 always for
    one fixed draw per video, the epoch number for a fresh draw each epoch."""
    targets = np.asarray(targets)
    if targets.ndim != 2:
        raise ValueError(f"targets must be (videos, classes) multi-hot, got {targets.shape}")
    if ids is not None and len(ids) != len(targets):
        raise ValueError(f"{len(ids)} ids for {len(targets)} videos")
    out = np.empty(len(targets), dtype=np.int64)
    for row, labels in enumerate(targets):
        choices = np.flatnonzero(labels > 0)
        if len(choices) == 0:
            raise ValueError(f"video {row if ids is None else ids[row]} has no label")
        key = row if ids is None else zlib.crc32(str(ids[row]).encode())
        out[row] = choices[np.random.default_rng([seed, epoch, key]).integers(len(choices))]
    return out


# ----------------------------------------------------------------------------- end to end


class VideoTrunk(nn.Module):
    """MC3-18 without its classifier: its 3-D stem and first block keep the temporal stride at
    1 and its later blocks convolve space only, so F input frames give F feature steps,
    spatially averaged to (B, F, 512). Frames (B, F, H, W, 3) uint8 are resized to `side`
    (112, the paper's; None keeps the clip's size) and normalised with `normalisation`, the
    per-channel (mean, std) of the weights (Kinetics': features.backbones.KINETICS_MEAN/STD;
    passed in, since the networks import no stage module)."""

    def __init__(
        self,
        state_dict: dict | None = None,
        side: int | None = 112,
        normalisation: tuple[Sequence[float], Sequence[float]] | None = None,
    ):
        super().__init__()
        net = torchvision.models.video.mc3_18(weights=None)
        if state_dict is not None:
            net.load_state_dict(state_dict, strict=True)
        self.body = nn.Sequential(net.stem, net.layer1, net.layer2, net.layer3, net.layer4)
        self.side = side
        if normalisation is None:
            raise ValueError("VideoTrunk needs the (mean, std) its weights were trained with")
        mean, std = normalisation
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, f, h, w, _ = frames.shape
        x = frames.permute(0, 1, 4, 2, 3).flatten(0, 1).float() / 255.0  # (B*F, 3, H, W)
        if self.side and (h, w) != (self.side, self.side):
            x = F.interpolate(x, size=(self.side, self.side), mode="bilinear", antialias=True)
        x = x.view(b, f, *x.shape[1:]).permute(0, 2, 1, 3, 4)
        x = self.body((x - self.mean) / self.std)  # (B, 512, F, h', w')
        return x.mean(dim=(3, 4)).transpose(1, 2)


AUDIO_CHANNELS = (64, 64, 192, 256, 256, 256, 512)  # conv1..conv7 of the paper's audio network


def _conv_bn(c_in: int, c_out: int, kernel, stride=1, padding=0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out), nn.ReLU()]


class AudioCNN(nn.Module):
    """The paper's audio network (its supplementary Table 6): a log-mel spectrogram (80 mels,
    STFT 512 / window 320 / hop 160, centred with reflection) cut into one-second chunks of 100
    frames; on each chunk conv1..conv7 (every 3-D kernel of the table is (1, k, k), i.e. a 2-D
    convolution per chunk) reduce 100 x 80 to 10 x 1, and fc8/fc9 (1x1 convolutions, 512) give
    10 vectors per second. Batch norm and ReLU follow every convolution, fc8/fc9 included. With
    `steps_per_second` other than 10 the 10 vectors of a chunk are average-pooled to that many.
    `channels`: the widths of conv1..conv7 (smaller ones for tests)."""

    def __init__(
        self,
        steps_per_second: int = 10,
        sample_rate: int = 16000,
        channels: Sequence[int] = AUDIO_CHANNELS,
        out_dim: int = 512,
    ):
        super().__init__()
        if len(channels) != 7:
            raise ValueError(f"the audio network has 7 convolutions, got widths {channels}")
        self.steps_per_second = steps_per_second
        self.frames_per_second = sample_rate // 160
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=512,
            win_length=320,
            hop_length=160,
            n_mels=80,
            center=True,
            pad_mode="reflect",
        )
        c1, c2, c3, c4, c5, c6, c7 = channels
        self.convs = nn.Sequential(
            *_conv_bn(1, c1, 3, (2, 1), 1),  # conv1: time / 2
            *_conv_bn(c1, c2, 3, (1, 2), 1),  # conv2: mels / 2
            nn.MaxPool2d((1, 3), (1, 2)),  # maxpool2
            *_conv_bn(c2, c3, 3, 1, 1),  # conv3
            nn.MaxPool2d(3, 2),  # maxpool3
            *_conv_bn(c3, c4, 3, 1, 1),  # conv4..conv6
            *_conv_bn(c4, c5, 3, 1, 1),
            *_conv_bn(c5, c6, 3, 1, 1),
            nn.MaxPool2d((3, 2), 2),  # maxpool6
            *_conv_bn(c6, c7, 4, 1, (1, 0)),  # conv7: 11 x 4 -> 10 x 1
            *_conv_bn(c7, out_dim, 1),  # fc8
            *_conv_bn(out_dim, out_dim, 1),  # fc9
        )

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B * seconds, 1, frames per second, 80) one-second chunks."""
        seconds = wave.shape[1] // (self.frames_per_second * 160)
        with torch.autocast(wave.device.type, enabled=False):
            mel = torch.log(self.mel(wave.float()) + 1e-6)  # (B, 80, frames + 1)
        mel = mel[:, :, : seconds * self.frames_per_second].transpose(1, 2)
        return mel.reshape(-1, 1, self.frames_per_second, mel.shape[-1])

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # (B, samples) -> (B, steps, D)
        b = wave.shape[0]
        x = self.convs(self.log_mel(wave))  # (B * seconds, D, 10, 1)
        x = F.adaptive_avg_pool2d(x, (self.steps_per_second, 1))[..., 0]  # (B * s, D, steps)
        return x.reshape(b, -1, x.shape[1], self.steps_per_second).permute(0, 1, 3, 2).flatten(1, 2)


class EndToEnd(nn.Module):
    """The paper's recipe: MC3-18 and the audio CNN trained with the fusion-layer head from raw
    frames (B, T*s, H, W, 3) uint8 and waves (B, samples), T*s steps (s = steps per second).
    `head` names the layers as in REGISTRY; the output adds `visual_steps`/`audio_steps`."""

    def __init__(
        self,
        cfg: dict | None,
        num_classes: int,
        segments: int = 10,
        steps_per_second: int = 10,
        head: str = "fusion_layers",
        sample_rate: int = 16000,
        video_state_dict: dict | None = None,
        audio_channels: Sequence[int] = AUDIO_CHANNELS,
        frame_size: int | None = 112,
        video_normalisation: tuple[Sequence[float], Sequence[float]] | None = None,
    ):
        super().__init__()
        cfg = {**DEFAULTS, **(cfg or {}), "embed_dim": 512, "project": False}
        steps = segments * steps_per_second
        self.steps, self.sample_rate, self.segments = steps, sample_rate, segments
        layers = REGISTRY[head]
        self.head = FusionLayers(cfg, 512, 512, num_classes, steps, layers)
        self.head.name = head
        self.video = (
            VideoTrunk(video_state_dict, frame_size, video_normalisation)
            if self.head.uses_visual
            else None
        )
        self.audio = (
            AudioCNN(steps_per_second, sample_rate, audio_channels)
            if self.head.uses_audio
            else None
        )

    @property
    def needs_onsets(self) -> bool:
        return self.head.needs_onsets

    def forward(self, frames, wave, onsets=None) -> dict:
        zv = self.video(frames) if self.video is not None else None
        za = self.audio(wave) if self.audio is not None else None
        if zv is not None and zv.shape[1] != self.steps:
            raise ValueError(f"{zv.shape[1]} frames, expected {self.steps} (T x steps/second)")
        out = self.head(zv, za, onsets)
        out["visual_steps"], out["audio_steps"] = zv, za
        return out

    def loss(self, out: dict, labels: torch.Tensor) -> torch.Tensor:
        return self.head.loss(out, labels)

    def load_backbones(self, *trained: EndToEnd) -> None:
        """Start from the backbones of earlier stages (the paper trains the audio network alone,
        fine-tunes MC3-18 alone, then the whole model): e.g. a `uni_audio` and a `uni_vision`
        EndToEnd; each trunk this model has is copied from the first one that has it."""
        for part in ("video", "audio"):
            mine = getattr(self, part)
            source = next((getattr(m, part) for m in trained if getattr(m, part) is not None), None)
            if mine is not None and source is not None:
                mine.load_state_dict(source.state_dict())


def recipe(model: nn.Module, time_step_s: float = 1.0) -> dict:
    """What a fusion-layers model is, for metrics.json: its layers, k, the onset fallback, and
    whether it ran on frozen per-step features or end to end from clips (and on which grid)."""
    end_to_end = isinstance(model, EndToEnd)
    head = model.head if end_to_end else model
    step = model.segments / head.time_steps if end_to_end else time_step_s
    return {
        "model": head.name,
        "recipe": "end_to_end" if end_to_end else "frozen_features",
        "layers": list(head.layers),
        "time_steps": head.time_steps,
        "time_step_s": step,
        "instant_k": head.k if head.uses_visual and head.uses_audio else None,
        "onset_fallback": head.onset_fallback if head.needs_onsets else None,
    }
