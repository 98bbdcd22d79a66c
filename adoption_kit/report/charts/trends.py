"""The book over time: the portfolio trend and one customer's trend."""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import altair as alt
import polars as pl

from adoption_kit.config import DEFAULT_THRESHOLDS, Thresholds
from adoption_kit.report.charts.common import (
    INT_TIP,
    PCT_TIP,
    SEGMENT_COLORS,
    _axis_max,
    _check_thresholds,
    _customer_rows,
    _display_name,
    _drop_excluded,
    _frame,
    _layer,
    _pct_axis,
    _pct_text,
    _plural,
    _rule_layer,
    _title,
    _unique_labels,
)
from adoption_kit.report.charts.interactive import hover, hover_stroke

_FLAG_COLORS: Mapping[str, str] = MappingProxyType({"drop": SEGMENT_COLORS["deploy"],
                                                    "spike": SEGMENT_COLORS["upsell"]})


def portfolio_trend(history_portfolio: Any, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> alt.LayerChart:
    """Portfolio deployment and usage (sum over sum) at each snapshot, with the deploy and adopt thresholds."""
    thresholds = _check_thresholds(thresholds)
    df = _frame(history_portfolio, "history_portfolio", ("processed_at", "deployment_rate", "usage_rate", "customers"))
    names = {"deployment_rate": "Deployment (assigned / sold)", "usage_rate": "Usage (active / qualified)"}
    long = (df.select("processed_at", "customers", *names)
            .unpivot(index=["processed_at", "customers"], variable_name="measure", value_name="rate")
            .with_columns(pl.col("measure").replace_strict(names), pl.col("rate").cast(pl.Float64))
            .sort("measure", "processed_at"))
    x_enc = alt.X("processed_at:T", title="Export date (UTC)",
                  axis=alt.Axis(format="%Y-%m-%d", labelAngle=0, tickCount=max(df.height, 1)))
    y_max = max(1.0, _axis_max(long.get_column("rate")))
    y_enc = alt.Y("rate:Q", title="Rate", scale=alt.Scale(domain=[0, y_max], nice=False), axis=_pct_axis())
    color = alt.Color("measure:N", title="Measure",
                      scale=alt.Scale(domain=list(names.values()),
                                      range=[SEGMENT_COLORS["deploy"], SEGMENT_COLORS["upsell"]]),
                      legend=alt.Legend(orient="bottom"))
    tooltip = [alt.Tooltip("processed_at:T", title="Snapshot", format="%Y-%m-%d"),
               alt.Tooltip("measure:N", title="Measure"), alt.Tooltip("rate:Q", title="Rate", format=PCT_TIP),
               alt.Tooltip("customers:Q", title="Customers", format=INT_TIP)]
    pointed = hover("hover_measure", "measure")      # live charts: the line under the pointer thickens
    lines = alt.Chart(long).mark_line(point=True).add_params(pointed).encode(
        x=x_enc, y=y_enc, color=color, tooltip=tooltip, strokeWidth=hover_stroke(pointed, 2, 4))
    d, a = thresholds.deploy, thresholds.adopt
    rules = [_rule_layer("rate", "y", [{"rate": d, "rule": f"deploy threshold {_pct_text(d)}"}], dash=(4, 3),
                         color=SEGMENT_COLORS["deploy"], size=1),
             _rule_layer("rate", "y", [{"rate": a, "rule": f"adopt threshold {_pct_text(a)}"}], dash=(4, 3),
                         color=SEGMENT_COLORS["adopt"], size=1)]
    subtitle = [f"{_plural(df.height, 'snapshot')}; each point sums the customers present in that export. "
                f"Dashed: deploy {_pct_text(d)} and adopt {_pct_text(a)} thresholds."]
    if df.height < 2:
        subtitle.append("One snapshot only: add older exports (other processedDateTime values) for a trend.")
    title = _title("Portfolio deployment and usage over time", subtitle, width=520)
    return _layer(lines, *rules).properties(title=title, width=520, height=240)


TREND_TOP_N = 7          # lines drawn one by one; the rest become one grey "Other" line
# Okabe-Ito without the sky blue and grey of the kit's other meanings: 7 colours told apart by colour-blind readers
TREND_COLORS: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
OTHERS_COLOR = "#999999"


def customer_trend(history_workloads: Any, customer_id: str,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS, top_n: int = TREND_TOP_N) -> alt.LayerChart:
    """One customer: usage per product x workload at each snapshot; flagged drops and spikes marked.

    More than `top_n` + 1 lines: the `top_n` with the most qualified users are drawn, the others summed into
    one grey line (so that no two lines share a colour)."""
    thresholds = _check_thresholds(thresholds)
    df = _frame(history_workloads, "history_workloads", ("customer_id", "customer_name", "product_id", "product_name",
                                                         "workload", "processed_at", "usage_rate", "trend_flag"))
    rows = _customer_rows(df, customer_id, "history_workloads")
    name = _display_name(rows)
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
    frame, others = _top_series(frame, top_n)
    series = frame.get_column("series").unique(maintain_order=True).to_list()
    if others:   # the grey line last, so the named lines keep their colours
        series = [s for s in series if s != others] + [others]
    palette = [TREND_COLORS[i % len(TREND_COLORS)] for i in range(len(series) - (1 if others else 0))]
    palette += [OTHERS_COLOR] if others else []
    x_enc = alt.X("processed_at:T", title="Export date (UTC)",
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
    pointed = hover("hover_series", "series")        # live charts: the line under the pointer thickens
    lines = alt.Chart(frame).mark_line(point=True).add_params(pointed).encode(
        strokeWidth=hover_stroke(pointed, 1.5, 4),
        x=x_enc, y=y_enc, color=alt.Color("series:N", title="Product · workload", sort=series,
                                          scale=alt.Scale(domain=series, range=palette),
                                          legend=alt.Legend(orient="bottom", direction="vertical", columns=1,
                                                            labelLimit=0)),
        tooltip=tooltip)
    flags = frame.filter(pl.col("trend_flag").is_not_null())
    marks = alt.Chart(flags).mark_point(size=220, filled=False, strokeWidth=2.5).encode(
        x=x_enc, y=y_enc, tooltip=tooltip,
        color=alt.Color("trend_flag:N", title="Flag", scale=alt.Scale(domain=list(_FLAG_COLORS),
                                                                        range=list(_FLAG_COLORS.values()))),
        shape=alt.Shape("trend_flag:N",
                        scale=alt.Scale(domain=list(_FLAG_COLORS), range=["triangle-down", "triangle-up"]),
                        legend=None))
    a = thresholds.adopt
    rule = _rule_layer("usage_rate", "y", [{"usage_rate": a, "rule": f"adopt threshold {_pct_text(a)}"}])
    subtitle = [f"Open triangles: a sudden drop or spike against the portfolio's changes on the same workload "
                f"({_plural(flags.height, 'flag')}). Solid line: adopt threshold {_pct_text(a)}.", excluded_note]
    if others:
        subtitle.append(f"The {top_n} product · workload lines with a flag or the most qualified users are drawn; "
                        f"grey: the {others.split()[1]} others together (active / qualified summed).")
    if frame.get_column("processed_at").n_unique() < 2:
        subtitle.append("One snapshot only: no trend yet.")
    return _layer(lines, marks, rule).resolve_scale(color="independent").properties(
        title=_title(f"{name}: usage by product and workload over time", subtitle, width=460), width=460, height=260)


def _top_series(frame: pl.DataFrame, top_n: int) -> tuple[pl.DataFrame, str | None]:
    """The `top_n` series with the most qualified users at their newest snapshot, the rest summed into one
    'other' series (active / qualified over its rows at each snapshot); (frame, None) when nothing is folded."""
    names = frame.get_column("series").unique(maintain_order=True).to_list()
    if len(names) <= top_n + 1 or "licenses_qualified" not in frame.columns or "licenses_active" not in frame.columns:
        return frame, None
    # a flagged line (a sudden drop or spike) is always drawn, then the largest by qualified users
    size = (frame.sort("processed_at").group_by("series", maintain_order=True)
            .agg(pl.col("trend_flag").is_not_null().any().alias("flagged"),
                 pl.col("licenses_qualified").drop_nulls().last().alias("seats"))
            .sort(["flagged", "seats", "series"], descending=[True, True, False], nulls_last=True))
    kept = size.head(top_n).get_column("series").to_list()
    label = f"Other {len(names) - len(kept)} lines"
    rest = (frame.filter(~pl.col("series").is_in(kept)).group_by("processed_at")
            .agg(pl.col("licenses_active").sum(), pl.col("licenses_qualified").sum())
            .with_columns(
                pl.when(pl.col("licenses_qualified") > 0)
                .then(pl.col("licenses_active") / pl.col("licenses_qualified")).otherwise(None)
                .cast(pl.Float64).alias("usage_rate"),
                pl.lit(None, pl.String).alias("trend_flag"), pl.lit(label).alias("series"),
                pl.lit("(several)").alias("workload"))
            .sort("processed_at"))
    if "usage_change" in frame.columns:
        rest = rest.with_columns(pl.col("usage_rate").diff().alias("usage_change"))
    if "robust_z" in frame.columns:
        rest = rest.with_columns(pl.lit(None, pl.Float64).alias("robust_z"))
    rest = rest.select(frame.columns).cast(dict(frame.schema))   # type: ignore[arg-type]
    return pl.concat([frame.filter(pl.col("series").is_in(kept)), rest]), label
