"""The wide customer table: one row per customer with the figures the report index shows for it, as a polars frame.

Built from the same function as each customer report's headline (customer.customer_figures), so the table and
the index's Customers table hold the same values (tests/test_report_customer_table.py checks it).
"""
from __future__ import annotations

from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis, customer_view
from adoption_kit.report.customer import customer_figures
from adoption_kit.report.headline import _common_figures

# The columns, in order, with their polars types (every column may be null where the figure is unknown).
CUSTOMER_TABLE_COLUMNS: dict[str, Any] = {
    "customer_id": pl.String, "customer_name": pl.String, "segment": pl.String, "products": pl.Int64,
    "licenses_sold": pl.Int64, "licenses_assigned": pl.Int64, "licenses_active": pl.Int64,
    "licenses_idle": pl.Int64, "deployment_rate": pl.Float64, "usage_rate": pl.Float64,
    "deployment_percentile": pl.Float64, "usage_percentile": pl.Float64, "low_adoption_rank": pl.Int64,
    "inflated": pl.Boolean, "usage_basis": pl.String, "usage_rate_exact": pl.Float64,
    "licensed_users_exact": pl.Int64, "active_users_exact": pl.Int64, "concealed_names": pl.Boolean,
    "segment_before": pl.String, "usage_change_points": pl.Float64, "trend_flags": pl.Int64,
    "days_to_renewal": pl.Int64, "renewal_queue_rank": pl.Int64, "own_share": pl.Float64,
    "idle_cost_per_month": pl.Float64, "support_heavy": pl.Boolean,
}


def customer_table(analysis: Analysis) -> pl.DataFrame:
    """One row per customer (sorted by name, then id), the index's Customers table unformatted:

    customer_id, customer_name, segment (data_check/deploy/adopt/upsell/healthy); products (product lines);
    licenses_sold, licenses_assigned, licenses_active (Partner Center's active users, a lower bound),
    licenses_idle (sold - active); deployment_rate (assigned / sold), usage_rate (active / qualified), as
    fractions (0.8 = 80 %); deployment_percentile, usage_percentile (share of customers, 0-100, with a lower
    rate); low_adoption_rank (position in the low-adoption list, null if not listed); inflated (a rate above
    100 %: check the data); usage_basis (exact from user activity, or the lower bound), usage_rate_exact,
    licensed_users_exact, active_users_exact, concealed_names (user activity with hidden names; null without
    activity data); segment_before (the segment at the previous export), usage_change_points (usage change
    since then, percentage points), trend_flags (workloads flagged as a sudden drop or spike);
    days_to_renewal, renewal_queue_rank (the renewal queue; null without a subscriptions export); own_share
    (share of the customer's seats bought through this partner); idle_cost_per_month (idle seats at list
    price, in the book's currency); support_heavy (many how-to tickets per 100 active users; null without a
    tickets export).

    The thresholds and the data date, the same for every customer, are left out (analysis.thresholds,
    analysis.processed_at_max). `.to_pandas()` gives the pandas frame.
    """
    shared = set(_common_figures(analysis)) | {"report"}
    rows = []
    for customer_id in analysis.customers.get_column("customer_id").to_list():
        figures = customer_figures(customer_view(analysis, customer_id), analysis)
        rows.append({k: v for k, v in figures.items() if k not in shared})
    frame = pl.DataFrame(rows, schema=CUSTOMER_TABLE_COLUMNS, orient="row") if rows else \
        pl.DataFrame(schema=CUSTOMER_TABLE_COLUMNS)
    return frame.sort(pl.col("customer_name").str.to_lowercase(), "customer_id", nulls_last=True)
