"""The book over time and the work queue (Analysis.book: adoption_kit.compute.history, adoption_kit.compute.worklist):
trends, segment changes, renewals, own seats, idle cost and support, for the portfolio and for one customer."""
from __future__ import annotations

from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis, CustomerView
from adoption_kit.compute.history import latest_period, segment_changes
from adoption_kit.compute.worklist import SUPPORT_NEXT_STEP
from adoption_kit.report.format import (
    _WARN_COLOURS,
    Fragment,
    _box,
    _fragment,
    _paragraph,
    _table,
    esc,
    format_date,
    format_int,
    format_money,
    format_pct,
    format_points,
    plural,
)
from adoption_kit.report.headline import _round
from adoption_kit.report.links import report_links


def _links(analysis: Analysis, rows: pl.DataFrame) -> list[str | None]:
    """Per row of `rows` (a frame with customer_id), the href of the customer's report in the run folder."""
    hrefs = report_links(analysis.customers)
    return [hrefs.get(i) for i in rows.get_column("customer_id").to_list()]


def _latest_flags(history_workloads: pl.DataFrame) -> pl.DataFrame:
    """Flagged rows of each customer's newest period, strongest first."""
    return (latest_period(history_workloads).filter(pl.col("trend_flag").is_not_null())
            .sort([pl.col("robust_z").abs(), "customer_name", "product_name", "workload"],
                  descending=[True, False, False, False], nulls_last=True))


def trends_summary(analysis: Analysis, *, top_n: int) -> Fragment:
    """The portfolio across snapshots, and the sudden drops and spikes of the latest period with their figures."""
    book = analysis.book
    p = book.history_portfolio
    if p.height < 2:
        return _paragraph("One snapshot only (one processedDateTime): no trend yet. Keep the older exports side by "
                          "side with the new ones (or add Partner Center exports of earlier months) to see changes.")
    first, last = p.row(0, named=True), p.row(p.height - 1, named=True)
    settings = book.settings
    line = (f"{plural(p.height, 'snapshot')} from {format_date(first['processed_at'])} to "
            f"{format_date(last['processed_at'])}: portfolio usage {format_pct(first['usage_rate'])} -> "
            f"{format_pct(last['usage_rate'])} ({format_points(_diff(last['usage_rate'], first['usage_rate']))}), "
            f"deployment {format_pct(first['deployment_rate'])} -> {format_pct(last['deployment_rate'])} "
            f"({format_points(_diff(last['deployment_rate'], first['deployment_rate']))}).")
    flags = _latest_flags(book.history_workloads)
    guarded = latest_period(book.history_workloads).filter(pl.col("guarded")).height
    method = (f"A change is flagged when its robust z-score against every customer's change on the same workload "
              f"and period is {settings.get('z_threshold', 3.5):g} or more in size (median and median absolute "
              f"deviation, so one outlier cannot hide another) and it moves at least "
              f"{format_pct(settings.get('min_change', 0.05), 0).rstrip('%')} points; rows with fewer than "
              f"{settings.get('min_qualified', 10)} qualified users are not judged ({plural(guarded, 'row')} in the "
              f"latest period).")
    drops = flags.filter(pl.col("trend_flag") == "drop").height
    spikes = flags.height - drops
    summary = (f"Since the previous export: {plural(drops, 'sudden drop')} and {plural(spikes, 'spike')} "
               f"in workload usage." if flags.height else "Since the previous export: no sudden drop or spike.")
    parts, text = [f"<p>{esc(line)}</p><p>{esc(summary)} {esc(method)}</p>"], [line, f"{summary} {method}"]
    if flags.height:
        rows = [[r["customer_name"], r["product_name"], r["workload"], r["trend_flag"],
                 format_pct(r["previous_usage_rate"]), format_pct(r["usage_rate"]), format_points(r["usage_change"]),
                 f"{format_int(r['previous_licenses_active'])} -> {format_int(r['licenses_active'])} of "
                 f"{format_int(r['licenses_qualified'])}", f"{r['robust_z']:+.1f}"]
                for r in flags.head(top_n).to_dicts()]
        markup, table_text = _table(["Customer", "Product", "Workload", "Flag", "Usage before", "Usage now", "Change",
                                     "Active users", "Robust z"], rows, numeric=[4, 5, 6, 8],
                                    links=_links(analysis, flags.head(top_n)),
                                    caption="Sudden changes since each customer's previous export"
                                            + (f" (the {format_int(top_n)} strongest of {format_int(flags.height)})"
                                               if flags.height > top_n else ""))
        parts.append(markup)
        text += table_text
    return _fragment(parts, text)


def _diff(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


def segment_changes_table(analysis: Analysis, *, top_n: int) -> Fragment:
    """Customers whose segment changed since their previous export: before, now, and the rates behind it."""
    if analysis.book.history_portfolio.height < 2:
        return _paragraph("One snapshot only: no segment changes to show.")
    changes = segment_changes(analysis.book.history_customers)
    if changes.is_empty():
        return _paragraph("No customer changed segment since its previous export.")
    rows = [[r["customer_name"], r["previous_segment"], r["segment"],
             f"{format_pct(r['previous_deployment_rate'])} -> {format_pct(r['deployment_rate'])}",
             f"{format_pct(r['previous_usage_rate'])} -> {format_pct(r['usage_rate'])}",
             format_date(r["previous_processed_at"])] for r in changes.head(top_n).to_dicts()]
    markup, text = _table(["Customer", "Segment before", "Segment now", "Deployment", "Usage", "Previous export"],
                          rows, links=_links(analysis, changes.head(top_n)),
                          caption=f"{plural(changes.height, 'customer')} changed segment since the previous "
                                        f"export" + (f"; the first {format_int(top_n)} shown" if changes.height > top_n
                                                     else ""))
    return _fragment([markup], text)


def renewal_queue_table(analysis: Analysis, *, top_n: int) -> Fragment:
    """The work queue: low-adoption products ordered by the day their seats can change, soonest first."""
    book = analysis.book
    if not book.settings.get("subscriptions_loaded"):
        return _paragraph("No subscriptions export was loaded: renewal dates are unknown. Add the Partner Center "
                          "subscriptions export (commitmentEndDate, autoRenewEnabled, termDuration) "
                          "to the data folder.")
    queue = book.renewals.filter(pl.col("queued")).sort("queue_rank")
    horizon = book.settings.get("horizon_days", 60)
    soon = queue.filter(pl.col("in_horizon")).height
    line = (f"{plural(queue.height, 'product')} in segments deploy or adopt have a subscription of yours; "
            f"{format_int(soon)} of them can change seats within {horizon} days of {book.today} (renewal of an "
            f"annual or 3-year commitment, a monthly term, or no commitment end). Act on those first: after the "
            f"date, annual seats are locked for another term. Order: soonest change first, then more idle licences.")
    if queue.is_empty():
        return _paragraph(line)
    rows = [[r["queue_rank"], r["customer_name"], r["product_name"], r["segment"], format_pct(r["deployment_rate"]),
             format_pct(r["usage_rate"]), format_int(r["licenses_idle"]), str(r["change_at"]),
             format_int(r["days_to_change"]), r["term"], "yes" if r["auto_renew"] else "no" if r["auto_renew"] is False
             else "n/a", r["change_rule"]] for r in queue.head(top_n).to_dicts()]
    markup, text = _table(["#", "Customer", "Product", "Segment", "Deployment", "Usage", "Idle", "Seats can change",
                           "In days", "Term", "Auto-renew", "Rule"], rows, numeric=[0, 4, 5, 6, 8],
                          links=_links(analysis, queue.head(top_n)), link_column=1,
                          caption=f"Renewal queue: the first {format_int(min(top_n, queue.height))} of "
                                  f"{format_int(queue.height)}")
    return _fragment([f"<p>{esc(line)}</p>", markup], [line] + text)


def own_seats_summary(analysis: Analysis, *, top_n: int) -> Fragment:
    """Licences on the partner's own subscriptions against Partner Center's totals, and where others sold seats."""
    book = analysis.book
    if not book.settings.get("subscriptions_loaded"):
        return _paragraph("No subscriptions export was loaded: the partner's own share of the seats is unknown.")
    own = book.own_seats
    matched = own.filter(pl.col("own_quantity").is_not_null())
    sold = int(matched.get_column("licenses_sold").sum()) if matched.height else 0
    mine = int(matched.get_column("own_quantity").sum()) if matched.height else 0
    unmatched = own.filter(pl.col("own_quantity").is_null())
    line = (f"Partner Center's totals include licences bought from other partners or directly from Microsoft. On the "
            f"{plural(matched.height, 'product')} with a subscription of yours, {format_int(mine)} of "
            f"{format_int(sold)} licences sold are yours ({format_pct(mine / sold if sold else None)}); "
            f"{plural(unmatched.height, 'product')} {'has' if unmatched.height == 1 else 'have'} no subscription of "
            f"yours at all.")
    partial = (matched.filter(pl.col("own_share") < 1)
               .sort(["other_quantity", "customer_name"], descending=[True, False]))
    if partial.is_empty():
        return _paragraph(line)
    rows = [[r["customer_name"], r["product_name"], format_int(r["licenses_sold"]), format_int(r["own_quantity"]),
             format_int(r["other_quantity"]), format_pct(r["own_share"])] for r in partial.head(top_n).to_dicts()]
    markup, text = _table(["Customer", "Product", "Sold (all partners)", "Yours", "Elsewhere", "Your share"], rows,
                          numeric=[2, 3, 4, 5], caption="Products where others hold part of the seats",
                          links=_links(analysis, partial.head(top_n)))
    return _fragment([f"<p>{esc(line)}</p>", markup], [line] + text)


def idle_cost_summary(analysis: Analysis, *, top_n: int) -> Fragment:
    """Idle licences in money (per month and per year) by customer, and the products without a price, listed."""
    book = analysis.book
    if not book.settings.get("prices_loaded"):
        return _paragraph("No price list was loaded: idle licences are not valued. Add a prices.csv "
                          "(productId, productName, unitPricePerMonth, currency) to the data folder.")
    currency = book.settings.get("currency")
    valued = book.idle_cost
    month = float(valued.get_column("idle_cost_per_month").sum()) if valued.height else 0.0
    idle = int(valued.get_column("licenses_idle").sum()) if valued.height else 0
    line = (f"{format_int(idle)} idle licences with a price (unassigned + assigned but inactive) cost "
            f"{format_money(month, currency)} per month, {format_money(month * 12, currency)} per year.")
    customers = (book.idle_cost_customers.filter(pl.col("idle_cost_per_month") > 0)
                 .join(analysis.customers.select("customer_id", "customer_name", "segment"),
                       on="customer_id", how="left")
                 .sort(["idle_cost_per_month", "customer_name"], descending=[True, False]))
    parts, text = [f"<p>{esc(line)}</p>"], [line]
    if customers.height:
        rows = [[r["customer_name"], r["segment"], format_int(r["priced_idle_licenses"]),
                 format_money(r["idle_cost_per_month"], currency), format_money(r["idle_cost_per_year"], currency),
                 format_int(r["unpriced_idle_licenses"])] for r in customers.head(top_n).to_dicts()]
        markup, table_text = _table(["Customer", "Segment", "Idle licences (priced)", "Per month", "Per year",
                                     "Idle without a price"], rows, numeric=[2, 3, 4, 5],
                                    links=_links(analysis, customers.head(top_n)),
                                    caption=f"Idle cost by customer: the {format_int(min(top_n, customers.height))} "
                                            f"largest of {format_int(customers.height)}")
        parts.append(markup)
        text += table_text
    parts_unpriced, text_unpriced = _unpriced(book.unpriced)
    return _fragment(parts + parts_unpriced, text + text_unpriced)


def _unpriced(unpriced: pl.DataFrame) -> tuple[list[str], list[str]]:
    if unpriced.is_empty():
        line = "Every product held has a price."
        return [f"<p>{esc(line)}</p>"], [line]
    line = (f"Not valued (no price in the price list, so never counted as zero): "
            f"{plural(unpriced.height, 'product')} with {format_int(int(unpriced.get_column('licenses_idle').sum()))} "
            f"idle licences. Add their prices to value them.")
    rows = [[r["product_name"], r["product_id"], format_int(r["customers"]), format_int(r["licenses_idle"])]
            for r in unpriced.to_dicts()]
    markup, text = _table(["Product without a price", "productId", "Customers", "Idle licences"], rows, numeric=[2, 3])
    return [f"<p>{esc(line)}</p>", markup], [line] + text


def support_signal(analysis: Analysis, *, top_n: int) -> Fragment:
    """Accounts with many how-to tickets per 100 active users, beside their adoption segment, with the next step."""
    book = analysis.book
    if not book.settings.get("tickets_loaded"):
        return _paragraph("No support-ticket file was loaded: the support signal is off. Add a support-tickets.csv "
                          "(customerTenantId, ticketId, openedDate, category) to the data folder.")
    s = book.settings
    support = book.support
    heavy = support.filter(pl.col("support_heavy"))
    window = support.row(0, named=True) if support.height else {"window_start": None, "window_end": book.today}
    how_to = int(support.get_column("how_to_tickets").sum()) if support.height else 0
    line = (f"{format_int(how_to)} how-to tickets between {window['window_start']} and {window['window_end']} "
            f"({s.get('window_days', 90)} days). {plural(heavy.height, 'account')} "
            f"{'reaches' if heavy.height == 1 else 'reach'} "
            f"{s.get('threshold_per_100', 10.0):g} or more how-to tickets per 100 active users (with at least "
            f"{s.get('min_tickets', 3)} tickets).")
    if heavy.is_empty():
        return _paragraph(line)
    rows = [[r["customer_name"], r["segment"], format_int(r["how_to_tickets"]), format_int(r["active_users"]),
             f"{r['how_to_per_100']:.1f}", format_int(r["break_fix_tickets"])] for r in heavy.head(top_n).to_dicts()]
    markup, text = _table(["Customer", "Adoption segment", "How-to tickets", "Active users", "How-to per 100 users",
                           "Break-fix tickets"], rows, numeric=[2, 3, 4, 5], caption="Support-heavy accounts",
                          links=_links(analysis, heavy.head(top_n)))
    step = f"Next step for these accounts: {SUPPORT_NEXT_STEP}"
    return _fragment([f"<p>{esc(line)}</p>", markup, f"<p>{esc(step)}</p>"], [line] + text + [step])


def book_figures(analysis: Analysis) -> dict[str, Any]:
    """Flat headline figures of the book over time and the work queue (portfolio report, index)."""
    book = analysis.book
    flags = _latest_flags(book.history_workloads)
    queue = book.renewals.filter(pl.col("queued"))
    valued = book.idle_cost
    month = float(valued.get_column("idle_cost_per_month").sum()) if valued.height else None
    return {
        "snapshots": book.history_portfolio.height or (1 if analysis.processed_at_max else 0),
        "trend_drops": flags.filter(pl.col("trend_flag") == "drop").height,
        "trend_spikes": flags.filter(pl.col("trend_flag") == "spike").height,
        "segment_changes": segment_changes(book.history_customers).height if book.history_portfolio.height > 1 else 0,
        "renewal_queue": queue.height,
        "renewal_queue_in_horizon": queue.filter(pl.col("in_horizon")).height,
        "idle_cost_per_month": round(month, 2) if month is not None and book.settings.get("prices_loaded") else None,
        "currency": book.settings.get("currency"),
        "unpriced_products": book.unpriced.height,
        "support_heavy_accounts": book.support.filter(pl.col("support_heavy")).height,
    }


# Customer insights: its trend, renewals and own share, idle cost and support
def customer_trend_text(view: CustomerView) -> Fragment:
    """The customer's change since its previous export: segment, rates, and each flagged workload."""
    rows = view.book.history_customers.sort("processed_at")
    if rows.height < 2:
        return _paragraph("One snapshot of this customer only: no trend yet.")
    now = rows.row(rows.height - 1, named=True)
    moved = (f"segment {now['previous_segment']} -> {now['segment']}" if now["segment_changed"]
             else f"segment {now['segment']} (unchanged)")
    line = (f"Since {format_date(now['previous_processed_at'])}: {moved}; "
            f"usage {format_pct(now['previous_usage_rate'])}"
            f" -> {format_pct(now['usage_rate'])} ({format_points(now['usage_change'])}), deployment "
            f"{format_pct(now['previous_deployment_rate'])} -> {format_pct(now['deployment_rate'])} "
            f"({format_points(now['deployment_change'])}); {plural(rows.height, 'snapshot')} in all.")
    flags = _latest_flags(view.book.history_workloads)
    items = [f"{r['trend_flag'].capitalize()} on {r['workload']} ({r['product_name']}): "
             f"{format_pct(r['previous_usage_rate'])}"
             f" -> {format_pct(r['usage_rate'])} ({format_points(r['usage_change'])}, robust z {r['robust_z']:+.1f})"
             for r in flags.to_dicts()]
    guarded = latest_period(view.book.history_workloads).filter(pl.col("guarded")).height
    if guarded:
        items.append(f"{plural(guarded, 'workload row')} with fewer than "
                     f"{view.book.settings.get('min_qualified', 10)} qualified users: changes not judged")
    if not items:
        items = ["No sudden drop or spike on any workload."]
    return _fragment([f"<p>{esc(line)}</p><ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"],
                     [line] + [f"- {i}" for i in items])


def customer_renewals(view: CustomerView) -> Fragment:
    """The customer's products with a subscription of the partner: when seats can change, and the own share."""
    book = view.book
    if not book.settings.get("subscriptions_loaded"):
        return _paragraph("No subscriptions export was loaded: renewal dates and the share of seats sold by you are "
                          "unknown.")
    own = {r["product_id"]: r for r in book.own_seats.to_dicts()}
    renewals = {r["product_id"]: r for r in book.renewals.to_dicts()}
    products = (view.products.filter(~pl.col("excluded"))
                .sort(["licenses_sold", "product_name"], descending=[True, False]))
    rows = []
    for p in products.to_dicts():
        r, o = renewals.get(p["product_id"]), own.get(p["product_id"], {})
        rows.append([p["product_name"], p["segment"], format_int(p["licenses_sold"]),
                     format_int(o.get("own_quantity")), format_pct(o.get("own_share")),
                     str(r["change_at"]) if r else "n/a", format_int(r["days_to_change"]) if r else "n/a",
                     r["change_rule"] if r else "no subscription of yours: bought elsewhere",
                     f"#{r['queue_rank']}" if r and r["queue_rank"] else "not queued"])
    markup, text = _table(["Product", "Segment", "Sold (all partners)", "Yours", "Your share", "Seats can change",
                           "In days", "Rule", "Renewal queue"], rows, numeric=[2, 3, 4, 6],
                          caption=f"Renewals as of {book.today}")
    return _fragment([markup], text)


def customer_idle_cost(view: CustomerView) -> Fragment:
    """The customer's idle licences in money, and its products without a price (listed, never valued at zero)."""
    book = view.book
    if not book.settings.get("prices_loaded"):
        return _paragraph("No price list was loaded: idle licences are not valued.")
    currency = book.settings.get("currency")
    priced = {r["product_id"]: r for r in book.idle_cost.to_dicts()}
    rows, unpriced = [], []
    for p in view.products.filter(~pl.col("excluded")).sort("product_name").to_dicts():
        r = priced.get(p["product_id"])
        if r is None:
            unpriced.append(p)
            continue
        rows.append([p["product_name"], format_int(r["licenses_idle"]),
                     format_money(r["unit_price_per_month"], currency),
                     format_money(r["idle_cost_per_month"], currency), format_money(r["idle_cost_per_year"], currency)])
    total = book.customer("idle_cost_customers", view.customer["customer_id"]) or {}
    line = (f"Idle licences cost {format_money(total.get('idle_cost_per_month'), currency)} per month, "
            f"{format_money(total.get('idle_cost_per_year'), currency)} per year"
            + (f"; {plural(len(unpriced), 'product')} without a price ("
               + ", ".join(f"{p['product_name']}: {format_int(p['licenses_idle'])} idle" for p in unpriced)
               + ") not valued." if unpriced else "."))
    parts, text = [f"<p>{esc(line)}</p>"], [line]
    if rows:
        markup, table_text = _table(["Product", "Idle licences", "Price per month", "Idle per month", "Idle per year"],
                                    rows, numeric=[1, 2, 3, 4])
        parts.append(markup)
        text += table_text
    return _fragment(parts, text)


def customer_support(view: CustomerView) -> Fragment:
    """The customer's how-to tickets per 100 active users, its segment, and the next step when above the threshold."""
    book = view.book
    if not book.settings.get("tickets_loaded"):
        return _paragraph("No support-ticket file was loaded: no support signal.")
    s = book.customer("support", view.customer["customer_id"])
    if s is None:
        return _paragraph("No support figures for this customer.")
    rate = "n/a (no active user)" if s["how_to_per_100"] is None else f"{s['how_to_per_100']:.1f}"
    line = (f"{plural(s['how_to_tickets'], 'how-to ticket')}, {format_int(s['break_fix_tickets'])} break-fix and "
            f"{format_int(s['other_tickets'])} other between {s['window_start']} and {s['window_end']}: {rate} how-to "
            f"tickets per 100 active users ({format_int(s['active_users'])} active); adoption segment {s['segment']}.")
    if s["support_heavy"]:
        step = (f"Support-heavy (threshold {book.settings.get('threshold_per_100', 10.0):g} per 100). "
                f"{s['support_next_step']}")
        return _fragment([f"<p>{esc(line)}</p>", _box(f"<b>Next step.</b> {esc(step)}", _WARN_COLOURS)], [line, step])
    return _paragraph(line + " Below the support-heavy threshold.")


def customer_book_figures(view: CustomerView) -> dict[str, Any]:
    """Flat figures for the report index: change since the previous export, renewal, own share, idle cost, support."""
    book = view.book
    cid = view.customer["customer_id"]
    rows = book.history_customers.sort("processed_at")
    now = rows.row(rows.height - 1, named=True) if rows.height > 1 else None
    renewal = book.customer("customer_renewals", cid) or {}
    own = book.customer("own_seats_customers", cid) or {}
    cost = book.customer("idle_cost_customers", cid) or {}
    support = book.customer("support", cid) or {}
    return {
        "segment_before": now["previous_segment"] if now else None,
        "usage_change_points": round(now["usage_change"] * 100, 1) if now and now["usage_change"] is not None else None,
        "trend_flags": _latest_flags(book.history_workloads).height,
        "days_to_renewal": renewal.get("days_to_renewal"),
        "renewal_queue_rank": renewal.get("queue_rank"),
        "own_share": _round(own.get("own_share")),
        "idle_cost_per_month": (round(cost["idle_cost_per_month"], 2)
                                if cost.get("idle_cost_per_month") is not None else None),
        "support_heavy": support.get("support_heavy"),
    }
