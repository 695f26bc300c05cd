"""The frozen feature extractors, each mapping one one-second segment to its stored feature
(avexplain.names.BACKBONES; `vggish_maps` is VGGish cut after its last pooling layer).

A backbone has two halves: `prepare` (CPU, in a decode worker) turns a decoded clip into one
compact uint8/float input per segment, and `forward` (on the device) normalises a batch of
segments from any number of videos and returns one feature per segment. Normalisation and
resizing happen on the device so workers ship uint8, a quarter of the bytes of float32."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio
from torch import nn

from avexplain.features.store import MAP_DIMS, VECTOR_DIMS
from avexplain.features.weights import Weights, load_into

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def segment_frame_indices(fps: int, count: int) -> np.ndarray:
    """`count` evenly spaced frame indices within a segment of `fps` frames (centred bins):
    all frames when count == fps, the middle frame when count == 1."""
    if not 1 <= count <= fps:
        raise ValueError(f"frames per segment must be in [1, {fps}] (clip.fps), got {count}")
    return ((np.arange(count) + 0.5) * fps / count).astype(int)


class VGGish(nn.Module):
    """VGGish with the module layout of the torchvggish port, so its release loads unchanged:
    `features.{0,3,6,8,11,13}` convolutions and `embeddings.{0,2,4}` fully connected layers."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 1
        for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
            if width == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Linear(4096, 128),
            nn.ReLU(True),
        )

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 96, 64) log-mel patches -> (N, 6, 4, 512) last-pool maps, channels last: the
        released weights were converted from TensorFlow, whose embedding layers flatten them so."""
        return self.features(x).permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, 1, 96, 64) log-mel patches
        return self.embeddings(self.maps(x).flatten(1))


class Backbone(nn.Module):
    """Common interface; see the module docstring."""

    name: str
    dims: tuple[str, ...]

    def __init__(self, weights: Weights):
        super().__init__()
        self.weights = weights.description

    frames_per_segment = 0  # frames of each segment the network sees (0: audio only)
    uses_video = True  # False: `prepare` takes the wave

    def clip_frames(self, segments: int, fps: int) -> np.ndarray:
        """Indices of the clip frames `prepare` takes (`frames_per_segment` per segment), so the
        reader converts only those: 2 of 16 per second for the demo's ResNet-152."""
        within = segment_frame_indices(fps, self.frames_per_segment)
        return (np.arange(segments)[:, None] * fps + within).ravel()

    def prepare(self, frames: np.ndarray | None, wave: np.ndarray | None, fps: int) -> torch.Tensor:
        """One input per segment, from the frames at `clip_frames` (or the whole wave)."""
        raise NotImplementedError

    def item_shape(self, clip_size: int) -> tuple[int, ...]:
        """Shape of one segment's feature for frames of clip_size x clip_size."""
        raise NotImplementedError


def _normalise(x: torch.Tensor, mean, std, channel_dim: int) -> torch.Tensor:
    shape = [1] * x.dim()
    shape[channel_dim] = 3
    mean = torch.tensor(mean, device=x.device, dtype=torch.float32).view(shape)
    std = torch.tensor(std, device=x.device, dtype=torch.float32).view(shape)
    return (x.float() / 255.0 - mean) / std


class ImageMaps(Backbone):
    """VGG-19 pool5 or ResNet-152 last convolutional block: a (y, x, channel) map per segment,
    the mean of the maps of `frames_per_segment` evenly spaced frames of the segment."""

    dims = MAP_DIMS

    def __init__(
        self, name: str, weights: Weights, frames_per_segment: int, image_size: int | None = None
    ):
        super().__init__(weights)
        self.name, self.frames_per_segment = name, frames_per_segment
        # None: the clip's own size (224 gives the papers' 7x7 maps); smaller sizes trade map
        # resolution for speed (the CPU demo)
        self.image_size = image_size
        # A randomly initialised ResNet-152 in eval mode grows its activations block after block
        # past the float16 range; zero-initialising each residual branch's last BatchNorm (a
        # torchvision option) keeps random features finite. Loaded weights overwrite it.
        extra = {"zero_init_residual": True} if name == "resnet152" else {}
        import torchvision  # here: 3 CPU-s per process, which the VGGish jobs never need

        full = getattr(torchvision.models, name)(weights=None, **extra)
        if weights.state_dict is not None:
            load_into(full, weights, name)
        # VGG-19 `features` ends with the fifth max-pool (pool5); ResNet without avgpool and fc
        self.trunk = (
            full.features if name == "vgg19" else nn.Sequential(*list(full.children())[:-2])
        )
        self.channels = 512 if name == "vgg19" else 2048

    def prepare(self, frames, wave, fps):
        picked = frames.reshape(-1, self.frames_per_segment, *frames.shape[1:])  # (T, F, H, W, 3)
        return torch.from_numpy(np.ascontiguousarray(picked.transpose(0, 1, 4, 2, 3)))

    def item_shape(self, clip_size):
        # both nets halve the side 5 times: VGG-19 by 2x2 max-pools (rounding down), ResNet-152 by
        # padded stride-2 layers (rounding up: 112 px gives 4x4 maps, as 128 px does)
        side = self.image_size or clip_size
        for _ in range(5):
            side = side // 2 if self.name == "vgg19" else -(-side // 2)
        return (side, side, self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, F, 3, H, W) uint8
        b, f = x.shape[:2]
        frames = x.flatten(0, 1)
        side = self.image_size
        if side and frames.shape[-2:] != (side, side):
            frames = nn.functional.interpolate(
                frames.float(), size=(side, side), mode="bilinear", antialias=True
            )
        frames = _normalise(frames, IMAGENET_MEAN, IMAGENET_STD, channel_dim=1)
        frames = frames.contiguous(memory_format=torch.channels_last)  # see extract.prepare_for
        maps = self.trunk(frames).float()  # (B*F, C, h, w)
        return maps.view(b, f, *maps.shape[1:]).mean(1).permute(0, 2, 3, 1)


class MC3(Backbone):
    """MC3-18 (Kinetics-400): the 512-d pooled feature of a clip of `frames_per_segment` evenly
    spaced frames of the segment, resized to `side` x `side` (112, Kinetics'; clips are already
    square centre crops)."""

    dims = VECTOR_DIMS
    name = "mc3_18"
    side = 112

    def __init__(self, weights: Weights, frames_per_segment: int, side: int | None = None):
        super().__init__(weights)
        self.frames_per_segment = frames_per_segment
        self.side = side or MC3.side
        import torchvision  # see ImageMaps

        self.net = torchvision.models.video.mc3_18(weights=None)
        if weights.state_dict is not None:
            load_into(self.net, weights, self.name)
        self.net.fc = nn.Identity()

    def prepare(self, frames, wave, fps):
        picked = frames.reshape(-1, self.frames_per_segment, *frames.shape[1:])  # (T, F, H, W, 3)
        return torch.from_numpy(np.ascontiguousarray(picked.transpose(0, 4, 1, 2, 3)))

    def item_shape(self, clip_size):
        return (512,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 3, F, H, W) uint8
        b, c, f, h, w = x.shape
        if (h, w) != (self.side, self.side):
            flat = x.permute(0, 2, 1, 3, 4).flatten(0, 1).float()
            flat = nn.functional.interpolate(
                flat, size=(self.side, self.side), mode="bilinear", antialias=True
            )
            x = flat.view(b, f, c, self.side, self.side).permute(0, 2, 1, 3, 4)
        return self.net(_normalise(x, KINETICS_MEAN, KINETICS_STD, channel_dim=1)).float()


class VGGishSegments(Backbone):
    """VGGish: a 128-d embedding per segment from the log-mel patch of its first 0.96 s
    (96 frames of 10 ms x 64 bands, 125-7500 Hz, log(mel + 0.01)), optionally PCA-projected."""

    dims = VECTOR_DIMS
    name = "vggish"
    uses_video = False

    def __init__(self, weights: Weights, sample_rate: int = 16000, pca: dict | None = None):
        super().__init__(weights)
        self.net = VGGish()
        if weights.state_dict is not None:
            load_into(self.net, weights, self.name)
        self.sample_rate = sample_rate
        # magnitude (power=1) spectrum of 25 ms periodic-Hann windows every 10 ms, HTK mel scale,
        # no centring: the framing of the VGGish reference front end
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=512,
            win_length=400,
            hop_length=160,
            f_min=125.0,
            f_max=7500.0,
            n_mels=64,
            power=1.0,
            center=False,
            mel_scale="htk",
        )
        if pca is not None:
            self.register_buffer("pca_vectors", pca["pca_eigen_vectors"].float())
            self.register_buffer("pca_means", pca["pca_means"].float().view(1, -1))
        self.pca = pca is not None

    def prepare(self, frames, wave, fps):
        t = len(wave) // self.sample_rate
        return torch.from_numpy(wave[: t * self.sample_rate].reshape(t, self.sample_rate))

    def item_shape(self, clip_size):
        return (128,)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, 1, 96, 64) log-mel patches."""
        with torch.autocast(wave.device.type, enabled=False):  # the log needs float32 range
            mel = self.mel(wave.float())  # (B, 64, frames)
        return torch.log(mel + 0.01)[:, :, :96].transpose(1, 2).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, sample_rate) float32
        emb = self.net(self.log_mel(x)).float()
        if self.pca:
            emb = (emb - self.pca_means) @ self.pca_vectors.T
        return emb


class VGGishMaps(VGGishSegments):
    """VGGish's last pooling maps, (6, 4, 512) per segment channels last (96 frames x 64 bands
    halved four times): the same network, weights and log-mel patch as `vggish`, stopped where
    its embedding layers begin, so each map flattened is what they read (no PCA: that acts on
    the embeddings). The AVE paper's supplementary Table 3 input."""

    dims = MAP_DIMS
    name = "vggish_maps"

    def __init__(self, weights: Weights, sample_rate: int = 16000):
        super().__init__(weights, sample_rate)
        # the weight file loads whole (strictly); the embedding layers are 68 M unused parameters
        del self.net.embeddings

    def item_shape(self, clip_size):
        return (6, 4, 512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, sample_rate) float32
        return self.net.maps(self.log_mel(x)).float()


def build(name: str, weights: Weights, settings: dict, pca: dict | None = None) -> Backbone:
    """The backbone `name` with `weights` and the frame sampling of `settings` (features config)."""
    frames = settings.get("frames_per_segment", {})
    if name in ("vgg19", "resnet152"):
        model = ImageMaps(name, weights, frames[name], settings.get("image_size"))
    elif name == "mc3_18":
        model = MC3(weights, frames[name], settings.get("mc3_image_size"))
    elif name == "vggish":
        model = VGGishSegments(weights, pca=pca)
    elif name == "vggish_maps":
        model = VGGishMaps(weights)
    else:
        raise ValueError(f"unknown backbone '{name}'")
    return model.eval().requires_grad_(False)
