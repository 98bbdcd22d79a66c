"""The CRM action list of the low-adoption report: its columns, the work-queue join and the formula-safe CSV."""
from __future__ import annotations

import polars as pl

from adoption_kit.analysis import Analysis, resolve_path
from adoption_kit.errors import ParameterError
from adoption_kit.store import Written, write_table

# Columns of the CRM-ready low-adoption CSV, in order (rates as percentages with one decimal).
ACTION_COLUMNS: tuple[str, ...] = (
    "rank", "customer_id", "customer_name", "segment", "deployment_pct", "usage_pct",
    "licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active",
    "licenses_unassigned", "licenses_inactive", "licenses_idle", "idle_share_pct", "priority_score",
    "next_step",
    # the work queue (Analysis.book): empty cells where the subscriptions, price list or tickets are missing
    "days_to_renewal", "renewal_date", "renewal_queue_rank", "idle_cost_per_month", "currency",
    "support_heavy", "how_to_per_100", "support_next_step",
    "data_processed",
)


# ---------------------------------------------------------------------------
# The CRM action list (low-adoption accounts)
# ---------------------------------------------------------------------------
def action_list(analysis: Analysis) -> pl.DataFrame:
    """Every ranked low-adoption account as CRM columns (ACTION_COLUMNS); rates as percentages, one decimal."""
    processed = analysis.processed_at_max
    stamp = f"{processed:%Y-%m-%d}" if processed is not None else None

    def pct(column: str) -> pl.Expr:
        return (pl.col(column) * 100).round(1)

    return work_queue_columns(analysis, analysis.ranking.sort("rank")).select(
        "rank", "customer_id", "customer_name", "segment",
        pct("deployment_rate").alias("deployment_pct"),
        pct("usage_rate").alias("usage_pct"),
        "licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active",
        "licenses_unassigned", "licenses_inactive", "licenses_idle",
        pct("idle_share").alias("idle_share_pct"),
        pl.col("priority_score").round(1),
        "next_step",
        "days_to_renewal", "renewal_date", "renewal_queue_rank",
        pl.col("idle_cost_per_month").round(2), "currency", "support_heavy",
        pl.col("how_to_per_100").round(1), "support_next_step",
        pl.lit(stamp, dtype=pl.String).alias("data_processed"),
    )


def work_queue_columns(analysis: Analysis, customers: pl.DataFrame) -> pl.DataFrame:
    """`customers` (one row per customer_id) with days_to_renewal, renewal_date, renewal_queue_rank,
    idle_cost_per_month, currency, support_heavy, how_to_per_100 and support_next_step from Analysis.book
    (null where the input is missing)."""
    book = analysis.book
    renewals = book.customer_renewals.select("customer_id", "days_to_renewal",
                                             pl.col("change_at").alias("renewal_date"),
                                             pl.col("queue_rank").alias("renewal_queue_rank"))
    cost = book.idle_cost_customers.select("customer_id", "idle_cost_per_month", "currency")
    support = book.support.select("customer_id", "support_heavy", "how_to_per_100", "support_next_step")
    out = customers
    for frame in (renewals, cost, support):
        out = out.join(frame, on="customer_id", how="left", maintain_order="left")
    return out


def write_action_list(analysis: Analysis, action_csv: str) -> Written | None:
    """Write `action_list` to `action_csv` (relative = project folder) as a formula-safe CSV; "" writes nothing."""
    if not isinstance(action_csv, str):
        raise ParameterError(f"action_csv={action_csv!r} must be a file name ending in .csv, or empty")
    if not action_csv.strip():
        return None
    target = resolve_path(action_csv.strip())
    if target.suffix.lower() != ".csv":
        raise ParameterError(f"action_csv={action_csv!r} must end in .csv (a CRM import file), or be empty")
    return write_table(action_list(analysis), target)
