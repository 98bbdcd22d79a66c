"""Formatting for report text: escaping, numbers, dates, money and points, the Fragment display object,
boxes and plain tables."""
from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adoption_kit.config import Thresholds

_BOX_CSS = "border-left: 4px solid {colour}; padding: 0.4em 0.8em; margin: 0.4em 0; background: {background}"
_WARN_COLOURS = {"colour": "#D55E00", "background": "rgba(213, 94, 0, 0.08)"}
_INFO_COLOURS = {"colour": "#0072B2", "background": "rgba(0, 114, 178, 0.06)"}
# MathJax (JupyterLab, nbconvert's HTML) would typeset "$...$" inside customer names; these classes stop it.
_WRAPPER = '<div class="adoption-kit tex2jax_ignore mathjax_ignore">{}</div>'
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


# ---------------------------------------------------------------------------
# The display object and formatting
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fragment:
    """HTML for notebooks and HTML reports, with a plain-text twin (text/plain: readable diffs in nbval, logs)."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def __repr__(self) -> str:
        return self.text


def esc(value: Any) -> str:
    """HTML-escape a data value (quotes too); None -> 'n/a'."""
    return html.escape("n/a" if value is None else str(value), quote=True)


def format_pct(value: float | None, digits: int = 1) -> str:
    """0.8137 -> '81.4%'; None or NaN -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.{digits}f}%"


def format_int(value: int | None) -> str:
    """8145 -> '8,145'; None -> 'n/a'."""
    return "n/a" if value is None else f"{int(value):,}"


def format_known(value: int | None) -> str:
    """A count that can be unknown (its feed row is missing): 8145 -> '8,145'; None -> 'unknown', never 0."""
    return "unknown" if value is None else format_int(value)


def format_date(value: datetime | None) -> str:
    return "unknown" if value is None else f"{value:%Y-%m-%d}"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{format_int(count)} {word if count == 1 else (many or word + 's')}"


def _fragment(parts: Iterable[str], text: Iterable[str]) -> Fragment:
    return Fragment(_WRAPPER.format("".join(parts)), "\n".join(text))


def _box(inner_html: str, colours: Mapping[str, str]) -> str:
    return f'<div style="{_BOX_CSS.format(**colours)}">{inner_html}</div>'


def _linked(value: Any, href: str | None) -> str:
    return f'<a href="{esc(href)}">{esc(value)}</a>' if href else esc(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str = "",
           numeric: Sequence[int] = (), links: Sequence[str | None] | None = None,
           link_column: int = 0) -> tuple[str, list[str]]:
    """An HTML table (every cell escaped) and its plain-text lines; with `links` (one href or None per row) the
    cells of `link_column` link to them (a customer's name to its report)."""
    head = "".join(f'<th style="text-align: {"right" if i in numeric else "left"}">{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        href = links[n] if links is not None else None
        cells = "".join(f'<td style="text-align: {"right" if i in numeric else "left"}">'
                        f'{_linked(v, href if i == link_column else None)}</td>' for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    cap = f'<caption style="caption-side: top; text-align: left">{esc(caption)}</caption>' if caption else ""
    markup = f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return markup, _text_table(headers, rows, caption)


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> list[str]:
    cells = [[str(h) for h in headers]] + [["n/a" if v is None else str(v) for v in row] for row in rows]
    widths = [min(60, max(len(r[i]) for r in cells)) for i in range(len(headers))]
    lines = [caption] if caption else []
    for n, row in enumerate(cells):
        lines.append(" | ".join(c.ljust(w) if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, widths))
                     .rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return lines


def _fill(template: str, counts: Mapping[str, Any]) -> str:
    """A NEXT_STEPS text with `{name}` replaced by counts['licenses_<name>'] (thousands separated; a missing
    count reads 'unknown', as in compute.metrics)."""
    return _PLACEHOLDER.sub(lambda m: format_known(counts.get(f"licenses_{m[1]}")), template)


def threshold_text(thresholds: Thresholds) -> str:
    return (f"deploy {format_pct(thresholds.deploy, 0)}, adopt {format_pct(thresholds.adopt, 0)}, "
            f"upsell {format_pct(thresholds.upsell, 0)}")


def format_money(value: float | None, currency: str | None) -> str:
    """5832.0, 'USD' -> 'USD 5,832.00'; None -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{currency + ' ' if currency else ''}{value:,.2f}"


def format_money_tile(value: float | None, currency: str | None) -> str:
    """Money for a KPI tile, in whole units (the cents are in the tables): 35702.4, 'USD' -> 'USD 35,702'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{currency + ' ' if currency else ''}{value:,.0f}"


def format_points(change: float | None) -> str:
    """A rate change in percentage points: -0.25 -> '-25.0 pts'; None -> 'n/a'."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "n/a"
    return f"{change * 100:+.1f} pts"


def _paragraph(line: str) -> Fragment:
    return _fragment([f"<p>{esc(line)}</p>"], [line])
