"""Write one table three ways: CSV (for tools), Markdown (for reading and git diffs), HTML (for the report).

The HTML is a fragment (a styled ``<div>`` holding the table), so the Snakemake report can both show
it in its result viewer and include it on its front page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

STYLE = (
    "<style>"
    ".ferrepro-table{font-family:system-ui,sans-serif;font-size:12px}"
    ".ferrepro-table table{border-collapse:collapse}"
    ".ferrepro-table th,.ferrepro-table td{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}"
    ".ferrepro-table th{background:#f0f0f0;position:sticky;top:0}"
    ".ferrepro-table tr.reproduced td.verdict{background:#d9f2d9}"
    ".ferrepro-table tr.not-reproduced td.verdict{background:#f8d7d7}"
    ".ferrepro-table tr.untestable td.verdict{background:#eeeeee}"
    ".ferrepro-table tr.synthetic td.verdict{background:#fff3cd}"
    # On the Snakemake report's front page the description column is Tailwind's narrow `prose max-w-lg`;
    # a table needs the width of the window (harmless where the fragment is shown on its own).
    ".prose.max-w-lg{max-width:min(1500px,calc(100vw - 20rem))!important}"
    # ...and it centres its content, which cuts off the top of anything taller than the window;
    # `safe` centring falls back to the start edge instead.
    ".grow.flex.items-center.justify-center.h-screen{align-items:safe center;justify-content:safe center}"
    ".ferrepro-table .scroll{max-height:max(16rem,calc(100vh - 18rem));overflow:auto}"
    "</style>"
)


def cell(value) -> str:
    """A value as table text: empty for None/NaN, floats as given (callers format numbers themselves)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def to_markdown(table: pd.DataFrame, title: str, notes: Iterable[str] = (), level: int = 1) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"{'#' * level} {title}", ""]
    lines.append("| " + " | ".join(escape(str(c)) for c in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(escape(cell(v)) for v in row) + " |")
    notes = list(notes)
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def row_class(verdict: str) -> str:
    if verdict == "reproduced":
        return "reproduced"
    if verdict.startswith("not reproduced"):
        return "not-reproduced"
    if verdict == "synthetic only":
        return "synthetic"
    return "untestable" if verdict == "untestable" else ""


def to_html(
    table: pd.DataFrame,
    title: str,
    notes: Iterable[str] = (),
    table_id: str = "ferrepro-table",
    verdict_column: str | None = None,
) -> str:
    """A self-contained HTML fragment; rows are classed by verdict when ``verdict_column`` is given."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for _, row in table.iterrows():
        css = row_class(str(row[verdict_column])) if verdict_column else ""
        cells = "".join(
            f'<td class="{"verdict" if c == verdict_column else ""}">{html.escape(cell(row[c]))}</td>'
            for c in table.columns
        )
        rows.append(f'<tr class="{css}">{cells}</tr>')
    notes = list(notes)
    # The first note leads (e.g. the verdict counts), the others follow the table.
    lead = f"<p><b>{html.escape(notes[0])}</b></p>" if notes else ""
    rest = "".join(f"<p>{html.escape(n)}</p>" for n in notes[1:])
    # The table scrolls inside its own box, so a long table does not push the page around.
    return (
        f'<div class="ferrepro-table" id="{html.escape(table_id)}">{STYLE}<h2>{html.escape(title)}</h2>{lead}'
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{rest}</div>\n"
    )


def write_table(
    table: pd.DataFrame,
    title: str,
    csv: str | Path | None = None,
    md: str | Path | None = None,
    html_path: str | Path | None = None,
    notes: Iterable[str] = (),
    table_id: str = "ferrepro-table",
    verdict_column: str | None = None,
) -> None:
    notes = list(notes)
    for path in (csv, md, html_path):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if csv:
        table.to_csv(csv, index=False)
    if md:
        Path(md).write_text(to_markdown(table, title, notes))
    if html_path:
        Path(html_path).write_text(to_html(table, title, notes, table_id, verdict_column))


def synthetic_title(title: str, synthetic: bool) -> str:
    """``title``, saying "synthetic" when the numbers under it come from the synthetic dataset."""
    return f"{title} (SYNTHETIC data: a pipeline check, never a paper's number)" if synthetic else title


@dataclass
class Section:
    """One table of a multi-table page (see :func:`write_sections`)."""

    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    table_id: str = "ferrepro-table"
    verdict_column: str | None = None


def write_sections(
    title: str,
    lead: str,
    sections: list[Section],
    md: str | Path | None = None,
    html_path: str | Path | None = None,
    page_id: str = "ferrepro-page",
) -> None:
    """Several tables on one page, ``lead`` (e.g. the verdict counts) on top: Markdown and an HTML fragment.

    The Markdown opens with ``# title`` and the lead, each table under its own ``##`` heading; the HTML
    starts with a ``ferrepro-table`` block holding the title and the lead, then one fragment per table.
    """
    for path in (md, html_path):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if md:
        parts = [f"# {title}\n\n**{lead}**\n"]
        parts += [to_markdown(s.table, s.title, s.notes, level=2) for s in sections]
        Path(md).write_text("\n".join(parts))
    if html_path:
        head = (
            f'<div class="ferrepro-table" id="{html.escape(page_id)}">{STYLE}<h2>{html.escape(title)}</h2>'
            f"<p><b>{html.escape(lead)}</b></p></div>\n"
        )
        Path(html_path).write_text(
            head + "".join(to_html(s.table, s.title, s.notes, s.table_id, s.verdict_column) for s in sections)
        )


def fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def mean_sd(mean, sd, digits: int = 4) -> str:
    """'0.6512 ± 0.0123', or just the mean when the sd is undefined (one seed)."""
    if mean is None:
        return ""
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(sd, digits)}"


def interval(low, high, digits: int = 4) -> str:
    if low is None or high is None:
        return ""
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
