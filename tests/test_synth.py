"""The generated synth dataset: manifest contract, modality design, determinism, real media."""

import copy
import hashlib
import itertools
import json
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

from avexplain.config import ConfigError
from avexplain.data import decode
from avexplain.data.datasets import synth
from avexplain.data.ffmpeg import probe

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    "video_id",
    "split",
    "labels",
    "source",
    "start",
    "end",
    "audio_events",
    "visual_events",
    "boxes",
]


@pytest.fixture
def config():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["clip"].update(segments=6, fps=8, size=64, overrides={})  # tiny, fast renders
    cfg["datasets"]["synth"].update(num_videos=12, classes=6)
    return cfg


def test_manifest_follows_the_contract(config):
    df, classes = synth.build_manifest(config)
    assert list(df.columns) == COLUMNS
    assert df["video_id"].tolist() == [f"synth-{i:05d}" for i in range(12)]
    assert df["split"].value_counts().to_dict() == {"train": 7, "val": 2, "test": 3}
    assert set(df["source"]) == {"generated"}
    assert (df["start"] == 0).all() and (df["end"] == 6).all()
    for row in df.itertuples():
        labels = row.labels.split(";")
        assert labels == [c for c in classes if c in labels]  # class order
        assert 1 <= len(labels) <= 2
        for column in ("audio_events", "visual_events"):
            events = json.loads(getattr(row, column))
            assert sorted(e[0] for e in events) == sorted(labels)
            assert all(0 <= on < off <= 6 for _, on, off in events)
        boxes = json.loads(row.boxes)
        assert boxes, "every video has at least one audible, visible second"
        for second, (x0, y0, x1, y1) in boxes.items():
            assert 0 <= int(second) < 6
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


def test_manifest_is_deterministic_and_seeded(config):
    a, _ = synth.build_manifest(config)
    b, _ = synth.build_manifest(copy.deepcopy(config))
    assert a.equals(b)
    config["seed"] = 1
    c, _ = synth.build_manifest(config)
    assert not a.equals(c)


@pytest.mark.parametrize("n", range(2, 9))
def test_each_modality_alone_confuses_some_classes(n):
    pairs = synth.class_pairs(n)
    assert len(set(pairs)) == n  # both modalities together tell every class apart
    same_object = [
        (a, b) for a, b in itertools.combinations(range(n), 2) if pairs[a][0] == pairs[b][0]
    ]
    same_sound = [
        (a, b) for a, b in itertools.combinations(range(n), 2) if pairs[a][1] == pairs[b][1]
    ]
    assert same_object, "a vision-only model must have classes it cannot separate"
    if n >= 3:
        assert same_sound, "an audio-only model must have classes it cannot separate"
    assert len(set(synth.class_names(n))) == n


def test_distractors_never_form_a_class(config):
    config["datasets"]["synth"].update(num_videos=120, classes=8)
    config["clip"]["segments"] = 10
    pairs = synth.class_pairs(8)
    kinds = {"visual": 0, "audio": 0}
    for i in range(120):
        spec = synth.video_spec(i, config)
        for kind in kinds:
            extras = [x for x in getattr(spec, kind) if x.label is None]
            kinds[kind] += len(extras)
        # second by second: a class is formed exactly where it is annotated
        for s in range(10):
            heard = {a.kind for a in spec.audio if a.onset <= s < a.offset}
            seen = {v.kind for v in spec.visual if v.onset <= s < v.offset}
            formed = {c for c, (o, snd) in enumerate(pairs) if o in seen and snd in heard}
            assert formed <= set(spec.labels)
    assert kinds["visual"] > 20 and kinds["audio"] > 20  # distractors are common
    assert any(len(synth.video_spec(i, config).labels) == 2 for i in range(120))


def test_classes_are_balanced_but_do_not_follow_from_the_index(config):
    config["datasets"]["synth"].update(num_videos=60, classes=6)
    first = [synth.primary_class(i, config) for i in range(60)]
    assert np.bincount(first, minlength=6).tolist() == [10] * 6  # balanced
    # index mod C predicts the class no better than chance (1/6 of 60 = 10 expected)
    assert sum(c == i % 6 for i, c in enumerate(first)) < 20
    assert first[7] in synth.video_spec(7, config).labels
    with pytest.raises(ValueError, match="num_videos"):
        synth.primary_class(60, config)


def test_bad_splits_name_the_key(config):
    config["datasets"]["synth"]["splits"] = [0.5, 0.2, 0.2]
    with pytest.raises(ConfigError, match=r"datasets\.synth\.splits"):
        synth.build_manifest(config)


def test_boxes_cover_the_drawn_object(config):
    T, fps, size = 6, 8, 64
    for i in range(6):
        spec = synth.video_spec(i, config)
        frames, tracks = synth._frames(spec, T, fps, size)
        bg = synth._background(size, np.random.default_rng(spec.seed + [0]))
        boxes = synth._boxes(spec, tracks, T, fps, size)
        for second, (x0, y0, x1, y1) in boxes.items():
            f = frames[int(second) * fps + fps // 2]
            changed = np.abs(f.astype(int) - bg.astype(int)).sum(axis=2) > 30
            box = np.zeros_like(changed)
            box[round(y0 * size) : round(y1 * size), round(x0 * size) : round(x1 * size)] = True
            # the labelled object is drawn inside its box at mid-second
            assert changed[box].mean() > 0.25


def test_render_is_byte_identical_and_real_media(config, tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    synth.render("synth-00004", config, a)
    synth.render("synth-00004", copy.deepcopy(config), b)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    info = probe(a)
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 64, 48, 8)
    assert info.has_audio and abs(info.audio_duration - 6) < 0.1
    synth.render("synth-00005", config, b)
    assert a.read_bytes() != b.read_bytes()
    with pytest.raises(ValueError, match="not a synth video id"):
        synth.render("video-1", config, b)


def test_sound_plays_during_audio_events_only(config, tmp_path):
    """Rendered, then decoded like any video: loud where a sound plays, quiet elsewhere."""
    clip = config["clip"]
    checked = 0
    for i in range(12):
        spec = synth.video_spec(i, config)
        quiet = [s for s in range(6) if not any(a.onset <= s < a.offset for a in spec.audio)]
        if not quiet:
            continue
        synth.render(f"synth-{i:05d}", config, tmp_path / "v.mp4")
        status, _, _ = decode.decode_video(
            tmp_path / "v.mp4", tmp_path / "c.mp4", tmp_path / "c.wav", clip
        )
        assert status == "ok"
        with wave.open(str(tmp_path / "c.wav")) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float) / 32768
        rms = np.sqrt((x.reshape(6, -1)[:, 800:-800] ** 2).mean(axis=1))  # skip edges
        for a in spec.audio:
            for s in range(a.onset, a.offset):
                assert rms[s] > 5 * max(rms[q] for q in quiet)
        checked += 1
    assert checked >= 3


def _probe_features(spec, T=10, fps=2, size=48, sr=16000):
    """Crude per-video features: colour histograms (visual), log spectra (audio)."""
    frames, _ = synth._frames(spec, T, fps, size)
    q = (frames // 64).reshape(len(frames), -1, 3) @ np.array([16, 4, 1])
    hist = np.stack([np.bincount(x, minlength=64) for x in q]) / size**2
    chunks = synth._audio(spec, T, sr).reshape(T * 10, -1)
    spectra = np.log1p(np.abs(np.fft.rfft(chunks * np.hanning(chunks.shape[1]), axis=1))[:, ::8])
    return (
        np.concatenate([hist.max(0), hist.mean(0)]),
        np.concatenate([spectra.max(0), spectra.mean(0), np.abs(np.diff(spectra, axis=0)).mean(0)]),
    )


@pytest.mark.slow
def test_linear_probes_need_both_modalities(config):
    """Linear probes on crude features: vision alone and audio alone each confuse the classes
    that share their object or sound; together they do clearly better."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.multiclass import OneVsRestClassifier

    config["clip"].update(segments=10, fps=2, size=48)
    n, num = 6, 240
    config["datasets"]["synth"]["num_videos"] = num
    feats, labels = [], np.zeros((num, n))
    for i in range(num):
        spec = synth.video_spec(i, config)
        feats.append(_probe_features(spec))
        labels[i, spec.labels] = 1
    vis, aud = (np.array(f) for f in zip(*feats, strict=True))
    train, test = slice(0, 160), slice(160, num)
    ap = {}
    for name, x in [("visual", vis), ("audio", aud), ("both", np.hstack([vis, aud]))]:
        x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
        model = OneVsRestClassifier(LogisticRegression(C=0.1, max_iter=2000))
        scores = model.fit(x[train], labels[train]).predict_proba(x[test])
        ap[name] = np.array(
            [average_precision_score(labels[test][:, c], scores[:, c]) for c in range(n)]
        )
    assert ap["both"].mean() > ap["visual"].mean() + 0.2
    assert ap["both"].mean() > ap["audio"].mean() + 0.1
    # beep (class 0) and drum (class 5) are unique sounds; buzz and chirp are shared
    assert ap["audio"][[0, 5]].mean() > ap["audio"][[1, 2, 3, 4]].mean() + 0.15
