"""Portfolio overview text: the headline table, the story, usage over 100%, segments, and the report's figures."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis
from adoption_kit.compute.metrics import CAUSES, NEXT_STEPS, SEGMENTS
from adoption_kit.report.book import book_figures
from adoption_kit.report.format import (
    Fragment,
    _fill,
    _fragment,
    _table,
    esc,
    format_date,
    format_int,
    format_known,
    format_money_tile,
    format_pct,
    plural,
    threshold_text,
)
from adoption_kit.report.headline import _common_figures, _round
from adoption_kit.report.labels import CAUSE_LABELS, SEGMENT_MEANINGS
from adoption_kit.report.links import report_links


def portfolio_headline(analysis: Analysis) -> Fragment:
    """The headline figures: customers, licenses sold/assigned/active, portfolio and median-customer rates."""
    p = analysis.portfolio
    rows = [
        ("Customers", format_int(p.get("customers", 0))),
        ("Products (customer x product, included)", format_int(p.get("products", 0))),
        ("Licenses sold", format_known(p.get("licenses_sold", 0))),
        ("Licenses assigned", format_known(p.get("licenses_assigned", 0))),
        ("Qualified users", format_known(p.get("licenses_qualified", 0))),
        ("Active users", format_known(p.get("licenses_active", 0))),
        ("Deployment (assigned / sold)", _rate(p, "deployment_rate", "licenses_sold")),
        ("Usage (active / qualified)", _rate(p, "usage_rate", "licenses_qualified")),
        ("Median customer deployment", _rate(p, "median_customer_deployment_rate", "licenses_sold")),
        ("Median customer usage", _rate(p, "median_customer_usage_rate", "licenses_qualified")),
        ("Idle licenses (unassigned + inactive)", format_known(p.get("licenses_idle", 0))),
        ("Data processed (UTC)", format_date(analysis.processed_at_max)),
    ]
    for column, what in (("products_without_deployment", "deployment row"), ("products_without_usage", "usage rows")):
        if p.get(column):   # missing is not zero: say how much of the portfolio the sums leave out
            rows.append((f"Products without {what} (counts unknown, left out of the sums)", format_int(p[column])))
    markup, text = _table(["Figure", "Value"], rows, numeric=[1])
    return _fragment([markup], text)


def _rate(p: Mapping[str, Any], rate: str, denominator: str) -> str:
    """A rate, or 'unknown' when its counts are unknown (no feed rows at all) rather than 0 ('n/a')."""
    return "unknown" if p.get(denominator, 0) is None else format_pct(p.get(rate))


def portfolio_story(analysis: Analysis) -> Fragment:
    """Two sentences for the portfolio, every number from the frames."""
    p = analysis.portfolio
    counts = segment_frame(analysis)
    by = {r["segment"]: r for r in counts.to_dicts()}
    sentence1 = (f"Across {plural(p.get('customers', 0), 'customer')}, "
                 f"{_rate(p, 'deployment_rate', 'licenses_sold')} of "
                 f"the {format_known(p.get('licenses_sold', 0))} licenses sold are assigned and "
                 f"{_rate(p, 'usage_rate', 'licenses_qualified')} of {format_known(p.get('licenses_qualified', 0))} "
                 f"qualified users are active; the median customer is at "
                 f"{_rate(p, 'median_customer_deployment_rate', 'licenses_sold')} deployment and "
                 f"{_rate(p, 'median_customer_usage_rate', 'licenses_qualified')} usage.")
    unknown = [f"{plural(p[c], 'product')} without {what}" for c, what in
               (("products_without_deployment", "a deployment row"), ("products_without_usage", "usage rows"))
               if p.get(c)]
    if unknown:
        sentence1 += (f" {' and '.join(unknown)} are left out of these sums: their counts are unknown, not 0 "
                      f"(check that every export was downloaded).")
    sentence2 = (f"{plural(by['deploy']['customers'], 'customer')} should assign licenses "
                 f"({format_int(by['deploy']['licenses_unassigned'])} unassigned), "
                 f"{format_int(by['adopt']['customers'])} should drive adoption "
                 f"({format_int(by['adopt']['licenses_inactive'])} inactive), "
                 f"{format_int(by['upsell']['customers'])} are ready for an upsell conversation and "
                 f"{format_int(by['data_check']['customers'])} need a data check first; "
                 f"the low-adoption list ranks {plural(analysis.ranking.height, 'account')}.")
    return _fragment([f"<p>{esc(sentence1)}</p><p>{esc(sentence2)}</p>"], [sentence1, sentence2])


def over_100_frame(analysis: Analysis) -> pl.DataFrame:
    """One row per customer x product with a workload over 100% (included products): figures and causes."""
    wl = analysis.metrics.workloads.filter(pl.col("inflated").fill_null(False) & ~pl.col("excluded").fill_null(False))
    products = analysis.metrics.products.select(
        "customer_id", "product_id", pl.col("usage_rate").alias("product_usage_rate"),
        pl.col("inflated").alias("product_inflated"), "licenses_sold")
    return (
        wl.sort("workload")
        .with_columns(pl.format("{} {}", pl.col("workload"),
                                pl.format("{}%", (pl.col("usage_rate") * 100).round(0).cast(pl.Int64)))
                      .alias("_workload"),
                      (pl.col("licenses_active") - pl.col("licenses_qualified")).alias("_excess"))
        .group_by("customer_id", "customer_name", "product_id", "product_name")
        .agg(pl.col("_workload").str.join(", ").alias("workloads_over_100"),
             pl.col("licenses_qualified").max(), pl.col("licenses_active").max(),
             pl.col("_excess").max().alias("excess_active"),
             pl.col("inflation_causes").str.split(";").list.explode(keep_nulls=False, empty_as_null=False)
             .unique().sort().str.join(";")
             .alias("inflation_causes"))
        .join(products, on=["customer_id", "product_id"], how="left")
        .sort(["excess_active", "customer_name", "customer_id", "product_name", "product_id"],
              descending=[True, False, False, False, False], nulls_last=True)
    )


def over_100_table(analysis: Analysis, *, top_n: int) -> Fragment:
    """The rows over 100% (largest excess first, at most `top_n`) with their likely cause and what it means."""
    frame = over_100_frame(analysis)
    if frame.is_empty():
        line = "No usage over 100%: every workload has at most as many active users as qualified users."
        return _fragment([f"<p>{esc(line)}</p>"], [line])
    causes_all = frame.get_column("inflation_causes").str.split(";").explode().value_counts(sort=True)
    by_cause = dict(zip(causes_all.get_column("inflation_causes").to_list(),
                        causes_all.get_column("count").to_list()))
    shown = frame.head(top_n)
    hrefs = report_links(analysis.customers)
    rows = []
    for r in shown.to_dicts():
        causes = (r["inflation_causes"] or "unexplained").split(";")
        note = "" if r["product_inflated"] else " (not in the product's usage)"
        rows.append([r["customer_name"], r["product_name"], r["workloads_over_100"] + note,
                     format_pct(r["product_usage_rate"]), format_int(r["licenses_active"]),
                     format_int(r["licenses_qualified"]), ", ".join(CAUSE_LABELS.get(c, c) for c in causes)])
    caption = (f"{plural(frame.height, 'product')} with usage over 100%"
               + (f", the {format_int(shown.height)} with the most excess active users shown"
                  if shown.height < frame.height else ""))
    markup, text = _table(["Customer", "Product", "Workloads over 100%", "Product usage", "Active (max)",
                           "Qualified", "Likely cause"], rows, caption=caption, numeric=[3, 4, 5],
                          links=[hrefs.get(i) for i in shown.get_column("customer_id").to_list()])
    explain = [(CAUSE_LABELS[c], by_cause[c], NEXT_STEPS[f"data_check:{c}"]) for c in CAUSES if c in by_cause]
    items = "".join(f"<li><b>{esc(label)}</b> ({esc(plural(n, 'product'))}): {esc(why)}</li>"
                    for label, n, why in explain)
    return _fragment([markup, f"<p><b>Why usage can exceed 100%</b></p><ul>{items}</ul>"],
                     text + ["Why usage can exceed 100%:"] + [f"- {label} ({plural(n, 'product')}): {why}"
                                                            for label, n, why in explain])


def segment_frame(analysis: Analysis) -> pl.DataFrame:
    """Customers, licenses and idle licenses per segment, every segment present (zeros included), in SEGMENTS order."""
    sums = ["licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active",
            "licenses_unassigned", "licenses_inactive", "licenses_idle"]
    # Sums over the customers whose counts are known; null (unknown) when none is, 0 for an empty segment.
    known = [pl.when(pl.col(c).is_not_null().any()).then(pl.col(c).sum()).cast(pl.Int64).alias(c) for c in sums]
    counts = analysis.customers.group_by("segment").agg(pl.len().cast(pl.Int64).alias("customers"), *known)
    base = pl.DataFrame({"segment": list(SEGMENTS), "_order": list(range(len(SEGMENTS)))})
    empty = pl.col("customers").is_null()
    return (base.join(counts, on="segment", how="left")
            .with_columns(pl.when(empty).then(0).otherwise(pl.col(c)).cast(pl.Int64).alias(c) for c in sums)
            .with_columns(pl.col("customers").fill_null(0))
            .sort("_order").drop("_order"))


def segment_next_step(segment: str, counts: Mapping[str, Any], analysis: Analysis) -> str:
    """What to do with a whole segment: NEXT_STEPS filled with the segment's totals; data_check by reason."""
    if counts["customers"] == 0:
        return "No customer in this segment."
    if segment != "data_check":
        return _fill(NEXT_STEPS[segment], counts)
    checks = analysis.customers.filter(pl.col("segment") == "data_check")
    over = checks.filter(pl.col("inflated").fill_null(False))
    reasons = []
    if over.height:
        causes = over.get_column("inflation_causes").fill_null("unexplained").str.split(";").explode()
        per = causes.value_counts(sort=True)
        listed = ", ".join(f"{n} {CAUSE_LABELS.get(c, c)}" for c, n in
                           sorted(zip(per.get_column("inflation_causes").to_list(), per.get_column("count").to_list())))
        reasons.append(f"{plural(over.height, 'customer')} with usage over 100% ({listed}; see the table above)")
    rest = checks.filter(~pl.col("inflated").fill_null(False))
    no_sold = rest.filter(pl.col("licenses_sold") == 0).height
    over_assigned = rest.filter((pl.col("licenses_sold") > 0) & (pl.col("deployment_rate") > 1)).height
    if no_sold:
        reasons.append(f"{plural(no_sold, 'customer')} with no licenses sold through you")
    if over_assigned:
        reasons.append(f"{plural(over_assigned, 'customer')} with more licenses assigned than sold through you "
                       f"(licenses bought elsewhere)")
    return "Verify the figures before acting: " + "; ".join(reasons) + "."


def segment_table(analysis: Analysis) -> Fragment:
    """Customers per segment with their licenses, idle licenses and the next step for the segment."""
    frame = segment_frame(analysis)
    total = max(int(frame.get_column("customers").sum()), 1)
    rows = []
    for r in frame.to_dicts():
        rows.append([r["segment"], SEGMENT_MEANINGS[r["segment"]], format_int(r["customers"]),
                     format_pct(r["customers"] / total, 0), format_known(r["licenses_sold"]),
                     format_known(r["licenses_idle"]), segment_next_step(r["segment"], r, analysis)])
    markup, text = _table(["Segment", "Meaning", "Customers", "Share", "Licenses sold", "Idle licenses",
                           "Next step"], rows, numeric=[2, 3, 4, 5],
                          caption=f"Thresholds: {threshold_text(analysis.thresholds)}; the first matching "
                                  f"rule wins, from data_check to healthy.")
    return _fragment([markup], text)


def portfolio_figures(analysis: Analysis) -> dict[str, Any]:
    """Flat headline figures of the portfolio report (for the report index)."""
    p = analysis.portfolio
    segments = {f"customers_{r['segment']}": r["customers"] for r in segment_frame(analysis).to_dicts()}
    return {
        "report": "portfolio-overview",
        "customers": p.get("customers", 0),
        "licenses_sold": p.get("licenses_sold", 0),
        "licenses_assigned": p.get("licenses_assigned", 0),
        "licenses_active": p.get("licenses_active", 0),
        "licenses_idle": p.get("licenses_idle", 0),
        "deployment_rate": _round(p.get("deployment_rate")),
        "usage_rate": _round(p.get("usage_rate")),
        "median_customer_deployment_rate": _round(p.get("median_customer_deployment_rate")),
        "median_customer_usage_rate": _round(p.get("median_customer_usage_rate")),
        **segments,
        "products_over_100": over_100_frame(analysis).height,
        "low_adoption_accounts": analysis.ranking.height,
        **book_figures(analysis),
        **_common_figures(analysis),
    }


def portfolio_tiles(analysis: Analysis) -> list[tuple[str, str, str]]:
    """(label, value, note) of the portfolio's first-page tiles, in a fixed order; idle cost only where priced.
    At most 6, so that each value fits its tile on one line at the report's width."""
    p = analysis.portfolio
    tiles = [
        ("Customers", format_int(p.get("customers", 0)), "in the book"),
        ("Deployment", _rate(p, "deployment_rate", "licenses_sold"),
         f"{format_known(p.get('licenses_assigned', 0))} of {format_known(p.get('licenses_sold', 0))} licences "
         f"assigned"),
        ("Usage", _rate(p, "usage_rate", "licenses_qualified"),
         f"{format_known(p.get('licenses_active', 0))} of {format_known(p.get('licenses_qualified', 0))} qualified "
         f"users active"),
        ("Idle licences", format_known(p.get("licenses_idle", 0)), "unassigned or assigned but inactive"),
    ]
    book = analysis.book
    if book.settings.get("prices_loaded") and book.idle_cost.height:
        month = float(book.idle_cost.get_column("idle_cost_per_month").sum())
        tiles.append(("Idle cost", format_money_tile(month, book.settings.get("currency")), "per month, where priced"))
    tiles.append(("Low-adoption accounts", format_int(analysis.ranking.height), "segments deploy and adopt"))
    return tiles    # (the data date is in the box just above the tiles)


def portfolio_first_page(analysis: Analysis) -> Fragment:
    """The portfolio's first screen: labelled KPI tiles and what to do next, segment by segment (the detail
    follows in the report)."""
    tiles = portfolio_tiles(analysis)
    markup = "".join(f'<div class="ak-tile"><div class="ak-tile-label">{esc(label)}</div>'
                     f'<div class="ak-tile-value">{esc(value)}</div><div class="ak-tile-note">{esc(note)}</div></div>'
                     for label, value, note in tiles)
    frame = {r["segment"]: r for r in segment_frame(analysis).to_dicts()}
    steps: list[tuple[str, str]] = []
    book = analysis.book
    if book.settings.get("subscriptions_loaded"):
        soon = book.renewals.filter(pl.col("queued") & pl.col("in_horizon")).height
        if soon:
            steps.append((f"Renewing soon ({plural(soon, 'product')})",
                          f"low-adoption products whose seats can change within "
                          f"{book.settings.get('horizon_days', 60)} days: start with the renewal queue below, "
                          f"before annual seats are locked for another term."))
    for segment in ("deploy", "adopt", "data_check", "upsell"):
        counts = frame.get(segment)
        if counts and counts["customers"]:
            steps.append((f"{segment} ({plural(counts['customers'], 'customer')})",
                          segment_next_step(segment, counts, analysis).replace("see the table above",
                                                                               "see Usage over 100% below")))
    items = "".join(f"<li><b>{esc(head)}</b>: {esc(body)}</li>" for head, body in steps)
    html = (f'<div class="ak-first-page"><div class="ak-tiles" role="list" aria-label="Key figures">{markup}</div>'
            f'<h2 class="ak-steps-title">What to do next</h2><ol>{items}</ol></div>')
    text = [*(f"{label}: {value} ({note})" for label, value, note in tiles), "What to do next",
            *(f"{n}. {head}: {body}" for n, (head, body) in enumerate(steps, start=1))]
    return Fragment(html, "\n".join(text))
