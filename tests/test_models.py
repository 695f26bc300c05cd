"""The models: STAN's equations pinned by recomputation, and every model's interface."""

import pytest
import torch
import torch.nn.functional as F

from avexplain import models
from avexplain.config import ConfigError

CFG = {"embed_dim": 8, "dropout": 0.0, "space_gate_kernel": 1, "time_gate_hidden": 4}
B, T, H, W, DV, DA, K = 3, 5, 2, 3, 12, 6, 4


def make(name, cfg=CFG):
    torch.manual_seed(0)
    return models.build(name, cfg, DV, DA, K, T, (H, W)).eval()


def inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    visual = torch.randn(B, T, H, W, DV, generator=g)
    audio = torch.randn(B, T, DA, generator=g)
    targets = (torch.rand(B, K, generator=g) > 0.5).float()
    targets[:, 0] = 1
    return visual, audio, targets


@pytest.mark.parametrize("name", models.NAMES)
def test_every_model_follows_the_interface_and_trains_a_step(name):
    model = make(name).train()
    visual, audio, targets = inputs()
    out = model(visual, audio)
    assert out["logits"].shape == (B, K)
    for logits in out["aux_logits"]:
        assert logits.shape == (B, K)
    if out["space_attention"] is not None:
        assert out["space_attention"].shape == (B, T, H, W)
        assert 0 <= out["space_attention"].min() and out["space_attention"].max() <= 1
    if out["time_attention"] is not None:
        assert out["time_attention"].shape == (B, T)
        assert 0 <= out["time_attention"].min() and out["time_attention"].max() <= 1
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = model.loss(out, targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    changed = [not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True)]
    assert all(changed), f"{name}: parameters without gradient"


@pytest.mark.parametrize("name", models.NAMES)
def test_forward_is_forward_projected_of_visual_linear(name):
    model = make(name)
    visual, audio, _ = inputs()
    if not hasattr(model, "visual_linear"):
        assert not model.uses_visual
        return
    assert isinstance(model.visual_linear, torch.nn.Linear)
    assert model.visual_linear.in_features == DV
    direct = model(visual, audio)
    projected = model.forward_projected(model.visual_linear(visual), audio)
    for key in ("logits", "space_attention", "time_attention"):
        if direct[key] is None:
            assert projected[key] is None
        else:
            assert torch.equal(direct[key], projected[key]), key


def test_stan_recomputed_from_the_equations():
    """Eq. 1-8 written out independently with STAN's own weights give its outputs."""
    model = make("stan")
    visual, audio, targets = inputs()
    out = model(visual, audio)
    d = CFG["embed_dim"]
    wv, bv = model.visual_linear.weight, model.visual_linear.bias
    # Eq. 1: audio MLP on [a_t, mean a] tiled over space; 1x1 conv of the map; concatenation
    a_cat = torch.cat([audio, audio.mean(1, keepdim=True).repeat(1, T, 1)], -1)
    a_st = torch.relu(model.audio_st[0](a_cat))
    v_st = torch.relu(visual @ wv[:d].T + bv[:d])
    x_st = torch.cat([v_st, a_st[:, :, None, None, :].repeat(1, 1, H, W, 1)], -1)
    assert x_st.shape == (B, T, H, W, 2 * d)
    # Eq. 2: CAM per time step, space gate conv + sigmoid
    cam = x_st @ model.attention.cam.weight.T + model.attention.cam.bias
    gate = model.attention.space_gate
    a_s = torch.sigmoid((cam @ gate.weight[0, :, 0, 0]) + gate.bias[0])
    # Eq. 3: time features composed by addition; the visual MLP sees the spatial mean of v
    v_t = torch.relu(visual.mean(dim=(2, 3)) @ wv[d:].T + bv[d:])
    x_t = v_t + torch.relu(model.audio_t[0](a_cat))
    # Eq. 4: CAV then the time gate MLP + sigmoid
    cav = model.attention.cav(x_t)
    a_t = torch.sigmoid(model.attention.time_gate(cav)).squeeze(-1)
    # Eq. 5-6: outer product and reweighting; final classifier on the pooled features
    a_st_expected = torch.einsum("bthw,bt->bthw", a_s, a_t)
    logits = model.classifier((x_st * a_st_expected[..., None]).mean(dim=(1, 2, 3)))
    torch.testing.assert_close(out["space_attention"], a_s)
    torch.testing.assert_close(out["time_attention"], a_t)
    torch.testing.assert_close(out["logits"], logits)
    torch.testing.assert_close(out["aux_logits"][0], cam.mean(dim=(1, 2, 3)))
    torch.testing.assert_close(out["aux_logits"][1], cav.mean(dim=1))
    # A^st is exactly the outer product of A^s and A^t
    assert torch.equal(
        out["space_time_attention"], out["space_attention"] * out["time_attention"][..., None, None]
    )

    # Eq. 7-8: three BCE losses, each summed over classes, added
    def bce(z):
        return F.binary_cross_entropy_with_logits(z, targets, reduction="sum") / B

    expected = bce(logits) + bce(cam.mean(dim=(1, 2, 3))) + bce(cav.mean(dim=1))
    torch.testing.assert_close(model.loss(out, targets), expected)


def test_space_attention_is_per_time_step_for_stan_and_per_video_for_cam_and_abn():
    visual, audio, _ = inputs()
    stan = make("stan")(visual, audio)["space_attention"]
    assert not torch.allclose(stan[:, 0], stan[:, 1])
    for name in ("cam", "abn", "av_cam", "av_abn"):
        att = make(name)(visual, audio)["space_attention"]
        assert torch.equal(att, att[:, :1].expand_as(att)), name


@pytest.mark.parametrize(
    ("name", "ignored"),
    [
        ("stan_audio", "visual"),
        ("audio_baseline", "visual"),
        ("stan_visual", "audio"),
        ("visual_baseline", "audio"),
        ("cam", "audio"),
        ("abn", "audio"),
    ],
)
def test_unimodal_models_ignore_the_other_modality(name, ignored):
    model = make(name)
    visual, audio, _ = inputs()
    other_visual, other_audio, _ = inputs(seed=2)
    a = model(visual, audio)["logits"]
    b = model(*((other_visual, audio) if ignored == "visual" else (visual, other_audio)))["logits"]
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "name",
    ["stan", "av_cam", "av_abn", "relationship", "film", "attention_fusion", "average_ensemble"],
)
def test_audio_visual_models_use_both_modalities(name):
    model = make(name)
    visual, audio, _ = inputs()
    other_visual, other_audio, _ = inputs(seed=2)
    base = model(visual, audio)["logits"]
    assert not torch.allclose(base, model(other_visual, audio)["logits"])
    assert not torch.allclose(base, model(visual, other_audio)["logits"])


def test_stan_audio_has_time_attention_only_and_two_classifiers():
    out = make("stan_audio")(*inputs()[:2])
    assert out["space_attention"] is None and out["time_attention"] is not None
    assert len(out["aux_logits"]) == 1
    assert len(make("stan_visual")(*inputs()[:2])["aux_logits"]) == 2


def test_average_ensemble_averages_probabilities_and_trains_members_apart():
    model = make("average_ensemble")
    visual, audio, targets = inputs()
    out = model(visual, audio)
    audio_logits, visual_logits = out["aux_logits"]
    expected = (torch.sigmoid(audio_logits) + torch.sigmoid(visual_logits)) / 2
    torch.testing.assert_close(torch.sigmoid(out["logits"]), expected)
    single = [models.base.bce(z, targets) for z in (audio_logits, visual_logits)]
    torch.testing.assert_close(model.loss(out, targets), single[0] + single[1])


def test_space_gate_kernel_is_configurable():
    model = make("stan", {**CFG, "space_gate_kernel": 3})
    assert model.attention.space_gate.kernel_size == (3, 3)
    assert model(*inputs()[:2])["space_attention"].shape == (B, T, H, W)


def test_wrong_input_shape_and_unknown_model_are_clear_errors():
    model = make("stan")
    visual, audio, _ = inputs()
    with pytest.raises(ValueError, match=r"visual input of shape .* expected"):
        model(visual[..., :-1], audio)
    with pytest.raises(ValueError, match=r"audio input"):
        model(visual, audio[:, :-1])
    with pytest.raises(ConfigError, match="unknown model 'stan2'"):
        models.build("stan2", CFG, DV, DA, K, T, (H, W))
