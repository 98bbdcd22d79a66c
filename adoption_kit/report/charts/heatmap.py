"""The customer x workload usage heat map."""
from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from adoption_kit.report.charts.common import (
    HEATMAP_SCHEME,
    INT_TIP,
    NA_CELL_COLOR,
    PCT_AXIS,
    PCT_TIP,
    STATUS_ABOVE_100,
    STATUS_COLORS,
    WORKLOAD_ORDER,
    _frame,
    _layer,
    _n,
    _plural,
    _title,
    _unique_labels,
)
from adoption_kit.values import check_whole_number


def workload_heatmap(workloads: Any, customers: Any, *, top_n: int = 25) -> alt.LayerChart:
    """Usage rate per customer x workload for the `top_n` customers by licenses sold.

    A cell is active / qualified users summed over the customer's included products (rows with
    `excluded` true are left out). Cells show the % ; cells above 100 % are outlined in the data-check
    colour and carry a '!'; a grey 'n/a' cell has no qualified users. Ties in licenses sold are broken
    by customer name, then id.
    """
    check_whole_number("top_n", top_n, minimum=1, maximum=500)
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
    # no axis title (the chart's title and subtitle say what the rows are) and no label limit: a name is shown whole
    y_enc = alt.Y("customer:N", title=None, sort=labels, scale=alt.Scale(domain=labels), axis=alt.Axis(labelLimit=0))
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
        subtitle.insert(0, f"One row per customer: the {_n(top.height)} largest of {_plural(cu.height, 'customer')} "
                           f"by licenses sold.")
    else:
        subtitle.insert(0, f"One row per customer ({_plural(cu.height, 'customer')}), largest by licenses sold first.")
    empty = sorted(set(labels) - set(cells.get_column("customer").to_list()))
    if empty:
        subtitle.append(f"No usage rows: {', '.join(empty)}.")
    title = _title("Workload usage by customer", subtitle, width=90 * len(workload_order))
    return _layer(rated, unrated, outline, text).properties(
        title=title, width=alt.Step(90), height=alt.Step(22))
