"""The package's layout rules (docs/architecture.md): imports run one way between the stages,
no module imports itself round in a cycle, and every shared path pattern is written once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "avexplain"
STAGES = ["data", "features", "training", "explain", "tables"]
# where each kind of module sits in the one-way order; the core comes before every stage
RANK = {"core": 0, **{s: i + 1 for i, s in enumerate(STAGES)}}
MODELS_USERS = {"training", "explain", "testing"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kind(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"  # the package's own __init__
    return parts[1] if parts[1] in (*STAGES, "models", "testing") else "core"


def imports(path: Path) -> set[str]:
    """avexplain modules that `path` imports, at any depth (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("avexplain")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("avexplain"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if (SRC.parent / sub.replace(".", "/")).exists() or
                          (SRC.parent / f"{sub.replace('.', '/')}.py").exists() else node.module)  # fmt: skip
    return found


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}
GRAPH = nx.DiGraph(
    (name, target) for name, path in MODULES.items() for target in imports(path) if target != name
)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_one_way(name):
    here = kind(name)
    for target in sorted(GRAPH.successors(name)) if name in GRAPH else []:
        there = kind(target)
        if here == "testing" or there == here:
            continue
        assert there != "testing", f"{name} imports the test helpers {target}"
        if there == "models":
            assert here in MODELS_USERS | {"models"}, f"{name} ({here}) imports {target}"
            continue
        if here == "models":
            assert there == "core", f"the networks ({name}) import the stage module {target}"
            continue
        assert RANK[there] <= RANK[here], f"{name} ({here}) imports a later stage: {target}"
        if here == "core":
            assert there == "core", f"the core module {name} imports the stage module {target}"


def test_no_import_cycle():
    cycles = list(nx.simple_cycles(GRAPH))
    assert not cycles, f"import cycles: {cycles[:5]}"


# Every path the rules and the library share is spelled only in avexplain/paths.py.
PATTERN = re.compile(r"(?<![\w/])(data|features|results)/\{[a-z_]+\}/")


def test_each_shared_path_is_written_once():
    sources = [
        *SRC.rglob("*.py"),
        *(ROOT / "workflow").rglob("*.smk"),
        *(ROOT / "workflow").rglob("*.py"),
    ]
    offenders = []
    for path in sources:
        if path == SRC / "paths.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if PATTERN.search(code) and not code.strip().startswith(('"""', "'")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "path patterns outside avexplain.paths:\n" + "\n".join(offenders)
