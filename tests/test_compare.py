"""avexplain.compare: differences between two runs' outputs are found and named."""

from __future__ import annotations

import json

import numpy as np
import zarr

from avexplain.compare import compare_runs, main


def _store(root, values, finalized):
    group = zarr.open_group(root / "features/x.zarr", mode="w")
    group.create_array("features", data=np.asarray(values, dtype=np.float16))
    group.attrs.update({"weights": "random:0", "finalized": finalized})


def test_equal_runs_and_volatile_keys(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, stamp in ((a, "2026-01-01"), (b, "2026-02-02")):
        _store(root, [[1.0, np.nan], [2.0, 3.0]], stamp)
        (root / "metrics.json").write_text(json.dumps({"acc": 0.5, "seconds": 1.0 + len(stamp)}))
    assert compare_runs(a, b, ["features/x.zarr", "metrics.json"]) == []
    assert main([str(a), str(b), "features/x.zarr", "metrics.json"]) == 0


def test_differences_are_reported(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    _store(a, [[1.0, 2.0]], "t")
    _store(b, [[1.0, 2.5]], "t")
    (a / "metrics.json").write_text(json.dumps({"acc": 0.5, "per_class": [1, 2]}))
    (b / "metrics.json").write_text(json.dumps({"acc": 0.5001, "per_class": [1, 2, 3]}))
    (a / "only-a.txt").write_text("x")
    problems = compare_runs(a, b, ["features/x.zarr", "metrics.json", "only-a.txt"])
    assert problems == [
        "features/x.zarr/features: 1 of 2 values differ (max |a-b| 0.5)",
        "metrics.json.acc: 0.5 vs 0.5001",
        "metrics.json.per_class: 2 vs 3 items",
        f"only-a.txt: missing in {b / 'only-a.txt'}",
    ]
    # tolerances
    assert compare_runs(a, b, ["metrics.json"], atol=1e-3)[0].startswith("metrics.json.per_class")
    assert main([str(a), str(b), "features/x.zarr"]) == 1
    assert "values differ" in capsys.readouterr().out
