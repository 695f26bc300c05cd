"""The tables of the localization families, ours beside the paper's numbers: the AVE paper's
Tables 1-3, ED-TCN and supplementary Tables 2 and 3 (`avel_*`), and the AV-transformer paper's
Tables 1-3 (`avt_*`). Every table prints the all-background and majority anchors
(cross-modality localization: its chance level) of each dataset below the methods.

A table is a grid: rows (group, method), columns (e.g. supervised / weak, fusion stage,
classifier). A Markdown cell reads `ours±std (paper)` for every dataset the table covers (the
run datasets with segment labels); the paper's numbers are AVE's. The CSV has one line per
(row, column, dataset) with `ours`, `ours_std`, `seeds`, `paper`. A dash: no run, or no number
in the paper; `cited`: a row the paper only cites (not run here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from avexplain import names, paths
from avexplain.tables import writer
from avexplain.tables.writer import DASH, Table, number
from avexplain.training.localization_runs import datasets

DAGGER = "†"
DATASET_NAMES = {"ave": "AVE", "synth": "synth"}
CITED = "cited"


@dataclass(frozen=True)
class Cell:
    """One number of a table: `model` of `family` (None: a cited row), its `metric`, and the
    paper's number at `paper` (a path of keys into paper_numbers.yaml; None: no number)."""

    family: str | None
    model: str | None
    metric: str = "accuracy"
    paper: tuple | None = None


@dataclass(frozen=True)
class Layout:
    title: str
    columns: list[str]
    rows: list[tuple[str, str, list[Cell]]]  # (group, method, one cell per column)
    note: str
    anchor: str = "segment"  # "segment": background and majority; "cml": chance


def _avel1() -> Layout:
    labels = {"a": "A", "v": "V", "v_att": "V-att", "av": "A+V", "av_att": "A+V-att"}
    rows = [
        (
            "Table 1",
            label,
            [
                Cell("avel", model, paper=("avel", "table1", label)),
                Cell("avel", f"w_{model}", paper=("avel", "table1", f"W-{label}")),
            ],
        )
        for model, label in labels.items()
    ]
    return Layout(
        "AVE paper, Table 1: supervised and weakly supervised audio-visual event localization",
        ["supervised", "weakly supervised (W-*)"],
        rows,
        "Segment accuracy over all test segments, background included. Weak models are trained "
        "on video labels (max pooling over time, mismatched audio/visual pairs as background) "
        "and scored per segment.",
    )


def _avel2() -> Layout:
    labels = {
        "additive": "Additive",
        "mp": "MP",
        "gated": "Gated",
        "mb": "MB",
        "gmu": "GMU",
        "gmb": "GMB",
        "concat": "Concat",
        "mrn": "MRN",
        "dmrn": "DMRN",
    }
    rows = [
        (
            "Table 2",
            label,
            [
                Cell("avel", f"fusion_{op}_{stage}", paper=("avel", "table2", label, i))
                for i, stage in enumerate(names.FUSION_STAGES)
            ],
        )
        for op, label in labels.items()
    ]
    dmrfe = [Cell(None, None, paper=None)] * 3
    dmrfe[1] = Cell("avel", "dmrfe", paper=("avel", "table2", "DMRFE", 1))
    rows.append(("Table 2", "DMRFE", dmrfe))
    return Layout(
        "AVE paper, Table 2: fusion methods at the early, late and decision stages",
        ["early", "late", "decision"],
        rows,
        "Segment accuracy; every method uses A+V-att's inputs (audio and the attended visual "
        "vector). DMRFE is late fusion only.",
    )


def _avel3() -> Layout:
    rows = [
        (
            "Table 3",
            label,
            [
                Cell("avel", model, metric, paper=("avel", "table3", metric.upper(), label))
                for metric in ("a2v", "v2a")
            ],
        )
        for model, label in (("avdln", "AVDLN"), ("dcca", "DCCA"))
    ]
    return Layout(
        "AVE paper, Table 3: cross-modality localization (exact-start accuracy)",
        ["A2V", "V2A"],
        rows,
        "A query's segments of one modality slid over the same video's other modality; right "
        "when the best window starts exactly at the true start. AVE: the paper's own split "
        "(cml_*Set.txt); synth: one query per audio-visual interval of the test split.",
        anchor="cml",
    )


def _avel_edtcn() -> Layout:
    return Layout(
        "AVE paper, section 6.3: ED-TCN against V on the visual features",
        ["supervised"],
        [
            ("", "ED-TCN", [Cell("avel", "ed_tcn", paper=("avel", "ed_tcn"))]),
            ("", "V", [Cell("avel", "v", paper=("avel", "table1", "V"))]),
        ],
        "Segment accuracy; both on the GAP VGG-19 pool5 vectors.",
    )


def _avel_supp2() -> Layout:
    rows = [
        ("", "A", Cell("avel", "a", paper=("avel", "supp_table2", "A"))),
        ("", "V (VGG-19)", Cell("avel", "v", paper=("avel", "supp_table2", "V_s"))),
        ("", "V (MC3-18 for C3D)", Cell("avel", "v_c3d", paper=("avel", "supp_table2", "V_c3d"))),
        (
            "",
            "V (VGG-19 + MC3-18 for C3D)",
            Cell("avel", "v_s_c3d", paper=("avel", "supp_table2", "V_s+c3d")),
        ),
        ("", "A+V (VGG-19)", Cell("avel", "av", paper=("avel", "supp_table2", "AV_s"))),
        (
            "",
            "A+V (MC3-18 for C3D)",
            Cell("avel", "av_c3d", paper=("avel", "supp_table2", "AV_c3d")),
        ),
        (
            "",
            "A+V (VGG-19 + MC3-18 for C3D)",
            Cell("avel", "av_s_c3d", paper=("avel", "supp_table2", "AV_s+c3d")),
        ),
    ]
    return Layout(
        "AVE paper, supplementary Table 2: spatial (VGG-19) and spatio-temporal visual features",
        ["supervised"],
        [(g, m, [c]) for g, m, c in rows],
        "MC3-18 (Kinetics-400) stands in for the paper's C3D (Sports-1M): rows so labelled are "
        "not the paper's features. The concatenation joins the GAP VGG-19 and MC3-18 vectors.",
    )


def _avel_supp3() -> Layout:
    rows = [
        ("A′", "a_map", "A_prime"),
        ("A′-att", "a_map_att", "A_prime_att"),
        ("V", "v", "V"),  # Table 1's models: the same networks on the same features
        ("V-att", "v_att", "V_att"),
        ("A′+V", "a_map_v", "A_prime+V"),
        ("A′+V-co-att", "a_map_v_coatt", "A_prime+V_co_att"),
    ]
    return Layout(
        "AVE paper, supplementary Table 3: VGGish's last pooling maps as the audio input (A′)",
        ["supervised"],
        [
            ("", label, [Cell("avel", model, paper=("avel", "supp_table3", key))])
            for label, model, key in rows
        ],
        "A′: the spatial mean of the 6x4x512 VGGish maps; A′-att: attention over their cells "
        "guided by the visual GAP vector; co-att: that and the audio-guided visual attention. "
        "V and V-att are Table 1's models (trained once, in its group).",
    )


AVT_TABLE1_LABELS = {
    "audio_lstm": "Audio only + LSTM",
    "visual_lstm": "Visual only + LSTM",
    "avel": "AVEL",
    "avsdn": "AVSDN",
    "avel_att": "AVEL + Att",
    "dam": "DAM (reconstruction)",
    "xuan": "Xuan et al.",
    "ramaswamy": "Ramaswamy et al.",
    "avin": "AVIN",
    "avsdn_instance_attention": "AVSDN + Ours",
    "avel_instance_attention": "AVEL + Ours",
}


def avt_cell(spec, paper) -> Cell:
    """The cell of an AV-transformer spec: AVEL-family networks are read from the avel family
    (avexplain.names.AVT_SHARED), where they are trained once."""
    if spec is None:
        return Cell(None, None, paper=paper)
    if spec.name in names.AVT_SHARED:
        return Cell("avel", names.AVT_SHARED[spec.name], paper=paper)
    return Cell("avt", spec.name, paper=paper)


AVT_CITED = ("xuan", "ramaswamy", "avin")  # other papers' rows 002 prints


def _avt1() -> Layout:
    def cell(spec, key, column):
        if spec is None and key not in AVT_CITED:  # DAM has no weak variant
            return Cell(None, None)
        return avt_cell(spec, ("av_transformer", "table1", key, column))

    full, weak = names.avt_table1(False), names.avt_table1(True)
    rows = [
        ("Table 1", label, [cell(full[key], key, 0), cell(weak[key], key, 1)])
        for key, label in AVT_TABLE1_LABELS.items()
    ]
    return Layout(
        "AV-transformer paper, Table 1: fully and weakly supervised event localization",
        ["fully supervised", "weakly supervised"],
        rows,
        "Segment accuracy. 'cited' rows are other papers' numbers as 002 prints them, not run "
        "here; DAM is our reconstruction (no code was published). AVEL-family rows are the AVE "
        "paper's networks, trained once (avel family).",
    )


def _avt_grid(title: str, table: dict, key: str, note: str) -> Layout:
    rows = {}
    for (row, classifier), spec in table.items():
        column = names.AVT_CLASSIFIERS.index(classifier)
        rows.setdefault(row, [None] * len(names.AVT_CLASSIFIERS))[column] = avt_cell(
            spec, ("av_transformer", key, row, column)
        )
    return Layout(
        title,
        [c.upper() if c != "avsdn" else "AVSDN" for c in names.AVT_CLASSIFIERS],
        [("", row, cells) for row, cells in rows.items()],
        note,
    )


def _avt2() -> Layout:
    return _avt_grid(
        "AV-transformer paper, Table 2: visual encoders x co-attention x classifier",
        names.avt_table2(),
        "table2",
        "Segment accuracy, supervised. Rows: region encoder + co-attention (AG: the AVE paper's "
        "audio-guided attention; AVOL: instance attention); ours = AV-transformer + AVOL.",
    )


def _avt3() -> Layout:
    return _avt_grid(
        "AV-transformer paper, Table 3: ablations of the AV-transformer (AVOL pooling)",
        names.avt_table3(),
        "table3",
        "Segment accuracy, supervised. The full row is Table 2's last row (the paper prints "
        "70.7 here and 71.4 there with the LSTM classifier).",
    )


LAYOUTS = {
    "avel_table1": _avel1,
    "avel_table2": _avel2,
    "avel_table3": _avel3,
    "avel_edtcn": _avel_edtcn,
    "avel_supp2": _avel_supp2,
    "avel_supp3": _avel_supp3,
    "avt_table1": _avt1,
    "avt_table2": _avt2,
    "avt_table3": _avt3,
}
TABLES = list(LAYOUTS)
REPORT_CATEGORY = {"avel": "AVE paper", "avt": "AV-transformer paper"}


def models(table: str) -> list[tuple[str, str]]:
    """(family, model) of every run cell of `table`."""
    cells = [c for _, _, row in LAYOUTS[table]().rows for c in row if c and c.model]
    return list(dict.fromkeys((c.family, c.model) for c in cells))


def inputs(config: dict, table: str) -> list[str]:
    """The aggregated metrics.json files a table reads."""
    return [paths.localization_metrics(d, f, m) for d in datasets(config) for f, m in models(table)]


def _paper_value(paper_numbers: dict, key) -> float:
    if not key:  # a cell the paper has no number for
        return np.nan
    value = paper_numbers
    for part in key:
        if value is None:
            return np.nan
        value = value[part] if isinstance(value, list) else value.get(part)
    return np.nan if value is None else float(value)


def build(table: str, results: dict, paper_numbers: dict, dataset_list: list[str]):
    """The CSV frame of `table` (one line per row x column x dataset) and its Layout."""
    layout = LAYOUTS[table]()
    lines = []
    for group, method, cells in layout.rows:
        for column, cell in zip(layout.columns, cells, strict=True):
            for dataset in dataset_list:
                result = results.get((dataset, cell.family, cell.model)) if cell else None
                metric = cell.metric if cell else None
                lines.append(
                    {
                        "group": group,
                        "method": method,
                        "column": column,
                        "dataset": dataset,
                        "model": f"{cell.family}/{cell.model}" if cell and cell.model else "",
                        "ours": result["mean"][metric] if result else np.nan,
                        "ours_std": result["std"][metric] if result else np.nan,
                        "seeds": len(result["seeds"]) if result else 0,
                        "paper": _paper_value(paper_numbers, cell.paper) if cell else np.nan,
                        "cited": bool(cell and cell.model is None and cell.paper),
                        "random_weights": bool(result and result.get("demo_note")),
                    }
                )
    return pd.DataFrame(lines), layout


def anchors(results: dict, dataset: str, kind: str) -> dict[str, float]:
    """The anchors of `dataset` from any of its results (every model shares the test split):
    segment tables: all-background and majority; cross-modality: chance (mean over seeds)."""
    for (d, _, _), result in results.items():
        if d != dataset:
            continue
        if kind == "cml" and "chance" in result["mean"]:
            return {"chance": result["mean"]["chance"]}
        if kind == "segment" and "accuracy" in result["mean"]:
            return {k: result["anchors"][k] for k in ("all_background", "majority")}
    return {}


def render(table: str, frame: pd.DataFrame, layout: Layout, dataset_list, results) -> Table:
    multi = len(dataset_list) > 1
    header = ["Method"] + [
        f"{c} ({DATASET_NAMES.get(d, d)})" if multi else c
        for c in layout.columns
        for d in dataset_list
    ]
    rows, any_random, one_seed = [], False, set()
    for _, method, _ in layout.rows:
        cells = [method]
        part = frame[frame["method"] == method]
        for column in layout.columns:
            for dataset in dataset_list:
                line = part[(part["column"] == column) & (part["dataset"] == dataset)].iloc[0]
                paper = number(line["paper"])
                if line["cited"]:
                    cells.append(f"{CITED} ({paper})")
                    continue
                if not line["model"]:  # no such method in this column (DMRFE is late only)
                    cells.append(DASH)
                    continue
                ours = number(line["ours"], std=line["ours_std"] if line["seeds"] > 1 else None)
                if line["random_weights"] and ours != DASH:
                    ours += DAGGER
                    any_random = True
                if line["seeds"] == 1:
                    one_seed.add(method)
                cells.append(f"{ours} ({paper})")
        rows.append(cells)
    footer = []
    for dataset in dataset_list:
        values = anchors(results, dataset, layout.anchor)
        text = ", ".join(f"{k.replace('_', ' ')} {number(v)}" for k, v in values.items())
        footer.append(f"Anchors on {DATASET_NAMES.get(dataset, dataset)} test: {text or DASH}.")
    seeds = sorted(set(frame.loc[frame["seeds"] > 0, "seeds"]))
    footer.append(
        f"Seeds per model: {', '.join(map(str, seeds)) or 'none'} (mean ± std over seeds)"
        + (f"; one seed only: {', '.join(sorted(one_seed))}." if one_seed else ".")
    )
    if any_random:
        footer.append(
            f"{DAGGER} Features from backbones with random weights: the numbers show the "
            "pipeline works end to end, not what the paper's models reach."
        )
    notes = [
        layout.note,
        "Each cell: ours (paper), percent; the paper's numbers are on AVE. "
        f"{DASH}: no run, or no number in the paper.",
    ]
    align = ["---"] + ["---:"] * (len(header) - 1)
    return Table(layout.title, notes, header, rows, align, footer)


def read_results(files) -> dict[tuple[str, str, str], dict]:
    results = {}
    for path in files:
        record = json.loads(Path(path).read_text())
        results[(record["dataset"], record["family"], record["model"])] = record
    return results


def write(table: str, files, paper_path, dataset_list, outputs: dict) -> None:
    """Write `csv`, `md` and `html` of `outputs` for `table`."""
    results = read_results(files)
    paper = yaml.safe_load(Path(paper_path).read_text())
    frame, layout = build(table, results, paper, dataset_list)
    writer.write(
        render(table, frame, layout, dataset_list, results),
        frame.round(2),
        outputs["csv"],
        outputs["md"],
        outputs.get("html"),
    )


# --- the pointing comparison (synth) ------------------------------------------------------

POINTING_TABLE = "localization_pointing"
POINTING_LABELS = {
    "ag": "AG: audio-guided attention (AVE paper, A+V-att)",
    "transformer_ag": "AG over AV-transformer regions (AV-transformer paper, Table 2)",
    "avol": "AVOL instance attention (AV-transformer paper, AVEL + Ours)",
    "stan": "STAN space attention (STAN paper)",
    "fixed_cell": "fixed cell (the cell in most training boxes)",
    "random": "random attention (seeded U(0,1) maps)",
    "uniform": "uniform attention (chance: expected hit of a random cell)",
}


def write_pointing(report_path, outputs: dict) -> None:
    """The synth pointing game of the localization attentions and STAN's, ranked, with 95 %
    bootstrap intervals over test videos, the baselines, and the paired differences."""
    report = json.loads(Path(report_path).read_text())
    lines, rows = [], []
    ranked = [*report["ranking"], *report["baselines"]]
    for key in ranked:
        entry = report["methods"].get(key) or report["baselines"][key]
        kind = "attention" if key in report["methods"] else "baseline"
        lo, hi = entry["ci95"]
        lines.append(
            {"method": key, "kind": kind, "hit_rate": entry["hit_rate"], "ci_low": lo,
             "ci_high": hi, "seeds": entry.get("seeds", "")}
        )  # fmt: skip
        rows.append(
            [
                str(report["ranking"].index(key) + 1) if kind == "attention" else "",
                POINTING_LABELS.get(key, key),
                number(entry["hit_rate"]),
                f"[{number(lo)}, {number(hi)}]",
                str(entry.get("seeds", "")),
            ]
        )
    footer = ["Paired differences (hit-rate points, 95 % bootstrap interval over test videos):"]
    for name, diff in report["differences"].items():
        lo, hi = diff["ci95"]
        verdict = "above" if lo > 0 else "below" if hi < 0 else "not separated"
        footer.append(
            f"- {name}: {number(diff['difference'])} [{number(lo)}, {number(hi)}] ({verdict})"
        )
    table = Table(
        "Space attention against synth's true boxes: audio-guided, instance and STAN attention",
        [
            "Pointing game: percent of annotated seconds whose attention peak lies in the "
            f"sounding object's box ({report['videos']} test videos, {report['seconds']} "
            f"seconds, {report['grid'][0]}x{report['grid'][1]} maps); localization models "
            "and STAN averaged over their seeds. Neither paper could make "
            "this comparison: AVE has no boxes.",
        ],
        ["Rank", "Attention", "hit rate", "95 % CI", "seeds"],
        rows,
        ["---:", "---", "---:", "---", "---:"],
        footer,
    )
    writer.write(
        table, pd.DataFrame(lines).round(2), outputs["csv"], outputs["md"], outputs.get("html")
    )
