"""Fuzz: generated bad video files through download -> decode -> missing.csv.

Every file ends either as a canonical clip (its repairs recorded in the shard's report.csv) or
as a row of missing.csv with the stage and a reason, and no bad file stops the run. The files:
zero bytes, truncations at seeded random offsets, the wrong container behind a .mp4 name, audio
only, rotated, odd sizes, odd and variable frame rates, short clips, random bytes."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from avexplain.data import decode
from avexplain.data.download import fetch
from avexplain.data.ffmpeg import count_video_frames, run_ffmpeg
from avexplain.data.manifest import build_manifest

ROOT = Path(__file__).resolve().parents[1]

# tiny clips: 2 one-second segments at 4 fps, 32 px (the feature tests' clip)
CLIP = {"segments": 2, "fps": 4, "size": 32, "sample_rate": 16000}
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-threads", "1"]
TRUNCATIONS = 8  # seeded random cut points per truncated base file


def _src(seconds=2, size="48x36", rate=10, audio=True) -> list[str]:
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=22050:duration={seconds}"]
        args += ["-c:a", "aac", "-ac", "1"]
    return args


def make_bad_files(folder) -> dict[str, str]:
    """{video_id: kind} of >= 50 files in `folder`, all named .mp4 whatever they hold."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}

    def mp4(name, args, kind):
        run_ffmpeg(
            [
                *args,
                "-f",
                "mp4" if not kind.startswith("mkv") else "matroska",
                str(folder / f"{name}.mp4"),
            ]
        )
        kinds[name] = kind

    mp4("plain", [*_src(), *X264, "-pix_fmt", "yuv420p"], "plain")
    mp4("faststart", [*_src(), *X264, "-pix_fmt", "yuv420p", "-movflags", "+faststart"], "plain")
    mp4("odd_size", [*_src(size="33x17", rate=7), *X264, "-pix_fmt", "yuv444p"], "odd_size")
    mp4("odd_rate_short", [*_src(1, "50x30", "60000/1001"), *X264, "-pix_fmt", "yuv420p"], "short")
    mp4(
        "vfr",
        [
            *_src(2, "40x40", 30, audio=False),
            "-vf",
            "setpts='if(lt(N,20),N/30,0.67+(N-20)/5)/TB'",
            "-fps_mode",
            "passthrough",
            *X264,
            "-pix_fmt",
            "yuv420p",
        ],
        "no_audio",
    )
    mp4("mkv_inside", [*_src(), *X264, "-pix_fmt", "yuv420p"], "mkv")
    run_ffmpeg([*_src(2, "48x36", 10), *X264, "-pix_fmt", "yuv420p", str(folder / "upright.mp4")])
    run_ffmpeg(
        [
            "-display_rotation:v:0",
            "90",
            "-i",
            str(folder / "upright.mp4"),
            "-c",
            "copy",
            "-f",
            "mp4",
            str(folder / "rotated.mp4"),
        ]
    )
    (folder / "upright.mp4").unlink()
    kinds["rotated"] = "rotated"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:a",
            "aac",
            "-f",
            "mp4",
            str(folder / "audio_only.mp4"),
        ]
    )
    kinds["audio_only"] = "audio_only"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=1", "-f", "wav", str(folder / "wav.mp4")])
    kinds["wav"] = "audio_only"
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=40x30:duration=1",
            "-frames:v",
            "1",
            "-f",
            "image2",
            "-c:v",
            "png",
            str(folder / "png.mp4"),
        ]
    )
    kinds["png"] = "image"
    rng = np.random.default_rng(16)
    for i in range(3):
        (folder / f"zero_{i}.mp4").write_bytes(b"")
        kinds[f"zero_{i}"] = "zero"
        (folder / f"noise_{i}.mp4").write_bytes(rng.bytes(int(rng.integers(1, 5000))))
        kinds[f"noise_{i}"] = "noise"
    for base in ("plain", "faststart", "odd_size", "rotated", "mkv_inside"):
        data = (folder / f"{base}.mp4").read_bytes()
        for k, cut in enumerate(sorted(rng.choice(np.arange(1, len(data)), TRUNCATIONS, False))):
            (folder / f"cut_{base}_{k}.mp4").write_bytes(data[:cut])
            kinds[f"cut_{base}_{k}"] = "truncated"
    return kinds


def test_bad_files_end_as_a_repaired_clip_or_a_reasoned_row(tmp_path):
    kinds = make_bad_files(tmp_path / "mine")
    assert len(kinds) >= 50
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["clip"] = CLIP
    config["download"]["min_present_fraction"] = 0.0
    config["datasets"]["custom"].update(video_dir="mine", labels_csv="labels.csv", shard_size=64)
    ids = sorted(kinds)
    (tmp_path / "labels.csv").write_text(
        "video_id,labels,split\n"
        + "".join(f"{v},x,{('train', 'val', 'test')[i % 3]}\n" for i, v in enumerate(ids))
    )
    frame, _, audit = build_manifest(config, "custom", tmp_path)
    assert sorted(frame.video_id) == ids  # nothing dropped (no two files are the same)
    manifest = tmp_path / "manifest.csv"
    frame.to_csv(manifest, index=False)

    # the stages as the rules run them: one shard each; none may raise for a bad file
    status = tmp_path / "download" / "shard-000.csv"
    clips = tmp_path / "clips" / "shard-000"
    missing_csv = tmp_path / "missing.csv"
    cwd = tmp_path
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        fetch.download_shard(config, "custom", manifest, "000", tmp_path / "videos", status)
        report = decode.run(status, clips, CLIP, workers=2)
        missing = fetch.collect_missing(
            config, "custom", manifest, [status], missing_csv, clip_dirs=[clips]
        )
    report = report.set_index("video_id")
    missing = pd.read_csv(missing_csv, dtype=str, keep_default_na=False).set_index("video_id")
    assert list(missing.columns) == ["source", "stage", "reason"]
    outcome = {}
    for vid in ids:
        mp4, wav = clips / f"{vid}.mp4", clips / f"{vid}.wav"
        if vid in missing.index:
            assert missing.loc[vid, "reason"].strip(), vid
            assert not mp4.exists() and not wav.exists(), vid
            outcome[vid] = ("missing", missing.loc[vid, "stage"])
        else:
            row = report.loc[vid]
            assert row["status"] in ("ok", "repaired"), vid
            assert (row["status"] == "repaired") == bool(row["repairs"]), vid
            decode.check_clip(mp4, wav, CLIP)  # exactly the canonical shape
            outcome[vid] = ("clip", row["repairs"])
    # the cases whose end is known
    for vid in ("zero_0", "zero_1", "zero_2", "noise_0", "noise_1", "noise_2", "audio_only", "wav"):
        assert outcome[vid] == ("missing", "download"), (vid, outcome[vid])
    assert "rotated" in outcome["rotated"][1]
    assert set(outcome["odd_size"][1].split(";")) >= {"aspect", "fps"}
    assert "short" in outcome["odd_rate_short"][1] and "fps" in outcome["odd_rate_short"][1]
    assert set(outcome["vfr"][1].split(";")) >= {"no_audio", "vfr"}
    assert outcome["png"] == ("missing", "decode")
    assert missing.loc["png", "reason"].startswith("decode failed: a single frame")
    assert outcome["mkv_inside"][0] == "clip"
    # truncations end both ways, and each one as one of the two
    cut = [outcome[v][0] for v in ids if kinds[v] == "truncated"]
    assert len(cut) == 5 * TRUNCATIONS and "missing" in cut
    frames, w, h = count_video_frames(clips / "rotated.mp4")
    assert (frames, w, h) == (8, 32, 32)
    with wave.open(str(clips / "vfr.wav")) as wf:  # silence for the file without sound
        assert wf.getnframes() == 2 * 16000
