"""Download stage, offline: a local HTTP server (with Range support) stands in for the internet."""

from __future__ import annotations

import copy
import hashlib
import http.server
import re
import runpy
import subprocess
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import av
import pandas as pd
import pytest
import yaml

from avexplain.data.download import fetch as download
from avexplain.data.download.youtube import Unavailable, YtDlpDownloader, ffmpeg_path, short_reason
from avexplain.data.download.zip import NET_CHUNK, ChecksumError, ensure_zip

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_COLUMNS = [
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


# --- fixtures: real media, a Range-capable server ---------------------------------------------


def make_mp4(path: Path, seconds: float, freq: int = 440, size: int = 64) -> Path:
    """A real H.264 + AAC file from ffmpeg's test sources."""
    subprocess.run(
        [
            ffmpeg_path(),
            *["-nostdin", "-hide_banner", "-loglevel", "error", "-y"],
            *["-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}x{size}:rate=8"],
            *["-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}"],
            *["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "8"],
            *["-c:a", "aac", "-shortest", "-threads", "1", str(path)],
        ],
        check=True,
    )
    return path


def duration(path: Path) -> float:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = sum(1 for _ in c.demux(stream) if _.size)
        return frames / float(stream.average_rate)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "a": make_mp4(d / "a.mp4", 2, 440),
        "b": make_mp4(d / "b.mp4", 2, 660),
        "long": make_mp4(d / "long.mp4", 4, 880),
    }


class Server:
    """Serves in-memory files over HTTP/1.1 with byte ranges; can cut a response halfway."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_once: set[str] = set()  # paths whose next full response stops halfway
        self.no_ranges: set[str] = set()  # paths served whole whatever Range asks
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.respond(body=False)

            def do_GET(self):
                self.respond(body=True)

            def respond(self, body):
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path.split("?")[0])
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = 0, len(data)
                asked = "" if self.path in server.no_ranges else self.headers.get("Range")
                match = re.match(r"bytes=(\d+)-(\d*)", asked or "")
                if match:
                    start = int(match.group(1))
                    end = int(match.group(2)) + 1 if match.group(2) else len(data)
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    end = min(end, len(data))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                else:
                    self.send_response(200)
                kind = "video/mp4" if self.path.endswith(".mp4") else "application/zip"
                self.send_header("Content-Type", kind)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(end - start))
                self.end_headers()
                if not body:
                    return
                chunk = data[start:end]
                if self.path in server.cut_once:
                    server.cut_once.discard(self.path)
                    chunk = chunk[: len(chunk) // 2]
                    self.wfile.write(chunk)
                    server.bytes_sent += len(chunk)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                server.bytes_sent += len(chunk)

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the client resetting a deliberately cut connection is expected

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def base_config(**download_keys) -> dict:
    config = copy.deepcopy(yaml.safe_load((ROOT / "config.yaml").read_text()))
    config["download"].update({"retries": 2, "backoff_s": 0.0, **download_keys})
    return config


def write_manifest(path: Path, rows: list[dict]) -> Path:
    full = [
        {
            "split": "train",
            "labels": "Dog",
            "start": 0,
            "end": 2,
            "audio_events": "[]",
            "visual_events": "[]",
            "boxes": "{}",
            **r,
        }
        for r in rows
    ]
    pd.DataFrame(full, columns=MANIFEST_COLUMNS).to_csv(path, index=False)
    return path


def read_status(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# --- AVE: the zip ---------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, Path]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, src in members.items():
            zf.write(src, name)
    return path.read_bytes()


def test_ave_zip_resumes_after_cut_and_finds_members_in_any_folder(tmp_path, media, server):
    # padding makes the archive span several network reads, so the cut falls mid-file
    (tmp_path / "readme.bin").write_bytes(bytes(range(256)) * 2048)
    blob = make_zip(
        tmp_path / "src.zip",
        {
            "AVE_Dataset/AVE/vidA.mp4": media["a"],
            "other/deeper/vidB.mp4": media["b"],
            "AVE_Dataset/readme.bin": tmp_path / "readme.bin",
        },
    )
    server.files["/AVE_Dataset.zip"] = blob
    server.cut_once.add("/AVE_Dataset.zip")
    config = base_config()
    config["datasets"]["ave"]["shard_size"] = 2
    config["datasets"]["ave"]["source"].update(
        zip_url=server.url("/AVE_Dataset.zip"), zip_sha256=hashlib.sha256(blob).hexdigest()
    )
    manifest = write_manifest(
        tmp_path / "manifest.csv",
        [
            {"video_id": "vidA", "source": "AVE_Dataset/AVE/vidA.mp4"},
            {"video_id": "vidB", "source": "vidB.mp4"},  # member name differs: found by stem
            {"video_id": "vidC", "source": "AVE_Dataset/AVE/vidC.mp4"},
        ],
    )
    videos = tmp_path / "ave" / "videos"
    s0 = download.download_shard(
        config, "ave", manifest, "000", videos, tmp_path / "s0.csv", sleep=lambda s: None
    )
    assert list(s0["status"]) == ["present", "present"]
    assert (videos / "vidA.mp4").read_bytes() == media["a"].read_bytes()
    assert (videos / "vidB.mp4").read_bytes() == media["b"].read_bytes()
    zip_path = tmp_path / "ave" / "AVE_Dataset.zip"
    assert zip_path.read_bytes() == blob
    # the interrupted first response was continued with a Range request, not restarted
    zip_requests = [r for p, r in server.requests if p == "/AVE_Dataset.zip"]
    assert zip_requests[0] is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", zip_requests[1]).group(1))
    # at most one network read of the cut response is lost
    assert len(blob) // 2 - NET_CHUNK <= resumed_at <= len(blob) // 2
    assert server.bytes_sent == len(blob) // 2 + len(blob) - resumed_at

    s1 = download.download_shard(
        config, "ave", manifest, "001", videos, tmp_path / "s1.csv", sleep=lambda s: None
    )
    assert s1.loc[0, "status"] == "missing"
    assert s1.loc[0, "reason"] == "not in zip (AVE_Dataset.zip)"
    assert len(zip_requests) == len([p for p, _ in server.requests if p == "/AVE_Dataset.zip"])

    # the status file follows the contract
    on_disk = read_status(tmp_path / "s0.csv")
    assert list(on_disk.columns) == ["video_id", "status", "path", "reason"]
    assert on_disk["path"].tolist() == [str(videos / "vidA.mp4"), str(videos / "vidB.mp4")]


def test_zip_checksum_mismatch_is_a_clear_error(tmp_path, media, server):
    blob = make_zip(tmp_path / "src.zip", {"AVE/x.mp4": media["a"]})
    server.files["/z.zip"] = blob
    dest = tmp_path / "AVE_Dataset.zip"
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as err:
        ensure_zip(server.url("/z.zip"), dest, wrong, retries=0, backoff_s=0)
    message = str(err.value)
    assert "datasets.ave.source.zip_sha256" in message
    assert hashlib.sha256(blob).hexdigest() in message and wrong in message
    assert not dest.exists()
    assert (tmp_path / "AVE_Dataset.zip.sha256-mismatch").read_bytes() == blob
    # the right checksum then downloads and verifies
    good = hashlib.sha256(blob).hexdigest()
    assert ensure_zip(server.url("/z.zip"), dest, good, retries=0, backoff_s=0).read_bytes() == blob
    assert (tmp_path / "AVE_Dataset.zip.sha256").read_text().split()[0] == good


def test_zip_checksum_error_stops_the_shard(tmp_path, media, server):
    server.files["/z.zip"] = make_zip(tmp_path / "src.zip", {"AVE/x.mp4": media["a"]})
    config = base_config(retries=0)
    config["datasets"]["ave"]["source"].update(zip_url=server.url("/z.zip"), zip_sha256="f" * 64)
    manifest = write_manifest(tmp_path / "m.csv", [{"video_id": "x", "source": "AVE/x.mp4"}])
    with pytest.raises(ChecksumError, match="zip_sha256"):
        download.download_shard(config, "ave", manifest, 0, tmp_path / "v", tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_zip_download_retries_then_fails_keeping_the_partial_bytes(tmp_path, media, server):
    blob = make_zip(tmp_path / "src.zip", {"AVE/x.mp4": media["a"]})
    server.files["/z.zip"] = blob
    server.cut_once.add("/z.zip")
    waits = []
    with pytest.raises(RuntimeError, match="after 1 tries") as err:
        ensure_zip(server.url("/z.zip"), tmp_path / "z.zip", None, 0, 1.5, sleep=waits.append)
    assert "rerun to resume" in str(err.value)
    kept = (tmp_path / "z.zip.part").stat().st_size
    assert len(blob) // 2 - NET_CHUNK <= kept <= len(blob) // 2
    assert waits == []
    assert ensure_zip(server.url("/z.zip"), tmp_path / "z.zip", None, 0, 0).read_bytes() == blob


def test_zip_from_a_server_without_ranges_restarts_cleanly(tmp_path, media, server):
    (tmp_path / "pad.bin").write_bytes(bytes(range(256)) * 1024)
    blob = make_zip(
        tmp_path / "src.zip", {"AVE/x.mp4": media["a"], "pad.bin": tmp_path / "pad.bin"}
    )
    server.files["/z.zip"] = blob
    server.cut_once.add("/z.zip")
    server.no_ranges.add("/z.zip")
    got = ensure_zip(server.url("/z.zip"), tmp_path / "z.zip", None, retries=1, backoff_s=0)
    assert got.read_bytes() == blob  # the partial bytes were not appended to a full response


def test_parallel_jobs_download_the_zip_once(tmp_path, media, server):
    blob = make_zip(tmp_path / "src.zip", {"AVE/x.mp4": media["a"]})
    server.files["/z.zip"] = blob
    dest = tmp_path / "z.zip"
    good = hashlib.sha256(blob).hexdigest()
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(ensure_zip(server.url("/z.zip"), dest, good, 0, 0))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [dest] * 3 and dest.read_bytes() == blob
    assert [p for p, _ in server.requests] == ["/z.zip"]


def test_ave_without_a_source_names_the_config_keys(tmp_path):
    config = base_config()
    manifest = write_manifest(tmp_path / "m.csv", [{"video_id": "x", "source": "AVE/x.mp4"}])
    status = download.download_shard(config, "ave", manifest, 0, tmp_path / "v", tmp_path / "s.csv")
    assert status.loc[0, "status"] == "missing"
    reason = status.loc[0, "reason"]
    assert "datasets.ave.source.zip_url" in reason and "datasets.ave.source.local_dir" in reason


def test_ave_from_local_dir(tmp_path, media):
    folder = tmp_path / "unzipped" / "AVE"
    folder.mkdir(parents=True)
    (folder / "x.mp4").write_bytes(media["a"].read_bytes())
    config = base_config()
    config["datasets"]["ave"]["source"]["local_dir"] = str(tmp_path / "unzipped")
    manifest = write_manifest(
        tmp_path / "m.csv", [{"video_id": "x", "source": "x.mp4"}, {"video_id": "y", "source": ""}]
    )
    status = download.download_shard(config, "ave", manifest, 0, tmp_path / "v", tmp_path / "s.csv")
    assert status["status"].tolist() == ["present", "missing"]
    assert status.loc[1, "reason"] == f"not in local_dir ({tmp_path / 'unzipped'})"
    assert (tmp_path / "v" / "x.mp4").read_bytes() == media["a"].read_bytes()


# --- LLP: yt-dlp or an injected downloader ----------------------------------------------------


def llp_rows():
    return [
        {"video_id": "okA_1_3", "source": "okA", "start": 1, "end": 3},
        {"video_id": "gone_0_2", "source": "gone", "start": 0, "end": 2},
        {"video_id": "flaky_0_2", "source": "flaky", "start": 0, "end": 2},
        {"video_id": "broken_0_2", "source": "broken", "start": 0, "end": 2},
    ]


class FakeYouTube:
    """Writes real files for some ids, fails for others, and counts every call."""

    def __init__(self, media):
        self.media = media
        self.calls: list[str] = []

    def __call__(self, url, start, end, out_path):
        youtube_id = url.rsplit("=", 1)[-1]
        self.calls.append(youtube_id)
        if youtube_id == "gone":
            raise Unavailable("yt-dlp: Video unavailable")
        if youtube_id == "flaky" and self.calls.count("flaky") < 3:
            raise ConnectionError("connection reset")
        if youtube_id == "broken":
            Path(out_path).with_suffix(".mp4.part").write_bytes(b"half")
            raise ConnectionError("connection reset")
        Path(out_path).write_bytes(self.media["a"].read_bytes())
        return None


def test_llp_injected_downloader_retries_and_records_reasons(tmp_path, media):
    config = base_config(retries=2, backoff_s=0.5)
    config["datasets"]["llp"]["shard_size"] = 4
    manifest = write_manifest(tmp_path / "m.csv", llp_rows())
    fake = FakeYouTube(media)
    waits = []
    status = download.download_shard(
        config, "llp", manifest, 0, tmp_path / "v", tmp_path / "s.csv", fake, sleep=waits.append
    )
    assert status["status"].tolist() == ["present", "missing", "present", "missing"]
    assert status.loc[1, "reason"] == "yt-dlp: Video unavailable"
    assert status.loc[3, "reason"] == "download failed: connection reset"
    # Unavailable is not retried; flaky succeeds on its third try; broken uses all 1 + 2 tries
    assert fake.calls.count("okA") == 1
    assert fake.calls.count("gone") == 1
    assert fake.calls.count("flaky") == 3
    assert fake.calls.count("broken") == 3
    assert waits == [0.5, 1.0, 0.5, 1.0]  # backoff_s * 2**attempt
    assert not any((tmp_path / "v" / ".partial").iterdir())

    # rerun: present files are reused, only missing ones are tried again
    fake.calls.clear()
    again = download.download_shard(
        config, "llp", manifest, 0, tmp_path / "v", tmp_path / "s.csv", fake, sleep=waits.append
    )
    assert again["status"].tolist() == ["present", "missing", "present", "missing"]
    assert "okA" not in fake.calls and "flaky" not in fake.calls
    assert read_status(tmp_path / "s.csv")["status"].tolist() == again["status"].tolist()


def test_corrupt_cached_file_is_fetched_again(tmp_path, media):
    config = base_config()
    manifest = write_manifest(tmp_path / "m.csv", llp_rows()[:1])
    videos = tmp_path / "v"
    videos.mkdir()
    (videos / "okA_1_3.mp4").write_bytes(b"not a video")
    fake = FakeYouTube(media)
    status = download.download_shard(config, "llp", manifest, 0, videos, tmp_path / "s.csv", fake)
    assert status.loc[0, "status"] == "present" and fake.calls == ["okA"]
    assert (videos / "okA_1_3.mp4").read_bytes() == media["a"].read_bytes()


def test_downloader_writing_garbage_is_missing(tmp_path):
    config = base_config(retries=0)
    manifest = write_manifest(tmp_path / "m.csv", llp_rows()[:1])

    def garbage(url, start, end, out_path):
        Path(out_path).write_bytes(b"\x00" * 100)

    status = download.download_shard(
        config, "llp", manifest, 0, tmp_path / "v", tmp_path / "s.csv", garbage
    )
    assert status.loc[0, "reason"] == "fetched file is not a readable video"
    assert not (tmp_path / "v" / "okA_1_3.mp4").exists()


def test_llp_real_yt_dlp_path_against_local_server(tmp_path, media, server):
    """The default downloader end to end: yt-dlp's generic extractor on a direct MP4 URL."""
    server.files["/okA.mp4"] = media["long"].read_bytes()
    config = base_config(retries=1)
    config["datasets"]["llp"]["source"]["url_template"] = server.url("/{youtube_id}.mp4")
    # the window starts between keyframes (one a second): only an exact cut gives 2.0 s
    row = {"video_id": "okA_1.5_3.5", "source": "okA", "start": 1.5, "end": 3.5}
    manifest = write_manifest(tmp_path / "m.csv", [row, llp_rows()[1]])
    status = download.download_shard(
        config, "llp", manifest, 0, tmp_path / "v", tmp_path / "s.csv", sleep=lambda s: None
    )
    assert status["status"].tolist() == ["present", "missing"]
    assert "404" in status.loc[1, "reason"] and status.loc[1, "reason"].startswith("yt-dlp: ")
    clip = Path(status.loc[0, "path"])
    assert clip.suffix == ".mp4"
    # trimmed to [1.5, 3.5) of a 4 s source: 16 frames at 8 fps, with its audio kept
    assert duration(clip) == pytest.approx(2.0, abs=0.15)
    with av.open(str(clip)) as c:
        assert len(c.streams.audio) == 1
    # two tries for the 404 (retries=1), one for the good video
    assert [p for p, _ in server.requests].count("/gone.mp4") >= 2


def test_yt_dlp_reason_is_short():
    raw = (
        "ERROR: [youtube] dQw4w9WgXcQ: Video unavailable. This video is no longer available "
        "because the YouTube account associated with this video has been terminated."
    )
    assert short_reason(raw) == "Video unavailable"
    assert short_reason(
        "ERROR: [generic] Unable to download webpage: HTTP Error 404: Not Found (caused by x)"
    ).startswith("Unable to download webpage: HTTP Error 404")
    assert (
        YtDlpDownloader().options(1, 3, tmp := Path("x/y.mp4"))["outtmpl"]["default"]
        == str(tmp.with_suffix("")) + ".%(ext)s"
    )


def test_llp_from_local_dir(tmp_path, media):
    folder = tmp_path / "llp_videos"
    folder.mkdir()
    (folder / "okA_1_3.mp4").write_bytes(media["a"].read_bytes())
    config = base_config()
    config["datasets"]["llp"]["source"]["local_dir"] = str(folder)
    manifest = write_manifest(tmp_path / "m.csv", llp_rows()[:2])

    def no_network(*args):
        raise AssertionError("local_dir is set: nothing may be downloaded")

    status = download.download_shard(
        config, "llp", manifest, 0, tmp_path / "v", tmp_path / "s.csv", no_network
    )
    assert status["status"].tolist() == ["present", "missing"]
    assert status.loc[1, "reason"].startswith("not in local_dir")


# --- custom and synth -----------------------------------------------------------------------


def test_custom_keeps_the_source_extension(tmp_path, media):
    folder = tmp_path / "mine"
    folder.mkdir()
    subprocess.run(
        [
            ffmpeg_path(),
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(media["a"]),
            "-c",
            "copy",
            str(folder / "clip1.MKV"),
        ],
        check=True,
    )
    (folder / "clip2.mp4").write_bytes(media["b"].read_bytes())
    (folder / "notes.txt").write_text("not a video")
    config = base_config()
    config["datasets"]["custom"]["video_dir"] = str(folder)
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            {"video_id": "clip1", "source": ""},
            {"video_id": "clip2", "source": str(folder / "clip2.mp4")},
            {"video_id": "notes", "source": ""},
        ],
    )
    status = download.download_shard(
        config, "custom", manifest, 0, tmp_path / "v", tmp_path / "s.csv"
    )
    assert status["status"].tolist() == ["present", "present", "missing"]
    assert status.loc[0, "path"] == str(tmp_path / "v" / "clip1.mkv")
    assert status.loc[2, "reason"] == f"not in video_dir ({folder})"
    # a rerun finds the .mkv in the cache
    again = download.download_shard(
        config, "custom", manifest, 0, tmp_path / "v", tmp_path / "s.csv"
    )
    assert again["path"].tolist() == status["path"].tolist()


def test_synth_is_rendered(tmp_path):
    synth = pytest.importorskip("avexplain.data.datasets.synth")
    config = base_config()
    config["datasets"]["synth"]["shard_size"] = 1
    table, _ = synth.build_manifest(config)
    table.head(2).to_csv(tmp_path / "m.csv", index=False)
    status = download.download_shard(
        config, "synth", tmp_path / "m.csv", 1, tmp_path / "v", tmp_path / "s.csv"
    )
    video_id = table.loc[1, "video_id"]
    assert status.values.tolist() == [
        [video_id, "present", str(tmp_path / "v" / f"{video_id}.mp4"), ""]
    ]
    assert duration(tmp_path / "v" / f"{video_id}.mp4") == pytest.approx(
        config["clip"]["segments"], abs=0.2
    )


# --- missing.csv and the present-fraction threshold -------------------------------------------


def test_collect_missing_writes_then_the_check_raises_below_threshold(tmp_path):
    config = base_config(min_present_fraction=0.5)
    rows = [{"video_id": f"v{i}", "source": f"s{i}"} for i in range(6)]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    cols = ["video_id", "status", "path", "reason"]
    pd.DataFrame(
        [
            ["v0", "present", "x/v0.mp4", ""],
            ["v1", "missing", "", "yt-dlp: Video unavailable"],
            ["v2", "missing", "", "yt-dlp: Video unavailable"],
        ],
        columns=cols,
    ).to_csv(tmp_path / "s0.csv", index=False)
    pd.DataFrame(
        [["v3", "present", "x/v3.mp4", ""], ["v4", "missing", "", "yt-dlp: Private video"]],
        columns=cols,
    ).to_csv(tmp_path / "s1.csv", index=False)
    out = tmp_path / "missing.csv"
    # collecting never fails on the count: the record survives the check that points to it
    download.collect_missing(
        config, "llp", manifest, [tmp_path / "s0.csv", tmp_path / "s1.csv"], out
    )
    with pytest.raises(download.TooFewVideos) as err:
        download.check_present(config, "llp", manifest, out)
    message = str(err.value)
    assert "only 2 of 6 videos" in message
    assert "download.min_present_fraction = 0.5" in message
    assert "2 x download: yt-dlp: Video unavailable" in message
    assert "1 x download: yt-dlp: Private video" in message
    assert "1 x download: no download status" in message  # v5: its shard file is absent
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(written.columns) == ["video_id", "source", "stage", "reason"]
    assert written["video_id"].tolist() == ["v1", "v2", "v4", "v5"]
    assert written["source"].tolist() == ["s1", "s2", "s4", "s5"]

    config["download"]["min_present_fraction"] = 0.3
    ok = download.check_present(config, "llp", manifest, out)
    assert ok["present"] == 2


# --- the Snakemake scripts: thin wiring, run with a stand-in `snakemake` object ---------------


def test_scripts_wire_the_rule_to_the_functions(tmp_path, media):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "c1.mp4").write_bytes(media["a"].read_bytes())
    config = base_config(min_present_fraction=0.9)
    config["datasets"]["custom"].update(video_dir=str(folder), shard_size=1)
    manifest = write_manifest(
        tmp_path / "m.csv", [{"video_id": "c1", "source": ""}, {"video_id": "c2", "source": ""}]
    )
    status = [tmp_path / "download" / f"shard-{k}.csv" for k in ("000", "001")]
    for k, out in zip(("000", "001"), status, strict=True):
        job = SimpleNamespace(
            config=config,
            wildcards=SimpleNamespace(media="custom", shard=k),
            input=SimpleNamespace(manifest=str(manifest)),
            params=SimpleNamespace(video_dir=str(tmp_path / "videos")),
            output=SimpleNamespace(status=str(out)),
            log=[str(tmp_path / "logs" / f"download-{k}.log")],
        )
        runpy.run_path(str(ROOT / "workflow/scripts/download.py"), {"snakemake": job})
    assert read_status(status[0])["status"].tolist() == ["present"]
    assert read_status(status[1])["reason"].tolist() == [f"not in video_dir ({folder})"]
    job = SimpleNamespace(
        config=config,
        wildcards=SimpleNamespace(media="custom"),
        input=SimpleNamespace(manifest=str(manifest), status=[str(p) for p in status]),
        output=SimpleNamespace(missing=str(tmp_path / "missing.csv")),
        log=[str(tmp_path / "logs" / "missing.log")],
    )
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "report.csv").write_text("video_id,status,repairs,error\nc1,ok,,\n")
    job.input.clips = [str(clips)]  # shard 000 decoded c1 (shard 001 had nothing present)
    runpy.run_path(str(ROOT / "workflow/scripts/missing.py"), {"snakemake": job})
    job = SimpleNamespace(
        config=config,
        wildcards=SimpleNamespace(media="custom"),
        input=SimpleNamespace(
            manifest=str(manifest), missing=str(tmp_path / "missing.csv"), clips=[str(clips)]
        ),
        output=SimpleNamespace(present=str(tmp_path / "present.json")),
        log=[str(tmp_path / "logs" / "check_present.log")],
    )
    with pytest.raises(download.TooFewVideos, match="only 1 of 2 videos"):
        runpy.run_path(str(ROOT / "workflow/scripts/check_present.py"), {"snakemake": job})
    assert "only 1 of 2 videos" in (tmp_path / "logs" / "check_present.log").read_text()
    assert read_status(tmp_path / "missing.csv")["video_id"].tolist() == ["c2"]
