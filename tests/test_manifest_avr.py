"""The AVR class map (42 classes, Table C) and the AVR union of the AVE and LLP manifests."""

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from avexplain.data.datasets.avr import load_class_map, shared_classes
from avexplain.data.datasets.llp import CLASSES as LLP_CLASSES
from avexplain.data.manifest import build_manifest

ROOT = Path(__file__).resolve().parents[1]
CLASS_MAP = ROOT / "resources" / "avr_class_map.yaml"


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture(scope="module")
def members(config):
    return {m: build_manifest(config, m, ROOT) for m in ("ave", "llp")}


@pytest.fixture(scope="module")
def built(config):
    return build_manifest(config, "avr", ROOT)


def test_every_source_class_mapped_exactly_once(members):
    text = CLASS_MAP.read_text()
    sections = dict(re.findall(r"^(\w+):\n((?:  .*\n|\n|#.*\n)*)", text, flags=re.M))
    for member in ("ave", "llp"):
        keys = re.findall(r'^  "(.+)": "', sections[member], flags=re.M)
        assert Counter(keys) == Counter(members[member][1])  # each class exactly once
    classes, maps = load_class_map(CLASS_MAP, "map", {m: members[m][1] for m in members})
    assert len(classes) == 42 and len(set(classes)) == 42
    assert len(maps["ave"]) == 28 and len(maps["llp"]) == 25
    assert len(set(maps["ave"].values())) == 28 and len(set(maps["llp"].values())) == 25
    assert len(shared_classes(maps)) == 11
    assert maps["ave"]["Bark"] == maps["llp"]["Dog"] == "Bark (Dog)"
    assert maps["llp"]["Speech"] == "Speech" != maps["ave"]["Male speech, man speaking"]
    assert maps["llp"]["Violin_fiddle"] == maps["ave"]["Violin, fiddle"]


def test_class_map_errors_name_the_problem(tmp_path, members):
    names = {m: members[m][1] for m in members}
    text = CLASS_MAP.read_text()
    dup = tmp_path / "dup.yaml"
    dup.write_text(text.replace('  "Cello": "Cello"\n', '  "Cello": "Cello"\n  "Cello": "Banjo"\n'))
    with pytest.raises(ValueError, match=r"dup\.yaml:\d+: key 'Cello' appears twice"):
        load_class_map(dup, str(dup), names)
    missing = tmp_path / "missing.yaml"
    missing.write_text(text.replace('  "Goat": "Goat"\n', ""))
    with pytest.raises(
        ValueError, match=r"(?s)'ave' does not map \['Goat'\].*\['Goat'\] receive no"
    ):
        load_class_map(missing, "missing.yaml", names)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace('"Blender": "Blender"', '"Blender": "Mixer"'))
    with pytest.raises(ValueError, match=r"'llp' maps to \['Mixer'\], not in hyper_classes"):
        load_class_map(bad, "bad.yaml", names)


def test_union_counts_and_leak_policy(members, built):
    frame, classes, audit = built
    rank = {"train": 0, "val": 1, "test": 2}
    copies = {}
    for member, (mframe, _, _) in members.items():
        youtube = mframe.source if member == "llp" else mframe.video_id
        for vid, yt, split in zip(mframe.video_id, youtube, mframe.split, strict=True):
            copies.setdefault(yt, []).append((f"{member}/{vid}", split))
    both = {yt: c for yt, c in copies.items() if len({v.split("/")[0] for v, _ in c}) > 1}
    leaks = {yt for yt, c in both.items() if len({s for _, s in c}) > 1}
    dropped = {
        v for yt in leaks for v, s in both[yt] if rank[s] < max(rank[s2] for _, s2 in both[yt])
    }
    assert len(both) == 394  # YouTube videos in both AVE and LLP
    assert audit["checks"]["source_leak"]["count"] == len(leaks)
    assert audit["checks"]["cross_member_duplicate"]["count"] == len(both) - len(leaks)
    expected = [v for c in copies.values() for v, _ in c if v not in dropped]
    assert sorted(frame.video_id) == sorted(expected)
    assert len(frame) == 4097 + 11849 - len(dropped)
    assert classes == [
        c for g in yaml.safe_load(CLASS_MAP.read_text())["hyper_classes"].values() for c in g
    ]
    cmp = audit["paper_comparison"]
    assert cmp["paper"] == [15993, 13339, 1602, 1052]
    assert cmp["ours"] == [len(frame), *(int((frame.split == s).sum()) for s in rank)]
    assert cmp["agrees"] is False
    assert any("swaps LLP's val and test" in n for n in audit["notes"])


def test_labels_are_renamed(members, built):
    frame = built[0].set_index("video_id")
    llp = members["llp"][0].set_index("video_id")
    assert llp.loc["BjCEufrlXm4_20_30", "labels"] == "Speech;Dog"
    assert frame.loc["llp/BjCEufrlXm4_20_30", "labels"] == "Bark (Dog);Speech"
    assert set(LLP_CLASSES) & set(built[1]) == {
        "Cat",
        "Banjo",
        "Blender",
        "Car",
        "Cello",
        "Chainsaw",
        "Cheering",
        "Clapping",
        "Helicopter",
        "Motorcycle",
        "Singing",
        "Speech",
        "Accordion",
    }
    assert frame.index.str.match(r"^(ave|llp)/").all()
