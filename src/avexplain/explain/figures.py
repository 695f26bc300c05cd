"""Figures of the explanations stage: perturbation curves (the paper's Figure 3 / A) and
attention maps over frames and waveforms (Figure 4 / B). matplotlib, Agg backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from avexplain.explain.perturbation import CONTROL, MASKS  # noqa: E402


def perturbation_figure(tables: dict[str, pd.DataFrame], dataset: str, out, metadata: dict):
    """Two panels (relevant, irrelevant): mean TVD against sigma^2, one line per model, the
    standard deviation over videos shaded; beside each, dashed in the same colour, the control:
    a random mask of the same size per video and time step. The legend gives each mask's mean
    coverage of the visual cells."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, which in zip(axes, MASKS, strict=True):
        for model, table in tables.items():
            rows = table[table["mask"] == which].sort_values("noise_variance")
            x, y, s = rows["noise_variance"], rows["tvd_mean"], rows["tvd_std"]
            cover = rows["coverage_visual"].iloc[0] if "coverage_visual" in rows else None
            label = model if cover is None or pd.isna(cover) else f"{model} ({cover:.0%} of cells)"
            (line,) = ax.plot(x, y, marker="o", markersize=3, label=label)
            ax.fill_between(x, (y - s).clip(lower=0), y + s, color=line.get_color(), alpha=0.15)
            ctrl = table[table["mask"] == which + CONTROL].sort_values("noise_variance")
            if len(ctrl):
                ax.plot(ctrl["noise_variance"], ctrl["tvd_mean"], linestyle="--",
                        color=line.get_color(), label=f"{model}: random mask, same size")  # fmt: skip
        ax.set_title(
            f"({'ab'[MASKS.index(which)]}) {which} features (attention "
            f"{'>=' if which == 'relevant' else '<'} 0.5)",
            fontsize=10,
        )
        ax.set_xlabel(r"noise variance $\sigma^2$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("TVD (mean over videos, ± std)")
    fig.suptitle(f"Perturbation tests — {dataset} (dashed: same-size random-mask control)",
                 fontsize=11)  # fmt: skip
    fig.tight_layout()
    _save(fig, out, metadata)


def attention_figure(
    frames, space_attention, wave, time_attention, event_mask, title, out, metadata: dict
):
    """One video: a frame per second with its space attention upsampled over it (bilinear, as
    in the paper's figures), then the waveform with the time attention (and the annotated audio
    events, where there are any) drawn over it.

    Trained attention often spans a narrow range (e.g. 0.45-0.65), so the colours span the
    video's own min..max (the same scale for all its frames, so seconds stay comparable); the
    title states that range. The time attention is drawn on its absolute 0..1 scale."""
    t = len(frames)
    fig = plt.figure(figsize=(1.4 * t, 3.6))
    grid = fig.add_gridspec(2, t, height_ratios=[1.2, 1.0], hspace=0.25, wspace=0.04)
    size = frames.shape[1]
    if space_attention is not None:
        low, high = float(space_attention.min()), float(space_attention.max())
        title += f"  (space attention {low:.2f}-{high:.2f}: blue to red)"
        high = high if high > low else low + 1e-6
    for i in range(t):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[i])
        if space_attention is not None:
            ax.imshow(
                space_attention[i],
                cmap="jet",
                alpha=0.5,
                vmin=low,
                vmax=high,
                interpolation="bilinear",
                extent=(-0.5, size - 0.5, size - 0.5, -0.5),
            )
        ax.set_title(f"{i} s", fontsize=7)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    seconds = np.arange(len(wave)) / (len(wave) / t)
    peak = float(np.abs(wave).max()) or 1.0
    ax.plot(seconds, wave / peak, color="0.4", linewidth=0.4)  # scaled to the clip's peak
    ax.set_xlim(0, t)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    twin = ax.twinx()
    if event_mask is not None:
        for s in np.flatnonzero(event_mask):
            twin.axvspan(s, s + 1, color="tab:green", alpha=0.15, linewidth=0)
    if time_attention is not None:
        twin.step(
            np.arange(t + 1),
            np.r_[time_attention, time_attention[-1]],
            where="post",
            color="tab:red",
            linewidth=1.5,
            label="time attention",
        )
        twin.axhline(0.5, color="tab:red", linestyle=":", linewidth=0.6)
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("attention", fontsize=8)
    fig.suptitle(title, fontsize=9)
    _save(fig, out, metadata)


def image_grid(paths: list[Path], out, metadata: dict, title: str):
    """The per-video figures stacked into one image."""
    images = [plt.imread(p) for p in paths]
    fig, axes = plt.subplots(len(images), 1, figsize=(12, 3.2 * len(images)), squeeze=False)
    for ax, img in zip(axes[:, 0], images, strict=True):
        ax.imshow(img)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _save(fig, out, metadata)


def _save(fig, out, metadata: dict):
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    # PNG text chunks carry the provenance (weights, config hash, code version)
    fig.savefig(out, dpi=110, metadata={k: str(v) for k, v in metadata.items()})
    plt.close(fig)
