"""Feature extraction: backbones, published-weight compatibility, the store and its validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import torch
import torchvision
import zarr

from avexplain.config import ConfigError
from avexplain.features import backbones, extract, store, weights
from avexplain.testing.clips import CLIP, make_dataset, settings

# The VGGish release (torchvggish vggish-10086976.pth): its key names and shapes.
VGGISH_RELEASE = {
    "features.0": (64, 1, 3, 3),
    "features.3": (128, 64, 3, 3),
    "features.6": (256, 128, 3, 3),
    "features.8": (256, 256, 3, 3),
    "features.11": (512, 256, 3, 3),
    "features.13": (512, 512, 3, 3),
    "embeddings.0": (4096, 512 * 4 * 6),
    "embeddings.2": (4096, 4096),
    "embeddings.4": (128, 4096),
}
# A few keys and shapes of the torchvision releases, checked so the synthetic dicts below really
# have the published layout (they are generated from the torchvision architectures).
TORCHVISION_RELEASE_KEYS = {
    "vgg19": {"features.34.weight": (512, 512, 3, 3), "classifier.6.weight": (1000, 4096)},
    "resnet152": {"layer4.2.bn3.running_var": (2048,), "fc.weight": (1000, 2048)},
    "mc3_18": {"stem.0.weight": (64, 3, 3, 7, 7), "fc.weight": (400, 512)},
}


def synthetic_state_dict(name: str) -> dict:
    gen = torch.Generator().manual_seed(1)
    if name == "vggish":
        shapes = {}
        for key, shape in VGGISH_RELEASE.items():
            shapes[f"{key}.weight"] = shape
            shapes[f"{key}.bias"] = shape[:1]
    else:
        builder = getattr(torchvision.models, name, None) or torchvision.models.video.mc3_18
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in builder().state_dict().items()}
        for key, shape in TORCHVISION_RELEASE_KEYS[name].items():
            assert shapes[key] == shape
    return {
        k: torch.randint(0, 5, s, generator=gen)
        if k.endswith("num_batches_tracked") and s == ()
        else torch.randn(s, generator=gen) * 0.01
        for k, s in shapes.items()
    }


@pytest.mark.parametrize("name", ["vgg19", "resnet152", "vggish", "mc3_18"])
def test_published_state_dict_loads_strictly_and_output_shape(name):
    state = synthetic_state_dict(name)
    model = backbones.build(name, weights.Weights(state, "test"), settings())
    # the loaded values are the ones the network uses
    params = dict(model.named_parameters())
    first = next(k for k in state if k.endswith("weight"))
    assert any(
        v.shape == state[first].shape and torch.equal(v, state[first]) for v in params.values()
    )
    # and a key the release does not have is refused
    bad = dict(state)
    bad["extra.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        backbones.build(name, weights.Weights(bad, "test"), settings())

    t, fps, size = CLIP["segments"], CLIP["fps"], CLIP["size"]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (t * fps, size, size, 3), dtype=np.uint8)
    wave = rng.standard_normal(t * 16000).astype(np.float32) * 0.1
    x = model.prepare(frames[model.clip_frames(t, fps)] if model.uses_video else None, wave, fps)
    assert len(x) == t
    with torch.inference_mode():
        out = model(x)
    assert tuple(out.shape) == (t, *model.item_shape(size))


def test_vggish_maps_are_what_the_vggish_embeddings_read():
    """The VGGish release loads strictly into `vggish_maps` too, and each segment's map,
    flattened, is exactly the input of the embedding layers that give the `vggish` vector (the
    TensorFlow channels-last order)."""
    release = weights.Weights(synthetic_state_dict(weights.network("vggish_maps")), "test")
    vectors = backbones.build("vggish", release, settings())
    maps = backbones.build("vggish_maps", release, settings())
    assert maps.dims == backbones.MAP_DIMS and not maps.uses_video
    assert not hasattr(maps.net, "embeddings")  # the 68 M unused parameters are dropped
    wave = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.inference_mode():
        out = maps(wave)
        assert tuple(out.shape[1:]) == maps.item_shape(CLIP["size"]) == (6, 4, 512)
        assert (out > 0).any() and (out >= 0).all()  # after the last ReLU and max-pool
        assert torch.equal(vectors.net.embeddings(out.flatten(1)), vectors(wave))


def test_vggish_log_mel_patch():
    model = backbones.VGGishSegments(weights.Weights(None, "random:0"))
    patch = model.log_mel(torch.zeros(3, 16000))
    assert patch.shape == (3, 1, 96, 64)
    assert torch.allclose(patch, torch.log(torch.tensor(0.01)))  # silence: log(0 + 0.01)


def test_weights_resolution(tmp_path):
    assert weights.resolve("vgg19", "random", tmp_path, 7).description == "random:7"
    with pytest.raises(weights.WeightsMissingError, match="snakemake prefetch_weights --cores 1"):
        weights.resolve("resnet152", "pretrained", tmp_path / "cache", 0)
    torch.save(synthetic_state_dict("vggish"), tmp_path / "vggish.pth")
    w = weights.resolve("vggish", str(tmp_path), tmp_path, 0)  # a folder of <backbone>.pth
    assert w.description.startswith(f"{tmp_path / 'vggish.pth'} sha256:")
    backbones.build("vggish", w, settings())
    with pytest.raises(FileNotFoundError, match="features.weights"):
        weights.resolve("mc3_18", str(tmp_path), tmp_path, 0)
    # vggish_maps is VGGish cut short: the same file (a folder's vggish.pth), no download of its own
    folder = tmp_path / "small"
    folder.mkdir()
    torch.save({"features.0.bias": torch.zeros(1)}, folder / "vggish.pth")
    maps = weights.resolve("vggish_maps", str(folder), tmp_path, 0)
    assert maps.description.startswith(f"{folder / 'vggish.pth'} sha256:")
    cache = tmp_path / "cache"
    cache.mkdir()
    for url in weights.urls("vggish"):
        weights.cached_file(cache, url).write_bytes(b"weights")
    files = weights.prefetch(cache, ["vggish_maps", "vggish"])
    assert [f["backbone"] for f in files.values()] == ["vggish", "vggish"]


def test_segment_frame_indices():
    assert backbones.segment_frame_indices(16, 16).tolist() == list(range(16))
    assert backbones.segment_frame_indices(16, 1).tolist() == [8]
    assert backbones.segment_frame_indices(16, 4).tolist() == [2, 6, 10, 14]
    with pytest.raises(ValueError, match="clip.fps"):
        backbones.segment_frame_indices(4, 5)


def test_read_frames_converts_only_the_kept_frames(tmp_path):
    from avexplain.data.clips import read_frames
    from avexplain.testing.clips import make_clip

    make_clip(tmp_path, "v", 1)
    n, size = CLIP["segments"] * CLIP["fps"], CLIP["size"]
    every = read_frames(tmp_path / "v.mp4", n, size)
    keep = backbones.build("resnet152", weights.Weights(None, "random:0"), settings()).clip_frames(
        CLIP["segments"], CLIP["fps"]
    )
    assert keep.tolist() == [1, 3, 5, 7]  # 2 of 4 frames per segment, centred bins
    assert np.array_equal(read_frames(tmp_path / "v.mp4", n, size, keep), every[keep])
    with pytest.raises(ValueError, match="ascending"):
        read_frames(tmp_path / "v.mp4", n, size, [2, 1])
    with pytest.raises(ValueError, match="beyond the clip's 8 frames"):
        read_frames(tmp_path / "v.mp4", n, size, [1, 8])
    # one FFmpeg thread (what a decode worker uses) decodes the same frames
    assert np.array_equal(read_frames(tmp_path / "v.mp4", n, size, threaded=False), every)


class _ReadFrames(torch.utils.data.Dataset):
    def __init__(self, path):
        self.path = path

    def __len__(self):
        return 1

    def __getitem__(self, i):
        from avexplain.data.clips import read_frames

        return read_frames(self.path, CLIP["segments"] * CLIP["fps"], CLIP["size"], threaded=False)


def test_a_decode_worker_converts_frames_after_its_parent_did(tmp_path):
    """PyAV keeps one swscale context per thread. A forked DataLoader worker inherits its parent's
    main-thread context without the context's slice threads, and hung on its first frame (CI, three
    times: docs/features.md, "Decode workers"); read_frames converts with a context of its own."""
    import av

    from avexplain.testing.clips import make_clip

    make_clip(tmp_path, "v", 1)
    with av.open(str(tmp_path / "v.mp4")) as c:  # the parent converts on two slice threads
        expected = np.stack([f.to_ndarray(format="rgb24", threads=2) for f in c.decode(video=0)])
    loader = torch.utils.data.DataLoader(
        _ReadFrames(tmp_path / "v.mp4"),
        batch_size=None,
        num_workers=1,
        multiprocessing_context="fork",  # what Linux uses by default up to Python 3.13
        timeout=60,  # a hung worker fails the test instead of holding the suite
    )
    np.testing.assert_array_equal(next(iter(loader)).numpy(), expected)


class _VideoModel:
    uses_video = True

    def clip_frames(self, segments, fps):
        return np.arange(segments * fps)


def test_decode_workers_decode_on_one_ffmpeg_thread(monkeypatch):
    """A decode worker asks read_frames for one decode thread (the workers are the parallelism),
    the job's own process for FFmpeg's frame threads."""

    def reporting(path, num_frames, size, keep=None, threaded=True):
        raise extract.ClipError(f"threaded={threaded}")

    monkeypatch.setattr(extract, "read_frames", reporting)  # forked workers inherit the patch
    clips = extract.ClipInputs(_VideoModel(), Path("clips"), [(0, "v")], CLIP)
    for workers, expected in ((0, "threaded=True"), (1, "threaded=False")):
        loader = torch.utils.data.DataLoader(clips, batch_size=None, num_workers=workers)
        assert list(next(iter(loader))) == [0, None, expected]


def test_batches_pack_segments_across_videos():
    sizes = []

    def forward(batch):
        sizes.append(len(batch))
        return batch * 2

    videos = [(row, torch.full((n, 3), float(row))) for row, n in [(0, 3), (1, 1), (2, 4), (3, 2)]]
    out = list(extract.batched(forward, iter(videos), batch_size=4))
    assert [row for row, _ in out] == [0, 1, 2, 3]
    for (_row, x), (_, y) in zip(videos, out, strict=True):
        np.testing.assert_array_equal(y, x.numpy() * 2)
    assert sizes == [4, 4, 2]  # full batches spanning videos, one remainder


def test_settings_checked_against_shards():
    config = {
        "clip": dict(CLIP),
        "datasets": {"synth": {"shard_size": 6}},
        "features": {**settings(), "overrides": {"synth": {"frames_per_segment": {"vgg19": 1}}}},
    }
    assert extract.settings_for(config, "synth")["frames_per_segment"] == {
        "vgg19": 1,
        "resnet152": 2,
        "mc3_18": 2,
    }
    bad = copy.deepcopy(config)
    bad["features"]["chunk_videos"]["vggish"] = 4
    with pytest.raises(ConfigError, match="features.chunk_videos.vggish"):
        extract.check_settings(bad, "synth")
    bad = copy.deepcopy(config)
    bad["features"]["overrides"]["synth"]["frames_per_segment"]["mc3_18"] = 9
    with pytest.raises(ConfigError, match="frames_per_segment.mc3_18"):
        extract.check_settings(bad, "synth")


def _marker(root, dataset, backbone, shard):
    return root / "features" / dataset / ".staging" / f"{backbone}.shards" / f"shard-{shard}.json"


def _extract(root, dataset, backbone, shard, shard_size, **extra):
    return extract.run_shard(
        clips_dir=root / "data" / dataset / "clips" / f"shard-{shard}",
        manifest=root / "data" / dataset / "manifest.csv",
        dataset=dataset,
        backbone=backbone,
        shard=shard,
        shard_size=shard_size,
        settings=settings(**extra),
        clip=CLIP,
        seed=0,
        marker=_marker(root, dataset, backbone, shard),
        root=root,
    )


def _build_store(root, dataset, backbone, n, shard_size, failed=()):
    ids = make_dataset(root, dataset, n, shard_size, failed=failed)
    shards = [f"{k:03d}" for k in range((n + shard_size - 1) // shard_size)]
    for s in shards:
        _extract(root, dataset, backbone, s, shard_size)
    markers = [_marker(root, dataset, backbone, s) for s in shards]
    store.finalize_backbone(dataset=dataset, backbone=backbone, markers=markers, root=root)
    return ids, markers


def test_store_round_trip_idempotence_and_reopen(tmp_path):
    ids, markers = _build_store(tmp_path, "synth", "vggish", 5, 2, failed=("synth-00003",))
    path = store.final_path(tmp_path, "synth", "vggish")
    assert not store.staging_path(tmp_path, "synth", "vggish").exists()
    array = da.from_zarr(zarr.open_group(path, mode="r")["features"])
    assert array.shape == (5, CLIP["segments"], 128) and array.dtype == np.float16
    feats = store.open_features(path)
    assert feats.dims == ("video", "segment", "channel")
    assert feats.video_id.tolist() == ids
    assert feats.valid.tolist() == [True, True, True, False, True]
    assert feats.attrs["weights"] == "random:0" and feats.attrs["num_valid"] == 4
    values = feats.features.compute()
    assert np.isfinite(values[feats.valid]).all() and np.isnan(values[3]).all()
    # different clips give different features (the extractor is not constant)
    assert not np.allclose(values[0], values[1])

    # re-running a finished shard after finalize: the store comes back to staging, the shard is
    # rewritten with identical content, and finalize accepts it again
    before = json.loads(markers[1].read_text())
    again = _extract(tmp_path, "synth", "vggish", "001", 2)
    assert not path.exists() and store.staging_path(tmp_path, "synth", "vggish").exists()
    assert again["sha256"] == before["sha256"] and again["valid"] == before["valid"]
    store.finalize_backbone(dataset="synth", backbone="vggish", markers=markers, root=tmp_path)
    np.testing.assert_array_equal(store.open_features(path).features.compute(), values)


def test_finalize_detects_corrupted_chunk(tmp_path):
    make_dataset(tmp_path, "synth", 4, 2)
    for s in ("000", "001"):
        _extract(tmp_path, "synth", "vggish", s, 2)
    markers = [_marker(tmp_path, "synth", "vggish", s) for s in ("000", "001")]
    staging = store.staging_path(tmp_path, "synth", "vggish")
    chunk = staging / "features" / "c" / "1" / "0" / "0"  # rows 2-3: shard 001
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(
        store.StoreError,
        match=r"shard 001: rows 2-3 \(videos synth-00002, synth-00003\) cannot be read",
    ):
        store.finalize_backbone(dataset="synth", backbone="vggish", markers=markers, root=tmp_path)
    # a marker that does not match the data is refused too
    _extract(tmp_path, "synth", "vggish", "001", 2)
    marker = json.loads(markers[0].read_text())
    marker["sha256"] = "0" * 64
    markers[0].write_text(json.dumps(marker))
    with pytest.raises(store.StoreError, match="shard 000: data checksum differs"):
        store.finalize_backbone(dataset="synth", backbone="vggish", markers=markers, root=tmp_path)
    assert staging.exists() and not store.final_path(tmp_path, "synth", "vggish").exists()


def test_avr_union_is_a_lazy_concatenation(tmp_path):
    _build_store(tmp_path, "ave", "mc3_18", 2, 2)
    _build_store(tmp_path, "llp", "mc3_18", 4, 2)
    union = store.open_union(
        {
            "ave": store.final_path(tmp_path, "ave", "mc3_18"),
            "llp": store.final_path(tmp_path, "llp", "mc3_18"),
        }
    )
    assert isinstance(union.features, da.Array)
    assert union.features.shape == (6, CLIP["segments"], 512)
    assert union.video_id.tolist()[:3] == ["ave/ave-00000", "ave/ave-00001", "llp/llp-00000"]
    assert union.valid.all()
    llp = store.open_features(store.final_path(tmp_path, "llp", "mc3_18"))
    np.testing.assert_array_equal(union.features[2:].compute(), llp.features.compute())
    # maps would pool to vectors lazily; vectors pass through
    assert union.pooled() is union.features


def test_pooled_maps_from_stored_maps(tmp_path):
    _build_store(tmp_path, "synth", "vgg19", 2, 2)
    feats = store.open_features(store.final_path(tmp_path, "synth", "vgg19"))
    assert feats.features.shape == (2, CLIP["segments"], 1, 1, 512)
    pooled = feats.pooled().compute()
    assert pooled.shape == (2, CLIP["segments"], 512)
    np.testing.assert_allclose(pooled, feats.features.compute()[:, :, 0, 0].astype(np.float32))
    assert Path(store.final_path(tmp_path, "synth", "vgg19"), "zarr.json").exists()


def test_vggish_maps_store_holds_maps_like_the_image_stores(tmp_path):
    _build_store(tmp_path, "synth", "vggish_maps", 2, 2)
    feats = store.open_features(store.final_path(tmp_path, "synth", "vggish_maps"))
    assert feats.dims == backbones.MAP_DIMS == ("video", "segment", "y", "x", "channel")
    assert feats.features.shape == (2, CLIP["segments"], 6, 4, 512)
    assert feats.features.dtype == np.float16 and feats.valid.all()
    assert feats.attrs["backbone"] == "vggish_maps" and feats.attrs["weights"] == "random:0"
    assert feats.pooled().shape == (2, CLIP["segments"], 512)


def test_unreadable_clip_is_invalid_not_fatal(tmp_path):
    make_dataset(tmp_path, "synth", 2, 2)
    (tmp_path / "data/synth/clips/shard-000/synth-00001.wav").write_bytes(b"RIFF-not-a-wave")
    marker = _extract(tmp_path, "synth", "vggish", "000", 2)
    assert marker["valid"] == [True, False]
    assert "not a readable WAV file" in marker["not_extracted"]["synth-00001"]
    store.finalize_backbone(
        dataset="synth",
        backbone="vggish",
        markers=[_marker(tmp_path, "synth", "vggish", "000")],
        root=tmp_path,
    )
    assert store.open_features(store.final_path(tmp_path, "synth", "vggish")).valid.tolist() == [
        True,
        False,
    ]


def test_changed_settings_replace_the_staging_store(tmp_path):
    make_dataset(tmp_path, "synth", 4, 2)
    _extract(tmp_path, "synth", "vggish", "000", 2)
    staging = store.staging_path(tmp_path, "synth", "vggish")
    old = zarr.open_group(staging, mode="r").attrs["spec_digest"]
    # the other shard runs with other weights: the old rows no longer belong to this store
    extract.run_shard(
        clips_dir=tmp_path / "data/synth/clips/shard-001",
        manifest=tmp_path / "data/synth/manifest.csv",
        dataset="synth",
        backbone="vggish",
        shard="001",
        shard_size=2,
        settings=settings(),
        clip=CLIP,
        seed=1,
        marker=_marker(tmp_path, "synth", "vggish", "001"),
        root=tmp_path,
    )
    group = zarr.open_group(staging, mode="r")
    assert group.attrs["spec_digest"] != old and group.attrs["weights"] == "random:1"
    assert np.isnan(group["features"][0:2]).all()  # shard 000's old rows are gone
    markers = [_marker(tmp_path, "synth", "vggish", s) for s in ("000", "001")]
    with pytest.raises(store.StoreError, match="shard 000: written for another store layout"):
        store.finalize_backbone(dataset="synth", backbone="vggish", markers=markers, root=tmp_path)


@pytest.mark.parametrize(
    "backbone,side,cells",
    [("vgg19", 64, 2), ("vgg19", 112, 3), ("resnet152", 112, 4)],
)
def test_image_size_setting_scales_the_map(backbone, side, cells):
    """features.image_size feeds smaller frames to the image nets: fewer map cells, same width;
    a side that is no multiple of 32 rounds down in VGG-19's pools and up in ResNet's strides."""
    model = backbones.build(backbone, weights.Weights(None, "random:0"), settings(image_size=side))
    frames = np.zeros((2 * 4, 96, 96, 3), dtype=np.uint8)[model.clip_frames(2, 4)]
    with torch.inference_mode():
        out = model(model.prepare(frames, None, 4))
    assert model.item_shape(96) == (cells, cells, model.channels) == tuple(out.shape[1:])
