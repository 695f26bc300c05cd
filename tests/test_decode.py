"""Decoding to canonical clips: one fixture per repair case, generated with ffmpeg."""

import wave

import av
import numpy as np
import pandas as pd
import pytest

from avexplain.data import decode
from avexplain.data.ffmpeg import probe, run_ffmpeg

CLIP = {"segments": 10, "fps": 8, "size": 64, "sample_rate": 16000}
ENC = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def _make(path, seconds=10.0, size="96x96", rate=8, audio=True, extra_v=(), extra_out=()):
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
        args += ["-ac", "2", "-c:a", "aac"]
    run_ffmpeg([*args, *extra_v, *ENC, *extra_out, str(path)])
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("sources")
    s = {
        "clean": _make(d / "clean.mp4"),
        "no_audio": _make(d / "no_audio.mp4", audio=False),
        "short": _make(d / "short.mp4", seconds=4),
        "long": _make(d / "long.mp4", seconds=13),
        "fps": _make(d / "fps.mp4", rate=25),
        "aspect": _make(d / "aspect.mp4", size="640x360"),
        # 30 frames at 30 fps, then 10 fps: timestamps kept as they are (passthrough)
        "vfr": _make(
            d / "vfr.mp4",
            rate=30,
            extra_v=["-vf", "setpts='if(lt(N,30),N/30,1+(N-30)/10)/TB'"],
            extra_out=["-fps_mode", "passthrough", "-t", "10"],
        ),
    }
    # Landscape picture, white left half, black right half, shown rotated by 90 degrees.
    plain = d / "halves.mp4"
    run_ffmpeg(
        [
            *["-f", "lavfi", "-i", "color=white:size=48x64:rate=8:duration=10"],
            *["-f", "lavfi", "-i", "color=black:size=48x64:rate=8:duration=10"],
            *["-filter_complex", "[0:v][1:v]hstack", *ENC, str(plain)],
        ]
    )
    s["rotated"] = d / "rotated.mp4"
    run_ffmpeg(["-display_rotation:v:0", "90", "-i", str(plain), "-c", "copy", str(s["rotated"])])
    s["halves"] = plain
    data = s["clean"].read_bytes()
    s["truncated"] = d / "truncated.mp4"
    s["truncated"].write_bytes(data[: len(data) * 2 // 3])
    # the index (moov) first, then half of the data: opens, but decodes only in part
    faststart = _make(d / "faststart.mp4", extra_out=["-movflags", "+faststart"])
    data = faststart.read_bytes()
    s["truncated_faststart"] = d / "truncated_faststart.mp4"
    s["truncated_faststart"].write_bytes(data[: len(data) // 2])
    # 64x96 stored pixels shown twice as wide (a 128x96 picture), white on the left quarter
    s["anamorphic"] = d / "anamorphic.mp4"
    run_ffmpeg(
        [
            *["-f", "lavfi", "-i", "color=white:size=16x96:rate=8:duration=10"],
            *["-f", "lavfi", "-i", "color=black:size=48x96:rate=8:duration=10"],
            *["-filter_complex", "[0:v][1:v]hstack,setsar=2", *ENC, str(s["anamorphic"])],
        ]
    )
    s["audio_only"] = d / "audio_only.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=10", "-c:a", "aac", str(s["audio_only"])])
    s["empty"] = d / "empty.mp4"
    s["empty"].write_bytes(b"")
    s["missing"] = d / "does_not_exist.mp4"
    return s


def _frames(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _check_canonical(mp4, wav_path):
    frames = _frames(mp4)
    assert frames.shape == (10 * 8, 64, 64, 3)
    with av.open(str(mp4)) as c:
        assert not c.streams.audio
        assert c.streams.video[0].codec_context.name == "h264"
    with wave.open(str(wav_path)) as w:
        assert (w.getnframes(), w.getnchannels(), w.getsampwidth(), w.getframerate()) == (
            160000,
            1,
            2,
            16000,
        )
        return frames, np.frombuffer(w.readframes(w.getnframes()), "<i2")


@pytest.mark.parametrize(
    "case, expected",
    [
        ("clean", []),
        ("no_audio", ["no_audio"]),
        ("short", ["short"]),
        ("long", ["long"]),
        ("fps", ["fps"]),
        ("aspect", ["aspect"]),
        ("vfr", ["vfr"]),
        ("rotated", ["no_audio", "rotated", "aspect"]),
        ("anamorphic", ["no_audio", "aspect"]),
    ],
)
def test_cases_become_canonical_clips(sources, tmp_path, case, expected):
    mp4, wav_path = tmp_path / "c.mp4", tmp_path / "c.wav"
    status, repairs, error = decode.decode_video(sources[case], mp4, wav_path, CLIP)
    assert (status, repairs, error) == (("repaired" if expected else "ok"), expected, "")
    frames, audio = _check_canonical(mp4, wav_path)
    if case == "no_audio":
        assert not audio.any()  # silence
    if case == "short":
        # audio stops after 4 s (silence), the last frame is held
        assert np.abs(audio[16000 : 3 * 16000]).max() > 1000
        assert not audio[5 * 16000 :].any()
        assert np.abs(frames[-1].astype(int) - frames[40].astype(int)).mean() < 3
    if case in ("clean", "long", "vfr", "fps", "aspect"):
        assert np.abs(audio[-16000:]).max() > 1000  # sound through to the end


def test_vfr_source_is_detected(sources):
    info = probe(sources["vfr"])
    assert info.variable_rate
    assert not probe(sources["clean"]).variable_rate


def test_rotation_is_applied(sources, tmp_path):
    # Without rotation the crop is white on the left; displayed at 90 degrees, white is at the
    # top or bottom, and left and right columns look alike.
    decode.decode_video(sources["halves"], tmp_path / "p.mp4", tmp_path / "p.wav", CLIP)
    plain = _frames(tmp_path / "p.mp4")[0].mean(axis=2)
    assert plain[:, :24].mean() - plain[:, 40:].mean() > 150
    decode.decode_video(sources["rotated"], tmp_path / "r.mp4", tmp_path / "r.wav", CLIP)
    rot = _frames(tmp_path / "r.mp4")[0].mean(axis=2)
    assert abs(rot[:24].mean() - rot[40:].mean()) > 150
    assert abs(rot[:, :24].mean() - rot[:, 40:].mean()) < 20
    assert probe(tmp_path / "r.mp4").rotation == 0  # no rotation left in the metadata


def test_anamorphic_pixels_are_made_square(sources, tmp_path):
    # Shown 128x96: white is the left 32 columns; scaled to height 64 (width 86) and centre-
    # cropped, about 10 of 64 columns stay white (16 if the stored pixels were taken as square).
    decode.decode_video(sources["anamorphic"], tmp_path / "a.mp4", tmp_path / "a.wav", CLIP)
    frame = _frames(tmp_path / "a.mp4")[0].mean(axis=2)
    white_columns = int((frame.mean(axis=0) > 128).sum())
    assert 9 <= white_columns <= 11
    assert probe(tmp_path / "a.mp4").pixel_aspect == 1.0


@pytest.mark.parametrize(
    "case, message",
    [
        ("truncated", "unreadable video"),
        ("truncated_faststart", "truncated: video data ends at"),
        ("audio_only", "no video stream"),
        ("empty", "empty file"),
        ("missing", "no such file"),
    ],
)
def test_bad_files_fail_without_outputs(sources, tmp_path, case, message):
    status, repairs, error = decode.decode_video(
        sources[case], tmp_path / "x.mp4", tmp_path / "x.wav", CLIP
    )
    assert status == "failed" and repairs == []
    assert message in error
    assert list(tmp_path.iterdir()) == []


def test_shard_reports_every_present_video(sources, tmp_path):
    status = pd.DataFrame(
        [
            ("v-ok", "present", str(sources["clean"]), ""),
            ("v-short", "present", str(sources["short"]), ""),
            ("v-trunc", "present", str(sources["truncated"]), ""),
            ("v-gone", "present", str(sources["missing"]), ""),
            ("v-missing", "missing", "", "HTTP 404"),
        ],
        columns=decode.STATUS_COLUMNS,
    )
    status_csv = tmp_path / "shard-000.csv"
    status.to_csv(status_csv, index=False)
    out = tmp_path / "clips" / "shard-000"
    decode.run(status_csv, out, CLIP, workers=2)
    report = pd.read_csv(out / "report.csv", keep_default_na=False)
    assert list(report.columns) == decode.REPORT_COLUMNS
    assert report["video_id"].tolist() == ["v-ok", "v-short", "v-trunc", "v-gone"]
    assert report["status"].tolist() == ["ok", "repaired", "failed", "failed"]
    assert report["repairs"].tolist() == ["", "short", "", ""]
    assert (report["error"] != "").tolist() == [False, False, True, True]
    assert sorted(p.name for p in out.iterdir()) == [
        "report.csv",
        "v-ok.mp4",
        "v-ok.wav",
        "v-short.mp4",
        "v-short.wav",
    ]


def test_bad_status_csv_names_file_and_line(tmp_path):
    bad = tmp_path / "shard-001.csv"
    bad.write_text("video_id,status,path,reason\na,present,x.mp4,\nb,gone,,\n")
    with pytest.raises(ValueError, match=r"shard-001.csv, line 3: status 'gone'"):
        decode.read_status(bad)
    bad.write_text("video_id,path\na,x.mp4\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) status, reason"):
        decode.read_status(bad)


@pytest.mark.slow
def test_decode_script_runs_under_snakemake(sources, tmp_path):
    """workflow/scripts/decode.py through Snakemake, on a one-rule workflow beside the data."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "decode.py"
    status = tmp_path / "data/synth/download/shard-000.csv"
    status.parent.mkdir(parents=True)
    pd.DataFrame(
        [("a", "present", str(sources["clean"]), ""), ("b", "present", str(sources["empty"]), "")],
        columns=decode.STATUS_COLUMNS,
    ).to_csv(status, index=False)
    (tmp_path / "Snakefile").write_text(
        "rule decode:\n"
        "    input: status='data/{media}/download/shard-{shard}.csv'\n"
        "    output: clips=directory('data/{media}/clips/shard-{shard}')\n"
        "    log: 'logs/decode/{media}/shard-{shard}.log'\n"
        f"    params: clip={CLIP!r}\n"
        f"    script: {str(script)!r}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "data/synth/clips/shard-000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "data/synth/clips/shard-000"
    report = pd.read_csv(out / "report.csv", keep_default_na=False)
    assert report["status"].tolist() == ["ok", "failed"]
    assert (out / "a.mp4").exists() and not (out / "b.mp4").exists()
    assert "b failed: empty file" in (tmp_path / "logs/decode/synth/shard-000.log").read_text()


def test_shard_without_present_videos_still_has_a_report(tmp_path):
    status_csv = tmp_path / "shard-002.csv"
    status_csv.write_text("video_id,status,path,reason\na,missing,,private video\n")
    decode.run(status_csv, tmp_path / "clips", CLIP)
    assert (
        tmp_path / "clips" / "report.csv"
    ).read_text().strip() == "video_id,status,repairs,error"
