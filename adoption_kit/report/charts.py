"""Altair chart builders for the metric frames: frame in, chart object out; they never display, save or print."""
from __future__ import annotations

import difflib
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import altair as alt
import polars as pl

from adoption_kit.config import DEFAULT_THRESHOLDS, Thresholds
from adoption_kit.errors import ParameterError, UnknownCustomerError

__all__ = [
    "SEGMENT_ORDER",
    "SEGMENT_COLORS",
    "FLAGGED_SEGMENTS",
    "STATUS_COLORS",
    "RENDERER_NAME",
    "adoption_quadrant",
    "select_for_display",
    "rate_distribution",
    "workload_heatmap",
    "segment_counts",
    "product_bars",
    "workload_usage_bars",
    "select_moves",
    "portfolio_trend",
    "customer_trend",
    "offline_renderer",
    "configure_offline_rendering",
]

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
HEATMAP_SCHEME = "blues"     # sequential, single hue: readable for every colour vision type

WORKLOAD_ORDER: tuple[str, ...] = ("Exchange", "SharePoint", "Teams", "Skype For Business", "Yammer")

PCT_AXIS = ".0%"
PCT_TIP = ".1%"
INT_TIP = ",d"

# altair refuses data sets above this many rows (MaxRowsError); we stay below it on purpose.
ALTAIR_MAX_ROWS = 5000
ARIA_MAX_POINTS = 500

DEPLOYMENT_AXIS_TITLE = "Deployment (% of licenses sold that are assigned)"
USAGE_AXIS_TITLE = "Usage (% of qualified users who are active)"

_QUADRANT_COLUMNS = ("customer_id", "customer_name", "deployment_rate", "usage_rate", "licenses_sold",
                     "licenses_assigned", "licenses_qualified", "licenses_active", "segment")


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
    top = values.drop_nulls().max() if values.len() else None
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


def _title(text: str, subtitle: Sequence[str] = ()) -> alt.Title:
    lines = [line for line in subtitle if line]
    if lines:
        return alt.Title(text=text, subtitle=lines, anchor="start")
    return alt.Title(text=text, anchor="start")


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
    mark = dict(color=color, size=size)
    if dash:
        mark["strokeDash"] = list(dash)
    return alt.Chart(alt.InlineData(values=rows)).mark_rule(**mark).encode(
        **{channel: enc(f"{field}:Q")},
        tooltip=[alt.Tooltip("rule:N", title="Line")],
    )


# ---------------------------------------------------------------------------
# Subsampling for big portfolios
# ---------------------------------------------------------------------------
def select_for_display(
    frame: Any,
    max_points: int = 4000,
    priority: Sequence[str] = FLAGGED_SEGMENTS,
    *,
    size: str = "licenses_sold",
    must_keep: Iterable[str] = (),
    largest_share: float = 0.1,
) -> tuple[pl.DataFrame, str]:
    """Choose at most `max_points` customers to draw, deliberately, and say which; pure (no chart).

    Returns (frame, note). `note` is "" when every row is kept; otherwise a sentence for the chart
    subtitle, e.g. "showing 4,000 of 20,000 customers: the largest and every flagged account (...)".

    Rules, in order: rows whose customer_id is in `must_keep` (the highlighted customer); then, when
    every row whose segment is in `priority` fits, all of them plus the largest remaining accounts by
    `size`; when they do not fit, the `largest_share` largest accounts overall plus the largest
    flagged accounts up to the budget. Output is sorted by `size` descending, then customer_id.
    """
    df = _frame(frame, "customers", ("customer_id", "segment", size))
    if not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 1:
        raise ParameterError(f"max_points={max_points!r} must be a whole number of at least 1")
    if not 0 <= largest_share <= 1:
        raise ParameterError(f"largest_share={largest_share!r} must be between 0 and 1")
    order = dict(by=[size, "customer_id"], descending=[True, False], nulls_last=True)
    df = df.sort(**order)
    total = df.height
    if total <= max_points:
        return df, ""

    keep_ids = {_normalise_id(i) for i in must_keep}
    is_must = pl.col("customer_id").str.to_lowercase().is_in(list(keep_ids))
    must = df.filter(is_must).head(max_points)
    rest = df.filter(~is_must)
    budget = max_points - must.height
    is_flagged = pl.col("segment").is_in(list(priority))
    flagged = rest.filter(is_flagged)
    others = rest.filter(~is_flagged)
    label = ", ".join(priority)

    if flagged.height <= budget:
        chosen = pl.concat([must, flagged, others.head(budget - flagged.height)])
        note = (f"showing {_n(max_points)} of {_n(total)} customers: the largest and every flagged "
                f"account ({label})")
    else:
        n_largest = min(budget, math.ceil(budget * largest_share))
        largest = rest.head(n_largest)
        more = flagged.filter(~pl.col("customer_id").is_in(largest.get_column("customer_id").implode()))
        more = more.head(budget - largest.height)
        chosen = pl.concat([must, largest, more])
        kept_flagged = chosen.filter(is_flagged).height
        note = (f"showing {_n(max_points)} of {_n(total)} customers: the {_n(n_largest)} largest and "
                f"the largest flagged accounts ({label}); {_n(kept_flagged)} of {_n(flagged.height)} "
                f"flagged accounts shown")
    if must.height:
        note += "; plus the highlighted customer"
    return chosen.sort(**order), note


# ---------------------------------------------------------------------------
# 1. Deployment x usage quadrant
# ---------------------------------------------------------------------------
def adoption_quadrant(
    customers: Any,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    max_points: int = 4000,
    highlight: str | None = None,
    movement: Any = None,
    max_moves: int = 30,
) -> alt.LayerChart:
    """Scatter of deployment rate (x) against usage rate (y), one point per customer.

    Point size = licenses sold, colour = segment (fixed colours), threshold rules at
    `thresholds.deploy` (vertical) and `thresholds.adopt` (horizontal), the upsell corner shaded from
    `thresholds.upsell`, a dotted 100 % line; axes extend past 100 % when the data does. Portfolios
    above `max_points` are subsampled by `select_for_display` and the subtitle says so. Customers
    without a rate (nothing sold, no qualified users) cannot be placed and are counted in the subtitle.
    `highlight` = a customer_id drawn with a ring and its name.
    `movement` (the latest period of analysis.Book.history_customers: customer_id, previous_deployment_rate,
    previous_usage_rate, previous_segment, segment_changed, previous_processed_at) draws, for at most
    `max_moves` of the drawn customers (`select_moves`: segment changes first, then the largest moves),
    a line from where the customer was at its previous snapshot to where it is now, with an arrowhead.
    """
    thresholds = _check_thresholds(thresholds)
    if not isinstance(max_points, int) or isinstance(max_points, bool) or not 1 <= max_points <= ALTAIR_MAX_ROWS:
        raise ParameterError(
            f"max_points={max_points!r} must be between 1 and {_n(ALTAIR_MAX_ROWS)} "
            f"(altair refuses larger data sets and the SVG grows by ~250 KB per 1,000 points)"
        )
    df = _frame(customers, "customers", _QUADRANT_COLUMNS).select(_QUADRANT_COLUMNS)
    _check_segments(df)
    df = df.with_columns(pl.col("deployment_rate", "usage_rate").cast(pl.Float64))

    subtitle: list[str] = []
    highlight_id: str | None = None
    highlight_name = ""
    if highlight is not None:
        hl_rows = _customer_rows(df, highlight, "customers")
        highlight_id = hl_rows.get_column("customer_id")[0]
        highlight_name = hl_rows.get_column("customer_name")[0] or highlight_id

    has_rates = pl.col("deployment_rate").is_not_null() & pl.col("usage_rate").is_not_null()
    plottable = df.filter(has_rates)
    unplaced = df.height - plottable.height
    shown, note = select_for_display(
        plottable, max_points, must_keep=[highlight_id] if highlight_id else ()
    )
    if note:
        subtitle.append(note[0].upper() + note[1:] + ".")
    if unplaced:
        subtitle.append(f"{_plural(unplaced, 'customer')} without a deployment or usage rate "
                        f"(nothing sold or no qualified users) cannot be placed and are not drawn.")
    if df.height == 0:
        subtitle.append("No customers to show.")

    x_max = _axis_max(shown.get_column("deployment_rate"))
    y_max = _axis_max(shown.get_column("usage_rate"))
    d, a, u = thresholds.deploy, thresholds.adopt, thresholds.upsell
    subtitle.append(
        f"Lines: deploy threshold {_pct_text(d)} (vertical), adopt threshold {_pct_text(a)} "
        f"(horizontal); shaded corner: upsell, both at or above {_pct_text(u)}; dotted: 100%."
    )

    x_scale = alt.Scale(domain=[0, x_max], nice=False, zero=True)
    y_scale = alt.Scale(domain=[0, y_max], nice=False, zero=True)
    x_enc = alt.X("deployment_rate:Q", title=DEPLOYMENT_AXIS_TITLE, scale=x_scale,
                  axis=_pct_axis())
    y_enc = alt.Y("usage_rate:Q", title=USAGE_AXIS_TITLE, scale=y_scale,
                  axis=_pct_axis())

    layers: list[alt.Chart] = []
    # Upsell corner (background). Usage above 100 % is data_check, so the corner stops at 100 %.
    if u < x_max and u < 1.0:
        corner = alt.Chart(alt.InlineData(values=[{
            "deployment_rate": u, "deployment_rate_end": x_max, "usage_rate": u, "usage_rate_end": 1.0,
            "rule": f"upsell corner: deployment and usage at or above {_pct_text(u)}",
        }])).mark_rect(color=SEGMENT_COLORS["upsell"], opacity=0.12, stroke=SEGMENT_COLORS["upsell"],
                       strokeDash=[4, 3], strokeOpacity=0.6).encode(
            x=x_enc, x2="deployment_rate_end:Q", y=y_enc, y2="usage_rate_end:Q",
            tooltip=[alt.Tooltip("rule:N", title="Area")],
        )
        layers.append(corner)

    tooltip = [
        alt.Tooltip("customer_name:N", title="Customer"),
        alt.Tooltip("segment:N", title="Segment"),
        alt.Tooltip("deployment_rate:Q", title="Deployment", format=PCT_TIP),
        alt.Tooltip("usage_rate:Q", title="Usage", format=PCT_TIP),
        alt.Tooltip("licenses_sold:Q", title="Licenses sold", format=INT_TIP),
        alt.Tooltip("licenses_assigned:Q", title="Licenses assigned", format=INT_TIP),
        alt.Tooltip("licenses_qualified:Q", title="Qualified users", format=INT_TIP),
        alt.Tooltip("licenses_active:Q", title="Active users", format=INT_TIP),
    ]
    # Per-point ARIA labels are ~450 bytes each in the SVG and no help to a screen reader at
    # thousands of points: kept for small portfolios only.
    dense = shown.height > 1000
    max_size = 500 if shown.height <= 200 else 250 if not dense else 90
    points = alt.Chart(shown).mark_circle(
        opacity=0.35 if highlight_id else (0.55 if dense else 0.7), stroke="white", strokeWidth=0.4,
        aria=shown.height <= ARIA_MAX_POINTS,
    ).encode(
        x=x_enc,
        y=y_enc,
        size=alt.Size("licenses_sold:Q", title="Licenses sold",
                      scale=alt.Scale(type="sqrt", range=[8, max_size]),
                      legend=alt.Legend(title="Licenses sold", format=",d")),
        color=_segment_color(),
        tooltip=tooltip,
    )
    layers.append(points)

    layers.append(_rule_layer("usage_rate", "y", [{"usage_rate": 1.0, "rule": "100% of qualified users active"}],
                              dash=(2, 2), color=HUNDRED_COLOR, size=1))
    if x_max > 1.0:
        layers.append(_rule_layer("deployment_rate", "x",
                                  [{"deployment_rate": 1.0, "rule": "100% of licenses sold assigned"}],
                                  dash=(2, 2), color=HUNDRED_COLOR, size=1))
    layers.append(_rule_layer("deployment_rate", "x",
                              [{"deployment_rate": d, "rule": f"deploy threshold {_pct_text(d)}"}]))
    layers.append(_rule_layer("usage_rate", "y",
                              [{"usage_rate": a, "rule": f"adopt threshold {_pct_text(a)}"}]))
    labels = alt.Chart(alt.InlineData(values=[
        {"deployment_rate": d, "usage_rate": y_max, "label": f"deploy {_pct_text(d)}"},
        {"deployment_rate": 0.0, "usage_rate": a, "label": f"adopt {_pct_text(a)}"},
    ])).mark_text(align="left", baseline="bottom", dx=3, dy=-2, color=RULE_COLOR, fontSize=10).encode(
        x=x_enc, y=y_enc, text="label:N",
    )
    layers.append(labels)

    if movement is not None:
        moves = select_moves(movement, shown, max_moves=max_moves)
        if moves.height:
            layers += _movement_layers(moves, x_scale, y_scale, x_max, y_max)
            changed = moves.filter(pl.col("segment_changed")).height
            since = moves.get_column("previous_processed_at").min()
            subtitle.append(f"Arrows: where {_plural(moves.height, 'customer')} moved since the previous export"
                            + (f" ({since:%Y-%m-%d})" if since is not None else "")
                            + f"; {_n(changed)} changed segment (dashed line: grey dot = previous position).")
        elif _frame(movement, "history_customers", ("previous_deployment_rate",)).get_column(
                "previous_deployment_rate").drop_nulls().len():
            subtitle.append("No customer moved since the previous export.")

    if highlight_id is not None:
        hl = shown.filter(pl.col("customer_id") == highlight_id)
        if hl.height:
            ring = alt.Chart(hl).mark_point(shape="circle", size=700, filled=False, color="black",
                                            strokeWidth=2.5).encode(x=x_enc, y=y_enc, tooltip=tooltip)
            name = alt.Chart(hl).mark_text(align="left", dx=16, fontWeight="bold", fontSize=12,
                                           color="black").encode(x=x_enc, y=y_enc, text="customer_name:N")
            layers += [ring, name]
            subtitle.insert(0, f"Ringed: {highlight_name}.")
        else:
            subtitle.insert(0, f"{highlight_name} has no deployment or usage rate and cannot be placed.")

    title = _title(f"Deployment vs usage: {_plural(df.height, 'customer')}", subtitle)
    return alt.layer(*layers).properties(title=title, width=560, height=420)


_QUADRANT_WIDTH, _QUADRANT_HEIGHT = 560, 420
MAX_MOVES = 200


def select_moves(movement: Any, shown: Any, *, max_moves: int = 30) -> pl.DataFrame:
    """The customers whose move the quadrant draws; pure (no chart).

    Among `shown` (customer_id, deployment_rate, usage_rate: the points drawn) joined with `movement`'s
    previous rates: customers with both positions that moved at all; those that changed segment first,
    then by the distance moved (in rate units) descending, then customer_id; at most `max_moves` (1 to
    MAX_MOVES, keeping the chart's data small).
    """
    if not isinstance(max_moves, int) or isinstance(max_moves, bool) or not 1 <= max_moves <= MAX_MOVES:
        raise ParameterError(f"max_moves={max_moves!r} must be between 1 and {MAX_MOVES}")
    moves = _frame(movement, "history_customers", ("customer_id", "previous_deployment_rate", "previous_usage_rate",
                                                   "segment_changed"))
    extra = [c for c in ("previous_segment", "previous_processed_at") if c in moves.columns]
    moves = moves.select("customer_id", "previous_deployment_rate", "previous_usage_rate", "segment_changed", *extra)
    for column, dtype in (("previous_segment", pl.String), ("previous_processed_at", pl.Datetime("us", "UTC"))):
        if column not in moves.columns:
            moves = moves.with_columns(pl.lit(None, dtype=dtype).alias(column))
    now = _frame(shown, "customers", ("customer_id", "deployment_rate", "usage_rate"))
    cols = [c for c in ("customer_id", "customer_name", "segment", "deployment_rate", "usage_rate") if c in now.columns]
    joined = now.select(cols).join(moves, on="customer_id", how="inner").with_columns(
        pl.col("deployment_rate", "usage_rate", "previous_deployment_rate", "previous_usage_rate").cast(pl.Float64))
    distance = ((pl.col("deployment_rate") - pl.col("previous_deployment_rate")) ** 2
                + (pl.col("usage_rate") - pl.col("previous_usage_rate")) ** 2).sqrt()
    return (joined.with_columns(distance.alias("distance"), pl.col("segment_changed").fill_null(False))
            .filter(pl.col("distance").is_not_null() & (pl.col("distance") > 0))
            .sort(["segment_changed", "distance", "customer_id"], descending=[True, True, False])
            .head(max_moves))


def _movement_layers(moves: pl.DataFrame, x_scale: alt.Scale, y_scale: alt.Scale, x_max: float,
                     y_max: float) -> list[alt.Chart]:
    """Trail (previous -> current), a grey dot at the previous position and an arrowhead at the current one."""
    # Arrowhead angle in screen pixels (the axes have different scales): clockwise from up, as Vega rotates.
    dx = (pl.col("deployment_rate") - pl.col("previous_deployment_rate")) * (_QUADRANT_WIDTH / x_max)
    dy = (pl.col("usage_rate") - pl.col("previous_usage_rate")) * (_QUADRANT_HEIGHT / y_max)
    frame = moves.with_columns(pl.arctan2(dx, dy).degrees().round(1).alias("angle"),
                               pl.col("previous_segment").fill_null("n/a"))
    keep = ["customer_name", "segment", "previous_segment", "deployment_rate", "usage_rate",
            "previous_deployment_rate", "previous_usage_rate", "segment_changed", "angle"]
    frame = frame.select([c for c in keep if c in frame.columns])
    tooltip = [alt.Tooltip(c, title=t, **({"format": PCT_TIP} if c.endswith("_rate:Q") else {})) for c, t in (
        ("customer_name:N", "Customer"), ("previous_segment:N", "Segment before"), ("segment:N", "Segment now"),
        ("previous_deployment_rate:Q", "Deployment before"), ("deployment_rate:Q", "Deployment now"),
        ("previous_usage_rate:Q", "Usage before"), ("usage_rate:Q", "Usage now"))
        if c.split(":")[0] in frame.columns]
    previous = dict(x=alt.X("previous_deployment_rate:Q", scale=x_scale), y=alt.Y("previous_usage_rate:Q", scale=y_scale))
    trail = alt.Chart(frame).mark_rule(color=RULE_COLOR, strokeWidth=1.2, opacity=0.7).encode(
        **previous, x2="deployment_rate:Q", y2="usage_rate:Q",
        strokeDash=alt.StrokeDash("segment_changed:N", scale=alt.Scale(domain=[True, False], range=[[5, 3], [1, 0]]),
                                  legend=None),
        tooltip=tooltip)
    start = alt.Chart(frame).mark_circle(color=HUNDRED_COLOR, size=18, opacity=0.8).encode(**previous, tooltip=tooltip)
    head = alt.Chart(frame).mark_point(shape="triangle-up", filled=True, color=RULE_COLOR, size=60).encode(
        x=alt.X("deployment_rate:Q", scale=x_scale), y=alt.Y("usage_rate:Q", scale=y_scale),
        angle=alt.Angle("angle:Q", scale=None), tooltip=tooltip)
    return [trail, start, head]


# ---------------------------------------------------------------------------
# 7. The book over time: portfolio and customer trends
# ---------------------------------------------------------------------------
_FLAG_COLORS: Mapping[str, str] = MappingProxyType({"drop": SEGMENT_COLORS["deploy"], "spike": SEGMENT_COLORS["upsell"]})


def portfolio_trend(history_portfolio: Any, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> alt.LayerChart:
    """Portfolio deployment and usage (sum over sum) at each snapshot, with the deploy and adopt thresholds."""
    thresholds = _check_thresholds(thresholds)
    df = _frame(history_portfolio, "history_portfolio", ("processed_at", "deployment_rate", "usage_rate", "customers"))
    names = {"deployment_rate": "Deployment (assigned / sold)", "usage_rate": "Usage (active / qualified)"}
    long = (df.select("processed_at", "customers", *names)
            .unpivot(index=["processed_at", "customers"], variable_name="measure", value_name="rate")
            .with_columns(pl.col("measure").replace_strict(names), pl.col("rate").cast(pl.Float64))
            .sort("measure", "processed_at"))
    x_enc = alt.X("processed_at:T", title="Snapshot (processedDateTime, UTC)",
                  axis=alt.Axis(format="%Y-%m-%d", labelAngle=0, tickCount=max(df.height, 1)))
    y_max = max(1.0, _axis_max(long.get_column("rate")))
    y_enc = alt.Y("rate:Q", title="Rate", scale=alt.Scale(domain=[0, y_max], nice=False), axis=_pct_axis())
    color = alt.Color("measure:N", title="Measure", scale=alt.Scale(domain=list(names.values()),
                                                                     range=[SEGMENT_COLORS["deploy"], SEGMENT_COLORS["upsell"]]),
                      legend=alt.Legend(orient="bottom"))
    tooltip = [alt.Tooltip("processed_at:T", title="Snapshot", format="%Y-%m-%d"),
               alt.Tooltip("measure:N", title="Measure"), alt.Tooltip("rate:Q", title="Rate", format=PCT_TIP),
               alt.Tooltip("customers:Q", title="Customers", format=INT_TIP)]
    lines = alt.Chart(long).mark_line(point=True, strokeWidth=2).encode(x=x_enc, y=y_enc, color=color, tooltip=tooltip)
    d, a = thresholds.deploy, thresholds.adopt
    rules = [_rule_layer("rate", "y", [{"rate": d, "rule": f"deploy threshold {_pct_text(d)}"}], dash=(4, 3),
                         color=SEGMENT_COLORS["deploy"], size=1),
             _rule_layer("rate", "y", [{"rate": a, "rule": f"adopt threshold {_pct_text(a)}"}], dash=(4, 3),
                         color=SEGMENT_COLORS["adopt"], size=1)]
    subtitle = [f"{_plural(df.height, 'snapshot')}; each point sums the customers present in that export. "
                f"Dashed: deploy {_pct_text(d)} and adopt {_pct_text(a)} thresholds."]
    if df.height < 2:
        subtitle.append("One snapshot only: add older exports (other processedDateTime values) for a trend.")
    return alt.layer(lines, *rules).properties(title=_title("Portfolio deployment and usage over time", subtitle),
                                               width=520, height=240)


def customer_trend(history_workloads: Any, customer_id: str, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> alt.LayerChart:
    """One customer: usage per product x workload at each snapshot; flagged drops and spikes marked."""
    thresholds = _check_thresholds(thresholds)
    df = _frame(history_workloads, "history_workloads", ("customer_id", "customer_name", "product_id", "product_name",
                                                         "workload", "processed_at", "usage_rate", "trend_flag"))
    rows = _customer_rows(df, customer_id, "history_workloads")
    name = rows.get_column("customer_name").drop_nulls().first() or rows.get_column("customer_id")[0]
    rows, excluded_note = _drop_excluded(rows, "workload row")
    products = rows.select("product_id", "product_name").unique(maintain_order=True)
    labels = dict(zip(products.get_column("product_id").to_list(),
                      _unique_labels(products.get_column("product_name").to_list(),
                                     products.get_column("product_id").to_list())))
    keep = [c for c in ("licenses_active", "licenses_qualified", "usage_change", "robust_z") if c in rows.columns]
    frame = rows.select("product_id", "workload", "processed_at", "usage_rate", "trend_flag", *keep).with_columns(
        pl.col("usage_rate").cast(pl.Float64),
        pl.concat_str(pl.col("product_id").replace_strict(labels), pl.lit(" · "), pl.col("workload").fill_null("?"))
        .alias("series")).drop("product_id").sort("series", "processed_at")
    series = frame.get_column("series").unique(maintain_order=True).to_list()
    x_enc = alt.X("processed_at:T", title="Snapshot (processedDateTime, UTC)",
                  axis=alt.Axis(format="%Y-%m-%d", labelAngle=0,
                                tickCount=max(frame.get_column("processed_at").n_unique(), 1)))
    y_max = _axis_max(frame.get_column("usage_rate"))
    y_enc = alt.Y("usage_rate:Q", title="Usage (active / qualified)", scale=alt.Scale(domain=[0, y_max], nice=False),
                  axis=_pct_axis())
    tooltip = [alt.Tooltip("series:N", title="Product · workload"),
               alt.Tooltip("processed_at:T", title="Snapshot", format="%Y-%m-%d"),
               alt.Tooltip("usage_rate:Q", title="Usage", format=PCT_TIP)]
    if "usage_change" in frame.columns:
        tooltip.append(alt.Tooltip("usage_change:Q", title="Change since previous", format="+.1%"))
    tooltip.append(alt.Tooltip("trend_flag:N", title="Flag"))
    lines = alt.Chart(frame).mark_line(point=True, strokeWidth=1.5).encode(
        x=x_enc, y=y_enc, color=alt.Color("series:N", title="Product · workload", sort=series,
                                          legend=alt.Legend(orient="right", labelLimit=260)),
        tooltip=tooltip)
    flags = frame.filter(pl.col("trend_flag").is_not_null())
    marks = alt.Chart(flags).mark_point(size=220, filled=False, strokeWidth=2.5).encode(
        x=x_enc, y=y_enc, tooltip=tooltip,
        color=alt.Color("trend_flag:N", title="Flag", scale=alt.Scale(domain=list(_FLAG_COLORS),
                                                                        range=list(_FLAG_COLORS.values()))),
        shape=alt.Shape("trend_flag:N", scale=alt.Scale(domain=list(_FLAG_COLORS), range=["triangle-down", "triangle-up"]),
                        legend=None))
    a = thresholds.adopt
    rule = _rule_layer("usage_rate", "y", [{"usage_rate": a, "rule": f"adopt threshold {_pct_text(a)}"}])
    subtitle = [f"Open triangles: a sudden drop or spike against the portfolio's changes on the same workload "
                f"({_plural(flags.height, 'flag')}). Solid line: adopt threshold {_pct_text(a)}.", excluded_note]
    if frame.get_column("processed_at").n_unique() < 2:
        subtitle.append("One snapshot only: no trend yet.")
    return alt.layer(lines, marks, rule).resolve_scale(color="independent").properties(
        title=_title(f"{name}: usage by product and workload over time", subtitle), width=460, height=260)


# ---------------------------------------------------------------------------
# 2. Distribution of one rate
# ---------------------------------------------------------------------------
_NICE_WIDTHS = tuple(m * 10.0 ** e for e in range(-2, 8) for m in (1, 2, 2.5, 5) if m * 10.0 ** e >= 0.05)


def _bin_width(top: float, max_bins: int) -> float:
    for width in _NICE_WIDTHS:
        needed = math.floor(top / width + 1e-9) + 1 if top > 1.0 else math.ceil(1.0 / width - 1e-9)
        if needed <= max_bins:
            return width
    return _NICE_WIDTHS[-1]  # pragma: no cover - rates of 10**9 % only


def rate_distribution(
    customers: Any,
    rate: str = "usage_rate",
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    max_bins: int = 50,
) -> alt.LayerChart:
    """Histogram of `rate` ('usage_rate' or 'deployment_rate') across customers, binned with polars.

    Bins are 5 % wide (wider when rates go far past 100 %, so there are never more than `max_bins`
    rows); 100 % exactly falls in the last bin below 100 %, bins above 100 % are coloured as data
    checks. Rules: the segment threshold of that rate (deploy or adopt) and upsell.
    """
    thresholds = _check_thresholds(thresholds)
    if rate not in ("usage_rate", "deployment_rate"):
        raise ParameterError(f"rate={rate!r} must be 'usage_rate' or 'deployment_rate'")
    if not isinstance(max_bins, int) or max_bins < 5:
        raise ParameterError(f"max_bins={max_bins!r} must be a whole number of at least 5")
    df = _frame(customers, "customers", ("customer_id", rate, "licenses_sold"))
    values = df.select(pl.col(rate).cast(pl.Float64).alias("rate"), pl.col("licenses_sold"))
    missing = values.filter(pl.col("rate").is_null()).height
    values = values.filter(pl.col("rate").is_not_null())

    top = values.get_column("rate").max() if values.height else None
    top = max(1.0, float(top)) if top is not None else 1.0
    width = _bin_width(top, max_bins)
    below_100 = round(1.0 / width) if width <= 1.0 else 1  # bins fully at or below 100 %
    idx = (pl.col("rate") / width + 1e-9).floor().cast(pl.Int64)
    if width <= 1.0:
        idx = pl.when(pl.col("rate") <= 1.0).then(pl.min_horizontal(idx, below_100 - 1)).otherwise(idx)
    binned = values.with_columns(idx.alias("bin")).group_by("bin").agg(
        pl.len().alias("customers"), pl.col("licenses_sold").sum().alias("licenses_sold")
    )
    n_bins = max(below_100, (binned.get_column("bin").max() or 0) + 1) if binned.height else below_100
    total = values.height
    bins = (
        pl.DataFrame({"bin": pl.int_range(0, n_bins, eager=True).cast(pl.Int64)})
        .join(binned, on="bin", how="left")
        .with_columns(
            pl.col("customers").fill_null(0).cast(pl.Int64),
            pl.col("licenses_sold").fill_null(0).cast(pl.Int64),
            (pl.col("bin") * width).round(6).alias("bin_start"),
            ((pl.col("bin") + 1) * width).round(6).alias("bin_end"),
        )
        .with_columns(
            (pl.col("customers") / total if total else pl.lit(0.0)).alias("share"),
            pl.when(pl.col("bin_start") >= 1.0).then(pl.lit(STATUS_ABOVE_100))
            .otherwise(pl.lit("up to 100%")).alias("range"),
            pl.format("{}–{}%", (pl.col("bin_start") * 100).round(1), (pl.col("bin_end") * 100).round(1))
            .str.replace_all(r"\.0([–%])", "$1").alias("bin_label"),
        )
        .drop("bin")
    )

    is_usage = rate == "usage_rate"
    what = "Usage" if is_usage else "Deployment"
    axis_title = USAGE_AXIS_TITLE if is_usage else DEPLOYMENT_AXIS_TITLE
    thr_name, thr = ("adopt", thresholds.adopt) if is_usage else ("deploy", thresholds.deploy)
    x_max = float(bins.get_column("bin_end").max())
    x_scale = alt.Scale(domain=[0, x_max], nice=False, zero=True)

    bars = alt.Chart(bins).mark_bar(stroke="white", strokeWidth=0.5).encode(
        x=alt.X("bin_start:Q", bin="binned", title=axis_title, scale=x_scale,
                axis=_pct_axis()),
        x2="bin_end:Q",
        y=alt.Y("customers:Q", title="Customers", axis=alt.Axis(format=",d", tickMinStep=1)),
        color=alt.Color("range:N", title=None,
                        scale=alt.Scale(domain=["up to 100%", STATUS_ABOVE_100],
                                        range=[NEUTRAL_COLOR, STATUS_COLORS[STATUS_ABOVE_100]]),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        tooltip=[
            alt.Tooltip("bin_label:N", title=what),
            alt.Tooltip("customers:Q", title="Customers", format=INT_TIP),
            alt.Tooltip("share:Q", title="Share of customers", format=PCT_TIP),
            alt.Tooltip("licenses_sold:Q", title="Licenses sold", format=INT_TIP),
        ],
    )
    rules = [
        _rule_layer("bin_start", "x", [{"bin_start": thr, "rule": f"{thr_name} threshold {_pct_text(thr)}"}]),
        _rule_layer("bin_start", "x", [{"bin_start": thresholds.upsell,
                                        "rule": f"upsell threshold {_pct_text(thresholds.upsell)}"}],
                    dash=(5, 3), color=SEGMENT_COLORS["upsell"]),
    ]
    subtitle = [
        f"{_plural(total, 'customer')} in bins of {_pct_text(width)}; 100% exactly counts in the bin below it.",
        f"Lines: {thr_name} threshold {_pct_text(thr)} (solid), upsell {_pct_text(thresholds.upsell)} (dashed).",
    ]
    if missing:
        reason = "nothing sold" if not is_usage else "no qualified users"
        subtitle.append(f"{_plural(missing, 'customer')} without a {what.lower()} rate ({reason}) not counted.")
    title = _title(f"{what} rate across customers", subtitle)
    return alt.layer(bars, *rules).properties(title=title, width=560, height=260)


# ---------------------------------------------------------------------------
# 3. Customer x workload heat map
# ---------------------------------------------------------------------------
def workload_heatmap(workloads: Any, customers: Any, *, top_n: int = 25) -> alt.LayerChart:
    """Usage rate per customer x workload for the `top_n` customers by licenses sold.

    A cell is active / qualified users summed over the customer's included products (rows with
    `excluded` true are left out). Cells show the % ; cells above 100 % are outlined in the data-check
    colour and carry a '!'; a grey 'n/a' cell has no qualified users. Ties in licenses sold are broken
    by customer name, then id.
    """
    if not isinstance(top_n, int) or isinstance(top_n, bool) or not 1 <= top_n <= 500:
        raise ParameterError(f"top_n={top_n!r} must be a whole number between 1 and 500")
    wl = _frame(workloads, "workloads",
                ("customer_id", "workload", "licenses_qualified", "licenses_active"))
    cu = _frame(customers, "customers", ("customer_id", "customer_name", "licenses_sold"))
    if "excluded" in wl.columns:
        wl = wl.filter(~pl.col("excluded").fill_null(False))

    top = cu.sort(["licenses_sold", "customer_name", "customer_id"],
                  descending=[True, False, False], nulls_last=True).head(top_n)
    labels = _unique_labels(top.get_column("customer_name").to_list(), top.get_column("customer_id").to_list())
    top = top.select("customer_id", "customer_name", "licenses_sold").with_columns(
        pl.Series("customer", labels, dtype=pl.String))

    flag = (pl.col("inflated").fill_null(False).any() if "inflated" in wl.columns else pl.lit(False))
    cells = (
        wl.join(top.select("customer_id"), on="customer_id", how="semi")
        .group_by("customer_id", "workload")
        .agg(
            pl.col("licenses_qualified").sum().alias("licenses_qualified"),
            pl.col("licenses_active").sum().alias("licenses_active"),
            flag.alias("row_inflated"),
            (pl.col("product_name").unique().sort().str.join(", ") if "product_name" in wl.columns
             else pl.lit("")).alias("products"),
        )
        .with_columns(
            pl.when(pl.col("licenses_qualified") > 0)
            .then(pl.col("licenses_active") / pl.col("licenses_qualified"))
            .otherwise(None).cast(pl.Float64).alias("usage_rate"),
        )
        .with_columns(
            ((pl.col("usage_rate") > 1).fill_null(False) | pl.col("row_inflated")).alias("inflated"),
        )
        .with_columns(
            pl.when(pl.col("usage_rate").is_null()).then(pl.lit("n/a"))
            .otherwise(pl.format("{}%", (pl.col("usage_rate") * 100).round(0).cast(pl.Int64)))
            .alias("label"),
        )
        .with_columns(
            pl.when(pl.col("inflated")).then(pl.col("label") + " !").otherwise(pl.col("label")).alias("label"),
            pl.when(pl.col("inflated")).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("above_100"),
            pl.when(pl.col("usage_rate").is_null()).then(pl.lit("na"))
            .when(pl.col("usage_rate") >= 0.6).then(pl.lit("dark")).otherwise(pl.lit("light")).alias("shade"),
        )
        .join(top, on="customer_id", how="left")
        .drop("row_inflated")
    )
    present = set(cells.get_column("workload").drop_nulls().to_list())
    workload_order = [w for w in WORKLOAD_ORDER if w in present] + sorted(present - set(WORKLOAD_ORDER))
    cells = cells.sort(
        pl.col("customer").replace_strict(labels, list(range(len(labels))), default=len(labels)),
        pl.col("workload").replace_strict(workload_order, list(range(len(workload_order))),
                                          default=len(workload_order)),
    )

    x_enc = alt.X("workload:N", title="Workload", sort=workload_order,
                  scale=alt.Scale(domain=workload_order),
                  axis=alt.Axis(orient="top", labelAngle=0, labelLimit=120))
    y_enc = alt.Y("customer:N", title=f"Customer (largest {_n(top.height)} by licenses sold)", sort=labels,
                  scale=alt.Scale(domain=labels), axis=alt.Axis(labelLimit=220))
    tooltip = [
        alt.Tooltip("customer_name:N", title="Customer"),
        alt.Tooltip("workload:N", title="Workload"),
        alt.Tooltip("usage_rate:Q", title="Usage", format=PCT_TIP),
        alt.Tooltip("licenses_active:Q", title="Active users", format=INT_TIP),
        alt.Tooltip("licenses_qualified:Q", title="Qualified users", format=INT_TIP),
        alt.Tooltip("above_100:N", title="Above 100% (check data)"),
        alt.Tooltip("products:N", title="Products"),
        alt.Tooltip("licenses_sold:Q", title="Customer licenses sold", format=INT_TIP),
    ]
    base = alt.Chart(cells)
    rated = base.transform_filter("datum.usage_rate != null").mark_rect(stroke="white", strokeWidth=1).encode(
        x=x_enc, y=y_enc, tooltip=tooltip,
        color=alt.Color("usage_rate:Q", title="Usage",
                        scale=alt.Scale(scheme=HEATMAP_SCHEME, domain=[0, 1], clamp=True),
                        legend=alt.Legend(format=PCT_AXIS, title="Usage (capped at 100%)")),
    )
    unrated = base.transform_filter("datum.usage_rate == null").mark_rect(
        color=NA_CELL_COLOR, stroke="white", strokeWidth=1).encode(x=x_enc, y=y_enc, tooltip=tooltip)
    outline = base.transform_filter("datum.inflated").mark_rect(
        fillOpacity=0, stroke=STATUS_COLORS[STATUS_ABOVE_100], strokeWidth=3).encode(
        x=x_enc, y=y_enc, tooltip=tooltip)
    text = base.mark_text(fontSize=10).encode(
        x=x_enc, y=y_enc, text="label:N", tooltip=tooltip,
        color=alt.Color("shade:N", legend=None,
                        scale=alt.Scale(domain=["dark", "light", "na"], range=["white", "black", "#555555"])),
    )
    subtitle = [
        "Each cell: active / qualified users, summed over the customer's included products.",
        "Outlined cells marked '!' are above 100% in total or in one of the products: check the data "
        "before acting. Grey 'n/a': no qualified users.",
    ]
    if cu.height > top.height:
        subtitle.insert(0, f"The {_n(top.height)} largest of {_plural(cu.height, 'customer')} by licenses sold.")
    empty = sorted(set(labels) - set(cells.get_column("customer").to_list()))
    if empty:
        subtitle.append(f"No usage rows: {', '.join(empty)}.")
    title = _title("Workload usage by customer", subtitle)
    return alt.layer(rated, unrated, outline, text).properties(
        title=title, width=alt.Step(90), height=alt.Step(22))


# ---------------------------------------------------------------------------
# 4. Customers per segment
# ---------------------------------------------------------------------------
def segment_counts(customers: Any) -> alt.Chart:
    """Bar chart of customers per segment in SEGMENT_ORDER (empty segments shown as 0), licenses in tooltip."""
    df = _frame(customers, "customers", ("customer_id", "segment", "licenses_sold"))
    _check_segments(df)
    idle = pl.col("licenses_idle").sum() if "licenses_idle" in df.columns else pl.lit(None, pl.Int64)
    counts = df.group_by("segment").agg(
        pl.len().alias("customers"),
        pl.col("licenses_sold").sum().alias("licenses_sold"),
        idle.alias("licenses_idle"),
    )
    total = df.height
    frame = (
        pl.DataFrame({"segment": list(SEGMENT_ORDER), "order": list(range(len(SEGMENT_ORDER)))})
        .join(counts, on="segment", how="left")
        .with_columns(pl.col("customers", "licenses_sold").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("customers") / total if total else pl.lit(0.0)).alias("share"))
        .sort("order").drop("order")
    )
    tooltip = [
        alt.Tooltip("segment:N", title="Segment"),
        alt.Tooltip("customers:Q", title="Customers", format=INT_TIP),
        alt.Tooltip("share:Q", title="Share of customers", format=PCT_TIP),
        alt.Tooltip("licenses_sold:Q", title="Licenses sold", format=INT_TIP),
    ]
    if "licenses_idle" in df.columns:
        tooltip.append(alt.Tooltip("licenses_idle:Q", title="Licenses idle", format=INT_TIP))
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("segment:N", title="Segment", sort=list(SEGMENT_ORDER),
                scale=alt.Scale(domain=list(SEGMENT_ORDER)), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("customers:Q", title="Customers", axis=alt.Axis(format=",d", tickMinStep=1)),
        color=_segment_color(legend=False),
        tooltip=tooltip,
    )
    text = alt.Chart(frame).mark_text(baseline="bottom", dy=-3, fontSize=11).encode(
        x=alt.X("segment:N", sort=list(SEGMENT_ORDER), scale=alt.Scale(domain=list(SEGMENT_ORDER))),
        y="customers:Q",
        text=alt.Text("customers:Q", format=",d"),
    )
    title = _title("Customers per segment", [f"{_plural(total, 'customer')}; the first matching rule wins, "
                                             f"from data_check to healthy."])
    return alt.layer(bars, text).properties(title=title, width=420, height=260)


# ---------------------------------------------------------------------------
# 5. One customer: per-product deployment and usage
# ---------------------------------------------------------------------------
def _status(rate: pl.Expr, threshold: float, below: str) -> pl.Expr:
    return (pl.when(rate.is_null()).then(pl.lit(None, pl.String))
            .when(rate > 1.0).then(pl.lit(STATUS_ABOVE_100))
            .when(rate < threshold).then(pl.lit(below))
            .otherwise(pl.lit(STATUS_OK)))


def _bar_label(rate: pl.Expr) -> pl.Expr:
    """'59.6%' (one decimal, so a bar just under a threshold does not read as the threshold), 'n/a' for null."""
    return (pl.when(rate.is_null()).then(pl.lit("n/a"))
            .otherwise(pl.format("{}%", (rate * 100).round(1)).str.replace(r"\.0%$", "%")))


def _drop_excluded(rows: pl.DataFrame, what: str) -> tuple[pl.DataFrame, str]:
    if "excluded" not in rows.columns:
        return rows, ""
    kept = rows.filter(~pl.col("excluded").fill_null(False))
    dropped = rows.height - kept.height
    note = f"{_plural(dropped, what)} excluded from the ratios not shown." if dropped else ""
    return kept, note


def product_bars(products: Any, customer_id: str, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> alt.HConcatChart:
    """One customer: deployment % and usage % per product, side by side, with threshold rules.

    Left panel: deployment (assigned / sold) with the deploy rule and the upsell rule (dashed); right
    panel: usage (active / qualified) with the adopt rule and the upsell rule. Bars are coloured by
    status (below threshold / at or above / above 100 %), products ordered by licenses sold.
    """
    thresholds = _check_thresholds(thresholds)
    df = _frame(products, "products", ("customer_id", "customer_name", "product_id", "product_name",
                                       "licenses_sold", "licenses_assigned", "licenses_qualified",
                                       "licenses_active", "deployment_rate", "usage_rate"))
    rows = _customer_rows(df, customer_id, "products")
    name = rows.get_column("customer_name").drop_nulls().first() or rows.get_column("customer_id")[0]
    rows, excluded_note = _drop_excluded(rows, "product")
    rows = rows.sort(["licenses_sold", "product_name", "product_id"], descending=[True, False, False],
                     nulls_last=True)
    labels = _unique_labels(rows.get_column("product_name").to_list(), rows.get_column("product_id").to_list())
    keep = ["product_name", "licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active",
            "deployment_rate", "usage_rate"] + [c for c in ("segment",) if c in rows.columns]
    base = rows.select(keep).with_columns(
        pl.Series("product", labels, dtype=pl.String),
        pl.col("deployment_rate", "usage_rate").cast(pl.Float64),
    )
    d, a, u = thresholds.deploy, thresholds.adopt, thresholds.upsell
    deploy = base.with_columns(
        pl.col("deployment_rate").alias("rate"),
        _status(pl.col("deployment_rate"), d, STATUS_BELOW_DEPLOY).alias("status"),
        _bar_label(pl.col("deployment_rate")).alias("label"),
    )
    usage = base.with_columns(
        pl.col("usage_rate").alias("rate"),
        _status(pl.col("usage_rate"), a, STATUS_BELOW_ADOPT).alias("status"),
        _bar_label(pl.col("usage_rate")).alias("label"),
    )
    x_max = max(_axis_max(base.get_column("deployment_rate")), _axis_max(base.get_column("usage_rate")))
    status_domain = [STATUS_BELOW_DEPLOY, STATUS_BELOW_ADOPT, STATUS_OK, STATUS_ABOVE_100]
    
    def panel(frame: pl.DataFrame, measure: str, num: tuple[str, str], den: tuple[str, str],
              threshold_name: str, threshold: float, show_y: bool) -> alt.LayerChart:
        x_enc = alt.X("rate:Q", title=f"{measure} (%)", scale=alt.Scale(domain=[0, x_max], nice=False),
                      axis=_pct_axis())
        y_enc = alt.Y("product:N", sort=labels, scale=alt.Scale(domain=labels),
                      title="Product" if show_y else None,
                      axis=alt.Axis(labelLimit=240) if show_y else alt.Axis(labels=False, ticks=False,
                                                                               domain=False))
        tooltip = [
            alt.Tooltip("product_name:N", title="Product"),
            alt.Tooltip("rate:Q", title=measure, format=PCT_TIP),
            alt.Tooltip(f"{num[0]}:Q", title=num[1], format=INT_TIP),
            alt.Tooltip(f"{den[0]}:Q", title=den[1], format=INT_TIP),
        ]
        if "segment" in frame.columns:
            tooltip.append(alt.Tooltip("segment:N", title="Product segment"))
        bars = alt.Chart(frame).mark_bar().encode(
            x=x_enc, y=y_enc, color=_status_color(status_domain), tooltip=tooltip)
        text = alt.Chart(frame).transform_calculate(
            rate="datum.rate == null ? 0 : datum.rate"  # 'n/a' labels sit at 0
        ).mark_text(align="left", dx=3, fontSize=10).encode(x=x_enc, y=y_enc, text="label:N", tooltip=tooltip)
        layers = [bars, text,
                  _rule_layer("rate", "x", [{"rate": threshold,
                                             "rule": f"{threshold_name} threshold {_pct_text(threshold)}"}]),
                  _rule_layer("rate", "x", [{"rate": u, "rule": f"upsell threshold {_pct_text(u)}"}],
                              dash=(5, 3), color=SEGMENT_COLORS["upsell"]),
                  _rule_layer("rate", "x", [{"rate": 1.0, "rule": "100%"}], dash=(2, 2),
                              color=HUNDRED_COLOR, size=1)]
        return alt.layer(*layers).properties(
            title=alt.Title(f"{measure}: {_pct_text(threshold)} {threshold_name} threshold", anchor="start",
                            fontSize=12),
            width=260, height=alt.Step(26))

    left = panel(deploy, "Deployment", ("licenses_assigned", "Licenses assigned"),
                 ("licenses_sold", "Licenses sold"), "deploy", d, True)
    right = panel(usage, "Usage", ("licenses_active", "Active users"),
                  ("licenses_qualified", "Qualified users"), "adopt", a, False)
    subtitle = [
        "Deployment = licenses assigned / sold; usage = active / qualified users. "
        f"Solid lines: thresholds; dashed: upsell {_pct_text(u)}; dotted: 100%.",
        excluded_note,
    ]
    if not rows.height:
        subtitle.append("No included products.")
    title = _title(f"{name}: deployment and usage by product", subtitle)
    return alt.hconcat(left, right, title=title, spacing=12).resolve_scale(color="shared")


# ---------------------------------------------------------------------------
# 6. One customer: per product x workload usage
# ---------------------------------------------------------------------------
def workload_usage_bars(workloads: Any, customer_id: str,
                        thresholds: Thresholds = DEFAULT_THRESHOLDS) -> alt.LayerChart:
    """One customer: usage % per product x workload with the adopt rule; bars above 100 % in the data-check colour."""
    thresholds = _check_thresholds(thresholds)
    df = _frame(workloads, "workloads", ("customer_id", "customer_name", "product_id", "product_name",
                                         "workload", "licenses_qualified", "licenses_active", "usage_rate"))
    rows = _customer_rows(df, customer_id, "workloads")
    name = rows.get_column("customer_name").drop_nulls().first() or rows.get_column("customer_id")[0]
    rows, excluded_note = _drop_excluded(rows, "workload row")
    a = thresholds.adopt
    present = set(rows.get_column("workload").drop_nulls().to_list())
    workload_order = [w for w in WORKLOAD_ORDER if w in present] + sorted(present - set(WORKLOAD_ORDER))
    rows = rows.sort(
        "product_name", "product_id",
        pl.col("workload").replace_strict(workload_order, list(range(len(workload_order))),
                                          default=len(workload_order)),
    )
    products = rows.select("product_id", "product_name").unique(maintain_order=True)
    product_labels = dict(zip(products.get_column("product_id").to_list(),
                              _unique_labels(products.get_column("product_name").to_list(),
                                             products.get_column("product_id").to_list())))
    keep = ["product_name", "workload", "licenses_qualified", "licenses_active", "usage_rate"] + [
        c for c in ("licenses_inactive", "inflated", "inflation_causes") if c in rows.columns]
    frame = rows.select(keep).with_columns(
        pl.col("usage_rate").cast(pl.Float64),
        pl.Series("product", [product_labels[i] for i in rows.get_column("product_id").to_list()],
                  dtype=pl.String),
    ).with_columns(
        pl.concat_str(pl.col("product"), pl.lit(" · "), pl.col("workload").fill_null("?")).alias("bar"),
        _status(pl.col("usage_rate"), a, STATUS_BELOW_ADOPT).alias("status"),
        _bar_label(pl.col("usage_rate")).alias("label"),
    )
    if "inflated" in frame.columns:  # the metrics' own flag wins
        frame = frame.with_columns(
            pl.when(pl.col("inflated").fill_null(False)).then(pl.lit(STATUS_ABOVE_100))
            .otherwise(pl.col("status")).alias("status"))
    bars_order = frame.get_column("bar").to_list()
    x_max = _axis_max(frame.get_column("usage_rate"))
    x_scale = alt.Scale(domain=[0, x_max], nice=False)
    x_enc = alt.X("usage_rate:Q", title=USAGE_AXIS_TITLE, scale=x_scale, axis=_pct_axis())
    y_enc = alt.Y("bar:N", title="Product · workload", sort=bars_order, scale=alt.Scale(domain=bars_order),
                  axis=alt.Axis(labelLimit=320))
    tooltip = [
        alt.Tooltip("product_name:N", title="Product"),
        alt.Tooltip("workload:N", title="Workload"),
        alt.Tooltip("usage_rate:Q", title="Usage", format=PCT_TIP),
        alt.Tooltip("licenses_active:Q", title="Active users", format=INT_TIP),
        alt.Tooltip("licenses_qualified:Q", title="Qualified users", format=INT_TIP),
    ]
    if "inflation_causes" in frame.columns:
        tooltip.append(alt.Tooltip("inflation_causes:N", title="Why above 100%"))
    bars = alt.Chart(frame).mark_bar().encode(
        x=x_enc, y=y_enc, tooltip=tooltip,
        color=_status_color([STATUS_BELOW_ADOPT, STATUS_OK, STATUS_ABOVE_100]),
    )
    text = alt.Chart(frame).transform_calculate(
        usage_rate="datum.usage_rate == null ? 0 : datum.usage_rate"
    ).mark_text(align="left", dx=3, fontSize=10).encode(
        x=alt.X("usage_rate:Q", scale=x_scale), y=y_enc, text="label:N", tooltip=tooltip)
    rules = [
        _rule_layer("usage_rate", "x", [{"usage_rate": a, "rule": f"adopt threshold {_pct_text(a)}"}]),
        _rule_layer("usage_rate", "x", [{"usage_rate": 1.0, "rule": "100%"}], dash=(2, 2),
                    color=HUNDRED_COLOR, size=1),
    ]
    subtitle = [f"Usage = active / qualified users. Solid line: adopt threshold {_pct_text(a)}; dotted: 100%.",
                excluded_note]
    if not frame.height:
        subtitle.append("No usage rows.")
    title = _title(f"{name}: usage by product and workload", subtitle)
    return alt.layer(bars, text, *rules).properties(title=title, width=420, height=alt.Step(22))


# ---------------------------------------------------------------------------
# Offline rendering: SVG (for nbconvert HTML) + PNG (for untrusted notebooks in JupyterLab)
# ---------------------------------------------------------------------------
RENDERER_NAME = "adoption_kit_offline"


def _vl_version() -> str:
    """vl-convert's name for altair's Vega-Lite version: 'v6.4.1' -> 'v6_4'."""
    return "_".join(alt.SCHEMA_VERSION.split(".")[:2])


def _png_size(png: bytes) -> tuple[int, int]:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("vl-convert did not return a PNG")
    return struct.unpack(">II", png[16:24])


def _plain_title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return str(title) if title else "chart"


def offline_renderer(spec: dict, *, png_scale: float = 2.0, **_: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """altair renderer: the chart as SVG and PNG (vl-convert, no network), same spec -> same bytes.

    nbconvert's HTML export prefers the SVG (vector, searchable); JupyterLab shows the PNG because it
    will not display SVG from an untrusted notebook (every papermill output is untrusted).

    The PNG is rasterised from the SVG (`svg_to_png`): the same bytes as `vegalite_to_png`, which would
    run the chart through Vega-Lite and Vega a second time, at a third of the cost or less.
    """
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec, vl_version=_vl_version())
    png = vlc.svg_to_png(svg, scale=png_scale, ppi=72)
    width, height = _png_size(png)
    bundle = {
        "image/svg+xml": svg,
        "image/png": png,
        "text/plain": f"<chart: {_plain_title(spec)}>",
    }
    metadata = {"image/png": {"width": round(width / png_scale), "height": round(height / png_scale)}}
    return bundle, metadata


def configure_offline_rendering(*, png_scale: float = 2.0) -> str:
    """Make altair charts render offline as SVG + PNG in notebooks; returns the renderer name.

    Also puts the data transformer back to 'default' (inline data; the json/csv transformers write
    side files and leave charts empty in exported HTML) with altair's 5,000-row limit kept on: the
    chart builders here never pass more rows than that.
    """
    if not png_scale > 0:
        raise ParameterError(f"png_scale={png_scale!r} must be positive")
    alt.renderers.register(RENDERER_NAME, offline_renderer)
    alt.renderers.enable(RENDERER_NAME, png_scale=png_scale)
    alt.data_transformers.enable("default")  # also restores max_rows=5000 if someone disabled it
    return RENDERER_NAME
