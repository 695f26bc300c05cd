"""Tiny canonical clips and configs for the feature-extraction tests (no network, seconds)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg

from avexplain import paths

CLIP = {"segments": 2, "fps": 4, "size": 32, "sample_rate": 16000}


def settings(**extra) -> dict:
    base = {
        "backbones": ["vgg19", "resnet152", "vggish", "mc3_18"],
        "weights": "random",
        "cache_dir": "weights-cache",
        "device": "cpu",
        "batch_size": 8,
        "decode_workers": 0,
        "frames_per_segment": {"vgg19": 2, "resnet152": 2, "mc3_18": 2},
        "chunk_videos": {"vgg19": 1, "resnet152": 1, "vggish": 2, "mc3_18": 2, "vggish_maps": 1},
        "vggish_pca": False,
    }
    base.update(extra)
    return base


def make_clip(folder: Path, video_id: str, index: int, clip: dict = CLIP) -> None:
    """One canonical clip: exactly segments*fps frames of size^2 H.264 + segments s of 16 kHz
    mono s16 WAV; the test pattern and tone differ per index so features differ per video."""
    t, fps, size = clip["segments"], clip["fps"], clip["size"]
    folder.mkdir(parents=True, exist_ok=True)
    pattern = ("testsrc", "testsrc2", "smptebars", "rgbtestsrc")[index % 4]
    tone = f"sine=frequency={220 * (index + 1)}:sample_rate={clip['sample_rate']}:duration={t}"
    for source, encode, name in (
        (f"{pattern}=size={size}x{size}:rate={fps}",
         ["-frames:v", str(t * fps), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-an"], "mp4"),
        (tone, ["-ac", "1", "-c:a", "pcm_s16le"], "wav"),
    ):  # fmt: skip
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source]
        subprocess.run([*cmd, *encode, str(folder / f"{video_id}.{name}")], check=True)


def make_dataset(root: Path, dataset: str, n: int, shard_size: int, failed=(), clip: dict = CLIP):
    """A manifest and its shards' clip folders (with report.csv) for n videos under root."""
    manifest = root / paths.manifest(dataset)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    ids = [f"{dataset}-{i:05d}" for i in range(n)]
    manifest.write_text("video_id,split\n" + "".join(f"{v},train\n" for v in ids))
    for k in range(0, n, shard_size):
        folder = root / paths.clips(dataset, paths.shard_id(k // shard_size))
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["video_id,status,repairs,error"]
        for i in range(k, min(k + shard_size, n)):
            if ids[i] in failed:
                lines.append(f"{ids[i]},failed,,synthetic failure")
            else:
                make_clip(folder, ids[i], i, clip)
                lines.append(f"{ids[i]},ok,,")
        (folder / "report.csv").write_text("\n".join(lines) + "\n")
    # what rule check_present writes when enough videos have a clip (extraction waits for it)
    (root / paths.present(dataset)).write_text(
        json.dumps({"dataset": dataset, "videos": n, "present": n - len(failed)}) + "\n"
    )
    return ids
