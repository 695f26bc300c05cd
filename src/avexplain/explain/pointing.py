"""Pointing games: attention against annotated ground truth (docs/explanations.md).

Temporal (Table 3): the time attention (T,) of a video against the binary mask of its annotated
audio events, mean absolute error, with soft attention and with attention binarised at 0.5.
Spatial (synth only, which has boxes): is the peak of the space attention inside the sounding
object's box, per annotated second. Both come with uniform and random attention baselines."""

from __future__ import annotations

import json

import numpy as np
from sklearn.metrics import roc_auc_score

THRESHOLD = 0.5


def parse_events(value) -> list:
    """`audio_events` of a manifest row (a JSON list of [label, onset, offset]) as a list."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    return list(value)


def event_mask(events, segments: int) -> np.ndarray:
    """Binary (T,) mask: 1 where at least half of the one-second segment lies in an event.

    Annotations are in seconds from the clip start, offset exclusive; AVE and LLP use whole
    seconds, so this is exact for them, and a fractional event counts where it covers most of a
    segment."""
    mask = np.zeros(segments, dtype=np.float64)
    starts = np.arange(segments, dtype=np.float64)
    for _label, onset, offset in parse_events(events):
        overlap = np.clip(np.minimum(starts + 1, offset) - np.maximum(starts, onset), 0, None)
        mask[overlap >= 0.5] = 1.0
    return mask


def temporal_mae(attention: np.ndarray, masks: np.ndarray, binary: bool) -> np.ndarray:
    """Per-video MAE between time attention (N,T) and annotation masks (N,T)."""
    att = (attention >= THRESHOLD).astype(np.float64) if binary else attention.astype(np.float64)
    return np.abs(att - masks).mean(axis=1)


def temporal_auc(attention: np.ndarray, masks: np.ndarray) -> float:
    """ROC AUC of the time attention as a score for 'this segment is in an event', pooled over
    all segments: 0.5 for attention that does not know when, whatever its scale."""
    y = masks.reshape(-1)
    if y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, attention.reshape(-1)))


def annotated(manifest, video_ids, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks (M,T) and the positions (M,) in `video_ids` of videos with audio annotations."""
    events = dict(zip(manifest["video_id"], manifest["audio_events"], strict=True))
    masks, rows = [], []
    for i, vid in enumerate(video_ids):
        evs = parse_events(events.get(str(vid), "[]"))
        if evs:
            masks.append(event_mask(evs, segments))
            rows.append(i)
    return np.array(masks).reshape(len(rows), segments), np.array(rows, dtype=int)


def temporal_game(time_attention: np.ndarray, masks: np.ndarray) -> dict:
    """MAE (soft, binary) and AUC of one set of time attentions against the masks."""
    return {
        "mae_soft": float(temporal_mae(time_attention, masks, binary=False).mean()),
        "mae_binary": float(temporal_mae(time_attention, masks, binary=True).mean()),
        "auc": temporal_auc(time_attention, masks),
        "videos": int(len(masks)),
    }


def temporal_baselines(masks: np.ndarray, seed: int, draws: int) -> dict:
    """Uniform attention (0.5 everywhere: no idea when) and random attention (U(0,1) per
    segment, `draws` seeded draws averaged)."""
    uniform = temporal_game(np.full(masks.shape, 0.5), masks)
    rng = np.random.default_rng(seed)
    games = [temporal_game(rng.random(masks.shape), masks) for _ in range(draws)]
    random = {k: float(np.mean([g[k] for g in games])) for k in ("mae_soft", "mae_binary", "auc")}
    random["videos"] = int(len(masks))
    return {"uniform": uniform, "random": random}


def box_cells(box, grid: tuple[int, int]) -> np.ndarray:
    """(H,W) bool: feature cells that overlap the box [x0, y0, x1, y1] (fractions of the frame).

    The grid cells tile the frame evenly (a 7x7 map of a 224 frame: 32-pixel cells); a cell
    counts as inside when it overlaps the box with positive area, the resolution of the map."""
    h, w = grid
    x0, y0, x1, y1 = box
    xs, ys = np.arange(w) / w, np.arange(h) / h
    in_x = (xs < x1) & (xs + 1 / w > x0)
    in_y = (ys < y1) & (ys + 1 / h > y0)
    return in_y[:, None] & in_x[None, :]


def spatial_hits(space_attention: np.ndarray, boxes: dict) -> tuple[list[bool], list[float]]:
    """Per annotated second: whether the attention's peak cell is in the box, and the chance
    that a uniformly random cell is (the uniform attention baseline: its peak is a tie)."""
    t_max, h, w = space_attention.shape
    hits, chance = [], []
    for second, box in sorted(boxes.items(), key=lambda kv: int(kv[0])):
        t = int(second)
        if t >= t_max:
            continue
        cells = box_cells(box, (h, w))
        peak = np.unravel_index(np.argmax(space_attention[t]), (h, w))
        hits.append(bool(cells[peak]))
        chance.append(float(cells.mean()))
    return hits, chance


def spatial_game(space_attention: np.ndarray, boxes_per_video: list[dict], seed: int, draws: int):
    """Hit rate of the attention peaks (N,T,H,W) over all annotated seconds, with the uniform
    (exact expectation) and random (seeded U(0,1) maps) baselines."""
    rng = np.random.default_rng(seed)
    hits, chance, random_hits = [], [], []
    for att, boxes in zip(space_attention, boxes_per_video, strict=True):
        h, c = spatial_hits(att, boxes)
        hits += h
        chance += c
        for _ in range(draws):
            random_hits += spatial_hits(rng.random(att.shape), boxes)[0]
    if not hits:
        return None
    return {
        "model": {"hit_rate": float(np.mean(hits)), "seconds": len(hits)},
        "uniform": {"hit_rate": float(np.mean(chance)), "seconds": len(chance)},
        "random": {"hit_rate": float(np.mean(random_hits)), "seconds": len(hits)},
    }


def best_fixed_cell(boxes_per_video: list[dict], grid: tuple[int, int], t_max: int):
    """The (row, col) cell inside the most annotated boxes of the given (training) videos: the
    fixed-cell baseline points there every second (a centre bias, learnt without the test set)."""
    counts = np.zeros(grid)
    for boxes in boxes_per_video:
        for second, box in boxes.items():
            if int(second) < t_max:
                counts += box_cells(box, grid)
    return tuple(int(i) for i in np.unravel_index(np.argmax(counts), grid))


def fixed_cell_hits(cell, boxes: dict, grid: tuple[int, int], t_max: int) -> list[bool]:
    """Per annotated second (as `spatial_hits`): whether the fixed `cell` is in the box."""
    return [
        bool(box_cells(box, grid)[cell])
        for second, box in sorted(boxes.items(), key=lambda kv: int(kv[0]))
        if int(second) < t_max
    ]
