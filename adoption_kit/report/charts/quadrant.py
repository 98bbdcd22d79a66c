"""The deployment x usage quadrant (subsampled, or shaded by density, for big portfolios) and its movement arrows."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import altair as alt
import polars as pl

from adoption_kit.config import DEFAULT_THRESHOLDS, Thresholds
from adoption_kit.errors import ParameterError
from adoption_kit.report.charts.common import (
    ALTAIR_MAX_ROWS,
    ARIA_MAX_POINTS,
    DEPLOYMENT_AXIS_TITLE,
    FLAGGED_SEGMENTS,
    HEATMAP_SCHEME,
    HUNDRED_COLOR,
    INT_TIP,
    PCT_TIP,
    RULE_COLOR,
    SEGMENT_COLORS,
    USAGE_AXIS_TITLE,
    _axis_max,
    _check_segments,
    _check_thresholds,
    _customer_rows,
    _frame,
    _layer,
    _n,
    _normalise_id,
    _pct_axis,
    _pct_text,
    _plural,
    _rule_layer,
    _segment_color,
    _title,
)
from adoption_kit.report.charts.interactive import hover, hover_opacity, hover_stroke
from adoption_kit.values import check_whole_number, is_whole_number, min_datetime

_QUADRANT_COLUMNS = ("customer_id", "customer_name", "deployment_rate", "usage_rate", "licenses_sold",
                     "licenses_assigned", "licenses_qualified", "licenses_active", "segment")


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
    check_whole_number("max_points", max_points, minimum=1)
    if not 0 <= largest_share <= 1:
        raise ParameterError(f"largest_share={largest_share!r} must be between 0 and 1")
    order: dict[str, Any] = dict(by=[size, "customer_id"], descending=[True, False], nulls_last=True)
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


def adoption_quadrant(
    customers: Any,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    max_points: int = 4000,
    highlight: str | None = None,
    movement: Any = None,
    max_moves: int = 30,
    crowded: str = "subsample",
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
    `crowded`: what a book of more than `max_points` placed customers is drawn as: "subsample" (the points of
    `select_for_display`) or "density" (every customer counted in a grid of DENSITY_CELLS x DENSITY_CELLS cells,
    shaded by how many fall in each, with the highlighted customer ringed on top: the same picture of the whole
    book at any size, a few kB, and no other customer named; what a customer report of a large book draws).
    """
    if crowded not in ("subsample", "density"):
        raise ParameterError(f"crowded={crowded!r} must be 'subsample' or 'density'")
    thresholds = _check_thresholds(thresholds)
    if not is_whole_number(max_points) or not 1 <= max_points <= ALTAIR_MAX_ROWS:
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
    density = crowded == "density" and plottable.height > max_points
    if density:   # every placed customer is counted; only the highlighted one is drawn as a point
        shown = plottable.filter(pl.col("customer_id") == highlight_id) if highlight_id else plottable.clear()
        note = ""
        subtitle.append(f"Shaded: how many of the {_n(plottable.height)} placed customers fall in each cell "
                        f"(darker: more); hover a cell for its count.")
    else:
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

    axes_from = plottable if density else shown
    x_max = _axis_max(axes_from.get_column("deployment_rate"))
    y_max = _axis_max(axes_from.get_column("usage_rate"))
    d, a, u = thresholds.deploy, thresholds.adopt, thresholds.upsell
    subtitle.append(
        f"Lines: deploy threshold {_pct_text(d)} (vertical), adopt threshold {_pct_text(a)} "
        f"(horizontal); {'dashed box' if density else 'shaded corner'}: upsell, both at or above {_pct_text(u)}; "
        f"dotted: 100%."
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
        }])).mark_rect(color=SEGMENT_COLORS["upsell"], fillOpacity=0.0 if density else 0.12,   # outlined on cells
                       stroke=SEGMENT_COLORS["upsell"], strokeDash=[4, 3], strokeOpacity=1.0 if density else 0.6,
                       strokeWidth=2 if density else 1).encode(
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
    # Hover (live HTML/Lab charts): the point under the pointer turns opaque with a dark ring.
    pointed = hover("hover_customer", "customer_id")
    points = alt.Chart(shown).mark_circle(
        aria=shown.height <= ARIA_MAX_POINTS,
    ).add_params(pointed).encode(
        opacity=hover_opacity(pointed, 0.35 if highlight_id else (0.55 if dense else 0.7)),
        stroke=alt.condition(pointed, alt.value("black"), alt.value("white")),
        strokeWidth=hover_stroke(pointed, 0.4, 2.0),
        x=x_enc,
        y=y_enc,
        size=alt.Size("licenses_sold:Q", title="Licenses sold",
                      scale=alt.Scale(type="sqrt", range=[8, max_size]),
                      legend=alt.Legend(title="Licenses sold", format=",d")),
        color=_segment_color(),
        tooltip=tooltip,
    )
    if density:   # the corner over the cells (it would be hidden beneath them)
        layers = [_density_layer(plottable, x_max, y_max, x_enc, y_enc), *layers]
    else:
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
            since = min_datetime(moves.get_column("previous_processed_at"))
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

    title = _title(f"Deployment vs usage: {_plural(df.height, 'customer')}", subtitle, width=560)
    return _layer(*layers).properties(title=title, width=560, height=420)


_QUADRANT_WIDTH, _QUADRANT_HEIGHT = 560, 420
MAX_MOVES = 200
DENSITY_MAX_CELLS = 20   # per axis: cells of 10 points (20, 30, ... when an axis runs past 200%)


def density_step(axis_max: float) -> float:
    """The cell size on an axis from 0 to `axis_max`: 10 points, or a multiple of it that keeps at most
    DENSITY_MAX_CELLS cells, so the cells line up with the 10-point grid (and the thresholds on it)."""
    return 0.1 * max(1, math.ceil(axis_max / (0.1 * DENSITY_MAX_CELLS) - 1e-9))


def density_cells(customers: Any, x_max: float, y_max: float) -> pl.DataFrame:
    """The placed customers (deployment_rate, usage_rate) counted per cell of the grid of `density_step` cells
    over [0, x_max] x [0, y_max]; one row per non-empty cell (its edges and `customers`); pure. A rate at or
    beyond an axis' end counts in its last cell."""
    df = _frame(customers, "customers", ("deployment_rate", "usage_rate"))
    width, height = density_step(x_max), density_step(y_max)
    last_column, last_row = max(0, math.ceil(x_max / width - 1e-9) - 1), max(0, math.ceil(y_max / height - 1e-9) - 1)
    # a rate a hair under a cell edge (0.3 = 0.29999...) belongs to the cell starting there, as a reader expects
    column = ((pl.col("deployment_rate") / width + 1e-9).floor().clip(0, last_column)).cast(pl.Int32)
    row = ((pl.col("usage_rate") / height + 1e-9).floor().clip(0, last_row)).cast(pl.Int32)
    return (df.filter(pl.col("deployment_rate").is_not_null() & pl.col("usage_rate").is_not_null())
            .group_by(column.alias("_c"), row.alias("_r")).agg(pl.len().cast(pl.Int64).alias("customers"))
            .sort("_c", "_r")
            .select((pl.col("_c") * width).alias("deployment_rate"),
                    ((pl.col("_c") + 1) * width).alias("deployment_rate_end"),
                    (pl.col("_r") * height).alias("usage_rate"),
                    ((pl.col("_r") + 1) * height).alias("usage_rate_end"), "customers"))


def _density_layer(placed: pl.DataFrame, x_max: float, y_max: float, x_enc: alt.X, y_enc: alt.Y) -> alt.Chart:
    cells = density_cells(placed, x_max, y_max)
    return alt.Chart(cells).mark_rect(opacity=0.85).encode(
        x=x_enc, x2="deployment_rate_end:Q", y=y_enc, y2="usage_rate_end:Q",
        color=alt.Color("customers:Q", title="Customers", scale=alt.Scale(scheme=HEATMAP_SCHEME, type="sqrt"),
                        legend=alt.Legend(format=",d")),
        tooltip=[alt.Tooltip("customers:Q", title="Customers", format=INT_TIP),
                 alt.Tooltip("deployment_rate:Q", title="Deployment from", format=PCT_TIP),
                 alt.Tooltip("deployment_rate_end:Q", title="Deployment to", format=PCT_TIP),
                 alt.Tooltip("usage_rate:Q", title="Usage from", format=PCT_TIP),
                 alt.Tooltip("usage_rate_end:Q", title="Usage to", format=PCT_TIP)],
    )


def select_moves(movement: Any, shown: Any, *, max_moves: int = 30) -> pl.DataFrame:
    """The customers whose move the quadrant draws; pure (no chart).

    Among `shown` (customer_id, deployment_rate, usage_rate: the points drawn) joined with `movement`'s
    previous rates: customers with both positions that moved at all; those that changed segment first,
    then by the distance moved (in rate units) descending, then customer_id; at most `max_moves` (1 to
    MAX_MOVES, keeping the chart's data small).
    """
    check_whole_number("max_moves", max_moves, minimum=1, maximum=MAX_MOVES)
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
    tooltip = [alt.Tooltip(c, title=t, format=PCT_TIP if c.endswith("_rate:Q") else alt.Undefined) for c, t in (
        ("customer_name:N", "Customer"), ("previous_segment:N", "Segment before"), ("segment:N", "Segment now"),
        ("previous_deployment_rate:Q", "Deployment before"), ("deployment_rate:Q", "Deployment now"),
        ("previous_usage_rate:Q", "Usage before"), ("usage_rate:Q", "Usage now"))
        if c.split(":")[0] in frame.columns]
    previous = dict(x=alt.X("previous_deployment_rate:Q", scale=x_scale),
                    y=alt.Y("previous_usage_rate:Q", scale=y_scale))
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
