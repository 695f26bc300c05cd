"""Explanations against the synth ground truth: space and time pointing games and the
randomisation check of every configured model, beside the baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from avexplain.provenance import record_provenance
from avexplain.tables import writer
from avexplain.tables.writer import Table, number


def write(config, reports: dict, out_csv, out_md, out_html=None):
    """One row per model and per baseline: spatial hit rate, temporal MAE and AUC, and the
    randomisation check's Spearman correlations."""
    rows = []
    for model, path in reports.items():
        rep = json.loads(Path(path).read_text())
        sp, tm, rnd = (
            rep.get("spatial") or {},
            rep.get("temporal") or {},
            rep.get("randomisation", {}),
        )
        readings = {"model": model, "oriented": f"{model}, sign from validation",
                    "trough": f"{model}, lowest cell"}  # fmt: skip
        baselines = [k for k in dict.fromkeys([*sp, *tm]) if k not in (*readings, "per_seed")]
        for who in (*(r for r in readings if r == "model" or r in sp), *baselines):
            rows.append({
                "model": model,
                "attention": readings.get(who) or f"{who.replace('_', ' ')} baseline",
                "space_hit_rate": (sp.get(who) or {}).get("hit_rate"),
                "time_mae_soft": (tm.get(who) or {}).get("mae_soft"),
                "time_mae_binary": (tm.get(who) or {}).get("mae_binary"),
                "time_auc": (tm.get(who) or {}).get("auc"),
                **{f"randomised_{key}_{stat}": (rnd.get(f"{key}_attention") or {}).get(name)
                   if who == "model" else None
                   for key in ("space", "time")
                   for stat, name in (("spearman", "spearman_mean"),
                                      ("abs_spearman", "spearman_abs_mean"))},
            })  # fmt: skip
    frame = pd.DataFrame(rows)
    cols = list(frame.columns)
    prov = record_provenance(config)
    table = Table(
        "Explanations against the synth ground truth",
        [
            "Space: hit rate of the space attention's peak cell inside the sounding object's box, "
            "per annotated second, ties broken by expectation (higher is better); 'lowest cell': "
            "the map's trough instead; 'sign from validation': per seed, the peak or the trough, "
            "whichever hits more often on the validation split. Time: MAE of "
            "the time attention against the true audio events, soft and binarised at 0.5 (lower "
            "is better), and ROC AUC per video, averaged (0.5 = no idea when). Model rows: mean "
            "over the training seeds. Baselines that know nothing of the video: uniform, random "
            "(seeded U(0,1)), the centre cell, the best fixed cell of the training split, the "
            "frame's own saliency (the cell of largest feature norm), all ones, and the training "
            "split's event prior per segment. Intervals: the comparisons table. Randomised: Spearman correlation (and its absolute value) between the "
            "attention of the trained model and of a re-initialised copy, mean over videos (near "
            "0: the attention depends on the weights; near ±1: on the input alone)."
        ],
        cols,
        [
            [r[c] if isinstance(r[c], str) else number(r[c], 2) for c in cols]
            for _, r in frame.iterrows()
        ],
        footer=[f"config hash {prov['config_hash']}, {prov['code_version']}"],
    )
    writer.write(table, frame, out_csv, out_md, out_html, float_format="%.4f")
