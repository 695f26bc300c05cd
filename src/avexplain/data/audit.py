"""The data audit: what is odd in a dataset's annotation files and what the manifest did about it.

Each dataset builder registers its checks on an `Audit` (even those that find nothing, so a clean
result is visible as a 0) and appends one item per affected unit (a video, a row); the count is
the number of items. `render_markdown` turns the JSON-able dict into `audit.md`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from avexplain import paths

# How many items of a check audit.md shows; audit.json always has all of them.
MARKDOWN_EXAMPLES = 15


@dataclass
class Check:
    name: str
    description: str  # what is counted, with its unit
    policy: str  # what the manifest does with each item
    items: list = field(default_factory=list)
    by_file: dict[str, int] | None = None

    def add(self, item) -> None:
        self.items.append(item)

    @property
    def count(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict:
        out = {
            "count": self.count,
            "description": self.description,
            "policy": self.policy,
        }
        if self.by_file is not None:
            out["by_file"] = dict(self.by_file)
        out["items"] = self.items
        return out


class Audit:
    """Collects input files, headline counts, checks and notes for one dataset."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.inputs: dict[str, dict] = {}
        self.counts: dict = {}
        self.checks: dict[str, Check] = {}
        self.notes: list[str] = []
        self.paper: dict | None = None
        self.members: dict | None = None

    def check(self, name: str, description: str, policy: str) -> Check:
        if name in self.checks:
            raise ValueError(f"audit check {name!r} registered twice")
        self.checks[name] = Check(name, description, policy)
        return self.checks[name]

    def to_dict(self) -> dict:
        out = {
            "dataset": self.dataset,
            "inputs": self.inputs,
            "counts": self.counts,
            "checks": {name: check.to_dict() for name, check in self.checks.items()},
            "notes": self.notes,
        }
        if self.paper is not None:
            out["paper_comparison"] = self.paper
        if self.members is not None:
            out["members"] = self.members
        return out


def paper_stats(root: Path) -> dict[str, list[int]]:
    """STAN Table D as {dataset: [total, train, val, test]} from resources/paper_numbers.yaml."""
    path = Path(root) / "resources" / "paper_numbers.yaml"
    if not path.exists():
        return {}
    stats = (yaml.safe_load(path.read_text()).get("stan") or {}).get("dataset_stats") or {}
    return {k: [int(x) for x in v] for k, v in stats.items()}


def paper_comparison(root: Path, dataset: str, ours: list[int], what: str) -> dict | None:
    """Our [total, train, val, test] beside the STAN paper's Table D (paper_numbers.yaml)."""
    stats = paper_stats(root)
    if dataset not in stats:
        return None
    paper = stats[dataset]
    return {
        "columns": ["total", "train", "val", "test"],
        "ours": [int(x) for x in ours],
        "ours_counts": what,
        "paper": paper,
        "difference": [o - p for o, p in zip(ours, paper, strict=True)],
        "agrees": list(ours) == paper,
        "source": "resources/paper_numbers.yaml stan.dataset_stats (STAN supplementary, Table D)",
    }


def _fmt(item, parent_id=None) -> str:
    """One example as a short line: `file:line` first, values as written, nested rows inline."""
    if isinstance(item, list):
        return "[" + "; ".join(_fmt(x, parent_id) for x in item) + "]"
    if not isinstance(item, dict):
        return json.dumps(item) if not isinstance(item, str) else item
    parts = []
    if "file" in item and "line" in item:
        parts.append(f"`{Path(item['file']).name}:{item['line']}`")
    for key, value in item.items():
        if key in ("file", "line") and "line" in item and "file" in item:
            continue
        if key == "video_id" and value == parent_id:
            continue  # nested rows of the item's own video
        parts.append(f"{key} {_fmt(value, item.get('video_id', parent_id))}")
    return ", ".join(parts)


def render_markdown(audit: dict) -> str:
    """A readable report of an audit dict; the same facts as audit.json, examples truncated."""
    name = audit["dataset"]
    lines = [f"# Data audit: {name}", ""]
    if audit.get("inputs"):
        lines += ["## Input files", "", "| file | sha256 | checksum |", "| --- | --- | --- |"]
        for path, info in audit["inputs"].items():
            lines.append(f"| `{path}` | `{info['sha256'][:16]}…` | {info['verified']} |")
        lines.append("")
    lines += ["## Counts", ""]
    for key, value in audit["counts"].items():
        lines.append(f"- {key}: {json.dumps(value)}")
    lines.append("")
    if audit.get("paper_comparison"):
        cmp = audit["paper_comparison"]
        lines += [
            "## Against the paper (STAN supplementary, Table D)",
            "",
            f"Ours counts {cmp['ours_counts']}.",
            "",
            "| | " + " | ".join(cmp["columns"]) + " |",
            "| --- |" + " --- |" * len(cmp["columns"]),
            "| ours | " + " | ".join(map(str, cmp["ours"])) + " |",
            "| paper | " + " | ".join(map(str, cmp["paper"])) + " |",
            "| ours - paper | " + " | ".join(f"{d:+d}" for d in cmp["difference"]) + " |",
            "",
            "Agreement: " + ("yes" if cmp["agrees"] else "**no**") + ".",
            "",
        ]
    if audit.get("members"):
        lines += ["## Member datasets", ""]
        for member, info in audit["members"].items():
            found = ", ".join(f"{k} {v}" for k, v in info["checks"].items() if v) or "nothing"
            lines.append(
                f"- {member}: {info['videos']} videos; its audit ({paths.audit(member)}) "
                f"found: {found}"
            )
        lines.append("")
    lines += ["## Checks", "", "| check | count | policy |", "| --- | --- | --- |"]
    for check_name, check in audit["checks"].items():
        lines.append(f"| {check_name} | {check['count']} | {check['policy']} |")
    lines.append("")
    for check_name, check in audit["checks"].items():
        if not check["count"]:
            continue
        lines += [f"### {check_name} ({check['count']})", "", check["description"], ""]
        lines.append(f"Policy: {check['policy']}")
        lines.append("")
        if check.get("by_file"):
            lines.append("By file: " + ", ".join(f"`{k}` {v}" for k, v in check["by_file"].items()))
            lines.append("")
        for item in check["items"][:MARKDOWN_EXAMPLES]:
            lines.append(f"- {_fmt(item)}")
        rest = check["count"] - MARKDOWN_EXAMPLES
        if rest > 0:
            lines.append(f"- … and {rest} more (all in audit.json)")
        lines.append("")
    if audit.get("notes"):
        lines += ["## Notes", ""]
        lines += [f"- {note}" for note in audit["notes"]]
        lines.append("")
    return "\n".join(lines)
