"""AVR: the union of the AVE and LLP manifests in one class space (resources/avr_class_map.yaml).

Ids are prefixed with the member's name (`ave/<id>`, `llp/<id>`); labels and events are renamed
through the class map. Both members are cut from AudioSet's YouTube videos, so one YouTube video
can be in both: such a pair in different splits is a leak and is resolved like any other leak
(kept in the most held-out split only).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import yaml

from avexplain.data.audit import Audit, paper_comparison, paper_stats
from avexplain.data.datasets.common import (
    HELD_OUT_RANK,
    LABEL_SEPARATOR,
    by_rank,
    events_json,
    most_held_out,
    resolve,
    sort_events,
    to_frame,
)
from avexplain.files import sha256
from avexplain.names import SPLITS


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a class map must map a name once."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ValueError(
                    f"{node.start_mark.name}:{key_node.start_mark.line + 1}: key {key!r} appears "
                    "twice; each class must be mapped exactly once"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_class_map(path: Path, display: str, member_classes: dict[str, list[str]]):
    """Read and check the class map against the members' class lists.

    Returns (AVR classes in order, {member: {member class: AVR class}}). Every member class must be
    mapped exactly once, every target must be an AVR class, and every AVR class must be reached.
    """
    with open(path) as fh:
        try:
            data = yaml.load(fh, Loader=_UniqueKeyLoader)
        except yaml.YAMLError as exc:
            raise ValueError(f"{display}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("hyper_classes"), dict):
        raise ValueError(f"{display}: expected a mapping with 'hyper_classes' and one per member")
    classes = [c for group in data["hyper_classes"].values() for c in group]
    problems = []
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        problems.append(f"'hyper_classes' lists {repeated} more than once")
    maps = {}
    reached = set()
    for member, names in member_classes.items():
        mapping = data.get(member)
        if not isinstance(mapping, dict):
            problems.append(
                f"'{member}' is missing: expected a mapping of {member} class -> AVR class"
            )
            continue
        missing = [n for n in names if n not in mapping]
        unknown = [n for n in mapping if n not in names]
        bad = {k: v for k, v in mapping.items() if v not in classes}
        if missing:
            problems.append(f"'{member}' does not map {missing}")
        if unknown:
            problems.append(f"'{member}' maps {unknown}, which are not {member} classes")
        if bad:
            problems.append(f"'{member}' maps to {sorted(set(bad.values()))}, not in hyper_classes")
        maps[member] = dict(mapping)
        reached.update(mapping.values())
    unreached = [c for c in classes if c not in reached]
    if unreached:
        problems.append(f"AVR classes {unreached} receive no member class")
    if problems:
        raise ValueError(f"{display}: invalid class map:\n  - " + "\n  - ".join(problems))
    return classes, maps


def build(config: dict, name: str, root: Path, members: dict[str, tuple]):
    """The union of the member manifests `members` ({member: (frame, classes, audit dict)},
    built by avexplain.data.manifest) in the shared class space of the class map."""
    ds = config["datasets"][name]
    audit = Audit(name)
    for _, _, member_audit in members.values():
        audit.inputs.update(member_audit["inputs"])
    class_map_file = ds["class_map"]
    class_map_path = resolve(root, class_map_file)
    audit.inputs[class_map_file] = {"sha256": sha256(class_map_path), "verified": "n/a"}
    classes, maps = load_class_map(
        class_map_path, class_map_file, {m: members[m][1] for m in members}
    )
    class_index = {c: i for i, c in enumerate(classes)}

    leak = audit.check(
        "source_leak",
        "YouTube videos present in more than one member in different splits (one item per "
        "YouTube id; `copies` lists its AVR videos)",
        "copies outside the most held-out split are dropped",
    )
    same_split = audit.check(
        "cross_member_duplicate",
        "YouTube videos present in more than one member, all copies in the same split",
        "all copies kept: AVE does not publish its window on the source video, so they may be "
        "different clips, and each copy carries its own dataset's labels",
    )
    merged = audit.check(
        "merged_labels",
        "videos with two of their labels mapped onto one AVR class",
        "the AVR class is listed once",
    )

    rows = []
    for member, (frame, _, _) in members.items():
        mapping = maps[member]
        for record in frame.to_dict("records"):
            labels = [mapping[x] for x in record["labels"].split(LABEL_SEPARATOR)]
            if len(set(labels)) < len(labels):
                merged.add(
                    {"video_id": f"{member}/{record['video_id']}", "labels": record["labels"]}
                )
            out = dict(record)
            out["video_id"] = f"{member}/{record['video_id']}"
            out["labels"] = LABEL_SEPARATOR.join(sorted(set(labels), key=class_index.__getitem__))
            for column in ("audio_events", "visual_events"):
                events = [(mapping[lb], on, off) for lb, on, off in json.loads(record[column])]
                out[column] = events_json(sort_events(events, class_index))
            # AVE ids are YouTube ids; LLP keeps its YouTube id in `source`.
            out["_youtube_id"] = record["source"] if member == "llp" else record["video_id"]
            rows.append(out)

    by_youtube: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_youtube[row["_youtube_id"]].append(i)
    dropped = set()
    for youtube_id, indices in by_youtube.items():
        if len({rows[i]["video_id"].split("/")[0] for i in indices}) < 2:
            continue
        splits = {rows[i]["split"] for i in indices}
        copies = [{"video_id": rows[i]["video_id"], "split": rows[i]["split"]} for i in indices]
        if len(splits) == 1:
            same_split.add({"youtube_id": youtube_id, "copies": copies})
            continue
        target = most_held_out(splits)
        leak.add({"youtube_id": youtube_id, "splits": by_rank(splits), "copies": copies})
        dropped.update(
            i for i in indices if HELD_OUT_RANK[rows[i]["split"]] < HELD_OUT_RANK[target]
        )
    kept_rows = [r for i, r in enumerate(rows) if i not in dropped]
    frame = to_frame(kept_rows)

    per_member = {
        m: {
            s: int(((frame.video_id.str.startswith(m + "/")) & (frame.split == s)).sum())
            for s in SPLITS
        }
        for m in members
    }
    audit.counts = {
        "classes": len(classes),
        "member_videos": {m: len(f) for m, (f, _, _) in members.items()},
        "videos": len(frame),
        "videos_per_split": {s: int((frame["split"] == s).sum()) for s in SPLITS},
        "videos_per_member_and_split": per_member,
        "dropped_by_source_leak": len(dropped),
    }
    audit.members = {
        m: {
            "videos": len(f),
            "checks": {k: v["count"] for k, v in a["checks"].items()},
        }
        for m, (f, _, a) in members.items()
    }
    ours = [len(frame), *audit.counts["videos_per_split"].values()]
    audit.paper = paper_comparison(root, name, ours, "videos")
    audit.notes += _paper_notes(paper_stats(root))
    return frame, classes, audit


def shared_classes(maps: dict[str, dict[str, str]]) -> set[str]:
    """AVR classes that receive a class from more than one member."""
    members_of = defaultdict(set)
    for member, mapping in maps.items():
        for target in mapping.values():
            members_of[target].add(member)
    return {c for c, ms in members_of.items() if len(ms) > 1}


def _paper_notes(stats: dict) -> list[str]:
    """Where Table D's AVR row comes from, worked out from its AVE and LLP rows."""
    if not all(k in stats for k in ("ave", "llp", "avr")):
        return []
    ave, llp, avr = stats["ave"], stats["llp"], stats["avr"]
    notes = []
    if avr[1] == ave[1] + llp[1] and avr[2] == ave[2] + llp[3] and avr[3] == ave[3] + llp[2]:
        notes.append(
            f"Table D's AVR val ({avr[2]}) is AVE val + LLP test ({ave[2]} + {llp[3]}) and its "
            f"AVR test ({avr[3]}) is AVE test + LLP val ({ave[3]} + {llp[2]}): the paper's AVR "
            "row swaps LLP's val and test. Here AVR val = AVE val + LLP val and AVR test = AVE "
            "test + LLP test."
        )
    if avr[0] == ave[0] + llp[0]:
        notes.append(
            f"Table D's AVR total ({avr[0]}) is the plain sum of the AVE and LLP totals: no "
            "video merged or dropped. Here the member audits merge AVE's repeated VideoIDs and "
            "the cross-member leak policy drops copies, so the totals differ."
        )
    return notes
