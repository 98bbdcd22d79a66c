"""Who a customer report is for: `internal` (the account manager) or `customer` (sent to the customer).

A customer-facing report holds only that customer's data. `customer_slice` cuts an analysis down to one customer
before the kernel sees it: the other customers' rows, the book-wide tables (portfolio, ranking, history of the
book) and the partner-internal figures (own share of the seats, idle cost, renewal queue, support load) are
dropped; the customer's place among the others survives only as anonymous aggregates (`peer_position`: its
percentiles and the share of customers per 10-point band, never a name, an id or a count of customers).

Template cells carry tags that say where they may appear (removed before a notebook runs, see
adoption_kit.render.audience): AUDIENCE_INTERNAL_TAG cells never run for the customer, AUDIENCE_CUSTOMER_TAG
cells never run for the account manager, and EDITOR_NOTE_TAG cells (notes for whoever edits the template) never
reach a rendered report.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import polars as pl

from adoption_kit.analysis import BOOK_TABLES, Analysis, find_customer, percentile_of
from adoption_kit.errors import ParameterError

AUDIENCES = ("internal", "customer")
AUDIENCE_INTERNAL_TAG = "audience-internal"
AUDIENCE_CUSTOMER_TAG = "audience-customer"
EDITOR_NOTE_TAG = "editor-note"

# Book tables a customer may see (its own rows only): when its seats can change. Everything else in the Book is
# either book-wide or the partner's business (own share, idle cost, renewal queue rank, support load).
_CUSTOMER_BOOK_TABLES = ("history_workloads", "history_customers", "renewals")
# Headline figures that are the partner's business, dropped from a customer-facing notebook.
INTERNAL_FIGURES = ("low_adoption_rank", "renewal_queue_rank", "own_share", "idle_cost_per_month",
                    "support_heavy", "days_to_renewal")
BANDS = 10   # peer distribution: share of customers per 10-point band of the rate, 0-10% ... 90-100%+


def check_audience(audience: Any) -> str:
    """'internal' or 'customer' (case and spaces ignored); anything else is a ParameterError."""
    value = str(audience).strip().lower() if isinstance(audience, str) else None
    if value not in AUDIENCES:
        raise ParameterError(f"audience={audience!r}: choose internal (for the account manager) or customer "
                             f"(to send to the customer)")
    return value


def peer_position(analysis: Analysis, customer_id: str) -> dict[str, Any]:
    """The customer's place among all customers as anonymous aggregates: percentiles and per-band shares (whole %)."""
    customer = find_customer(analysis.customers, customer_id)
    position: dict[str, Any] = {}
    for rate in ("deployment_rate", "usage_rate"):
        what = rate.removesuffix("_rate")
        percentile = percentile_of(analysis.customers, rate, customer[rate])
        position[f"{what}_percentile"] = None if percentile is None else round(percentile)
        position[f"{what}_bands"] = _bands(analysis.customers.get_column(rate))
    return position


def _bands(rates: pl.Series) -> list[int]:
    """Whole-percent share of customers per 10-point band (rates over 100% in the last band)."""
    values = rates.drop_nulls()
    if values.is_empty():
        return [0] * BANDS
    bands = (values * BANDS).floor().clip(0, BANDS - 1).cast(pl.Int64).value_counts()
    counts = dict(zip(bands.get_column(bands.columns[0]).to_list(), bands.get_column("count").to_list()))
    return [round(100 * counts.get(band, 0) / values.len()) for band in range(BANDS)]


def customer_slice(analysis: Analysis, customer_id: str) -> Analysis:
    """The analysis as a customer-facing report may hold it: one customer's rows, no book, no internal figures.

    Idempotent: slicing a slice returns the same content.
    """
    customer = find_customer(analysis.customers, customer_id)
    wanted = customer["customer_id"]
    peer = (analysis.meta["peer"] if analysis.meta.get("audience") == "customer" and "peer" in analysis.meta
            else peer_position(analysis, wanted))

    def own(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("customer_id") == wanted)

    metrics = analysis.metrics
    book_tables = {name: (own(getattr(analysis.book, name))
                          if name in _CUSTOMER_BOOK_TABLES and "customer_id" in columns
                          else getattr(analysis.book, name).clear())
                   for name, columns in BOOK_TABLES.items()}
    sliced_metrics = replace(metrics, workloads=own(metrics.workloads), products=own(metrics.products),
                             customers=own(metrics.customers), portfolio=metrics.portfolio.clear(),
                             excluded=own(metrics.excluded), activity_workloads=own(metrics.activity_workloads),
                             activity_customers=own(metrics.activity_customers))
    return replace(analysis, metrics=sliced_metrics, ranking=analysis.ranking.clear(),
                   # File names, row counts and the loader's warnings describe the whole book.
                   sources=(), warnings=(),
                   meta={**analysis.meta, "audience": "customer", "peer": peer},
                   book=replace(analysis.book, **book_tables, settings={}))  # type: ignore[arg-type]


def is_customer_facing(analysis: Analysis) -> bool:
    return analysis.meta.get("audience") == "customer"


def customer_figures(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Headline figures without the partner-internal ones (for a customer-facing notebook)."""
    return {key: value for key, value in figures.items() if key not in INTERNAL_FIGURES}


def figures_for(figures: Mapping[str, Any], audience: str) -> dict[str, Any]:
    """The headline figures a notebook of `audience` records: all of them, or the customer's own only."""
    return customer_figures(figures) if check_audience(audience) == "customer" else dict(figures)


__all__ = ["AUDIENCES", "AUDIENCE_CUSTOMER_TAG", "AUDIENCE_INTERNAL_TAG", "EDITOR_NOTE_TAG", "INTERNAL_FIGURES",
           "check_audience", "customer_figures", "figures_for", "customer_slice", "is_customer_facing", "peer_position"]
