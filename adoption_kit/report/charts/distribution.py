"""The distribution of one rate across customers."""
from __future__ import annotations

import math
from typing import Any

import altair as alt
import polars as pl

from adoption_kit.config import DEFAULT_THRESHOLDS, Thresholds
from adoption_kit.errors import ParameterError
from adoption_kit.report.charts.common import (
    DEPLOYMENT_AXIS_TITLE,
    INT_TIP,
    NEUTRAL_COLOR,
    PCT_TIP,
    SEGMENT_COLORS,
    STATUS_ABOVE_100,
    STATUS_COLORS,
    USAGE_AXIS_TITLE,
    _check_thresholds,
    _frame,
    _layer,
    _pct_axis,
    _pct_text,
    _plural,
    _rule_layer,
    _title,
)
from adoption_kit.values import max_float, max_int

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

    rate_max = max_float(values.get_column("rate")) if values.height else None
    top = max(1.0, float(rate_max)) if rate_max is not None else 1.0
    width = _bin_width(top, max_bins)
    below_100 = round(1.0 / width) if width <= 1.0 else 1  # bins fully at or below 100 %
    idx = (pl.col("rate") / width + 1e-9).floor().cast(pl.Int64)
    if width <= 1.0:
        idx = pl.when(pl.col("rate") <= 1.0).then(pl.min_horizontal(idx, below_100 - 1)).otherwise(idx)
    binned = values.with_columns(idx.alias("bin")).group_by("bin").agg(
        pl.len().alias("customers"), pl.col("licenses_sold").sum().alias("licenses_sold")
    )
    n_bins = max(below_100, (max_int(binned.get_column("bin")) or 0) + 1) if binned.height else below_100
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
    bin_end = max_float(bins.get_column("bin_end"))
    assert bin_end is not None   # n_bins >= below_100 >= 1: there is always a bin
    x_max = float(bin_end)
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
    title = _title(f"{what} rate across customers", subtitle, width=560)
    return _layer(bars, *rules).properties(title=title, width=560, height=260)
