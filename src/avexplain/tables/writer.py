"""One small writer for every paper table: a title, notes, a grid of text cells and a footer,
rendered as Markdown (results/tables/*.md) and as an HTML page for the Snakemake report; the
numbers themselves go to CSV through pandas, beside it."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from avexplain.files import atomic_write

DASH = "–"  # no number: the run is missing (never shown as zero) or the paper has none
CSV_DASH = "-"


def number(value, digits: int = 1, std=None) -> str:
    """A table cell: `value` to `digits` decimals (± std when given), or the dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    text = f"{value:.{digits}f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f"±{std:.{digits}f}"
    return text


@dataclass
class Table:
    title: str
    notes: list[str]  # paragraphs above the grid
    header: list[str]
    rows: list[list[str]]
    align: list[str] | None = None  # per column: "---" (left) or "---:" (right)
    footer: list[str] = field(default_factory=list)  # lines below the grid ("" for a break)

    def markdown(self) -> str:
        align = self.align or ["---"] * len(self.header)
        lines = [f"# {self.title}", ""]
        for paragraph in self.notes:
            lines += [paragraph, ""]
        lines += ["| " + " | ".join(self.header) + " |", "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.footer:
            lines += ["", *self.footer]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """A self-contained page: the report shows HTML inline (Markdown only as a download)."""
        esc = html.escape
        right = [a.endswith(":") for a in (self.align or ["---"] * len(self.header))]

        def cells(tag, values):
            return "".join(
                f"<{tag}{' class=num' if r else ''}>{esc(v)}</{tag}>"
                for v, r in zip(values, right, strict=True)
            )

        body = "".join(f"<tr>{cells('td', row)}</tr>" for row in self.rows)
        paragraphs = "".join(f"<p>{esc(p)}</p>" for p in self.notes)
        footer = "".join(f"<p>{esc(line)}</p>" for line in self.footer if line)
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{esc(self.title)}</title><style>"
            "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:.25em .6em}th{background:#eee}"
            ".num{text-align:right}</style></head><body>"
            f"<h1>{esc(self.title)}</h1>{paragraphs}<table><thead><tr>"
            f"{cells('th', self.header)}</tr></thead><tbody>{body}</tbody></table>"
            f"{footer}</body></html>\n"
        )


def write(table: Table, frame: pd.DataFrame, csv, md, html_path=None, **to_csv) -> None:
    """The numbers of `frame` as CSV (a dash where there is none) and `table` as Markdown and,
    when asked, HTML; each written atomically."""
    Path(csv).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(csv, frame.to_csv(index=False, na_rep=CSV_DASH, **to_csv))
    atomic_write(md, table.markdown())
    if html_path is not None:
        atomic_write(html_path, table.html())
