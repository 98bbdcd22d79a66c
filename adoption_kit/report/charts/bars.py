"""Bar charts: customers per segment, one customer's per-product deployment and usage, and its per-workload usage."""
from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from adoption_kit.config import DEFAULT_THRESHOLDS, Thresholds
from adoption_kit.report.charts.common import (
    HUNDRED_COLOR,
    INT_TIP,
    PCT_TIP,
    SEGMENT_COLORS,
    SEGMENT_ORDER,
    STATUS_ABOVE_100,
    STATUS_BELOW_ADOPT,
    STATUS_BELOW_DEPLOY,
    STATUS_OK,
    USAGE_AXIS_TITLE,
    WORKLOAD_ORDER,
    _axis_max,
    _check_segments,
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
    _segment_color,
    _status_color,
    _title,
    _unique_labels,
)


# ---------------------------------------------------------------------------
# 4. Customers per segment
# ---------------------------------------------------------------------------
def segment_counts(customers: Any) -> alt.LayerChart:
    """Bar chart of customers per segment in SEGMENT_ORDER (empty segments shown as 0), licenses in tooltip."""
    df = _frame(customers, "customers", ("customer_id", "segment", "licenses_sold"))
    _check_segments(df)
    idle = pl.col("licenses_idle").sum() if "licenses_idle" in df.columns else pl.lit(None, pl.Int64)
    counts = df.group_by("segment").agg(
        pl.len().alias("customers"),
        # unknown (null) when no customer of the segment has a deployment row: never shown as 0 sold
        pl.when(pl.col("licenses_sold").is_not_null().any()).then(pl.col("licenses_sold").sum()).alias("licenses_sold"),
        idle.alias("licenses_idle"),
    )
    total = df.height
    frame = (
        pl.DataFrame({"segment": list(SEGMENT_ORDER), "order": list(range(len(SEGMENT_ORDER)))})
        .join(counts, on="segment", how="left")
        .with_columns(pl.when(pl.col("customers").is_null()).then(0).otherwise(pl.col("licenses_sold"))
                      .cast(pl.Int64).alias("licenses_sold"))
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64))
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
                                             f"from data_check to healthy."], width=420)
    return _layer(bars, text).properties(title=title, width=420, height=260)


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
    name = _display_name(rows)
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
                      title=None,      # the chart's title says "by product"; an axis title would crowd the labels
                      axis=alt.Axis(labelLimit=0) if show_y else alt.Axis(labels=False, ticks=False,
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
        return _layer(*layers).properties(
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
    title = _title(f"{name}: deployment and usage by product", subtitle, width=2 * 260 + 12)
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
    name = _display_name(rows)
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
    y_enc = alt.Y("bar:N", title=None, sort=bars_order, scale=alt.Scale(domain=bars_order),
                  axis=alt.Axis(labelLimit=0))   # a product name is shown whole
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
    title = _title(f"{name}: usage by product and workload", subtitle, width=420)
    return _layer(bars, text, *rules).properties(title=title, width=420, height=alt.Step(22))
