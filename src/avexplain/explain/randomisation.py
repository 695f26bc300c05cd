"""Model randomisation check: an explanation that survives re-initialising the weights explains
the input, not the model. Attention maps of the trained model and of a copy with freshly
initialised weights are compared by Spearman rank correlation per video."""

from __future__ import annotations

import copy

import numpy as np
import torch


def reinitialised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A copy of `model` with every layer that has `reset_parameters` re-initialised (seeded)."""
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    reset = 0
    for module in fresh.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
            reset += 1
    if reset == 0:
        raise ValueError(f"{type(model).__name__} has no layer with reset_parameters")
    return fresh.eval()


def _rank_correlations(a: np.ndarray, b: np.ndarray) -> list[float]:
    # imported here: scipy.stats costs 1.3 CPU-s, and only the randomisation jobs need it
    from scipy.stats import spearmanr

    out = []
    for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1), strict=True):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue  # a constant map has no ranking
        out.append(float(spearmanr(x, y).statistic))
    return out


@torch.no_grad()
def randomisation_check(model, visual, audio, seed: int, batch_size: int = 8) -> dict:
    """Spearman correlation (mean over videos, and how many videos had a ranking) between the
    trained and the re-initialised model's space and time attention."""
    fresh = reinitialised(model, seed)
    model = model.eval()
    maps = {"trained": {}, "randomised": {}}
    for name, net in (("trained", model), ("randomised", fresh)):
        for key in ("space_attention", "time_attention"):
            maps[name][key] = []
        for start in range(0, len(visual), batch_size):
            out = net(visual[start : start + batch_size], audio[start : start + batch_size])
            for key in ("space_attention", "time_attention"):
                if out.get(key) is not None:
                    maps[name][key].append(out[key].float().cpu().numpy())
    report = {}
    for key in ("space_attention", "time_attention"):
        if not maps["trained"][key] or not maps["randomised"][key]:
            continue
        rhos = _rank_correlations(
            np.concatenate(maps["trained"][key]), np.concatenate(maps["randomised"][key])
        )
        report[key] = {
            "spearman_mean": float(np.mean(rhos)) if rhos else float("nan"),
            "spearman_abs_mean": float(np.mean(np.abs(rhos))) if rhos else float("nan"),
            "videos": len(rhos),
        }
    return report
