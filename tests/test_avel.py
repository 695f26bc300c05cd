"""The AVE paper's localization family: the equations of avexplain.models.avel pinned on
hand-made inputs, the targets, metrics and pairs of avexplain.training.localization, and a smoke
training on random tensors (docs/localization.md)."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml

from avexplain import names
from avexplain.config import ConfigError
from avexplain.models import avel
from avexplain.training import localization as loc

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "lstm_hidden": 6,
    "attention_dim": 10,
    "head_hidden": 8,
    "fusion_dim": 7,
    "cml_hidden": 8,
    "cml_dim": 4,
    "tcn_channels": [8, 12],
}
B, T, GRID, DV, DA, C = 3, 10, (2, 3), 5, 4, 3


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a second intra-op thread only adds contention (15x slower on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def inputs(seed=0, batch=B):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, T, *GRID, DV, generator=g), torch.randn(batch, T, DA, generator=g)


def build(name, **cfg):
    torch.manual_seed(0)
    return avel.build(name, {**TINY, **cfg}, DV, DA, C, T, GRID)


# --- registry -----------------------------------------------------------------------------


def test_names_are_wildcards_and_every_model_has_its_outputs():
    assert len(avel.NAMES) == 10 + 4 + 27 + 1 + 1 + 2 == len(set(avel.NAMES))
    v, a = inputs()
    for name in avel.NAMES:
        assert re.fullmatch(r"[a-z0-9_]+", name)
        if name in names.AUDIO_MAP_MODELS:
            continue  # test_audio_map_models
        model = build(name)
        assert model.name == name and model.task == names.localization_task(name)
        out = model(v, a)
        if model.task == "cml":
            ev, ea = model.embed(v, a)
            assert ev.shape == ea.shape == (B, T, TINY["cml_dim"])
            assert out["distance"].shape == (B, T)
            continue
        assert out["segment_logits"].shape == (B, T, C + 1)
        assert ("video_logits" in out) == name.startswith("w_")
        attends = name.endswith("_att") or name.startswith("fusion_") or name == "dmrfe"
        assert (out.get("space_attention") is not None) == attends, name


def test_build_rejects_unknown_names_keys_and_values():
    with pytest.raises(ConfigError, match="unknown localization model 'nope'"):
        avel.build("nope", {}, DV, DA, C, T, GRID)
    with pytest.raises(ConfigError, match="unknown key"):
        avel.build("a", {"lstm_hiden": 3}, DV, DA, C, T, GRID)
    with pytest.raises(ConfigError, match="avel.mil_pool"):
        avel.build("w_a", {"mil_pool": "sum"}, DV, DA, C, T, GRID)


def test_input_shapes_are_checked():
    v, a = inputs()
    with pytest.raises(ValueError, match="visual input"):
        build("av_att")(v.mean(dim=(2, 3)), a)  # attention needs the maps
    assert build("av")(v.mean(dim=(2, 3)), a)["segment_logits"].shape == (B, T, C + 1)
    with pytest.raises(ValueError, match="audio input"):
        build("a")(None, a[:, :5])
    assert build("a")(None, a)["segment_logits"].shape == (B, T, C + 1)  # A ignores vision


# --- attention ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["paper", "code"])
def test_attention_is_a_softmax_over_regions_pooling_the_raw_regions(mode):
    torch.manual_seed(1)
    k, dr, dq, d = 6, 5, 4, 10
    att = avel.AudioGuidedAttention(dr, dq, k, d, mode)
    regions, query = torch.randn(7, k, dr), torch.randn(7, dq)
    pooled, w = att(regions, query)
    torch.testing.assert_close(w.sum(-1), torch.ones(7))
    assert (w > 0).all()
    torch.testing.assert_close(pooled, torch.einsum("nk,nkd->nd", w, regions))
    # Eq. 4 by hand: pre[i, j] = (W_v U_v(v_i))_j + audio term, W_f sums over j
    uv = F.relu(regions @ att.region_proj.weight.T + att.region_proj.bias)
    ua = F.relu(query @ att.query_proj.weight.T + att.query_proj.bias)
    sv = uv @ att.region_score.weight.T  # (n, i, j)
    sa = ua @ att.query_score.weight.T  # (n, k)
    pre = sv + (sa[:, None, :] if mode == "paper" else sa[:, :, None])
    x = torch.tanh(pre) @ att.combine.weight[0]
    torch.testing.assert_close(w, torch.softmax(x, -1))
    assert att.region_score.bias is None and att.query_score.bias is None
    assert att.combine.bias is None


def test_attention_modes_differ_and_models_expose_maps_summing_to_one():
    v, a = inputs()
    paper, code = build("av_att"), build("av_att", attention="code")
    code.load_state_dict(paper.state_dict())
    mp, mc = paper(v, a)["space_attention"], code(v, a)["space_attention"]
    assert mp.shape == (B, T, *GRID)
    torch.testing.assert_close(mp.sum(dim=(2, 3)), torch.ones(B, T))
    assert not torch.allclose(mp, mc)


def test_audio_map_models_attend_to_audio_cells():
    """Supplementary Table 3: visual-guided attention over the audio map's cells."""
    v, _ = inputs()
    audio_maps = torch.randn(B, T, 3, 2, DA)
    with pytest.raises(ConfigError, match="audio_grid"):
        avel.build("a_map_att", TINY, DV, DA, C, T, GRID)
    models = {
        n: avel.build(n, TINY, DV, DA, C, T, GRID, audio_grid=(3, 2))
        for n in names.AUDIO_MAP_MODELS
    }
    for name, model in models.items():
        out = model(v, audio_maps)
        assert out["segment_logits"].shape == (B, T, C + 1)
        assert ("audio_attention" in out) == name.endswith("att")
        assert ("space_attention" in out) == (name == "a_map_v_coatt")
    att = models["a_map_att"]
    out = att(v, audio_maps)
    torch.testing.assert_close(out["audio_attention"].sum(dim=(2, 3)), torch.ones(B, T))
    # the audio LSTM sees the attention-weighted raw audio cells, the query is the visual GAP
    pooled, w = att.audio_attention(
        audio_maps.reshape(B * T, 6, DA), v.mean(dim=(2, 3)).reshape(B * T, DV)
    )
    torch.testing.assert_close(w.reshape(B, T, 3, 2), out["audio_attention"])
    want = att.head(att.audio_lstm(pooled.reshape(B, T, DA))[0])
    torch.testing.assert_close(out["segment_logits"], want)
    # A' is A on the spatial mean of the audio map
    a_map, a = models["a_map"], build("a")
    a.load_state_dict(a_map.state_dict())
    torch.testing.assert_close(
        a_map(None, audio_maps)["segment_logits"],
        a(None, audio_maps.mean(dim=(2, 3)))["segment_logits"],
    )
    with pytest.raises(ValueError, match="audio input"):
        models["a_map_att"](v, audio_maps.mean(dim=(2, 3)))


# --- fusion -------------------------------------------------------------------------------


def _lin(layer, x):
    return x @ layer.weight.T + layer.bias


@pytest.mark.parametrize("op", names.FUSION_OPERATORS)
def test_fusion_operator_formulas(op):
    torch.manual_seed(2)
    da, dv, w = 3, 5, 4
    f = avel.Fusion(op, da, dv, w)
    xa, xv = torch.randn(6, da), torch.randn(6, dv)
    z = f(xa, xv)
    sig, tanh = torch.sigmoid, torch.tanh
    both = torch.cat([xa, xv], -1)
    if op == "concat":
        want = both
    elif op == "additive":
        want = _lin(f.p_audio, xa) + _lin(f.p_visual, xv)
    elif op == "mp":
        want = torch.maximum(_lin(f.p_audio, xa), _lin(f.p_visual, xv))
    elif op == "gated":
        want = _lin(f.p_audio, xa) * sig(_lin(f.gate, xv))
    elif op == "mb":
        want = _lin(f.p_audio, xa) * _lin(f.p_visual, xv)
    elif op == "gmb":
        want = sig(_lin(f.gate, both)) * _lin(f.p_audio, xa) * _lin(f.p_visual, xv)
    elif op == "gmu":
        g = sig(_lin(f.gate, both))
        want = g * tanh(_lin(f.p_audio, xa)) + (1 - g) * tanh(_lin(f.p_visual, xv))
    elif op == "mrn":
        ra = tanh(_lin(f.r_audio[2], tanh(_lin(f.r_audio[0], xa))))
        rv = tanh(_lin(f.r_visual[2], tanh(_lin(f.r_visual[0], xv))))
        want = _lin(f.p_audio, xa) + ra * rv
    else:  # dmrn: project, one residual block, average
        ha, hv = _lin(f.p_audio, xa), _lin(f.p_visual, xv)
        u = lambda seq, h: _lin(seq[2], tanh(_lin(seq[0], h)))  # noqa: E731
        m = 0.5 * (u(f.block.u_audio, ha) + u(f.block.u_visual, hv))
        want = 0.5 * (tanh(ha + m) + tanh(hv + m))
    assert z.shape == (6, f.out_dim) == (6, da + dv if op == "concat" else w)
    torch.testing.assert_close(z, want)


def test_dmrn_on_equal_widths_has_no_projection():
    f = avel.Fusion("dmrn", 4, 4, 4)
    assert isinstance(f.p_audio, torch.nn.Identity) and isinstance(f.p_visual, torch.nn.Identity)


def test_fusion_stages_and_concat_late_is_av_att():
    v, a = inputs()
    sizes = {}
    for stage in names.FUSION_STAGES:
        model = build(f"fusion_concat_{stage}")
        assert model(v, a)["segment_logits"].shape == (B, T, C + 1)
        sizes[stage] = sum(p.numel() for p in model.parameters())
    av_att = build("av_att")
    assert sizes["late"] == sum(p.numel() for p in av_att.parameters())
    late = build("fusion_concat_late")
    late.load_state_dict(av_att.state_dict())  # the same parameter names: the same network
    torch.testing.assert_close(late(v, a)["segment_logits"], av_att(v, a)["segment_logits"])
    # decision fusion of a width != C+1 (concat) maps back to C+1 with a final Linear
    assert build("fusion_concat_decision").final.out_features == C + 1
    assert build("fusion_additive_decision").final is None


def test_dmrfe_averages_the_two_branch_probabilities_and_sums_their_losses():
    v, a = inputs()
    model = build("dmrfe")
    out = model(v, a)
    la, lv = out["branch_logits"]
    mean = 0.5 * (la.softmax(-1) + lv.softmax(-1))
    torch.testing.assert_close(out["segment_logits"].softmax(-1), mean)
    targets = F.one_hot(torch.randint(0, C + 1, (B, T)), C + 1).float()
    want = F.cross_entropy(la.reshape(-1, C + 1), targets.reshape(-1, C + 1))
    want = want + F.cross_entropy(lv.reshape(-1, C + 1), targets.reshape(-1, C + 1))
    torch.testing.assert_close(model.loss(out, targets), want)


# --- MIL, losses --------------------------------------------------------------------------


def test_mil_pooling_mean_and_max_over_time():
    s = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0]]])  # (1, T=3, K=2)
    torch.testing.assert_close(avel.mil_pool(s, "mean"), torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(avel.mil_pool(s, "max"), torch.tensor([[3.0, 5.0]]))
    with pytest.raises(ValueError):
        avel.mil_pool(s, "sum")
    v, a = inputs()
    for how in ("max", "mean"):
        out = build("w_av_att", mil_pool=how)(v, a)
        torch.testing.assert_close(out["video_logits"], avel.mil_pool(out["segment_logits"], how))


def test_weak_models_train_on_video_targets_only():
    v, a = inputs()
    model = build("w_a")
    out = model(v, a)
    video = torch.tensor([[1.0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]])
    want = F.cross_entropy(out["video_logits"], video / video.sum(1, keepdim=True))
    torch.testing.assert_close(model.loss(out, video), want)
    with pytest.raises(ValueError, match="video targets"):
        model.loss(out, torch.zeros(B, T, C + 1))


def test_segment_loss_ce_on_sets_and_the_code_quirk():
    logits = torch.tensor([[[2.0, 0.0, -1.0]]])
    both = torch.tensor([[[1.0, 1.0, 0.0]]])
    logp = logits.log_softmax(-1)[0, 0]
    ce = avel.classification_loss(logits, both, "ce")
    torch.testing.assert_close(ce, -(logp[0] + logp[1]) / 2)
    p = logits.softmax(-1)[0, 0]
    t = both[0, 0]
    quirk = -(t * F.logsigmoid(p) + (1 - t) * F.logsigmoid(-p)).mean()
    torch.testing.assert_close(avel.classification_loss(logits, both, "code"), quirk)
    with pytest.raises(ValueError, match="no class set"):
        avel.classification_loss(logits, torch.zeros(1, 1, 3), "ce")


def test_contrastive_loss_and_distance():
    d = torch.tensor([0.5, 3.0, 1.0])
    y = torch.tensor([1, 0, 0])
    # 0.5^2 for the pair in the event; max(2 - 3, 0)^2 = 0 and (2 - 1)^2 = 1 for the others
    torch.testing.assert_close(avel.contrastive_loss(d, y, 2.0), torch.tensor((0.25 + 1) / 3))
    x = torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    yv = torch.tensor([[4.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(avel.euclidean(x, yv), torch.tensor([5.0, 1e-7**0.5]))
    model = build("avdln")
    assert model.cfg["margin"] == 2.0
    v, a = inputs()
    out = model(v, a)
    seg = torch.zeros(B, T, C + 1)
    seg[:, :4, 0], seg[:, 4:, -1] = 1, 1
    want = avel.contrastive_loss(out["distance"], seg[..., 0], 2.0)
    torch.testing.assert_close(model.loss(out, seg), want)


def test_dcca_correlation_and_linear_cca():
    g = torch.Generator().manual_seed(3)
    h1 = torch.randn(400, 3, generator=g, dtype=torch.float64)
    h2 = h1 @ torch.randn(3, 3, generator=g, dtype=torch.float64) + 1.0
    assert float(avel.dcca_correlation(h1, h2, 1e-8)) == pytest.approx(3.0, abs=1e-4)
    noise = torch.randn(400, 3, generator=g, dtype=torch.float64)
    assert float(avel.dcca_correlation(h1, noise, 1e-8)) < 0.5
    model = avel.build("dcca", {"cml_dim": 3, "dcca_ridge": 1e-8}, DV, DA, C, T, GRID)
    assert model.fit_cca(h1.float(), h2.float()) == 3
    pv = (h1.float() - model.cca_visual_mean) @ model.cca_visual_proj
    pa = (h2.float() - model.cca_audio_mean) @ model.cca_audio_proj
    # canonical variates: whitened and pairwise equal when the views are linearly related
    torch.testing.assert_close(pv.T @ pv / 399, torch.eye(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(pv, pa, atol=1e-2, rtol=0)


def test_ed_tcn_pads_to_the_pooling_and_normalises_channels():
    model = build("ed_tcn").eval()
    v, a = inputs()
    assert model(v, a)["segment_logits"].shape == (B, T, C + 1)
    x = torch.tensor([[[1.0, -4.0], [2.0, 2.0]]])  # (B=1, channels=2, T=2)
    want = torch.tensor([[[0.5, -1.0], [1.0, 0.5]]]) / (1 + 1e-5 / torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(avel.EDTCN.channel_norm(x), want)


# --- targets ------------------------------------------------------------------------------

CLASSES = ["dog", "cat", "car"]


def frame_of(rows):
    return pd.DataFrame(
        [
            {
                "video_id": f"v{i}",
                "labels": lab,
                "audio_events": json.dumps(a),
                "visual_events": json.dumps(vis),
            }
            for i, (lab, a, vis) in enumerate(rows)
        ]
    )


def test_segment_targets_from_hand_made_events():
    frame = frame_of(
        [
            ("dog", [["dog", 2, 5]], [["dog", 2, 5]]),  # AVE: both columns hold the event
            ("cat", [["cat", 2, 6]], [["cat", 1, 5]]),  # synth: heard and seen
            ("dog;cat", [["dog", 0, 10], ["cat", 3, 6]], [["dog", 0, 10], ["cat", 3, 6]]),
            ("car", [["car", 0.4, 2.2]], [["car", 0, 10]]),  # half a second or more counts
            ("dog", [], []),  # an empty AVE event: all background
            ("car", [["car", 0, 4]], [["dog", 0, 4]]),  # heard car, seen dog: nothing
        ]
    )
    y = loc.segment_targets(frame, CLASSES, 8, "hand")
    assert y.shape == (6, 8, 4)
    active = [[sorted(np.flatnonzero(s)) for s in video] for video in y]
    bg = [3]
    assert active[0] == [bg, bg, [0], [0], [0], bg, bg, bg]
    assert active[1] == [bg, bg, [1], [1], [1], bg, bg, bg]
    assert active[2] == [[0], [0], [0], [0, 1], [0, 1], [0, 1], [0], [0]]
    assert active[3] == [[2], [2], bg, bg, bg, bg, bg, bg]
    assert active[4] == [bg] * 8 and active[5] == [bg] * 8
    vt = loc.video_targets(frame, CLASSES)
    np.testing.assert_array_equal(vt[2], [1, 1, 0, 0])


def test_missing_segment_annotations_name_the_dataset():
    frame = frame_of([("dog", [], []), ("cat", [], [])])
    with pytest.raises(loc.SegmentLabelsMissing, match="mine: no manifest row"):
        loc.segment_targets(frame, CLASSES, 4, "mine")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    loc.require_segment_labels(config, "ave")
    loc.require_segment_labels(config, "synth")
    loc.require_segment_labels(config, "llp", ["test"])
    with pytest.raises(loc.SegmentLabelsMissing, match="dataset 'llp'.*val and test clips only"):
        loc.require_segment_labels(config, "llp")
    config["datasets"]["home"] = {"kind": "custom"}
    with pytest.raises(ConfigError, match="dataset 'home' \\(kind custom\\)"):
        loc.require_segment_labels(config, "home", ["test"])
    unions = [n for n, d in config["datasets"].items() if d["kind"] == "union"]
    for name in unions:
        with pytest.raises(loc.SegmentLabelsMissing, match=f"dataset '{name}' \\(union\\)"):
            loc.require_segment_labels(config, name)


# --- metrics ------------------------------------------------------------------------------


def test_segment_accuracy_counts_background_and_sets():
    y = np.zeros((2, 3, 3))
    y[0, :, 2] = 1  # all background
    y[1, 0, [0, 1]] = 1  # a set of two classes
    y[1, 1:, 0] = 1
    s = np.zeros((2, 3, 3))
    s[0, :, 2] = 1  # right x3
    s[1, 0, 1] = 1  # in the set: right
    s[1, 1, 1] = 1  # wrong
    s[1, 2, 2] = 1  # wrong
    assert loc.segment_accuracy(y, s) == pytest.approx(400 / 6)
    anchors = loc.anchor_accuracies(y)
    assert anchors["all_background"] == pytest.approx(50)
    assert anchors["majority_class"] == 0 and anchors["majority"] == pytest.approx(50)
    train = np.zeros((1, 4, 3))
    train[..., 1] = 1
    assert loc.anchor_accuracies(y, train)["majority"] == pytest.approx(100 / 6)


def test_exact_start_sliding_window_on_a_hand_made_case():
    # 1-d embeddings, T = 6; the event is seconds 2..3 of video 0 and 0..2 of video 1
    visual = np.array([[0, 0, 5, 6, 0, 0], [1, 2, 3, 9, 9, 9]], float)[..., None]
    audio = np.array([[9, 9, 5, 6, 5, 6], [7, 7, 7, 1, 2, 3]], float)[..., None]
    # A2V, video 0: audio [5, 6] matches visual at start 2 exactly: right
    assert loc.best_start(audio[0, 2:4], visual[0]) == 2
    # V2A, video 0: visual [5, 6] matches audio at 2 and 4 (a tie): the first, 2, is right
    assert loc.best_start(visual[0, 2:4], audio[0]) == 2
    # video 1: audio [7, 7, 7] is closest to visual 3..5 ([9, 9, 9]): wrong; visual [1, 2, 3]
    # is found at audio 3..5: wrong too
    assert loc.best_start(audio[1, 0:3], visual[1]) == 3
    assert loc.best_start(visual[1, 0:3], audio[1]) == 3
    queries = [loc.Query(0, 2, 2), loc.Query(1, 0, 3)]
    got = loc.cross_modal_localization(visual, audio, queries)
    assert got["a2v"] == got["v2a"] == 50.0
    assert got["chance"] == pytest.approx(100 * (1 / 5 + 1 / 4) / 2) and got["queries"] == 2


def test_cml_queries_from_targets_and_from_the_shipped_split():
    y = np.zeros((3, 6, 3))
    y[..., 2] = 1
    y[0, 1:3], y[0, 1:3, 0] = 0, 1  # one event, 1..2
    y[1, :3], y[1, :3, 0] = 0, 1  # two adjacent events of different classes
    y[1, 3:5], y[1, 3:5, 1] = 0, 1
    y[2], y[2, :, 1] = 0, 1  # the whole clip: no window to choose
    assert loc.cml_queries(y) == [(0, 1, 2), (1, 0, 3), (1, 3, 2)]
    rows = loc.read_cml_split(ROOT / "resources/datasets/ave/cml_testSet.txt")
    assert len(rows) == 402 and all(0 < e - s < 10 for _, s, e in rows)
    ids = [rows[0][0], rows[1][0]]
    extra = [("x", 0, 10), (ids[0], 3, 3), (ids[1], 0, 10)]
    queries, skipped = loc.cml_queries_from_rows(rows[:3] + extra, ids, 10)
    assert queries == [(i, rows[i][1], rows[i][2] - rows[i][1]) for i in (0, 1)]
    assert skipped == {"no_features": 2, "empty": 1, "whole_clip": 1}


# --- background pairs ---------------------------------------------------------------------


def test_mismatched_pairs_avoid_shared_labels_and_are_seeded():
    frame = frame_of([("dog", [], []), ("dog;cat", [], []), ("cat", [], []), ("car", [], [])])
    conflicts = loc.pair_conflicts(frame, CLASSES)
    assert conflicts.diagonal().all() and conflicts[0, 1] and not conflicts[0, 2]
    a, v = loc.mismatched_pairs(conflicts, 50, seed=1, epoch=2)
    assert len(a) == len(v) == 50 and not conflicts[a, v].any()
    a2, v2 = loc.mismatched_pairs(conflicts, 50, seed=1, epoch=2)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(v, v2)
    a3, _ = loc.mismatched_pairs(conflicts, 50, seed=1, epoch=3)
    assert not np.array_equal(a, a3)
    assert loc.background_count(3339) == 178


def test_synth_pairs_form_no_class_with_distractors():
    from avexplain.data.datasets import synth

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["clip"]["segments"] = 10
    config["datasets"]["synth"].update(num_videos=24, classes=6)
    frame, classes = synth.build_manifest(config)
    conflicts = loc.pair_conflicts(frame, classes, synth_config=config)
    pairs = synth.class_pairs(len(classes))
    assert (~conflicts).any()
    specs = [synth.video_spec(i, config) for i in range(len(frame))]
    for i, j in zip(*np.nonzero(~conflicts), strict=True):
        heard, seen = {x.kind for x in specs[i].audio}, {x.kind for x in specs[j].visual}
        assert not any(o in seen and s in heard for o, s in pairs)


def test_load_arrays_aligns_targets_with_the_stores(tmp_path):
    from avexplain.testing import stores as random_features

    root = random_features.write_dataset(
        tmp_path, num_videos=12, num_classes=3, grid=GRID, visual_dim=DV, audio_dim=DA,
        visual_backbone="vgg19", invalid=(4,),
    )  # fmt: skip
    manifest = root / "data/synth/manifest.csv"
    frame = pd.read_csv(manifest, keep_default_na=False)
    events = [json.dumps([[lab, i % 5, i % 5 + 3]]) for i, lab in enumerate(frame["labels"])]
    frame["audio_events"] = frame["visual_events"] = events
    frame.to_csv(manifest, index=False)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    arrays, ids = loc.load_arrays(config, "synth", "train", root, visual_backbone="vgg19")
    assert arrays.visual.shape == (len(ids), T, *GRID, DV) and arrays.audio.shape == (
        len(ids),
        T,
        DA,
    )
    assert "synth-00004" not in ids  # invalid features: dropped, targets too
    for row, video_id in enumerate(ids):
        i = int(video_id[-5:])
        active = arrays.targets[row, :, i % 3].numpy()
        np.testing.assert_array_equal(np.flatnonzero(active), np.arange(i % 5, i % 5 + 3))
        assert arrays.video_targets[row].tolist() == [float(k == i % 3) for k in range(C + 1)]
    with pytest.raises(loc.SegmentLabelsMissing, match="llp"):
        loc.load_arrays(config, "llp", "train", root)


def test_principal_components_keep_a_low_rank_signal():
    """`localization.visual_components`: a signal in 3 of 12 channels keeps every distance
    between regions through its 3 components, centred on the fitted mean; asking for more
    components than channels names both numbers."""
    g = torch.Generator().manual_seed(0)
    directions = torch.linalg.qr(torch.randn(12, 3, generator=g))[0]
    visual = torch.randn(20, T, *GRID, 3, generator=g) @ directions.T + 5.0
    project = loc.principal_components(visual, 3)
    out = project(visual)
    assert out.shape == (20, T, *GRID, 3)
    rows, projected = visual.reshape(-1, 12)[:60], out.reshape(-1, 3)[:60]
    exact = "donot_use_mm_for_euclid_dist"  # the matmul shortcut is off by 1e-2 near zero
    torch.testing.assert_close(
        torch.cdist(projected, projected, compute_mode=exact),
        torch.cdist(rows, rows, compute_mode=exact),
        atol=1e-4,
        rtol=1e-4,
    )
    assert out.reshape(-1, 3).mean(0).abs().max() < 1e-4
    assert project(visual[:2]).shape == (2, T, *GRID, 3)  # the fitted map applies to any split
    with pytest.raises(ValueError, match="13 principal components of 12-d"):
        loc.principal_components(visual, 13)


def test_principal_components_do_not_depend_on_the_blas_thread_count():
    """scipy's eigensolver rounds differently on two threads than on one (a 256-d covariance
    differs by about 3e-6); the components, and every model that reads them, must not depend
    on how many threads the machine's BLAS was given (a job under Snakemake gets one, a call
    from Python all of them). Needs a machine with 2 cores or more to fail."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    mixed = rng.standard_normal((16, 256)) @ rng.standard_normal((256, 256))
    visual = (
        torch.from_numpy(mixed.astype(np.float32)).reshape(4, 4, 1, 1, 256).repeat(1, 1, 4, 4, 1)
    )
    visual = visual + torch.from_numpy(rng.standard_normal((4, 4, 4, 4, 256)).astype(np.float32))
    fitted = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            fitted[threads] = loc.principal_components(visual, 32)
    torch.testing.assert_close(fitted[1].basis, fitted[2].basis, rtol=0, atol=0)


# --- smoke training -----------------------------------------------------------------------


def _toy(n, seed):
    """Random features with a learnable rule: video v has class v mod C in a random half of
    its seconds (background elsewhere); the segment's class lifts its audio channel and lights
    one visual region."""
    g = torch.Generator().manual_seed(seed)
    event = torch.rand(n, T, generator=g) < 0.5
    label = torch.where(event, (torch.arange(n) % C)[:, None], C)
    audio = torch.randn(n, T, DA, generator=g) + 2 * F.one_hot(label, DA).float()
    visual = 0.3 * torch.randn(n, T, *GRID, DV, generator=g)
    visual[..., 0, 0, :] += F.one_hot(label, DV).float()
    targets = F.one_hot(label, C + 1).float()
    video = F.one_hot(torch.arange(n) % C, C + 1).float()
    return loc.Arrays(visual, audio, targets, video)


@pytest.mark.parametrize("name", ["av_att", "w_av", "fusion_dmrn_late", "ed_tcn", "avdln", "dcca"])
def test_smoke_training_lowers_the_loss(name):
    train, val = _toy(24, 0), _toy(8, 1)
    model = build(name)
    result = loc.fit(model, train, val, epochs=6, batch_size=8, lr=1e-2, seed=0)
    losses = [h["loss"] for h in result["history"]]
    assert losses[-1] < losses[0]
    assert 1 <= result["best_epoch"] <= 6
    if model.task == "segment":
        scores = loc.predict(model, val.visual, val.audio, 8)
        assert scores["segment_scores"].shape == (8, T, C + 1)
        np.testing.assert_allclose(scores["segment_scores"].sum(-1), 1, rtol=1e-5)
        assert ("video_scores" in scores) == model.weak
        if name in ("av_att", "fusion_dmrn_late"):
            assert scores["space_attention"].shape == (8, T, *GRID)
        assert loc.segment_accuracy(val.targets.numpy(), scores["segment_scores"]) > 0
    else:
        ev, ea = loc.embed(model, val.visual, val.audio)
        assert ev.shape == ea.shape == (8, T, TINY["cml_dim"])


def test_fit_is_seeded():
    train, val = _toy(16, 0), _toy(8, 1)
    results = []
    for _ in range(2):
        model = build("w_a")
        results.append(loc.fit(model, train, val, epochs=2, batch_size=8, seed=3)["history"])
    assert results[0] == results[1]
