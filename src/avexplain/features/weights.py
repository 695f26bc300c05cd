"""Where each backbone's weights come from: seeded random, the published release, or a local file.

Published weights are described by data (a torchvision weight enum or a release URL), fetched once
into a cache by `prefetch` (the `prefetch_weights` rule, run where there is internet) and only ever
read from that cache by extraction jobs, so compute nodes never download."""

from __future__ import annotations

import http.client
import importlib
import json
import logging
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.hub import download_url_to_file

from avexplain import rerun
from avexplain.files import sha256
from avexplain.names import BACKBONES, WEIGHTS_OF

log = logging.getLogger(__name__)

# ResNet-152 V1 (the original He et al. weights) is what the STAN-era feature releases used;
# V2 is a later, differently trained checkpoint that would not reproduce them.
TORCHVISION_WEIGHTS = {
    "vgg19": ("models", "VGG19_Weights", "IMAGENET1K_V1"),
    "resnet152": ("models", "ResNet152_Weights", "IMAGENET1K_V1"),
    "mc3_18": ("models.video", "MC3_18_Weights", "KINETICS400_V1"),
}
# The PyTorch port of VGGish (harritaylor/torchvggish, release v0.1); the PCA parameters are a
# separate file of the same release.
VGGISH_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
VGGISH_PCA_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth"


def prefetch_command() -> str:
    """The command that fills the cache, with the run's own --configfile."""
    return rerun.command("prefetch_weights")


class WeightsMissingError(FileNotFoundError):
    """Pretrained weights are needed but are not in the cache (and jobs never download)."""


class WeightsOfflineError(WeightsMissingError):
    """`prefetch` could not reach the release server (no internet on this machine)."""


class WeightsMismatchError(RuntimeError):
    """A weight file does not fit the backbone it is loaded into (names the file and keys)."""


@dataclass(frozen=True)
class Weights:
    state_dict: dict | None  # None: keep the seeded random initialisation
    description: str  # recorded in every output: pretrained:<file>, random:<seed>, <path> sha256:..
    source: str = ""  # the file the state dict was read from, for error messages


def network(backbone: str) -> str:
    """The network whose weight file `backbone` reads (`vggish_maps`: VGGish's)."""
    return WEIGHTS_OF.get(backbone, backbone)


def urls(backbone: str) -> list[str]:
    backbone = network(backbone)
    if backbone == "vggish":
        return [VGGISH_URL, VGGISH_PCA_URL]
    # torchvision imported here: it costs 3 CPU-s per process, and VGGish jobs never need it
    module, enum, member = TORCHVISION_WEIGHTS[backbone]
    weights = getattr(getattr(importlib.import_module(f"torchvision.{module}"), enum), member)
    return [weights.url]


def cached_file(cache_dir: str | Path, url: str) -> Path:
    return Path(cache_dir) / url.rsplit("/", 1)[-1]


def _hash_prefix(url: str) -> str | None:
    # torchvision and torchvggish name files <name>-<first hex digits of sha256>.pth
    stem = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def prefetch(cache_dir: str | Path, backbones=BACKBONES, record: str | Path | None = None) -> dict:
    """Download every published weight file of `backbones` into `cache_dir` (once), checking the
    hash prefix in the file name; write a JSON record of the files and their sha256.

    Files already in the cache are never fetched again, so a machine without internet works once
    they are copied there. When the server cannot be reached, one WeightsOfflineError lists every
    file still missing, where to get it and the two ways on (copy, or features.weights: random).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # a backbone sharing another's network (names.WEIGHTS_OF) adds no file of its own
    wanted = [(b, url) for b in dict.fromkeys(map(network, backbones)) for url in urls(b)]
    files = {}
    for backbone, url in wanted:
        dst = cached_file(cache_dir, url)
        if dst.exists():
            log.info("%s: %s already cached", backbone, dst)
        else:
            log.info("%s: downloading %s -> %s", backbone, url, dst)
            try:
                download_url_to_file(url, str(dst), hash_prefix=_hash_prefix(url), progress=True)
            except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
                dst.unlink(missing_ok=True)
                raise WeightsOfflineError(_offline_message(cache_dir, wanted, url, exc)) from None
        files[dst.name] = {"backbone": backbone, "url": url, "sha256": sha256(dst)}
    if record:
        Path(record).write_text(json.dumps(files, indent=2) + "\n")
    return files


def _offline_message(cache_dir: Path, wanted, url: str, exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    todo = [(b, u) for b, u in wanted if not cached_file(cache_dir, u).exists()]
    listing = "\n".join(f"  {cached_file(cache_dir, u).name}  ({b}: {u})" for b, u in todo)
    return (
        f"cannot download the pretrained weights: {url} is unreachable ({reason}); this machine "
        "looks offline. Either\n"
        f"- copy these files (downloaded elsewhere) into features.cache_dir = {cache_dir}:\n"
        f"{listing}\n"
        f"  then run `{prefetch_command()}` again (it only checks files already there), or\n"
        "- set features.weights: random (seeded random weights run offline; the numbers are then "
        "not the papers')."
    )


def resolve(backbone: str, setting: str, cache_dir: str | Path, seed: int) -> Weights:
    """Turn the `features.weights` setting (random | pretrained | <path>) into a state dict.

    <path> is a file (used for the one backbone) or a folder holding `<network>.pth`, the file of
    the network the backbone runs (`vggish.pth` for `vggish_maps` too)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone '{backbone}' (expected one of {', '.join(BACKBONES)})")
    if setting == "random":
        return Weights(None, f"random:{seed}")
    if setting == "pretrained":
        path = cached_file(cache_dir, urls(backbone)[0])
        if not path.exists():
            raise WeightsMissingError(
                f"pretrained {backbone} weights are not in the cache '{cache_dir}' "
                f"(config key features.cache_dir; expected {path}). Extraction jobs never download: "
                f"fetch them once on a machine with internet with `{prefetch_command()}`, or set "
                "features.weights: random for an offline demo."
            )
        return Weights(_load(path), f"pretrained:{path.name}", str(path))
    path = Path(setting)
    if path.is_dir():
        path = path / f"{network(backbone)}.pth"
    if not path.exists():
        raise FileNotFoundError(
            f"config key features.weights is '{setting}': expected 'random', 'pretrained' or a "
            f"weight file / folder of <backbone>.pth files, but {path} does not exist"
        )
    return Weights(_load(path), f"{path} sha256:{sha256(path)}", str(path))


def load_into(module: torch.nn.Module, weights: Weights, backbone: str) -> None:
    """Load `weights` strictly into `module`; a file made for another network fails naming the
    file, the backbone and the keys that do not match, instead of torch's bare key dump."""
    expected = module.state_dict()
    given = weights.state_dict
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [
        f"{k}: file {tuple(given[k].shape)}, {backbone} {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and hasattr(given[k], "shape") and tuple(given[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:

        def some(keys):
            return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

        parts = []
        if missing:
            parts.append(f"Missing keys (in {backbone}, not in the file): {some(missing)}")
        if unexpected:
            parts.append(f"Unexpected keys (in the file, not in {backbone}): {some(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch: {some(shapes)}")
        source = weights.source or weights.description
        raise WeightsMismatchError(
            f"{source}: not a {backbone} weight file ({'; '.join(parts)}). Set features.weights "
            f"to a {backbone} file, or to a folder holding {backbone}.pth, or to pretrained."
        )
    module.load_state_dict(given, strict=True)


def _load(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def vggish_pca(cache_dir: str | Path) -> dict | None:
    """The VGGish PCA parameters (pca_eigen_vectors 128x128, pca_means 128) if cached."""
    path = cached_file(cache_dir, VGGISH_PCA_URL)
    return _load(path) if path.exists() else None
