"""Perturbation tests (robustness of attention explanations, docs/explanations.md).

Gaussian noise of variance sigma^2 is added to the input features where the model's own
attention marks them relevant (attention >= 0.5) or irrelevant (< 0.5); the change of the
prediction is the total variation distance (TVD) between the class distributions before and
after. Draws are batched: many perturbed copies of one video go through the model in one pass.

Fast path: the model's first operation on the visual map is a Linear `visual_linear` (Dv -> D).
Masked noise pushed through it stays Gaussian, N(0, sigma^2 W W^T) at a masked cell and zero
elsewhere, so it is drawn directly in the D-dim projected space from a factor F with
F F^T = W W^T (computed once per model) and fed to `model.forward_projected`. This replaces a
Dv-dim draw and a Dv x D product per cell and per draw by a D-dim draw and a D x D product at
the masked cells only. Audio (Da-dim) noise is drawn directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RELEVANT, IRRELEVANT = "relevant", "irrelevant"
MASKS = (RELEVANT, IRRELEVANT)
THRESHOLD = 0.5  # attention lies in [0, 1]; >= 0.5 counts as relevant (the paper's rule)


def to_distribution(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid scores normalised to sum to 1 over the classes: the predictive distribution.

    Multi-label scores are not a distribution; dividing the sigmoid scores by their sum keeps
    their ranking and ratios and makes the TVD well defined (bounded by 1)."""
    scores = torch.sigmoid(logits.double())
    return scores / scores.sum(dim=-1, keepdim=True)


def tvd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Total variation distance 0.5 * sum_i |p_i - q_i| over the last axis."""
    return 0.5 * (p - q).abs().sum(dim=-1)


@dataclass
class AttentionMasks:
    """Where noise goes, per video: visual (B,T,H,W) and audio (B,T) booleans; None = never."""

    visual: torch.Tensor | None
    audio: torch.Tensor | None


def visual_attention(output: dict) -> torch.Tensor | None:
    """The attention that weights the visual map (Algorithm B: A^st = A^s * A^t for STAN)."""
    if output.get("space_time_attention") is not None:
        return output["space_time_attention"]
    space, time = output.get("space_attention"), output.get("time_attention")
    if space is None:
        return None  # no spatial attention (e.g. STAN audio): the visual map is not perturbed
    if time is None:
        return space
    return space * time[..., None, None]


def attention_masks(output: dict, which: str) -> AttentionMasks:
    """Masks of the relevant (attention >= 0.5) or irrelevant (< 0.5) input features.

    The visual map is masked by the attention that weights it (space-time for STAN, space for
    ABN-style models); the audio by the time attention. A modality the model has no attention
    on is left unperturbed: the test asks what the attention says, nothing else."""
    if which not in MASKS:
        raise ValueError(f"mask must be one of {MASKS}, got {which!r}")
    visual, audio = visual_attention(output), output.get("time_attention")
    if visual is None and audio is None:
        raise ValueError("the model returns neither space nor time attention: nothing to test")

    def pick(att):
        if att is None:
            return None
        return att >= THRESHOLD if which == RELEVANT else att < THRESHOLD

    return AttentionMasks(visual=pick(visual), audio=pick(audio))


def projected_noise_factor(linear: torch.nn.Linear) -> torch.Tensor:
    """F (D x k) with F F^T = W W^T, W the (D x Dv) weight: z ~ N(0, I_k) gives F z ~ W eta.

    k = D through a Cholesky factor when D <= Dv (the useful case: far fewer numbers to draw);
    a rank-deficient W W^T falls back to an eigen-factor; D > Dv simply uses W itself."""
    weight = linear.weight.detach().double()
    d, dv = weight.shape
    if d > dv:
        return weight.float()
    cov = weight @ weight.T
    factor, info = torch.linalg.cholesky_ex(cov)
    if int(info) != 0:
        vals, vecs = torch.linalg.eigh(cov)
        factor = vecs * vals.clamp(min=0).sqrt()
    return factor.float()


def has_fast_path(model) -> bool:
    return isinstance(getattr(model, "visual_linear", None), torch.nn.Linear) and hasattr(
        model, "forward_projected"
    )


class _Perturber:
    """Perturbed forward passes of one model, in the projected space (fast) or the input space."""

    def __init__(self, model, fast: bool):
        if fast and not has_fast_path(model):
            raise ValueError(
                f"{type(model).__name__} has no visual_linear/forward_projected: "
                "use the input-space path (explain.fast_path: false)"
            )
        self.model, self.fast = model, fast
        self.factor = projected_noise_factor(model.visual_linear) if fast else None

    def base(self, visual: torch.Tensor) -> torch.Tensor:
        return self.model.visual_linear(visual) if self.fast else visual

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> dict:
        if self.fast:
            return self.model.forward_projected(visual, audio)
        return self.model(visual, audio)

    def visual_noise(self, rows: int, cells: int, dim: int, gen) -> torch.Tensor:
        """Standard noise (rows, cells, dim) as it arrives at the base representation."""
        if self.factor is None:
            return torch.randn(rows, cells, dim, generator=gen, device=gen.device)
        factor = self.factor.to(gen.device)
        z = torch.randn(rows, cells, factor.shape[1], generator=gen, device=gen.device)
        return z @ factor.T


@torch.no_grad()
def perturb_video(
    perturber: _Perturber,
    base: torch.Tensor,
    audio: torch.Tensor,
    p0: torch.Tensor,
    masks: AttentionMasks,
    variances: list[float],
    draws: int,
    gen: torch.Generator,
    batch_size: int,
) -> torch.Tensor:
    """TVDs (levels, draws) of one video: base (T,H,W,D'), audio (T,Da), masks unbatched."""
    shape = base.shape
    flat = base.reshape(-1, shape[-1])
    vcells = (
        masks.visual.reshape(-1).nonzero().squeeze(1)
        if masks.visual is not None
        else torch.empty(0, dtype=torch.long, device=base.device)
    )
    acells = (
        masks.audio.nonzero().squeeze(1)
        if masks.audio is not None
        else torch.empty(0, dtype=torch.long, device=base.device)
    )
    stds = torch.tensor(variances, dtype=torch.float32, device=base.device).sqrt()
    stds = stds.repeat_interleave(draws)  # row r: level r // draws
    # Without noise (sigma 0, or an empty mask) the input is unchanged and the TVD is exactly 0;
    # running it would only add float round-off of a batched forward.
    out = torch.zeros(len(stds), dtype=torch.float64, device=base.device)
    noisy = (stds > 0).nonzero().squeeze(1) if len(vcells) + len(acells) else stds[:0].long()
    for start in range(0, len(noisy), batch_size):
        rows_at = noisy[start : start + batch_size]
        s = stds[rows_at]
        rows = len(s)
        v = flat.expand(rows, *flat.shape).clone()
        if len(vcells):
            noise = perturber.visual_noise(rows, len(vcells), flat.shape[-1], gen)
            v[:, vcells] += noise * s[:, None, None]
        a = audio.expand(rows, *audio.shape).clone()
        if len(acells):
            noise = torch.randn(
                rows, len(acells), audio.shape[-1], generator=gen, device=gen.device
            )
            a[:, acells] += noise * s[:, None, None]
        logits = perturber.forward(v.reshape(rows, *shape), a)["logits"]
        out[rows_at] = tvd(p0, to_distribution(logits))
    return out.reshape(len(variances), draws)


@torch.no_grad()
def perturbation_test(
    model,
    visual: torch.Tensor,
    audio: torch.Tensor,
    variances: list[float],
    draws: int,
    seed: int,
    batch_size: int = 200,
    fast: bool = True,
    device: str | torch.device = "cpu",
    progress=None,
    per_draw: bool = False,
) -> dict:
    """The perturbation test on N videos: visual (N,T,H,W,Dv), audio (N,T,Da).

    Returns `tvd` (N, 2, levels): per video, mask (relevant, irrelevant) and noise level, the
    TVD averaged over `draws` draws ((N, 2, levels, draws) unaveraged with `per_draw`); and
    the fraction of visual cells / audio segments that
    each mask covers, (N, 2) each (NaN for a modality without attention)."""
    device = torch.device(device)
    model = model.to(device).eval()
    perturber = _Perturber(model, fast)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    n = visual.shape[0]
    result = np.zeros((n, len(MASKS), len(variances), draws if per_draw else 1))
    coverage = {"visual": np.full((n, 2), np.nan), "audio": np.full((n, 2), np.nan)}
    for i in progress(range(n)) if progress else range(n):
        v = visual[i : i + 1].to(device)
        a = audio[i : i + 1].to(device)
        base = perturber.base(v)
        clean = perturber.forward(base, a)
        p0 = to_distribution(clean["logits"])[0]
        for j, which in enumerate(MASKS):
            m = attention_masks(clean, which)
            masks = AttentionMasks(
                visual=None if m.visual is None else m.visual[0],
                audio=None if m.audio is None else m.audio[0],
            )
            for key, mask in (("visual", masks.visual), ("audio", masks.audio)):
                if mask is not None:
                    coverage[key][i, j] = mask.float().mean().item()
            tvds = perturb_video(
                perturber, base[0], a[0], p0, masks, variances, draws, gen, batch_size
            )
            tvds = tvds if per_draw else tvds.mean(dim=1, keepdim=True)
            result[i, j] = tvds.cpu().numpy()
    return {"tvd": result if per_draw else result[..., 0], "coverage": coverage}


@torch.no_grad()
def perturbation_loop(
    model,
    visual: torch.Tensor,
    audio: torch.Tensor,
    variances: list[float],
    draws: int,
    seed: int,
    per_draw: bool = False,
) -> np.ndarray:
    """The reference: Algorithm B as written, one perturbed input-space forward per draw.

    Same output as `perturbation_test(...)["tvd"]`; used by the tests and the benchmark."""
    model = model.eval()
    gen = torch.Generator().manual_seed(seed)
    result = np.zeros((visual.shape[0], len(MASKS), len(variances), draws))
    for i in range(visual.shape[0]):
        v, a = visual[i : i + 1], audio[i : i + 1]
        clean = model(v, a)
        p0 = to_distribution(clean["logits"])
        for j, which in enumerate(MASKS):
            masks = attention_masks(clean, which)
            vm = None if masks.visual is None else masks.visual[..., None].to(v.dtype)
            am = None if masks.audio is None else masks.audio[..., None].to(a.dtype)
            for k, var in enumerate(variances):
                std = float(np.sqrt(var))
                if std == 0 or (vm is None or not vm.any()) and (am is None or not am.any()):
                    continue  # nothing perturbed: TVD 0 (left as zeros)
                for p in range(draws):
                    vp = v if vm is None else v + std * torch.randn(v.shape, generator=gen) * vm
                    ap = a if am is None else a + std * torch.randn(a.shape, generator=gen) * am
                    out = model(vp, ap)["logits"]
                    result[i, j, k, p] = float(tvd(p0, to_distribution(out))[0])
    return result if per_draw else result.mean(axis=-1)
