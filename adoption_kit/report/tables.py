"""Styled tables: the markup pandas' Styler writes, built here (no pandas import in a report kernel)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from adoption_kit.config import Thresholds
from adoption_kit.report.format import Fragment, _fragment, _text_table, esc, format_int, format_pct

# Highlight colours: Okabe-Ito vermillion / orange / reddish purple (as the charts), light enough for dark text.
_LOW_DEPLOY_CSS = "background-color: rgba(213, 94, 0, 0.22); font-weight: bold"
_LOW_USAGE_CSS = "background-color: rgba(230, 159, 0, 0.30); font-weight: bold"
_OVER_100_CSS = "background-color: rgba(204, 121, 167, 0.30); font-weight: bold"


# Styler's HTML escaping (markupsafe's): & < > ' " -> entities.
_CELL_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"})


def _cell_escape(value: str) -> str:
    return value.translate(_CELL_ESCAPES)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _css_block(selectors: str, css: str) -> str:
    props = "".join(f"  {name.strip()}: {value.strip()};\n"
                    for name, value in (p.split(":", 1) for p in css.split(";") if p.strip()))
    return f"{selectors} {{\n{props}}}\n"


def styled_table(frame: pl.DataFrame, *, uuid: str, caption: str, pct: Sequence[str] = (),
                 ints: Sequence[str] = (), thresholds: Thresholds | None = None,
                 unknown: Sequence[str] = (), links: Mapping[str, Sequence[str | None]] | None = None,
                 widths: Mapping[str, str] | None = None) -> Fragment:
    """A styled HTML table: every text cell, header and the caption HTML-escaped, % and thousands formatted.

    With `thresholds`, a 'Deployment' cell under thresholds.deploy, a 'Usage' cell under thresholds.adopt
    and any rate over 100% are bold and shaded. `uuid` fixes the element ids, so the HTML is the same run
    to run (nbval compares it). The markup is what pandas' Styler writes for the same table (ids, classes,
    one <style> block; a test compares the two), built without pandas: importing pandas would cost a
    customer report's kernel more than half a second. A missing cell reads "n/a", or "unknown" in the
    `unknown` columns (counts from a feed row that is missing: unknown, never 0).

    `links`: column -> one href per row (None: no link): the cell's text becomes a link (href escaped; the
    HTML export keeps only links to the run folder's customer reports). `widths`: column -> CSS declarations for
    its cells (e.g. "min-width: 20rem", so that a column of sentences is not squeezed to a word per line, or
    "overflow-wrap: anywhere", so that a long name without spaces does not widen the table past the page).
    """
    columns = frame.columns
    right = {c for c in (*pct, *ints) if c in columns}
    highlight: dict[int, tuple[float, str]] = {}
    if thresholds is not None:
        for column, limit, css in (("Deployment", thresholds.deploy, _LOW_DEPLOY_CSS),
                                   ("Usage", thresholds.adopt, _LOW_USAGE_CSS)):
            if column in columns:
                highlight[columns.index(column)] = (limit, css)

    def shown(column: str, value: Any) -> str:
        if _missing(value):
            return "unknown" if column in unknown else "n/a"
        if column in pct:
            return format_pct(value)
        if column in ints:
            return format_int(value)
        if isinstance(value, float):
            return f"{value:.6f}"
        return str(value)

    rows = frame.rows()
    text_rows = [[shown(c, v) for c, v in zip(columns, row)] for row in rows]
    t = f"T_{uuid}"
    styles = [f"#{t} td {{\n  vertical-align: top;\n}}\n", f"#{t}  th {{\n  vertical-align: top;\n}}\n",
              f"#{t} caption {{\n  caption-side: top;\n  text-align: left;\n}}\n"]
    widths = widths or {}
    links = links or {}
    styles += [f"#{t} .col{i} {{\n  text-align: {'right' if c in right else 'left'};\n"
               + "".join(f"  {d.split(':', 1)[0].strip()}: {d.split(':', 1)[1].strip()};\n"
                         for d in widths.get(c, "").split(";") if d.strip()) + "}\n"
               for i, c in enumerate(columns)]
    by_css: dict[str, list[str]] = {}  # in order of first use, row by row (as Styler groups them)
    body = []
    for r, (row, texts) in enumerate(zip(rows, text_rows)):
        cells = []
        for c, (value, text) in enumerate(zip(row, texts)):
            if c in highlight and (css := _rate_css(value, *highlight[c])):
                by_css.setdefault(css, []).append(f"#{t}_row{r}_col{c}")
            shown_text = _cell_escape(text)
            href = links[columns[c]][r] if columns[c] in links else None
            if href:
                shown_text = f'<a href="{_cell_escape(href)}">{shown_text}</a>'
            cells.append(f'      <td id="{t}_row{r}_col{c}" class="data row{r} col{c}" >{shown_text}</td>\n')
        body.append("    <tr>\n" + "".join(cells) + "    </tr>\n")
    styles += [_css_block(", ".join(selectors), css) for css, selectors in by_css.items()]
    head = "".join(f'      <th id="{t}_level0_col{i}" class="col_heading level0 col{i}" >{_cell_escape(c)}</th>\n'
                   for i, c in enumerate(columns))
    caption_line = f"  <caption>{esc(caption)}</caption>\n" if caption else ""
    markup = (f'<style type="text/css">\n{"".join(styles)}</style>\n<table id="{t}">\n{caption_line}'
              f"  <thead>\n    <tr>\n{head}    </tr>\n  </thead>\n"
              f"  <tbody>\n{''.join(body)}  </tbody>\n</table>\n")
    return _fragment([markup], _text_table(list(columns), text_rows, caption))


def _rate_css(value: Any, limit: float, low_css: str) -> str:
    if _missing(value):
        return ""
    if value > 1:
        return _OVER_100_CSS
    return low_css if value < limit else ""
