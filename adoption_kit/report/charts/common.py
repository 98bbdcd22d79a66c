"""Shared by the chart builders: the colours (fixed segment -> colour), axis formats, limits, and frame/axis helpers."""
from __future__ import annotations

import difflib
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, cast

import altair as alt
import polars as pl

from adoption_kit.config import Thresholds
from adoption_kit.errors import ParameterError, UnknownCustomerError
from adoption_kit.report.charts.fonts import MEASURE_FONT_FAMILY
from adoption_kit.values import max_float

# ---------------------------------------------------------------------------
# Colours. Okabe-Ito (colour-blind safe); the segment -> colour mapping is fixed
# so that a colour means the same thing in every chart of every report.
# ---------------------------------------------------------------------------
SEGMENT_ORDER: tuple[str, ...] = ("data_check", "deploy", "adopt", "upsell", "healthy")
SEGMENT_COLORS: Mapping[str, str] = MappingProxyType({
    "data_check": "#CC79A7",  # reddish purple: numbers to verify (usage above 100 %, nothing sold)
    "deploy": "#D55E00",      # vermillion: licenses bought but not assigned
    "adopt": "#E69F00",       # orange: licenses assigned but not used
    "upsell": "#0072B2",      # blue: (almost) everything deployed and used
    "healthy": "#009E73",     # bluish green
})
FLAGGED_SEGMENTS: tuple[str, ...] = ("data_check", "deploy", "adopt", "upsell")

# Per-bar status colours reuse the segment colours so their meaning carries over.
STATUS_BELOW_DEPLOY = "below deploy threshold"
STATUS_BELOW_ADOPT = "below adopt threshold"
STATUS_OK = "at or above threshold"
STATUS_ABOVE_100 = "above 100%: check data"
STATUS_COLORS: Mapping[str, str] = MappingProxyType({
    STATUS_BELOW_DEPLOY: SEGMENT_COLORS["deploy"],
    STATUS_BELOW_ADOPT: SEGMENT_COLORS["adopt"],
    STATUS_OK: SEGMENT_COLORS["healthy"],
    STATUS_ABOVE_100: SEGMENT_COLORS["data_check"],
})
NEUTRAL_COLOR = "#56B4E9"    # Okabe-Ito sky blue: not used by any segment
RULE_COLOR = "#333333"
HUNDRED_COLOR = "#777777"
NA_CELL_COLOR = "#DDDDDD"
HEATMAP_SCHEME: Final = "blues"     # sequential, single hue: readable for every colour vision type

WORKLOAD_ORDER: tuple[str, ...] = ("Exchange", "SharePoint", "Teams", "Skype For Business", "Yammer")

PCT_AXIS = ".0%"
PCT_TIP = ".1%"
INT_TIP = ",d"

# altair refuses data sets above this many rows (MaxRowsError); we stay below it on purpose.
ALTAIR_MAX_ROWS = 5000
ARIA_MAX_POINTS = 500

# Text: one font stack for the static SVG (vl-convert measures with it) and the live chart (Chromium draws with it),
# so that a label measured at layout time is the label drawn. vl-convert finds the first name, DejaVu Sans's widths
# under a name of the kit's own (charts.fonts: faster to measure, the same on every rendering machine); a browser
# has no such font and draws with DejaVu Sans, on every Debian/Ubuntu machine (and wide: a label that fits in it
# fits in the narrower Arial/Helvetica a reader may have instead); Noto Sans CJK (fonts-noto-cjk, installed by
# .ci/run) draws Japanese, Chinese and Korean names.
FONT_STACK: Final = (f"{MEASURE_FONT_FAMILY}, DejaVu Sans, Noto Sans CJK JP, Noto Sans CJK SC, Arial, Helvetica, "
                     "sans-serif")
CHART_PADDING: Final = 10          # px around every chart: room for a glyph drawn wider than measured
# Average advance of DejaVu Sans per character at the subtitle (11 px) and title (13 px, bold) sizes, rounded up:
# a line wrapped at width / this many characters fits in `width` pixels.
SUBTITLE_CHAR_PX: Final = 6.8
TITLE_CHAR_PX: Final = 8.2

DEPLOYMENT_AXIS_TITLE = "Deployment (% of licenses sold that are assigned)"
USAGE_AXIS_TITLE = "Usage (% of qualified users who are active)"


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def _frame(data: Any, name: str, required: Iterable[str]) -> pl.DataFrame:
    """Return `data` as a polars DataFrame (polars, LazyFrame or pandas accepted), checking columns."""
    if isinstance(data, pl.LazyFrame):
        data = data.collect()
    elif not isinstance(data, pl.DataFrame):
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a dependency
            pd = None
        if pd is not None and isinstance(data, pd.DataFrame):
            data = pl.from_pandas(data)
        else:
            raise ParameterError(
                f"{name} must be a polars or pandas DataFrame, not {type(data).__name__}"
            )
    missing = [c for c in required if c not in data.columns]
    if missing:
        raise ParameterError(
            f"the {name} frame has no column {', '.join(repr(c) for c in missing)}; "
            f"pass the '{name}' frame from adoption_kit.compute.metrics.compute()"
        )
    decimals = [c for c, t in data.schema.items() if isinstance(t, pl.Decimal)]
    if decimals:
        data = data.with_columns(pl.col(decimals).cast(pl.Float64))
    return data


def _check_thresholds(thresholds: Any) -> Thresholds:
    if not isinstance(thresholds, Thresholds):
        raise ParameterError(
            f"thresholds must be adoption_kit.config.Thresholds, not {type(thresholds).__name__}"
        )
    return thresholds


def _check_segments(df: pl.DataFrame) -> None:
    values = df.get_column("segment").unique().to_list()
    unknown = sorted(str(v) for v in values if v not in SEGMENT_ORDER)
    if unknown:
        raise ParameterError(
            f"unknown segment value(s) {', '.join(unknown)}; expected one of {', '.join(SEGMENT_ORDER)}"
        )


def _pct_text(fraction: float) -> str:
    """0.8 -> '80%', 0.825 -> '82.5%' (for titles and labels)."""
    text = f"{fraction * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _n(value: int) -> str:
    return f"{value:,}"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{_n(count)} {word if count == 1 else (plural or word + 's')}"


def _axis_max(values: pl.Series) -> float:
    """Top of a rate axis: 100 %, or beyond it (next 10 % step) when the data goes above 100 %."""
    top = max_float(values.drop_nulls()) if values.len() else None
    if top is None or not math.isfinite(top) or top <= 1.0:
        return 1.0
    return math.ceil(round(top * 10, 9) + 0.2) / 10


def _segment_color(title: str = "Segment", legend: bool = True) -> alt.Color:
    return alt.Color(
        "segment:N",
        title=title,
        scale=alt.Scale(domain=list(SEGMENT_ORDER), range=[SEGMENT_COLORS[s] for s in SEGMENT_ORDER]),
        sort=list(SEGMENT_ORDER),
        legend=alt.Legend(title=title) if legend else None,
    )


def _status_color(domain: Sequence[str]) -> alt.Color:
    return alt.Color(
        "status:N",
        title="Status",
        scale=alt.Scale(domain=list(domain), range=[STATUS_COLORS[s] for s in domain]),
        sort=list(domain),
        legend=alt.Legend(title="Status", orient="bottom", direction="horizontal"),
    )


def _pct_axis() -> alt.Axis:
    return alt.Axis(format=PCT_AXIS, labelOverlap="greedy", labelFlush=True)


def _wrap(text: str, width_px: float, char_px: float) -> list[str]:
    """`text` broken at spaces into lines of at most width_px / char_px characters (a word longer than that
    is broken too: a customer name without spaces must not run out of the chart)."""
    limit = max(20, int(width_px / char_px))
    return textwrap.wrap(text, width=limit, break_long_words=True, break_on_hyphens=False) or [text]


def _title(text: str, subtitle: Sequence[str] = (), width: float = 420) -> alt.Title:
    """The chart's title and subtitle lines, wrapped to `width` px (the chart's drawing width): Vega never
    wraps a title itself, and a line wider than the chart is cut off at the picture's edge."""
    lines = [part for line in subtitle if line for part in _wrap(line, width, SUBTITLE_CHAR_PX)]
    heading = _wrap(text, width, TITLE_CHAR_PX)
    shown: str | list[str] = heading[0] if len(heading) == 1 else heading
    if lines:
        return alt.Title(text=shown, subtitle=lines, anchor="start")
    return alt.Title(text=shown, anchor="start")


def report_style(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with the kit's text settings (FONT_STACK, CHART_PADDING) under its config; a chart's own
    config wins. Applied by the renderers, so the static SVG and the live chart measure the same font."""
    config = dict(spec.get("config") or {})
    config.setdefault("font", FONT_STACK)
    styled = {**spec, "config": config}
    styled.setdefault("padding", CHART_PADDING)
    return styled


def _normalise_id(customer_id: Any) -> str:
    return str(customer_id).strip().lower()


def _customer_rows(df: pl.DataFrame, customer_id: Any, frame_name: str) -> pl.DataFrame:
    """Rows of one customer; UnknownCustomerError naming close matches when the id is not there."""
    wanted = _normalise_id(customer_id)
    rows = df.filter(pl.col("customer_id").str.to_lowercase() == wanted)
    if rows.height:
        return rows
    known = df.select("customer_id", "customer_name").unique().sort("customer_id")
    ids = known.get_column("customer_id").to_list()
    names = known.get_column("customer_name").to_list()
    close = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.6)
    by_name = [i for i, n in zip(ids, names) if n and str(customer_id).strip().casefold() == n.casefold()]
    hints = [f"{i} ({n})" for i, n in zip(ids, names) if i in set(close) | set(by_name)]
    hint = f"; close matches: {', '.join(hints)}" if hints else ""
    raise UnknownCustomerError(f"customer id {customer_id!r} is not in the {frame_name} frame{hint}")


def _unique_labels(names: list[str | None], ids: list[str]) -> list[str]:
    """Display labels: the name, plus a short id when two customers (or products) share a name."""
    clean = [n if n else i for n, i in zip(names, ids)]
    counts: dict[str, int] = {}
    for n in clean:
        counts[n] = counts.get(n, 0) + 1
    return [f"{n} ({i[:8]})" if counts[n] > 1 else n for n, i in zip(clean, ids)]


def _rule_layer(field: str, channel: str, rows: list[dict[str, Any]], *, dash: Sequence[int] = (),
                color: str = RULE_COLOR, size: float = 1.5) -> alt.Chart:
    """Threshold rules: own inline data (never the parent's thousands of rows), field named like the axis."""
    enc = alt.X if channel == "x" else alt.Y
    mark: dict[str, Any] = dict(color=color, size=size)
    if dash:
        mark["strokeDash"] = list(dash)
    return alt.Chart(alt.InlineData(values=rows)).mark_rule(**mark).encode(
        **{channel: enc(f"{field}:Q")},
        tooltip=[alt.Tooltip("rule:N", title="Line")],
    )


def _layer(*charts: alt.Chart | alt.LayerChart) -> alt.LayerChart:
    """alt.layer, typed: it returns a FacetChart only when every layer has a row/column/facet encoding,
    and no chart of the kit has one."""
    return cast(alt.LayerChart, alt.layer(*charts))


def _display_name(rows: pl.DataFrame) -> str:
    """The customer's name for a title (its tenant id when the export has no name); both are String columns."""
    return cast(str, rows.get_column("customer_name").drop_nulls().first() or rows.get_column("customer_id")[0])


def _drop_excluded(rows: pl.DataFrame, what: str) -> tuple[pl.DataFrame, str]:
    if "excluded" not in rows.columns:
        return rows, ""
    kept = rows.filter(~pl.col("excluded").fill_null(False))
    dropped = rows.height - kept.height
    note = f"{_plural(dropped, what)} excluded from the ratios not shown." if dropped else ""
    return kept, note
