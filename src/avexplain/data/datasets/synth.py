"""The embedded dataset `synth`: generated audio-visual events rendered to real MP4 files.

Every class pairs a visual object (shape, colour, texture) with a sound (timbre, rhythm). The
classes form a chain over objects and sounds so that each class shares its object with one
neighbour and its sound with the other: a vision-only model confuses some pairs, an audio-only
model other pairs, and only both modalities together separate all of them. Distractors (objects
shown silently, sounds without a visible source) never form a class. Events, onsets, offsets and
per-second boxes of the sounding object are known exactly. See docs/synth.md.

Everything derives from `config["seed"]` and the video index, so `render` reproduces a video
from its id alone and the same configuration gives byte-identical files.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from avexplain.config import ConfigError, clip_for
from avexplain.data.audit import Audit
from avexplain.data.datasets.common import COLUMNS, to_frame
from avexplain.data.ffmpeg import BITEXACT, run_ffmpeg
from avexplain.names import SPLITS

# Objects: (name, RGB colour). Shapes and textures are drawn in `_sprite`.
OBJECTS = [
    ("disc", (220, 40, 40)),
    ("square", (40, 190, 60)),
    ("triangle", (50, 90, 235)),
    ("ring", (240, 215, 30)),
    ("cross", (215, 50, 215)),
]
SOUNDS = ["beep", "buzz", "chirp", "drum", "bell", "siren"]
MAX_CLASSES = 8  # the chain over 5 objects and 6 sounds leaves one of each as pure distractors

PREFIX = "synth-"
FADE_S = 0.01  # fade sounds in and out so that event edges do not click
ENCODE_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
ENCODE_AUDIO = ["-c:a", "aac", "-b:a", "64k"]


def class_pairs(num_classes: int) -> list[tuple[int, int]]:
    """(object, sound) of each class: class i has object i // 2 and sound (i + 1) // 2.

    Neighbours 2j and 2j+1 share an object (only the sound tells them apart); neighbours 2j+1
    and 2j+2 share a sound (only the object tells them apart).
    """
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ConfigError(
            f"config key 'datasets.synth.classes' is {num_classes}; expected 2..{MAX_CLASSES}"
        )
    return [(i // 2, (i + 1) // 2) for i in range(num_classes)]


def class_names(num_classes: int) -> list[str]:
    return [f"{OBJECTS[o][0]}_{SOUNDS[s]}" for o, s in class_pairs(num_classes)]


@dataclass
class Instance:
    """One object on screen or one sound on the track, over [onset, offset) seconds."""

    kind: int  # object or sound index
    onset: int
    offset: int
    label: int | None  # the class it belongs to, None for a distractor


@dataclass
class VideoSpec:
    index: int
    labels: list[int]
    audio: list[Instance]
    visual: list[Instance]
    seed: list[int]


def _settings(config: dict) -> tuple[int, int, int, int, int, int]:
    clip, ds = clip_for(config, "synth"), config["datasets"]["synth"]
    return (
        int(config["seed"]),
        int(clip["segments"]),
        int(clip["fps"]),
        int(clip["size"]),
        int(clip["sample_rate"]),
        int(ds["classes"]),
    )


def _event_in(rng, lo: int, hi: int, min_len: int, max_len: int) -> tuple[int, int]:
    """A random integer interval of min_len..max_len seconds inside [lo, hi)."""
    length = int(rng.integers(min_len, min(max_len, hi - lo) + 1))
    onset = int(rng.integers(lo, hi - length + 1))
    return onset, onset + length


def _consistent(spec: VideoSpec, pairs, T: int) -> bool:
    """True when, second by second, the classes formed by a visible object and an audible sound
    are exactly the labels annotated there, and no two instances of one object are on screen
    while it sounds (the sounding object must be unambiguous for the boxes)."""
    for s in range(T):
        seen = [v for v in spec.visual if v.onset <= s < v.offset]
        heard = {a.kind for a in spec.audio if a.onset <= s < a.offset}
        formed = {
            c for c, (o, snd) in enumerate(pairs) if snd in heard and o in {v.kind for v in seen}
        }
        annotated = set()
        for c in spec.labels:
            a_on = any(a.label == c and a.onset <= s < a.offset for a in spec.audio)
            v_on = any(v.label == c and v.onset <= s < v.offset for v in spec.visual)
            if a_on and v_on:
                annotated.add(c)
        if formed != annotated:
            return False
        for c in annotated:
            if sum(v.kind == pairs[c][0] for v in seen) > 1:
                return False
    return True


def primary_class(index: int, config: dict) -> int:
    """The first label of video `index`: balanced over the classes (index mod C) but assigned
    through a seeded permutation of the videos, so the class does not follow from the index."""
    seed, n = int(config["seed"]), int(config["datasets"]["synth"]["classes"])
    num = int(config["datasets"]["synth"]["num_videos"])
    if not 0 <= index < num:
        raise ValueError(f"synth video {index} is outside 0..{num - 1} (datasets.synth.num_videos)")
    return int(np.random.default_rng([seed, 3]).permutation(num)[index] % n)


def video_spec(index: int, config: dict) -> VideoSpec:
    """The labels, events and distractors of video `index`, from the seed alone."""
    seed, T, _, _, _, n = _settings(config)
    pairs = class_pairs(n)
    if T < 4:
        raise ConfigError(f"config key 'clip.segments' is {T}; synth needs at least 4 seconds")
    rng = np.random.default_rng([seed, 1, index])
    primary = primary_class(index, config)
    labels = [primary]
    if rng.random() < 0.35:
        labels.append(int(rng.choice([c for c in range(n) if c != primary])))
    # Two labels take disjoint halves of the clip so that one object sounds at a time.
    if len(labels) == 1:
        windows = [(0, T)]
    else:
        cut = int(rng.integers(T // 2 - 1, T // 2 + 2)) if T >= 6 else T // 2
        windows = [(0, cut), (cut, T)]
        rng.shuffle(labels)
    audio, visual = [], []
    for c, (lo, hi) in zip(labels, windows, strict=True):
        span = hi - lo
        a_on, a_off = _event_in(rng, lo, hi, max(2, span // 3), max(2, span - 1))
        # The object appears up to a second before/after the sound starts and stops: the
        # audio-visual event is the overlap, and neither track alone gives it.
        v_on = int(np.clip(a_on + rng.integers(-1, 2), lo, a_off - 1))
        v_off = int(np.clip(a_off + rng.integers(-1, 2), max(v_on + 1, a_on + 1), hi))
        audio.append(Instance(pairs[c][1], a_on, a_off, c))
        visual.append(Instance(pairs[c][0], v_on, v_off, c))
    spec = VideoSpec(index, sorted(labels), audio, visual, [seed, 2, index])
    # Distractors: a silent object and/or a sound without its object, redrawn until they form
    # no class; given up (left out) when no draw fits.
    for kind, pool, prob, (lo_len, hi_len) in (
        ("visual", len(OBJECTS), 0.5, (2, 5)),
        ("audio", len(SOUNDS), 0.5, (2, 4)),
    ):
        if rng.random() >= prob:
            continue
        for _ in range(30):
            onset, offset = _event_in(rng, 0, T, lo_len, hi_len)
            extra = Instance(int(rng.integers(pool)), onset, offset, None)
            getattr(spec, kind).append(extra)
            if _consistent(spec, pairs, T):
                break
            getattr(spec, kind).pop()
    assert _consistent(spec, pairs, T), f"synth video {index}: inconsistent events"
    return spec


def _index(video_id: str) -> int:
    m = re.fullmatch(rf"{PREFIX}(\d+)", video_id)
    if not m:
        raise ValueError(f"'{video_id}' is not a synth video id (expected {PREFIX}NNNNN)")
    return int(m.group(1))


# ---------------------------------------------------------------------------------- pictures


def _sprite(kind: int, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(mask k×k bool, texture k×k×3 uint8) of object `kind`."""
    g = (np.arange(k) + 0.5) / k * 2 - 1
    y, x = np.meshgrid(g, g, indexing="ij")
    r = np.hypot(x, y)
    colour = np.array(OBJECTS[kind][1], dtype=np.float32)
    shade = np.ones((k, k), np.float32)
    band = max(2, k // 8)
    rows, cols = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    if kind == 0:  # disc, solid with a soft highlight
        mask = r < 0.95
        shade = 1.0 - 0.35 * np.hypot(x + 0.35, y + 0.35) / 2
    elif kind == 1:  # square, horizontal stripes
        mask = (np.abs(x) < 0.9) & (np.abs(y) < 0.9)
        shade = np.where((rows // band) % 2 == 0, 1.0, 0.55)
    elif kind == 2:  # upward triangle, checkerboard
        mask = (y < 0.85) & (np.abs(x) < (y + 0.95) / 1.8 * 0.95)
        shade = np.where(((rows // band) + (cols // band)) % 2 == 0, 1.0, 0.6)
    elif kind == 3:  # ring, radial gradient
        mask = (r > 0.5) & (r < 0.95)
        shade = 0.6 + 0.4 * (r - 0.5) / 0.45
    else:  # cross, dotted
        mask = ((np.abs(x) < 0.3) | (np.abs(y) < 0.3)) & (np.abs(x) < 0.95) & (np.abs(y) < 0.95)
        shade = np.where(((rows % band) < band // 2) & ((cols % band) < band // 2), 0.5, 1.0)
    jitter = rng.uniform(0.9, 1.1)  # a little brightness variation between videos
    tex = np.clip(colour[None, None, :] * shade[..., None] * jitter, 0, 255).astype(np.uint8)
    return mask, tex


def _background(size: int, rng) -> np.ndarray:
    """A static cluttered scene: a gradient, blobs and fine grain, all nearly grey (a tint of at
    most 12 levels per channel): the clutter varies in brightness and shape, and colour, the
    cue that random-weight features keep best, belongs to the objects alone."""
    g = np.linspace(0, 1, size, dtype=np.float32)
    tint = lambda: rng.uniform(-12, 12, 3)  # noqa: E731
    base = (rng.uniform(60, 150) + tint()).astype(np.float32)
    tilt = (rng.uniform(-40, 40) + tint()).astype(np.float32)
    img = base[None, None, :] + tilt[None, None, :] * (g[:, None, None] + g[None, :, None]) / 2
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(30):
        cy, cx = rng.uniform(0, size, 2)
        ry, rx = rng.uniform(0.02, 0.1, 2) * size
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        img[blob] = rng.uniform(40, 180) + tint()
    img += rng.normal(0, 6, (size, size, 1))  # grey grain
    return np.clip(img, 0, 255).astype(np.uint8)


def _bounce(p0: float, v: float, t: np.ndarray, span: float) -> np.ndarray:
    """Position at times t of a point moving at speed v inside [0, span], reflecting at walls."""
    if span <= 0:
        return np.zeros_like(t)
    u = np.mod(p0 + v * t, 2 * span)
    return np.where(u > span, 2 * span - u, u)


@dataclass
class _Track:
    inst: Instance
    k: int  # sprite side in pixels
    xs: np.ndarray  # top-left x per frame
    ys: np.ndarray
    mask: np.ndarray
    tex: np.ndarray


def _tracks(spec: VideoSpec, T: int, fps: int, size: int, rng) -> list[_Track]:
    t = np.arange(T * fps) / fps
    out = []
    for inst in spec.visual:
        k = int(round(size * rng.uniform(0.22, 0.32)))
        mask, tex = _sprite(inst.kind, k, rng)
        span = size - k
        speed = rng.uniform(0.04, 0.1) * size  # slow, so a per-second box stays tight
        angle = rng.uniform(0, 2 * np.pi)
        xs = _bounce(rng.uniform(0, span), speed * np.cos(angle), t, span)
        ys = _bounce(rng.uniform(0, span), speed * np.sin(angle), t, span)
        out.append(_Track(inst, k, np.round(xs).astype(int), np.round(ys).astype(int), mask, tex))
    return out


def _frames(spec: VideoSpec, T: int, fps: int, size: int) -> tuple[np.ndarray, list[_Track]]:
    rng = np.random.default_rng(spec.seed + [0])
    bg = _background(size, rng)
    tracks = _tracks(spec, T, fps, size, rng)
    frames = np.empty((T * fps, size, size, 3), np.uint8)
    for f in range(T * fps):
        img = bg.copy()
        for tr in tracks:  # distractors were appended last: they pass in front
            if tr.inst.onset * fps <= f < tr.inst.offset * fps:
                x, y, k = tr.xs[f], tr.ys[f], tr.k
                region = img[y : y + k, x : x + k]
                region[tr.mask] = tr.tex[tr.mask]
        frames[f] = img
    return frames, tracks


def _boxes(spec: VideoSpec, tracks: list[_Track], T: int, fps: int, size: int) -> dict:
    """{second: [x0, y0, x1, y1]} (fractions) of the object whose sound plays in that second."""
    boxes = {}
    for tr in tracks:
        c = tr.inst.label
        if c is None:
            continue
        audio = next(a for a in spec.audio if a.label == c)
        for s in range(max(tr.inst.onset, audio.onset), min(tr.inst.offset, audio.offset)):
            fr = slice(s * fps, (s + 1) * fps)
            x0, y0 = tr.xs[fr].min(), tr.ys[fr].min()
            x1, y1 = tr.xs[fr].max() + tr.k, tr.ys[fr].max() + tr.k
            boxes[str(s)] = [round(float(v) / size, 4) for v in (x0, y0, x1, y1)]
    return dict(sorted(boxes.items(), key=lambda kv: int(kv[0])))


# ------------------------------------------------------------------------------------ sounds


def _sound(kind: int, t: np.ndarray, rng) -> np.ndarray:
    """Waveform (about unit peak) of sound `kind` at times t from its onset."""
    two_pi = 2 * np.pi
    if kind == 0:  # beep: steady pure tone
        return np.sin(two_pi * 660 * t)
    if kind == 1:  # buzz: bright low sawtooth
        return 0.8 * (2 * np.mod(150 * t, 1.0) - 1)
    if kind == 2:  # chirp: rising sweeps, two per second
        u = np.mod(t, 0.5)
        return np.sin(two_pi * (500 * u + 0.5 * 3000 * u**2)) * (u < 0.4)
    if kind == 3:  # drum: decaying noise bursts, three per second
        env = np.exp(-np.mod(t, 1 / 3) * 12)
        return np.clip(rng.normal(0, 0.7, t.shape), -1, 1) * env
    if kind == 4:  # bell: inharmonic partials struck once a second
        env = np.exp(-np.mod(t, 1.0) * 4)
        return env * (0.6 * np.sin(two_pi * 1200 * t) + 0.4 * np.sin(two_pi * 2930 * t))
    # siren: two tones alternating four times a second
    f = np.where(np.mod(t, 0.5) < 0.25, 700.0, 1000.0)
    dt = t[1] - t[0] if len(t) > 1 else 0.0
    return np.sin(two_pi * np.cumsum(f) * dt)  # integrate the frequency: no phase jumps


def _audio(spec: VideoSpec, T: int, sr: int) -> np.ndarray:
    rng = np.random.default_rng(spec.seed + [1])
    track = rng.normal(0, 0.005, T * sr)  # faint background hiss: no digital silence
    fade = int(FADE_S * sr)
    for inst in spec.audio:
        a, b = inst.onset * sr, inst.offset * sr
        t = np.arange(b - a) / sr
        wave = _sound(inst.kind, t, rng) * rng.uniform(0.3, 0.5)
        ramp = np.minimum(1.0, np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / fade)
        track[a:b] += wave * ramp
    return np.clip(track, -1, 1)


# --------------------------------------------------------------------------------- public API


def input_files(ds: dict) -> list[str]:
    """None: synth is generated from the configuration alone."""
    return []


def build(config: dict, name: str, root: Path) -> tuple[pd.DataFrame, list[str], Audit]:
    """The manifest builders' interface: the manifest, its classes and the audit."""
    frame, classes = build_manifest(config)
    audit = Audit(name)
    audit.notes.append("generated by avexplain.data.datasets.synth; no annotation files to audit")
    audit.counts = {
        "classes": len(classes),
        "videos": len(frame),
        "videos_per_split": {s: int((frame["split"] == s).sum()) for s in SPLITS},
    }
    return to_frame(frame[COLUMNS].to_dict("records")), classes, audit


def build_manifest(config: dict) -> tuple[pd.DataFrame, list[str]]:
    """The synth manifest (docs/formats.md columns) and its class names, from config alone."""
    seed, T, fps, size, _, n = _settings(config)
    ds = config["datasets"]["synth"]
    num = int(ds["num_videos"])
    fractions = [float(f) for f in ds["splits"]]
    if abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(
            f"config key 'datasets.synth.splits' is {fractions}; the train/val/test fractions "
            "must sum to 1"
        )
    classes = class_names(n)
    counts = [int(round(f * num)) for f in fractions[:2]]
    order = np.random.default_rng([seed, 0]).permutation(num)
    split = np.empty(num, dtype=object)
    split[order[: counts[0]]] = "train"
    split[order[counts[0] : counts[0] + counts[1]]] = "val"
    split[order[counts[0] + counts[1] :]] = "test"
    rows = []
    for i in range(num):
        spec = video_spec(i, config)
        _, tracks = _frames_meta(spec, T, fps, size)
        rows.append(
            {
                "video_id": f"{PREFIX}{i:05d}",
                "split": split[i],
                "labels": ";".join(classes[c] for c in spec.labels),
                "source": "generated",
                "start": 0,
                "end": T,
                "audio_events": _events_json(spec.audio, classes),
                "visual_events": _events_json(spec.visual, classes),
                "boxes": json.dumps(_boxes(spec, tracks, T, fps, size)),
            }
        )
    return pd.DataFrame(rows), classes


def _frames_meta(spec: VideoSpec, T: int, fps: int, size: int):
    """The object tracks without drawing the frames (same random draws as `_frames`)."""
    rng = np.random.default_rng(spec.seed + [0])
    _background(size, rng)
    return None, _tracks(spec, T, fps, size, rng)


def _events_json(instances: list[Instance], classes: list[str]) -> str:
    events = sorted(
        ([classes[i.label], i.onset, i.offset] for i in instances if i.label is not None),
        key=lambda e: (e[1], e[0]),
    )
    return json.dumps(events)


def render(video_id: str, config: dict, out_path: str | Path) -> None:
    """Write the MP4 (H.264 + AAC) of `video_id`; byte-identical for the same config."""
    _, T, fps, size, sr, _ = _settings(config)
    spec = video_spec(_index(video_id), config)
    frames, _ = _frames(spec, T, fps, size)
    audio = (_audio(spec, T, sr) * 32767).astype("<i2")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="synth-") as tmp:
        pcm = Path(tmp) / "audio.pcm"
        pcm.write_bytes(audio.tobytes())
        part = out_path.with_name(f".{out_path.name}.part")
        run_ffmpeg(
            [
                *["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-r", str(fps)],
                *["-i", "pipe:0"],
                *["-f", "s16le", "-ar", str(sr), "-ac", "1", "-i", pcm],
                *["-map", "0:v", "-map", "1:a", "-threads", "1"],
                *ENCODE_VIDEO,
                *ENCODE_AUDIO,
                *BITEXACT,
                *["-map_metadata", "-1", "-f", "mp4", part],
            ],
            input=frames.tobytes(),
        )
        # Move into place only when complete, so an interrupted render leaves no half file.
        part.replace(out_path)
