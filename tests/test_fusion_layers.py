"""Event-specific fusion layers: each layer's pooling, the baselines, the loss, the seeded label
draw, the vote, the multi-label set, modality bias, unique-correct counts, the plateau schedule
a tiny end-to-end step from rendered synth clips, and (slow) the end-to-end recipe through the
DAG on a tiny synth run (docs/fusion_layers.md)."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from avexplain import paths
from avexplain.models import fusion_layers as fl
from avexplain.testing.workflow import snakemake, tiny_workflow
from avexplain.training import fusion_layers as tr
from avexplain.training import fusion_readouts as ro

ROOT = Path(__file__).resolve().parents[1]
C = 8  # classes: equal to 2 * D so identity classifiers read the pooled vector back


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a loaded 2-core machine (the suite runs
    two workers) intra-op threads make each step many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def identity_model(name="fusion_layers", time_steps=5, **cfg):
    """Features used as z^V, z^A directly (D = 4) and classifiers that copy their input, so a
    layer's logits are its pooled vector (zero-padded for the one-stream layers)."""
    model = fl.build(name, {"embed_dim": 4, "project": False, **cfg}, 4, 4, C, time_steps)
    with torch.no_grad():
        for clf in model.classifiers.values():
            clf.weight.copy_(torch.eye(C, clf.in_features))
            clf.bias.zero_()
    return model


def hand_inputs():
    t = torch.arange(5, dtype=torch.float32)
    visual = torch.stack([t, -t, t % 2, torch.ones(5)], dim=1)[None]  # (1, 5, 4)
    audio = torch.stack([torch.tensor([0.0, 3, 1, 5, 2]), torch.zeros(5), t, -t], dim=1)[None]
    return visual, audio


def test_instant_pools_the_top_k_agreeing_steps():
    visual, audio = hand_inputs()
    agreement = (visual * audio).sum(-1)[0]  # per-step dot product
    top2 = agreement.topk(2).indices.tolist()
    model = identity_model(instant_k=2)
    out = model(visual, audio, torch.ones(1, 5, dtype=torch.bool))
    joint = torch.cat([visual, audio], -1)[0]
    assert out["instant_steps"][0].nonzero().flatten().tolist() == sorted(top2)
    torch.testing.assert_close(out["layer_logits"][0, 1], joint[top2].mean(0))
    torch.testing.assert_close(out["layer_logits"][0, 0], joint.mean(0))  # continuous


def test_instant_k_keeps_the_papers_ten_percent():
    assert fl.instant_k(100) == 10 and fl.instant_k(10) == 1 and fl.instant_k(3) == 1
    assert fl.instant_k(10, 3) == 3
    with pytest.raises(ValueError):
        fl.instant_k(10, 11)
    assert fl.build("fusion_layers", {}, 6, 5, 3, 20).k == 2


def test_onset_pools_exactly_the_onset_steps_and_falls_back_without_onsets():
    visual, audio = hand_inputs()
    visual, audio = visual.repeat(2, 1, 1), audio.repeat(2, 1, 1)
    onsets = torch.tensor([[False, True, False, False, True], [False] * 5])
    joint = torch.cat([visual, audio], -1)[0]
    out = identity_model()(visual, audio, onsets)
    torch.testing.assert_close(out["layer_logits"][0, 2], joint[[1, 4]].mean(0))
    torch.testing.assert_close(out["layer_logits"][1, 2], joint.mean(0))  # continuous fallback
    assert out["onset_fallback"].tolist() == [False, True]
    out = identity_model(onset_fallback="instant")(visual, audio, onsets)
    torch.testing.assert_close(out["layer_logits"][1, 2], out["layer_logits"][1, 1])
    with pytest.raises(ValueError, match="onset mask"):
        identity_model()(visual, audio)


def test_visual_and_audio_layers_ignore_the_other_stream():
    torch.manual_seed(0)
    model = fl.build("fusion_layers", {"embed_dim": 16}, 12, 6, 3, 10).eval()
    visual, audio = torch.randn(3, 10, 12), torch.randn(3, 10, 6)
    onsets = torch.rand(3, 10) > 0.5
    base = model(visual, audio, onsets)["layer_logits"]
    new_audio = model(visual, torch.randn(3, 10, 6), onsets)["layer_logits"]
    new_visual = model(torch.randn(3, 10, 12), audio, onsets)["layer_logits"]
    index = {name: i for i, name in enumerate(fl.LAYERS)}
    torch.testing.assert_close(new_audio[:, index["visual"]], base[:, index["visual"]])
    torch.testing.assert_close(new_visual[:, index["audio"]], base[:, index["audio"]])
    assert not torch.allclose(new_audio[:, index["audio"]], base[:, index["audio"]])
    assert not torch.allclose(new_visual[:, index["continuous"]], base[:, index["continuous"]])
    # Eq. 1 with the other stream zeroed: the visual layer is mean_t z^V_t, zero-padded here
    visual, audio = hand_inputs()
    out = identity_model()(visual, audio, torch.ones(1, 5, dtype=torch.bool))
    torch.testing.assert_close(out["layer_logits"][0, 3, :4], visual[0].mean(0))
    torch.testing.assert_close(out["layer_logits"][0, 4, :4], audio[0].mean(0))
    assert out["layer_logits"][0, 3:, 4:].abs().max() == 0


def test_baselines_are_single_layers_with_their_own_streams():
    torch.manual_seed(0)
    visual, audio = torch.randn(2, 10, 12), torch.randn(2, 10, 6)
    uni_audio = fl.build("uni_audio", {"embed_dim": 8}, 12, 6, 3, 10)
    assert uni_audio.proj_visual is None and uni_audio.layers == ("audio",)
    assert fl.recipe(uni_audio) == {
        "model": "uni_audio",
        "recipe": "frozen_features",
        "layers": ["audio"],
        "time_steps": 10,
        "time_step_s": 1.0,
        "instant_k": None,
        "onset_fallback": None,
    }
    out = uni_audio(None, audio)
    assert out["layer_logits"].shape == (2, 1, 3)
    torch.testing.assert_close(out["logits"], out["layer_logits"][:, 0])
    uni_vision = fl.build("uni_vision", {"embed_dim": 8}, 12, 6, 3, 10)
    assert uni_vision.proj_audio is None and uni_vision(visual, None)["logits"].shape == (2, 3)
    naive = fl.build("naive_av", {"embed_dim": 8}, 12, 6, 3, 10)
    assert naive.layers == ("continuous",) and not naive.needs_onsets
    assert naive(visual, audio)["logits"].shape == (2, 3)  # no onsets needed
    with pytest.raises(ValueError, match="audio input"):
        naive(visual, torch.randn(2, 9, 6))
    with pytest.raises(ValueError, match="unknown"):
        fl.build("fusion-layers", {}, 12, 6, 3, 10)
    with pytest.raises(ValueError, match="instant-k"):
        fl.build("fusion_layers", {"instant-k": 2}, 12, 6, 3, 10)
    assert fl.NAMES == ["fusion_layers", "naive_av", "uni_audio", "uni_vision"]


def test_a_one_stream_model_does_not_depend_on_the_other_streams_width():
    """Uni-Audio's seeded initial weights are the same whatever visual features a run stores."""
    weights = []
    for visual_dim in (512, 2048):
        torch.manual_seed(0)
        weights.append(fl.build("uni_audio", {"embed_dim": 8}, visual_dim, 6, 3, 10).state_dict())
    assert weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        torch.testing.assert_close(value, weights[1][name])


def test_loss_sums_the_cross_entropy_of_every_layer():
    torch.manual_seed(0)
    model = fl.build("fusion_layers", {"embed_dim": 8}, 12, 6, 3, 10)
    out = model(torch.randn(4, 10, 12), torch.randn(4, 10, 6), torch.rand(4, 10) > 0.5)
    labels = torch.tensor([0, 2, 1, 2])
    expected = sum(F.cross_entropy(out["layer_logits"][:, i], labels) for i in range(5))
    torch.testing.assert_close(model.loss(out, labels), expected)


def test_recipe_learns_a_toy_problem_and_the_vote_reads_it():
    """SGD with the paper's settings on features whose class shows in both streams: every layer
    and the vote end up right on most training videos."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    centres_v, centres_a = rng.normal(size=(3, 6)), rng.normal(size=(3, 5))
    visual = torch.tensor(
        centres_v[labels][:, None] + rng.normal(0, 1, (90, 4, 6)), dtype=torch.float32
    )
    audio = torch.tensor(
        centres_a[labels][:, None] + rng.normal(0, 1, (90, 4, 5)), dtype=torch.float32
    )
    onsets = torch.tensor(rng.random((90, 4)) < 0.3)
    model = fl.build("fusion_layers", {"embed_dim": 16}, 6, 5, 3, 4)
    optimizer, _ = tr.optimizer_and_scheduler(model.parameters(), {"weight_decay": 0.0})
    targets = torch.tensor(labels)
    for _ in range(25):
        loss = model.loss(model(visual, audio, onsets), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        out = model(visual, audio, onsets)
    assert (out["layer_logits"].argmax(-1) == targets[:, None]).float().mean() > 0.8
    assert (ro.vote(out["layer_logits"]) == labels).mean() > 0.9


def test_single_label_draw_is_seeded_and_picks_a_label():
    targets = np.zeros((400, 5), int)
    targets[:, 0] = targets[:, 3] = 1  # two labels each
    targets[0] = [0, 0, 1, 0, 0]  # one label: always that one
    a = fl.single_labels(targets, seed=1, epoch=0)
    assert (a == fl.single_labels(targets, seed=1, epoch=0)).all()
    assert a[0] == 2 and set(a[1:]) == {0, 3}
    assert 150 < (a[1:] == 0).sum() < 250  # uniform between the two labels
    assert (a != fl.single_labels(targets, seed=2, epoch=0)).any()
    assert (a != fl.single_labels(targets, seed=1, epoch=1)).any()
    ids = [f"v{i}" for i in range(400)]
    by_id = fl.single_labels(targets, 1, 0, ids)
    order = np.random.default_rng(0).permutation(400)
    shuffled = fl.single_labels(targets[order], 1, 0, [ids[i] for i in order])
    assert (shuffled == by_id[order]).all()  # a video's draw does not depend on its row
    assert (tr.epoch_labels(targets, 1, 5, {"label_draw": "once"}) == a).all()
    assert (tr.epoch_labels(targets, 1, 1) == fl.single_labels(targets, 1, 1)).all()
    with pytest.raises(ValueError, match="no label"):
        fl.single_labels(np.zeros((1, 3)), 0)


def logits_of(picks, confidence, c=4):
    """(1, L, c) layer logits: layer i scores picks[i] with confidence[i], the rest 0."""
    out = np.zeros((1, len(picks), c))
    out[0, np.arange(len(picks)), picks] = confidence
    return out


def test_vote_takes_the_plurality_and_breaks_ties_by_the_most_confident_layer():
    assert ro.vote(logits_of([1, 1, 1, 2, 3], [1, 1, 1, 9, 9])).tolist() == [1]  # majority
    assert ro.vote(logits_of([1, 1, 2, 0, 3], [1, 1, 1, 1, 9])).tolist() == [1]  # plurality
    # 2-2-1 tie: the most confident layer among the tied classes' layers (class 2), not the
    # overall most confident one (its class has a single vote)
    assert ro.vote(logits_of([1, 1, 2, 2, 3], [2, 1, 3, 1, 9])).tolist() == [2]
    assert ro.vote(logits_of([0, 1, 2, 3, 3], [1, 5, 1, 2, 2])).tolist() == [3]
    no_two = logits_of([0, 1, 2, 3, 1], [1, 5, 1, 2, 2])
    assert ro.vote(no_two).tolist() == [1]
    # all disagree: the most confident layer
    assert ro.vote(logits_of([0, 1, 2, 3], [1, 5, 1, 2], c=5)).tolist() == [1]
    # the paper's majority reading: without more than half, the most confident layer overall
    assert ro.vote(logits_of([1, 1, 2, 2, 3], [2, 1, 3, 1, 9]), rule="majority").tolist() == [3]
    assert ro.vote(logits_of([1, 1, 1, 2, 3], [1, 1, 1, 9, 9]), rule="majority").tolist() == [1]
    # softmax confidence: a peaked layer beats one with a larger but flat top logit
    flat = np.array([[[5.0, 4.9, 4.9], [0.0, 2.0, -3.0]]])
    assert ro.vote(flat).tolist() == [0]
    assert ro.vote(flat, confidence="softmax").tolist() == [1]
    # batched and from tensors
    both = np.concatenate(
        [logits_of([1, 1, 2, 2, 3], [2, 1, 3, 1, 9]), logits_of([0] * 5, [1] * 5)]
    )
    assert ro.vote(torch.tensor(both)).tolist() == [2, 0]
    assert ro.video_accuracy(np.array([[0, 0, 1, 1], [0, 1, 0, 0]]), np.array([2, 0])) == 0.5


def test_prediction_set_keeps_layers_that_own_their_class():
    scores = np.array(
        [
            [
                [5.0, 1.0, 0.0],  # cont -> 0, top score for 0: kept
                [4.0, 0.0, 1.0],  # inst -> 0, but cont scores 0 higher: dropped
                [0.0, 3.0, 2.0],  # onset -> 1, highest for 1: kept
                [0.0, 2.0, 2.5],  # visual -> 2, highest for 2: kept
                [0.0, 1.0, 0.5],  # audio -> 1, onset higher: dropped
            ]
        ]
    )
    assert ro.prediction_sets(scores).tolist() == [[True, True, True]]
    scores[0, 3, 2] = 0.5  # visual now picks 1 (2.0), below onset's 3.0: dropped
    assert ro.prediction_sets(scores).tolist() == [[True, True, False]]
    rng = np.random.default_rng(0)
    random_sets = ro.prediction_sets(rng.normal(size=(200, 5, 7)))
    assert (random_sets.sum(1) >= 1).all() and (random_sets.sum(1) <= 5).all()
    top = ro.top_n_sets(np.array([[0.1, 0.9, 0.5, 0.3]]), 2)
    assert top.tolist() == [[False, True, True, False]]
    targets = np.array([[0, 1, 0, 1], [1, 0, 0, 0]])
    sets = np.array([[0, 1, 1, 0], [1, 0, 0, 0]], bool)
    # per video: F1 = 2*1/(2+2) = 0.5 and 1.0
    assert ro.set_f1(targets, sets) == pytest.approx(0.75)


def test_modality_bias_assigns_each_category_its_most_activated_layer():
    # 3 layers, 3 classes; each row: the layer scores for every class
    videos = np.zeros((4, 3, 3))
    videos[0, :, 0] = [3, 1, 0]  # label 0 -> layer 0
    videos[1, :, 0] = [0, 2, 1]  # label 0 -> layer 1
    videos[2, :, 0] = [4, 0, 0]  # label 0 -> layer 0
    videos[1, :, 1] = [0, 0, 5]  # label 1 -> layer 2
    videos[3, :, 1] = [1, 2, 0]  # label 1 -> layer 1: 1-1 tie, mean score layer 2 (2.5) wins
    targets = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 1, 0]])
    bias = ro.modality_bias(videos, targets, layers=("a", "b", "c"))
    assert bias["votes"].tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert bias["assignment"].tolist() == [0, 2, -1]  # class 2 has no videos
    assert bias["counts"] == {"a": 1, "b": 0, "c": 1}
    with pytest.raises(ValueError):
        ro.modality_bias(videos, targets)  # five names for three layers


def test_unique_correct_counts_each_column():
    # per video, which of (cont, inst, onset) is right; visual/audio never matter
    right = [
        (1, 0, 0),  # continuous only
        (0, 1, 0),  # instant only
        (0, 1, 1),  # instant and onset, not continuous
        (0, 0, 1),  # onset only
        (1, 1, 1),
        (0, 0, 0),
    ]
    targets = np.zeros((6, 2), int)
    targets[:, 0] = 1
    logits = np.zeros((6, 5, 2))
    for v, row in enumerate(right):
        for layer, ok in enumerate(row):
            logits[v, layer] = [1, 0] if ok else [0, 1]
    logits[:, 3:] = [1, 0]
    assert ro.layer_correct(logits, targets)[:, :3].astype(int).tolist() == [list(r) for r in right]
    assert ro.unique_correct(logits, targets) == {
        "continuous_only": 1,
        "instant_only": 1,
        "onset_only": 1,
        "instant_or_onset_not_continuous": 3,
    }


def test_plateau_schedule_drops_the_rate_after_three_epochs_without_gain():
    cfg = tr.settings()
    assert (cfg["lr"], cfg["plateau_epochs"], cfg["plateau_factor"]) == (1e-2, 3, 0.1)
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer, scheduler = tr.optimizer_and_scheduler(params)
    assert isinstance(optimizer, torch.optim.SGD)
    rates = []
    for accuracy in [0.5, 0.6, 0.6, 0.55, 0.6, 0.7, 0.7]:
        scheduler.step(accuracy)
        rates.append(optimizer.param_groups[0]["lr"])
    # 0.6 is not beaten in epochs 3, 4, 5: the rate drops after the fifth epoch
    assert rates == pytest.approx([1e-2] * 4 + [1e-3] * 3)
    with pytest.raises(ValueError, match="unknown"):
        tr.settings({"learning_rate": 1})


def test_audio_network_follows_the_papers_table_and_keeps_time_order():
    """100 log-mel frames x 80 mels per second -> 10 vectors per second (supplementary Table 6);
    one second's vectors depend on that second's audio only."""
    torch.manual_seed(0)
    net = fl.AudioCNN(channels=(2, 2, 3, 3, 3, 3, 4), out_dim=5).eval()
    wave = torch.randn(1, 32000) * 0.1
    assert net.log_mel(wave).shape == (2, 1, 100, 80)
    shapes = []
    x = net.log_mel(wave)
    for layer in net.convs:
        x = layer(x)
        if isinstance(layer, torch.nn.MaxPool2d | torch.nn.Conv2d):
            shapes.append(tuple(x.shape[2:]))
    assert shapes == [(50, 80), (50, 40), (50, 19), (50, 19), (24, 9)] + [(24, 9)] * 3 + [
        (11, 4),
        (10, 1),
        (10, 1),
        (10, 1),
    ]
    changed = wave.clone()
    changed[0, 16000:] = torch.randn(16000) * 0.3
    with torch.no_grad():
        a, b = net(wave), net(changed)
    assert a.shape == (1, 20, 5)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])
    assert fl.AudioCNN(2, channels=(2,) * 7, out_dim=3)(wave).shape == (1, 4, 3)


def test_end_to_end_trains_a_step_from_rendered_synth_clips(tmp_path):
    """The paper's recipe on two tiny decoded synth clips: frames at 2 steps per second, the
    log-mel audio CNN, onsets on the same grid, one SGD step that moves both backbones."""
    from avexplain.data import decode
    from avexplain.data.datasets import synth
    from avexplain.features.backbones import KINETICS_MEAN, KINETICS_STD
    from avexplain.features.onsets import clip_onsets

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["clip"].update(segments=4, fps=4, size=32, overrides={})
    config["datasets"]["synth"].update(num_videos=4, classes=4)
    clip, steps = config["clip"], 2
    frames, waves, onsets = [], [], []
    for i in range(2):
        video_id = f"synth-{i:05d}"
        synth.render(video_id, config, tmp_path / f"{video_id}.src.mp4")
        mp4, wav = tmp_path / f"{video_id}.mp4", tmp_path / f"{video_id}.wav"
        assert decode.decode_video(tmp_path / f"{video_id}.src.mp4", mp4, wav, clip)[0] == "ok"
        f, w = tr.load_clip(mp4, wav, clip, steps_per_second=steps)
        assert f.shape == (8, 32, 32, 3) and w.shape == (4 * 16000,)
        frames.append(f)
        waves.append(w)
        onsets.append(clip_onsets(wav, 4, 16000, steps_per_second=steps))
    torch.manual_seed(0)
    model = fl.EndToEnd(
        {},
        4,
        segments=4,
        steps_per_second=steps,
        audio_channels=(4, 4, 8, 8, 8, 8, 16),
        frame_size=16,
        video_normalisation=(KINETICS_MEAN, KINETICS_STD),
    )
    assert model.head.k == 1 and model.needs_onsets
    audio_stage = fl.EndToEnd(
        {}, 4, 4, steps, head="uni_audio", audio_channels=(4, 4, 8, 8, 8, 8, 16)
    )
    assert audio_stage.video is None
    audio_stage(None, torch.from_numpy(np.stack(waves)))  # audio alone: no frames needed
    model.load_backbones(audio_stage)
    torch.testing.assert_close(model.audio.state_dict(), audio_stage.audio.state_dict())
    assert fl.recipe(model)["recipe"] == "end_to_end" and fl.recipe(model)["time_step_s"] == 0.5
    before = copy.deepcopy(model.state_dict())
    optimizer, _ = tr.optimizer_and_scheduler(model.parameters())
    out = model(
        torch.from_numpy(np.stack(frames)),
        torch.from_numpy(np.stack(waves)),
        torch.from_numpy(np.stack(onsets)),
    )
    assert out["layer_logits"].shape == (2, 5, 4) and out["logits"].shape == (2, 4)
    assert out["visual_steps"].shape == out["audio_steps"].shape == (2, 8, 512)
    loss = model.loss(out, torch.tensor([0, 1]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    after = model.state_dict()
    for prefix in ("video.body.0", "audio.convs.0", "head.classifiers.onset"):
        key = next(k for k in after if k.startswith(prefix) and k.endswith("weight"))
        assert not torch.equal(before[key], after[key]), key


@pytest.mark.slow
def test_end_to_end_recipe_runs_a_tiny_synth_run_on_cpu(tmp_path):
    """recipe: end_to_end through the DAG: MC3-18 and the audio CNN trained from the clips
    (tiny grid and widths), the four models in the paper's stage order and both seeds in one
    job, outputs say so."""
    root = tiny_workflow(tmp_path)
    config = yaml.safe_load((root / "config.yaml").read_text())
    # the 4 videos in one shard: one download and one decode job (the shards are not checked)
    config["datasets"]["synth"]["shard_size"] = 4
    fusion = config["fusion_layers"]
    fusion.update(recipe="end_to_end", seeds=[0, 1], device="cpu")
    fusion["end_to_end"].update(
        steps_per_second=2, frame_size=16, audio_channels=[4, 4, 8, 8, 8, 8, 16], batch_size=2
    )
    fusion["overrides"] = {"synth": {"train": {"epochs": 1, "batch_size": 2}}}
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(root, paths.fusion_metrics("synth", "fusion_layers"))
    assert not (root / "features/synth/mc3_18.zarr").exists()  # read the clips, not the stores
    record = json.loads((root / paths.fusion_metrics("synth", "fusion_layers")).read_text())
    assert record["recipe"]["recipe"] == "end_to_end"
    assert record["recipe"]["time_steps"] == 8 and record["recipe"]["time_step_s"] == 0.5
    assert 0 <= record["mean"]["top1"] <= 100
    seeds = [json.loads((root / paths.fusion_trained("synth", "naive_av", s)).read_text())["seed"]
             for s in (0, 1)]  # fmt: skip
    assert seeds == [0, 1]
    assert len(list((root / "logs/models/synth/fusion_layers").glob("train.log"))) == 1


def test_end_to_end_needs_as_many_frames_a_second_as_steps():
    """synth's clips have 4 frames a second (clip.overrides.synth): the paper's 10 steps a
    second cannot be sampled from them, and planning says so, naming the key."""
    from avexplain.config import ConfigError

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["fusion_layers"]["recipe"] = "end_to_end"
    with pytest.raises(ConfigError, match=r"end_to_end\.steps_per_second is 10, more than the 4"):
        tr.config_for(config, "synth")
    assert tr.config_for(config, "ave")["recipe"] == "end_to_end"  # 16 frames a second
