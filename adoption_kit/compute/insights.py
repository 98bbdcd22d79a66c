"""Insights downloads in the metrics: the exclusions they add, and the monthly figures per customer with the
source and basis of each (pure polars; the rows themselves are mapped onto the licence frames by
adoption_kit.inputs.insights, so that every metric, the ranking and the history read them unchanged)."""
from __future__ import annotations

from typing import Any

import polars as pl

from adoption_kit import schema

EXCLUSION_SCHEMA = {"product_id": pl.String, "product_name": pl.String, "reason": pl.String}


def with_insights_exclusions(exclusions: Any, exports: Any) -> Any:
    """`exclusions` (None, or a frame of product_id, product_name, reason) plus the products the Insights
    downloads of `exports` put on the list (free Dynamics SKUs). Unchanged when there are none."""
    extra = getattr(exports, "insights_exclusions", None)
    if extra is None or extra.is_empty():
        return exclusions
    if exclusions is None:
        return extra
    given = exclusions if isinstance(exclusions, pl.DataFrame) else pl.from_pandas(exclusions)
    given = given.select([(pl.col(c) if c in given.columns else pl.lit(None)).cast(t).alias(c)
                          for c, t in EXCLUSION_SCHEMA.items()])
    return pl.concat([given, extra.select(list(EXCLUSION_SCHEMA))], how="vertical")


def figure_sources(exports: Any) -> list[tuple[str, str]]:
    """(figure, where it comes from and on which basis) for a report's data section; empty for REST-only."""
    kinds = {f.kind for f in getattr(exports, "files", ())}
    return source_lines(kinds)


def source_lines(kinds: set[str]) -> list[tuple[str, str]]:
    """The lines of `figure_sources` from the kinds of the files read (as LoadedFile.kind or a bundle lists)."""
    rest = bool(kinds & {schema.DEPLOYMENT.name, schema.USAGE.name})
    office, dynamics, seats = (k.name in kinds for k in schema.INSIGHTS_KINDS)
    if not (office or dynamics or seats):
        return []
    lines: list[tuple[str, str]] = []
    if office:
        lines.append(("Office 365 usage", f"Insights OfficeUsage download: {schema.INSIGHTS_BASIS}, "
                                          f"per tenant (largest non-Yammer workload, a lower bound)"))
        lines.append(("Office 365 deployment", "Insights seats report (TotalAssignedSeats / TotalSoldSeats) for "
                                               "the customers it lists; deployment unknown for the others"
                      if seats else "unknown: the OfficeUsage download has no deployment figure "
                                    "(add the Insights seats report)"))
    if dynamics:
        lines.append(("Dynamics 365", "Insights DynamicsUsage download: deployment = AssignedSeats / "
                                      "AvailableSeats, usage = ActiveSeats / AvailableSeats (Partner Center's "
                                      f"definition), {schema.INSIGHTS_BASIS}"))
    if rest:
        lines.append(("Both sources", f"customers with the REST licence feeds: current figures from them "
                                      f"({schema.REST_BASIS}); Insights months before them form the history"))
    return lines


def monthly_customers(exports: Any) -> pl.DataFrame:
    """Per customer x month of the Insights Office download: the largest non-Yammer MAU over the largest
    non-Yammer PAU (the customer usage rule; null when that PAU is 0) and the basis."""
    office = exports.insights_office
    rows = (office.filter(pl.col("workload") != schema.YAMMER_WORKLOAD)
            .group_by("customer_id", "month")
            .agg(pl.col("paid_available_units").max(), pl.col("monthly_active_users").max()))
    return rows.with_columns(
        pl.when(pl.col("paid_available_units") > 0)
        .then(pl.col("monthly_active_users") / pl.col("paid_available_units")).alias("usage_rate"),
        pl.lit(schema.INSIGHTS_BASIS).alias("basis"),
    ).sort("customer_id", "month")
