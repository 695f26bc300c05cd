"""Perturbation tests: TVD, masks, the projected-noise factor, the fast path against the plain
per-draw loop of Algorithm B, and models whose attention is (un)informative by construction."""

import numpy as np
import pytest
import torch

from avexplain.explain.perturbation import (
    HeldAttention,
    attention_masks,
    perturbation_loop,
    perturbation_test,
    projected_noise_factor,
    random_like,
    to_distribution,
    tvd,
)
from avexplain.testing.models import GatedAttention, TinySTAN, UninformativeAttention, VisualOnlyABN


def _features(n=2, t=4, h=3, w=3, dv=24, da=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, t, h, w, dv, generator=g), torch.randn(n, t, da, generator=g)


def test_tvd_and_distribution_on_hand_examples():
    p = torch.tensor([0.5, 0.5, 0.0])
    assert tvd(p, torch.tensor([1.0, 0.0, 0.0])).item() == pytest.approx(0.5)
    assert tvd(p, p).item() == 0.0
    assert tvd(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(1.0)
    # sigmoid scores normalised to sum to 1: logits 0, 0 -> (0.5, 0.5) -> (0.5, 0.5)
    d = to_distribution(torch.tensor([[0.0, 0.0], [0.0, np.log(3.0)]]))
    assert d.sum(-1).tolist() == pytest.approx([1.0, 1.0])
    assert d[1].tolist() == pytest.approx([0.5 / 1.25, 0.75 / 1.25])


def test_masks_follow_algorithm_b():
    space = torch.tensor([[[[0.9, 0.2], [0.6, 0.5]], [[0.9, 0.9], [0.1, 0.7]]]])  # (1,2,2,2)
    time = torch.tensor([[1.0, 0.5]])
    out = {"space_attention": space, "time_attention": time}
    rel, irr = attention_masks(out, "relevant"), attention_masks(out, "irrelevant")
    # A^st = A^s * A^t: the second second is halved, so only cells >= 1.0 there would survive
    expect = torch.tensor([[[[True, False], [True, True]], [[False, False], [False, False]]]])
    assert torch.equal(rel.visual, expect)
    assert torch.equal(irr.visual, ~expect)
    assert torch.equal(rel.audio, torch.tensor([[True, True]]))  # 0.5 counts as relevant
    assert torch.equal(irr.audio, torch.tensor([[False, False]]))
    audio_only = attention_masks({"space_attention": None, "time_attention": time}, "relevant")
    assert audio_only.visual is None and audio_only.audio is not None
    with pytest.raises(ValueError, match="neither space nor time"):
        attention_masks({"space_attention": None, "time_attention": None}, "relevant")


@pytest.mark.parametrize("d, dv", [(8, 24), (24, 8), (6, 6)])
def test_projected_noise_factor_reproduces_the_covariance(d, dv):
    torch.manual_seed(0)
    lin = torch.nn.Linear(dv, d)
    f = projected_noise_factor(lin)
    w = lin.weight.detach().double()
    assert torch.allclose((f.double() @ f.double().T), w @ w.T, atol=1e-4)


def test_rank_deficient_weight_falls_back_to_an_eigen_factor():
    lin = torch.nn.Linear(8, 4)
    with torch.no_grad():
        lin.weight[3] = lin.weight[2]  # W W^T singular: no Cholesky factor
    f = projected_noise_factor(lin).double()
    w = lin.weight.detach().double()
    assert torch.allclose(f @ f.T, w @ w.T, atol=1e-4)


def _agree(a: np.ndarray, b: np.ndarray, z: float = 4.5):
    """Means of two independent samples equal within z standard errors."""
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) <= z * se + 1e-9, (a.mean(), b.mean(), se)


@pytest.mark.parametrize("attention", ["fixed", "recompute"])
def test_fast_path_agrees_in_distribution_with_the_per_draw_loop(attention):
    torch.manual_seed(1)
    model = TinySTAN(24, 8, 5, dim=8)
    v, a = _features()
    levels = [0.0, 0.3, 1.0]
    fast = perturbation_test(
        model, v, a, levels, draws=300, seed=3, per_draw=True, attention=attention
    )["tvd"]
    loop = perturbation_loop(
        model, v, a, levels, draws=150, seed=4, per_draw=True, attention=attention
    )
    assert fast.shape == (2, 4, 3, 300) and loop.shape == (2, 2, 3, 150)
    assert np.abs(fast[:, :, 0]).max() < 1e-6 and np.abs(loop[:, :, 0]).max() < 1e-6
    for i in range(2):
        for j in range(2):
            for k in (1, 2):
                _agree(fast[i, j, k], loop[i, j, k])
    assert fast[..., 2, :].mean() > fast[..., 1, :].mean() > 0  # more noise, larger change


def test_same_seed_same_numbers_and_draws_batched_any_way():
    model = TinySTAN(24, 8, 5, dim=8)
    v, a = _features()
    one = perturbation_test(model, v, a, [0.2, 0.8], draws=30, seed=7, batch_size=60)["tvd"]
    two = perturbation_test(model, v, a, [0.2, 0.8], draws=30, seed=7, batch_size=60)["tvd"]
    np.testing.assert_array_equal(one, two)
    other = perturbation_test(model, v, a, [0.2, 0.8], draws=30, seed=8, batch_size=7)["tvd"]
    assert not np.array_equal(one, other)


def test_uninformative_attention_gives_the_same_tvd_for_both_masks():
    torch.manual_seed(2)
    model = UninformativeAttention(24, 8, 4)
    v, a = _features(n=2, t=4, h=3, w=3)
    res = perturbation_test(model, v, a, [0.5], draws=3000, seed=5, per_draw=True)
    np.testing.assert_array_equal(res["coverage"]["visual"], 0.5)
    for i in range(2):
        _agree(res["tvd"][i, 0, 0], res["tvd"][i, 1, 0])
        for j in (0, 1):  # each mask against its same-size random control
            _agree(res["tvd"][i, j, 0], res["tvd"][i, j + 2, 0])


def test_gating_attention_separates_relevant_from_irrelevant():
    model = GatedAttention(24, 8, 4)
    v, a = _features(n=2, t=4, h=3, w=3)
    tvds = perturbation_test(model, v, a, [0.0, 0.5, 1.0], draws=50, seed=0)["tvd"]
    assert np.abs(tvds[:, 1]).max() < 1e-6  # noise where attention is 0 never arrives (round-off)
    assert (tvds[:, 0, 1:] > 1e-3).all()
    assert (tvds[:, 0, 2] > tvds[:, 0, 1]).all()
    # the random masks of the same size hit gated-out cells too: less than relevant, more than
    # irrelevant
    assert tvds[:, 2, 1:].mean() < tvds[:, 0, 1:].mean() and (tvds[:, 3, 1:] > 1e-3).all()


def test_model_without_fast_path_uses_the_input_space():
    model = VisualOnlyABN(24, 8, 4)
    v, a = _features()
    with pytest.raises(ValueError, match="visual_linear"):
        perturbation_test(model, v, a, [0.5], draws=5, seed=0, fast=True)
    res = perturbation_test(model, v, a, [0.0, 0.5], draws=100, seed=0, fast=False, per_draw=True)
    assert np.isnan(res["coverage"]["audio"]).all()  # no time attention: audio untouched
    loop = perturbation_loop(model, v, a, [0.0, 0.5], draws=100, seed=1, per_draw=True)
    for i in range(2):
        for j in range(2):
            _agree(res["tvd"][i, j, 1], loop[i, j, 1])


def test_random_control_masks_have_the_same_size_per_time_step():
    gen = torch.Generator().manual_seed(0)
    mask = torch.rand(6, 4, 5, generator=gen) < torch.linspace(0, 1, 6)[:, None, None]
    ctrl = random_like(mask, gen)
    assert ctrl.shape == mask.shape and ctrl.dtype == torch.bool
    assert ctrl.reshape(6, -1).sum(1).tolist() == mask.reshape(6, -1).sum(1).tolist()
    assert not torch.equal(ctrl, mask)
    audio = torch.tensor([True, False, True, False, False])
    assert int(random_like(audio, gen).sum()) == 2


def test_held_attention_keeps_the_clean_attention_under_noise():
    torch.manual_seed(0)
    model = TinySTAN(24, 8, 5, dim=8).eval()
    v, a = _features(n=1)
    held = HeldAttention(model)
    held.mode = "capture"
    clean = model(v, a)
    held.mode = "replay"
    noisy = model(v.expand(3, *v.shape[1:]) + torch.randn(3, *v.shape[1:]), a.expand(3, -1, -1))
    held.close()
    assert torch.allclose(noisy["space_attention"], clean["space_attention"].expand(3, -1, -1, -1))
    assert torch.allclose(noisy["time_attention"], clean["time_attention"].expand(3, -1))
    assert not torch.allclose(model(v + 1, a)["time_attention"], clean["time_attention"])
    with pytest.raises(ValueError, match="attention_modules"):
        HeldAttention(torch.nn.Linear(2, 2))


def test_audio_of_a_model_without_time_attention_is_all_relevant():
    space = torch.full((1, 2, 2, 2), 0.7)
    out = {"space_attention": space, "time_attention": None}
    rel = attention_masks(out, "relevant", audio_unattended=True)
    irr = attention_masks(out, "irrelevant", audio_unattended=True)
    assert rel.audio.all() and not irr.audio.any()
    assert attention_masks(out, "relevant").audio is None  # a model that does not hear


def test_noise_scale_multiplies_the_noise_per_channel():
    from avexplain.explain.jobs import noise_scales

    std = (np.array([2.0, 4.0]), np.array([0.5]))
    assert noise_scales({"noise_space": "standardized"}, std) == (None, None)
    vis, aud = noise_scales({"noise_space": "raw"}, std)
    assert vis.tolist() == [0.5, 0.25] and aud.tolist() == [2.0]
    torch.manual_seed(0)
    model = TinySTAN(24, 8, 5, dim=8)
    v, a = _features()
    zero = perturbation_test(model, v, a, [1.0], draws=5, seed=0, visual_scale=np.zeros(24),
                             audio_scale=np.zeros(8))["tvd"]  # fmt: skip
    assert np.abs(zero).max() < 1e-6  # noise scaled to nothing changes nothing
