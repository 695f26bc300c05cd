"""Perturbation tests (robustness of attention explanations, docs/explanations.md).

Gaussian noise of variance sigma^2 is added to the input features where the model's own
attention marks them relevant (attention >= 0.5) or irrelevant (< 0.5); the change of the
prediction is the total variation distance (TVD) between the class distributions before and
after. Each mask has a control: a seeded random mask of the same size per video and time step,
so that a difference between relevant and irrelevant that only reflects how many cells each
covers shows up as no difference from the control. By default the clean attention is held fixed
under noise (the paper's Algorithm B feeds the classifier the clean A); `attention="recompute"`
lets the perturbed input recompute it. Draws are batched: many perturbed copies of one video go
through the model in one pass.

Fast path: the model's first operation on the visual map is a Linear `visual_linear` (Dv -> D).
Masked noise pushed through it stays Gaussian, N(0, sigma^2 W S^2 W^T) at a masked cell (S the
per-channel noise scale) and zero elsewhere, so it is drawn directly in the D-dim projected space
from a factor F with F F^T = W S^2 W^T (computed once per model) and fed to
`model.forward_projected`. This replaces a Dv-dim draw and a Dv x D product per cell and per
draw by a D-dim draw and a D x D product at the masked cells only. Audio (Da-dim) noise is drawn
directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RELEVANT, IRRELEVANT = "relevant", "irrelevant"
MASKS = (RELEVANT, IRRELEVANT)
CONTROL = "_random"  # suffix of each mask's control: a random mask of the same size
ALL_MASKS = (*MASKS, *(m + CONTROL for m in MASKS))  # axis 1 of the TVD arrays, in this order
THRESHOLD = 0.5  # attention lies in [0, 1]; >= 0.5 counts as relevant (the paper's rule)
ATTENTION_MODES = ("fixed", "recompute")


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


def attention_masks(output: dict, which: str, audio_unattended: bool = False) -> AttentionMasks:
    """Masks of the relevant (attention >= 0.5) or irrelevant (< 0.5) input features.

    The visual map is masked by the attention that weights it (space-time for STAN, space for
    ABN-style models); the audio by the time attention. `audio_unattended`: the model hears the
    audio but has no attention over it (AV-ABN, AV-CAM): it weighs every segment fully, as an
    attention of 1 would, so all its audio is relevant and none irrelevant; every audio-visual
    model's audio is thus perturbed by one rule. A model that does not use a modality at all
    is left unperturbed there."""
    if which not in MASKS:
        raise ValueError(f"mask must be one of {MASKS}, got {which!r}")
    visual, audio = visual_attention(output), output.get("time_attention")
    if audio is None and audio_unattended and visual is not None:
        audio = torch.ones(visual.shape[:2], dtype=visual.dtype, device=visual.device)
    if visual is None and audio is None:
        raise ValueError("the model returns neither space nor time attention: nothing to test")

    def pick(att):
        if att is None:
            return None
        return att >= THRESHOLD if which == RELEVANT else att < THRESHOLD

    return AttentionMasks(visual=pick(visual), audio=pick(audio))


def random_like(mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random mask with as many True entries as `mask` in every row of its first axis: per
    time step for a (T,H,W) visual mask, over the video for a (T,) audio mask."""
    rows = mask.reshape(mask.shape[0], -1) if mask.dim() > 1 else mask.reshape(1, -1)
    counts = rows.sum(dim=1, keepdim=True)
    noise = torch.rand(rows.shape, generator=gen, device=gen.device).to(mask.device)
    ranks = noise.argsort(dim=1).argsort(dim=1)  # a uniform random ordering of each row
    return (ranks < counts).reshape(mask.shape)


def projected_noise_factor(linear: torch.nn.Linear, scale=None) -> torch.Tensor:
    """F (D x k) with F F^T = W S^2 W^T, W the (D x Dv) weight and S = diag(scale) (identity
    when None): z ~ N(0, I_k) gives F z ~ W S eta.

    k = D through a Cholesky factor when D <= Dv (the useful case: far fewer numbers to draw);
    a rank-deficient W W^T falls back to an eigen-factor; D > Dv simply uses W S itself."""
    weight = linear.weight.detach().double()
    if scale is not None:
        weight = weight * torch.as_tensor(scale, dtype=torch.float64, device=weight.device)
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


class HeldAttention:
    """Holds a model's attention at its clean value while perturbed copies go through it.

    A model names the submodules whose outputs make its attention (`attention_modules`, e.g.
    STAN's space and time gates: the attention is their sigmoid); forward hooks record their
    outputs in the clean pass (`capture`) and give them back, repeated over the batch of
    perturbed copies, in the perturbed passes (`replay`). Unsupported models raise."""

    def __init__(self, model):
        names = getattr(model, "attention_modules", None)
        if names is None:
            raise ValueError(
                f"{type(model).__name__} declares no attention_modules: its attention cannot be "
                "held fixed (explain.attention: recompute)"
            )
        self.saved: dict[str, torch.Tensor] = {}
        self.mode = None
        self.handles = [model.get_submodule(n).register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name):
        def hook(_module, _inputs, out):
            if self.mode == "capture":
                self.saved[name] = out.detach()
                return None
            if self.mode == "replay":
                held = self.saved[name]
                return held.repeat(out.shape[0] // held.shape[0], *[1] * (held.dim() - 1))
            return None

        return hook

    def close(self):
        for h in self.handles:
            h.remove()


class _Perturber:
    """Perturbed forward passes of one model, in the projected space (fast) or the input space.

    `visual_scale`, `audio_scale`: per-channel multipliers of the standard noise (None: 1, the
    noise is in the space the model reads, standardized features by default)."""

    def __init__(self, model, fast: bool, visual_scale=None, audio_scale=None):
        if fast and not has_fast_path(model):
            raise ValueError(
                f"{type(model).__name__} has no visual_linear/forward_projected: "
                "use the input-space path (explain.fast_path: false)"
            )
        self.model, self.fast = model, fast
        device = next(model.parameters()).device
        self.visual_scale = None if visual_scale is None else torch.as_tensor(
            visual_scale, dtype=torch.float32, device=device)  # fmt: skip
        self.audio_scale = None if audio_scale is None else torch.as_tensor(
            audio_scale, dtype=torch.float32, device=device)  # fmt: skip
        self.factor = (
            projected_noise_factor(model.visual_linear, self.visual_scale) if fast else None
        )

    def base(self, visual: torch.Tensor) -> torch.Tensor:
        return self.model.visual_linear(visual) if self.fast else visual

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> dict:
        if self.fast:
            return self.model.forward_projected(visual, audio)
        return self.model(visual, audio)

    def visual_noise(self, rows: int, cells: int, dim: int, gen) -> torch.Tensor:
        """Standard noise (rows, cells, dim) as it arrives at the base representation."""
        if self.factor is None:
            noise = torch.randn(rows, cells, dim, generator=gen, device=gen.device)
            return noise if self.visual_scale is None else noise * self.visual_scale
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
            if perturber.audio_scale is not None:
                noise = noise * perturber.audio_scale
            a[:, acells] += noise * s[:, None, None]
        logits = perturber.forward(v.reshape(rows, *shape), a)["logits"]
        out[rows_at] = tvd(p0, to_distribution(logits))
    return out.reshape(len(variances), draws)


def uses_unattended_audio(model) -> bool:
    """True for a model that hears the audio (`uses_audio`) without an attention over it; the
    check is made on the clean output (no time attention)."""
    return bool(getattr(model, "uses_audio", False))


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
    attention: str = "fixed",
    visual_scale=None,
    audio_scale=None,
) -> dict:
    """The perturbation test on N videos: visual (N,T,H,W,Dv), audio (N,T,Da).

    Returns `tvd` (N, 4, levels): per video, mask (ALL_MASKS: relevant, irrelevant and their
    same-size random controls) and noise level, the TVD averaged over `draws` draws
    ((N, 4, levels, draws) unaveraged with `per_draw`); and `coverage`: the fraction of visual
    cells / audio segments each mask covers, (N, 4) each (NaN for a modality not perturbed).
    `attention`: "fixed" holds the clean attention in the perturbed passes (Algorithm B),
    "recompute" lets the noise change it too. `visual_scale`/`audio_scale`: per-channel noise
    multipliers (see _Perturber)."""
    if attention not in ATTENTION_MODES:
        raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
    device = torch.device(device)
    model = model.to(device).eval()
    perturber = _Perturber(model, fast, visual_scale, audio_scale)
    held = HeldAttention(model) if attention == "fixed" else None
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    mask_gen = torch.Generator().manual_seed(seed)  # controls: their own stream, on the CPU
    unattended = uses_unattended_audio(model)
    n = visual.shape[0]
    result = np.zeros((n, len(ALL_MASKS), len(variances), draws if per_draw else 1))
    coverage = {k: np.full((n, len(ALL_MASKS)), np.nan) for k in ("visual", "audio")}
    try:
        for i in progress(range(n)) if progress else range(n):
            v = visual[i : i + 1].to(device)
            a = audio[i : i + 1].to(device)
            base = perturber.base(v)
            if held is not None:
                held.mode = "capture"
            clean = perturber.forward(base, a)
            if held is not None:
                held.mode = "replay"
            p0 = to_distribution(clean["logits"])[0]
            masks = []
            for which in MASKS:
                m = attention_masks(clean, which, audio_unattended=unattended)
                masks.append(AttentionMasks(
                    visual=None if m.visual is None else m.visual[0],
                    audio=None if m.audio is None else m.audio[0],
                ))  # fmt: skip
            for m in list(masks):
                masks.append(AttentionMasks(*(
                    None if x is None else random_like(x, mask_gen) for x in (m.visual, m.audio)
                )))  # fmt: skip
            for j, m in enumerate(masks):
                for key, mask in (("visual", m.visual), ("audio", m.audio)):
                    if mask is not None:
                        coverage[key][i, j] = mask.float().mean().item()
                tvds = perturb_video(
                    perturber, base[0], a[0], p0, m, variances, draws, gen, batch_size
                )
                tvds = tvds if per_draw else tvds.mean(dim=1, keepdim=True)
                result[i, j] = tvds.cpu().numpy()
    finally:
        if held is not None:
            held.close()
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
    attention: str = "fixed",
) -> np.ndarray:
    """The reference: Algorithm B as written, one perturbed input-space forward per draw.

    Same output as `perturbation_test(...)["tvd"][:, :2]` (the attention masks, no controls);
    used by the tests and the benchmark."""
    model = model.eval()
    gen = torch.Generator().manual_seed(seed)
    held = HeldAttention(model) if attention == "fixed" else None
    result = np.zeros((visual.shape[0], len(MASKS), len(variances), draws))
    for i in range(visual.shape[0]):
        v, a = visual[i : i + 1], audio[i : i + 1]
        if held is not None:
            held.mode = "capture"
        clean = model(v, a)
        if held is not None:
            held.mode = "replay"
        p0 = to_distribution(clean["logits"])
        for j, which in enumerate(MASKS):
            masks = attention_masks(clean, which, audio_unattended=uses_unattended_audio(model))
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
    if held is not None:
        held.close()
    return result if per_draw else result.mean(axis=-1)
