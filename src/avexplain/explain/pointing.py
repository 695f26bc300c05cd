"""Pointing games: attention against annotated ground truth (docs/explanations.md).

Temporal (Table 3): the time attention (T,) of a video against the binary mask of its annotated
audio events: mean absolute error with soft attention and with attention binarised at 0.5, and
the per-video ROC AUC. Spatial (synth only, which has boxes): is the peak of the space attention
inside the sounding object's box, per annotated second, ties broken fairly. Both come with
attentions that know nothing of the video to beat: uniform, random, all ones and the training
split's event prior in time; the centre, the best fixed cell of the training split and the
frame's own saliency in space. A gate's output has no built-in direction (a model may mark the
object by its lowest values), so the space game also reads the map's trough and the end that
the validation split points with (`orientation`)."""

from __future__ import annotations

import json

import numpy as np

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


def per_video_auc(attention: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """ROC AUC of each video's time attention (T,) as a score for 'this segment is in an event'
    (N,): 0.5 for attention that does not know when, ties counted half, whatever its scale.
    NaN for a video whose segments are all in, or all out of, an event (no ranking to score).

    Per video, not pooled over videos: pooling rewards attention that is merely higher in
    videos with longer events (a per-video constant scores above 0.5 pooled)."""
    from sklearn.metrics import roc_auc_score  # here: the Snakefile imports this module

    out = np.full(len(masks), np.nan)
    for i, (att, y) in enumerate(zip(attention, masks, strict=True)):
        if 0 < y.sum() < len(y):
            out[i] = roc_auc_score(y, att)
    return out


def temporal_auc(attention: np.ndarray, masks: np.ndarray) -> float:
    """Mean over videos of the per-video AUC (videos with both kinds of segment)."""
    auc = per_video_auc(attention, masks)
    return float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")


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
    """MAE (soft, binary) and AUC of one set of time attentions against the masks: the means
    over videos, and the per-video values (`per_video`) for paired comparisons."""
    soft = temporal_mae(time_attention, masks, binary=False)
    binary = temporal_mae(time_attention, masks, binary=True)
    auc = per_video_auc(time_attention, masks)
    return {
        "mae_soft": float(soft.mean()),
        "mae_binary": float(binary.mean()),
        "auc": float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
        "videos": int(len(masks)),
        "auc_videos": int(np.isfinite(auc).sum()),
        "per_video": {"mae_soft": soft.tolist(), "mae_binary": binary.tolist(),
                      "auc": auc.tolist()},
    }  # fmt: skip


def event_prior(masks: np.ndarray) -> np.ndarray:
    """Per segment, the fraction of (training) videos whose event covers it (T,)."""
    if len(masks) == 0:
        raise ValueError("no annotated video to estimate the event prior from")
    return masks.mean(axis=0)


def temporal_baselines(masks: np.ndarray, seed: int, draws: int, prior=None) -> dict:
    """Attentions that know nothing about the video: uniform (0.5 everywhere), all ones (every
    segment attended: binarised STAN attention that never drops below 0.5 is this), random
    (U(0,1) per segment, `draws` seeded draws averaged), and, given the training split's
    per-segment event frequency `prior` (T,), that prior for every video."""
    out = {
        "uniform": temporal_game(np.full(masks.shape, 0.5), masks),
        "all_ones": temporal_game(np.ones(masks.shape), masks),
    }
    rng = np.random.default_rng(seed)
    games = [temporal_game(rng.random(masks.shape), masks) for _ in range(draws)]
    random = {k: float(np.mean([g[k] for g in games])) for k in ("mae_soft", "mae_binary", "auc")}
    random["videos"] = int(len(masks))
    # a video without a ranking is NaN in every draw alike, so the plain mean keeps it NaN
    random["per_video"] = {
        k: np.mean([g["per_video"][k] for g in games], axis=0).tolist()
        for k in ("mae_soft", "mae_binary", "auc")
    }
    out["random"] = random
    if prior is not None:
        out["event_prior"] = temporal_game(np.broadcast_to(prior, masks.shape), masks)
    return out


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


def peak_hit(attention: np.ndarray, cells: np.ndarray) -> float:
    """Whether the peak of one map (H,W) is in `cells`, ties broken fairly: the expected hit of
    a uniform pick among the cells sharing the top value (a flat map scores the fraction of
    cells in the box; no cell is favoured by its index)."""
    top = attention == attention.max()
    return float((top & cells).sum() / top.sum())


def annotated_seconds(boxes: dict, t_max: int) -> list[tuple[int, list]]:
    """(second, box) of the annotated seconds within the clip, in order."""
    pairs = sorted(((int(k), v) for k, v in boxes.items()), key=lambda kv: kv[0])
    return [(t, box) for t, box in pairs if t < t_max]


def spatial_hits(space_attention: np.ndarray, boxes: dict) -> tuple[list[float], list[float]]:
    """Per annotated second: the (fair) hit of the attention's peak cell in the box, and the
    chance that a uniformly random cell is (the uniform attention baseline)."""
    t_max, h, w = space_attention.shape
    hits, chance = [], []
    for t, box in annotated_seconds(boxes, t_max):
        cells = box_cells(box, (h, w))
        hits.append(peak_hit(space_attention[t], cells))
        chance.append(float(cells.mean()))
    return hits, chance


def centre_map(grid: tuple[int, int]) -> np.ndarray:
    """(H,W) attention peaking at the frame's centre (the middle cells tie on an even grid)."""
    h, w = grid
    ys, xs = (np.arange(h) + 0.5) / h - 0.5, (np.arange(w) + 0.5) / w - 0.5
    return -np.hypot(ys[:, None], xs[None, :])


def best_fixed_cell(train_boxes: list[dict], grid: tuple[int, int], t_max: int) -> np.ndarray:
    """(H,W) map that is 1 on the cell(s) most often inside the box over the annotated seconds
    of the training split, 0 elsewhere: the best a fixed guess can do, learned without the
    test videos."""
    counts = np.zeros(grid)
    for boxes in train_boxes:
        for _t, box in annotated_seconds(boxes, t_max):
            counts += box_cells(box, grid)
    if counts.sum() == 0:
        raise ValueError("the training split has no annotated box to learn a fixed cell from")
    return (counts == counts.max()).astype(np.float64)


def _per_video(values: list[list[float]]) -> list[float]:
    return [float(np.mean(v)) if v else float("nan") for v in values]


def _entry(values: list[list[float]]) -> dict:
    """Hit rate over every annotated second, their number, and the per-video hit rates."""
    return {"hit_rate": float(np.mean([x for v in values for x in v])),
            "seconds": sum(len(v) for v in values), "per_video": _per_video(values)}  # fmt: skip


def peak_game(space_attention: np.ndarray, boxes_per_video: list[dict]) -> dict | None:
    """Hit rate of the peaks of maps (N,T,H,W) over every annotated second: `hit_rate`,
    `seconds` and `per_video` (NaN for a video without annotated seconds); None without any."""
    hits = [spatial_hits(att, boxes)[0]
            for att, boxes in zip(space_attention, boxes_per_video, strict=True)]  # fmt: skip
    return _entry(hits) if any(hits) else None


def orientation(space_attention: np.ndarray, boxes_per_video: list[dict]) -> dict:
    """Which end of a model's space attention marks the sounding object on a held-out split
    (validation): the hit rates of the map's peak and of its trough (the peak of -A) there, and
    the sign that reads the better one (+1: the peak, the paper's reading; -1: the trough). A
    tie, or a split without annotated seconds, keeps +1."""
    peak, trough = (peak_game(s * space_attention, boxes_per_video) for s in (1, -1))
    if peak is None:
        return {"sign": 1, "peak": None, "trough": None, "seconds": 0}
    sign = -1 if trough["hit_rate"] > peak["hit_rate"] else 1
    return {"sign": sign, "peak": peak["hit_rate"], "trough": trough["hit_rate"],
            "seconds": peak["seconds"]}  # fmt: skip


def spatial_game(
    space_attention: np.ndarray,
    boxes_per_video: list[dict],
    seed: int,
    draws: int,
    train_boxes: list[dict] | None = None,
    saliency: np.ndarray | None = None,
):
    """Hit rate of the attention peaks (N,T,H,W) over all annotated seconds, beside attentions
    that do not come from the model: uniform (exact expectation), random (seeded U(0,1) maps),
    the frame's centre, the best fixed cell of the training split (given `train_boxes`), and the
    frame's own saliency (given `saliency` (N,T,H,W), e.g. the feature norm of each cell).
    Each entry has `hit_rate` (over seconds), `seconds`, and `per_video` hit rates (NaN for a
    video without annotated seconds) for paired comparisons."""
    n, t_max, h, w = space_attention.shape
    rng = np.random.default_rng(seed)
    fixed = {"centre": centre_map((h, w))}
    if train_boxes is not None:
        fixed["best_fixed_cell"] = best_fixed_cell(train_boxes, (h, w), t_max)
    names = ["model", "uniform", "random", *fixed, *(["saliency"] if saliency is not None else [])]
    hits = {k: [] for k in names}
    for i, (att, boxes) in enumerate(zip(space_attention, boxes_per_video, strict=True)):
        h_model, chance = spatial_hits(att, boxes)
        hits["model"].append(h_model)
        hits["uniform"].append(chance)
        draws_hits = [spatial_hits(rng.random(att.shape), boxes)[0] for _ in range(draws)]
        hits["random"].append(list(np.mean(draws_hits, axis=0)) if h_model else [])
        for name, fmap in fixed.items():
            hits[name].append(spatial_hits(np.broadcast_to(fmap, att.shape), boxes)[0])
        if saliency is not None:
            hits["saliency"].append(spatial_hits(saliency[i], boxes)[0])
    if not any(hits["model"]):
        return None
    return {name: _entry(values) for name, values in hits.items()}


def fixed_cell_hits(
    fixed: np.ndarray, boxes: dict, grid: tuple[int, int], t_max: int
) -> list[float]:
    """Per annotated second (as `spatial_hits`): the hit of the fixed map of `best_fixed_cell`,
    its tied cells counted fairly (the fraction of them inside the box)."""
    return [
        float((box_cells(box, grid) * fixed).sum() / fixed.sum())
        for _, box in annotated_seconds(boxes, t_max)
    ]
