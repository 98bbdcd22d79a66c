"""The customer report's first page: the customer's name, a row of labelled KPI tiles, the next steps.

What an account manager reads in 30 seconds: how the customer is doing and what to do next. The tiles are plain
markup with `ak-` classes; the report page's style block (adoption_kit/templates/adoption_kit_report) lays them
out on screen and in print. Everything from the data is escaped.
"""
from __future__ import annotations

from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis, CustomerView
from adoption_kit.report.audience import is_customer_facing
from adoption_kit.report.customer import customer_next_steps
from adoption_kit.report.format import Fragment, esc, format_date, format_int, format_money_tile, format_pct
from adoption_kit.report.labels import SEGMENT_MEANINGS


def kpi_tiles(view: CustomerView, analysis: Analysis) -> list[tuple[str, str, str]]:
    """(label, value, note) per tile, in a fixed order; idle cost only for the account manager, and only if priced."""
    c = view.customer
    tiles = [
        ("Deployment", format_pct(c["deployment_rate"]),
         f"{format_int(c['licenses_assigned'])} of {format_int(c['licenses_sold'])} licences assigned"),
        ("Usage", format_pct(c["usage_rate"]),
         f"{format_int(c['licenses_active'])} of {format_int(c['licenses_qualified'])} qualified users active"),
        ("Idle licences", format_int(c["licenses_idle"]), "paid for, not in use"),
    ]
    if not is_customer_facing(analysis):
        cost = view.book.customer("idle_cost_customers", c["customer_id"]) or {}
        month = cost.get("idle_cost_per_month")
        if month is not None and analysis.book.settings.get("prices_loaded"):
            tiles.append(("Idle cost", format_money_tile(month, analysis.book.settings.get("currency")),
                          "per month"))
    tiles.append(("Segment", str(c["segment"]), SEGMENT_MEANINGS.get(c["segment"], "")))
    tiles.append(("Data date", format_date(analysis.processed_at_max) if analysis.processed_at_max else "unknown",
                  "newest Partner Center export"))
    return tiles


def first_page(view: CustomerView, analysis: Analysis) -> Fragment:
    """The title (the customer's name), the KPI tiles and the recommended next steps."""
    c = view.customer
    name = c["customer_name"] or c["customer_id"]
    tiles = kpi_tiles(view, analysis)
    markup = "".join(f'<div class="ak-tile"><div class="ak-tile-label">{esc(label)}</div>'
                     f'<div class="ak-tile-value">{esc(value)}</div><div class="ak-tile-note">{esc(note)}</div></div>'
                     for label, value, note in tiles)
    steps = customer_next_steps(view)
    subtitle = f"Licence deployment and usage, data of {tiles[-1][1]}"
    html = (f'<div class="ak-first-page"><h1 class="ak-title">{esc(name)}</h1>'
            f'<p class="ak-subtitle">{esc(subtitle)}</p>'
            f'<div class="ak-tiles" role="list" aria-label="Key figures">{markup}</div>'
            f'<h2 class="ak-steps-title">Recommended next steps</h2>{steps.html}</div>')
    text = [name, subtitle, *(f"{label}: {value} ({note})" for label, value, note in tiles),
            "Recommended next steps", steps.text]
    return Fragment(html, "\n".join(text))


def peer_position_text(view: CustomerView) -> Fragment:
    """Where the customer stands among all customers, as percentiles only (no names, no counts)."""
    lines = []
    for what, percentile in (("deployment", view.deployment_percentile), ("usage", view.usage_percentile)):
        if percentile is None:
            lines.append(f"No {what} rate, so no place among customers.")
        else:
            lines.append(f"{what.capitalize()}: higher than {percentile:.0f}% of customers.")
    return Fragment("".join(f"<p>{esc(line)}</p>" for line in lines), "\n".join(lines))


def peer_bands(analysis: Analysis, view: CustomerView) -> pl.DataFrame:
    """Long frame for the anonymous distribution chart: rate, band, share of customers (%), the customer's band."""
    peer = analysis.meta.get("peer") or {}
    rows: list[dict[str, Any]] = []
    for what in ("deployment", "usage"):
        rate = view.customer.get(f"{what}_rate")
        own_band = None if rate is None else min(int(rate * 10), 9)
        for band, share in enumerate(peer.get(f"{what}_bands") or []):
            rows.append({"rate": what.capitalize(), "band": f"{band * 10}-{band * 10 + 10}%", "band_index": band,
                         "share": share, "this_customer": band == own_band})
    return pl.DataFrame(rows, schema={"rate": pl.String, "band": pl.String, "band_index": pl.Int64,
                                      "share": pl.Int64, "this_customer": pl.Boolean})
