"""Audio onset masks (features/onsets.py) against the onsets synth renders."""

import fcntl
import wave
from pathlib import Path

import librosa
import numpy as np
import pytest
import yaml

from avexplain.data import decode
from avexplain.data.datasets import synth
from avexplain.features import onsets

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


@pytest.fixture
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def write_wav(path, samples):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def check_against_spec(mask, spec, T):
    """Every sound that starts inside the clip flags its second; no second without sound is
    flagged, except a sound's offset second (its 10 ms fade-out is a broadband transient).
    A sound that starts with the clip has no onset (the clip edge is mirrored, not a step)."""
    for a in spec.audio:
        if a.onset > 0:
            assert mask[a.onset], (spec.index, a)
    offsets = {a.offset for a in spec.audio}
    for s in range(T):
        silent = not any(a.onset <= s < a.offset for a in spec.audio)
        if silent and s not in offsets:
            assert not mask[s], (spec.index, s)


def test_masks_of_rendered_sounds_flag_their_onsets_only(config, tmp_path):
    T = config["clip"]["segments"]
    checked_onsets = 0
    for i in range(16):
        spec = synth.video_spec(i, config)
        path = tmp_path / f"{i}.wav"
        write_wav(path, synth._audio(spec, T, SR))
        mask = onsets.clip_onsets(path, T, SR)
        assert mask.shape == (T,) and mask.dtype == bool
        check_against_spec(mask, spec, T)
        checked_onsets += sum(a.onset > 0 for a in spec.audio)
        fine = onsets.clip_onsets(path, T, SR, steps_per_second=10)
        assert fine.shape == (10 * T,)
        assert (fine.reshape(T, 10).any(1) == mask).all()  # the same onsets on a finer grid
    assert checked_onsets >= 15


def test_masks_of_decoded_synth_clips(config, tmp_path):
    """The pipeline's path: rendered to MP4 (AAC audio), decoded to the canonical WAV."""
    config["clip"].update(fps=4, size=32, overrides={})
    clip, T = config["clip"], config["clip"]["segments"]
    for i in (2, 6, 7):
        spec = synth.video_spec(i, config)
        synth.render(f"synth-{i:05d}", config, tmp_path / "v.mp4")
        status, _, _ = decode.decode_video(
            tmp_path / "v.mp4", tmp_path / "c.mp4", tmp_path / "c.wav", clip
        )
        assert status == "ok"
        check_against_spec(onsets.clip_onsets(tmp_path / "c.wav", T, SR), spec, T)
    masks = onsets.clip_onset_masks([tmp_path / "c.wav"] * 2, T, SR)
    assert masks.shape == (2, T)


def test_librosa_defaults_are_the_plain_two_step_call(config):
    """top_db=None and zero padding reproduce onset_strength(y) then onset_detect on it."""
    y = synth._audio(synth.video_spec(3, config), 10, SR).astype(np.float32)
    # ours first: it compiles librosa's numba code under the lock (a fresh install's cache)
    ours = onsets.onset_times(y, SR, top_db=None, pad_mode="constant")
    plain = librosa.onset.onset_detect(
        onset_envelope=librosa.onset.onset_strength(y=y, sr=SR), sr=SR, units="time"
    )
    np.testing.assert_allclose(ours, plain)


def test_only_the_first_detection_takes_the_compile_lock(config, monkeypatch):
    """Two processes compiling librosa's cached numba code at once can corrupt the cache (numba
    issue 10128): a process's first detection holds an exclusive file lock, later ones do
    not."""
    taken, flock = [], fcntl.flock
    monkeypatch.setattr(onsets, "_compiled", False)
    monkeypatch.setattr(fcntl, "flock", lambda fd, op: (taken.append(op), flock(fd, op)))
    y = synth._audio(synth.video_spec(3, config), 10, SR).astype(np.float32)
    first = onsets.onset_times(y, SR)
    np.testing.assert_array_equal(onsets.onset_times(y, SR), first)
    assert taken == [fcntl.LOCK_EX]


def test_times_fall_in_the_step_that_contains_them():
    mask = onsets.onset_mask(np.array([0.0, 0.99, 3.5, 9.999, 10.0, -0.1]), 10)
    assert np.flatnonzero(mask).tolist() == [0, 3, 9]
    fine = onsets.onset_mask(np.array([0.05, 0.15, 2.0]), 3, steps_per_second=10)
    assert np.flatnonzero(fine).tolist() == [0, 1, 20]
    with pytest.raises(ValueError, match="unknown onset settings"):
        onsets.clip_onsets("x.wav", 10, SR, threshold=0.5)
