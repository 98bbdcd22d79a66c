"""The work queue (adoption_kit.worklist): renewal ordering, own seats, idle cost, support load; hand-built frames
and the sample's planted cases, pinned by hand-computed numbers (the arithmetic is in the comments)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest

from adoption_kit import schema
from adoption_kit.errors import ParameterError
from adoption_kit.worklist import (SUPPORT_NEXT_STEP, customer_renewals, idle_cost, idle_cost_by_customer, own_seats,
                                   own_seats_by_customer, renewal_queue, support_load)

TODAY = date(2026, 11, 1)
E3, D365 = "05e9a617-0261-4cee-bb44-138d3ef5d965", "be9f9771-1c64-4618-9907-244325141096"
HOSTILE = "<img src=x onerror=alert(1)>"


def utc(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc) if text else None


def products(rows: list[tuple]) -> pl.DataFrame:
    """(customer, product name, segment, usage, sold, unassigned, inactive[, excluded]) -> metrics-like product rows."""
    out = []
    for customer, name, segment, usage, sold, unassigned, inactive, *rest in rows:
        out.append({"customer_id": customer, "customer_name": customer.upper(), "product_id": f"id-{name}",
                    "product_name": name, "segment": segment,
                    "deployment_rate": (sold - unassigned) / sold if sold else None,
                    "usage_rate": usage, "licenses_sold": sold, "licenses_unassigned": unassigned,
                    "licenses_inactive": inactive, "licenses_idle": unassigned + inactive,
                    "excluded": bool(rest and rest[0])})
    return pl.DataFrame(out)


def subscriptions(rows: list[tuple]) -> pl.DataFrame:
    """(customer, product name, quantity, status, trial, term, commitment end, auto renew) -> normalised rows."""
    out = [{"customer_id": c, "subscription_id": f"s{i}", "product_name": p, "product_key": p.upper(), "quantity": q,
            "status": status, "is_trial": trial, "term_duration": term, "billing_cycle": "monthly",
            "commitment_end_at": utc(end), "auto_renew": auto}
           for i, (c, p, q, status, trial, term, end, auto) in enumerate(rows)]
    columns = {c: schema.SUBSCRIPTION_COLUMNS[c] for c in out[0]}
    return pl.DataFrame(out, schema=columns)


# ---------------------------------------------------------------------------
# Renewal queue
# ---------------------------------------------------------------------------
def test_renewal_queue_orders_by_when_seats_can_change():
    prods = products([
        ("a", "P-A", "adopt", 0.35, 60, 3, 37),    # annual, renews 2026-12-17: 30 + 16 = 46 days
        ("b", "P-B", "adopt", 0.40, 200, 0, 100),  # annual, renews 2027-08-01: 30+31+31+28+31+30+31+30+31 = 273 days
        ("c", "P-C", "deploy", 0.90, 20, 5, 0),    # monthly, renews 2026-11-20: 19 days
        ("d", "P-D", "adopt", 0.50, 4, 0, 2),      # no commitment end (9999-...): any time, 0 days
        ("e", "P-E", "healthy", 0.80, 50, 0, 10),  # renews in 9 days, but healthy: not queued
        ("f", "P-F", "adopt", 0.10, 50, 0, 45),    # no subscription of the partner: not in the frame
        ("g", "P-G", "adopt", 0.10, 50, 0, 45),    # an open trial only: not in the frame
        ("h", "P-H", "adopt", 0.50, 510, 0, 255),  # 3-year (2028-01-01) and monthly (2026-11-05: 4 days): soonest
        ("i", "P-I", "adopt", 0.45, 20, 0, 7),     # commitment ended 2026-10-20 (-12 days): now, 0 days
        ("j", "P-J", "deploy", 0.70, 100, 60, 0),  # annual, 46 days like "a", but 60 idle > 40: before "a"
    ])
    subs = subscriptions([
        ("a", "P-A", 60, "active", False, "P1Y", "2026-12-17", True),
        ("b", "P-B", 200, "active", False, "P1Y", "2027-08-01", True),
        ("c", "P-C", 20, "active", False, "P1M", "2026-11-20", True),
        ("d", "P-D", 4, "active", False, None, None, False),
        ("e", "P-E", 50, "active", False, "P1Y", "2026-11-10", True),
        ("g", "P-G", 50, "active", True, "P1M", "2026-11-15", False),
        ("h", "P-H", 500, "active", False, "P3Y", "2028-01-01", True),
        ("h", "P-H", 10, "active", False, "P1M", "2026-11-05", True),
        ("h", "P-H", 99, "suspended", False, "P1M", "2026-11-02", True),   # not active: ignored
        ("i", "P-I", 20, "active", False, "P1Y", "2026-10-20", True),
        ("j", "P-J", 100, "active", False, "P1Y", "2026-12-17", False),
    ])
    queue = renewal_queue(prods, subs, today=TODAY, horizon_days=60)
    assert queue.get_column("customer_id").to_list() == ["i", "d", "h", "c", "j", "a", "b", "e"]
    assert queue.get_column("queue_rank").to_list() == [1, 2, 3, 4, 5, 6, 7, None]
    rows = {r["customer_id"]: r for r in queue.to_dicts()}
    assert (rows["a"]["days_to_renewal"], rows["a"]["days_to_change"], str(rows["a"]["change_at"])) == (46, 46, "2026-12-17")
    assert rows["a"]["term"] == "annual" and "only at renewal" in rows["a"]["change_rule"]
    assert (rows["b"]["days_to_change"], rows["b"]["in_horizon"]) == (273, False)
    assert (rows["c"]["days_to_change"], rows["c"]["term"]) == (19, "monthly")
    assert (rows["d"]["days_to_renewal"], rows["d"]["days_to_change"]) == (None, 0)
    assert "any time" in rows["d"]["change_rule"] and rows["d"]["term"] == "unknown"
    assert (rows["h"]["days_to_change"], rows["h"]["term"], rows["h"]["subscriptions"], rows["h"]["own_quantity"]) == \
        (4, "monthly", 2, 510)
    assert (rows["i"]["days_to_renewal"], rows["i"]["days_to_change"]) == (-12, 0) and "passed" in rows["i"]["change_rule"]
    assert rows["e"]["queued"] is False and rows["e"]["days_to_change"] == 9
    assert rows["j"]["auto_renew"] is False
    per_customer = customer_renewals(queue).filter(pl.col("customer_id") == "h").row(0, named=True)
    assert (per_customer["queue_rank"], per_customer["days_to_renewal"], per_customer["renewal_product"]) == (3, 4, "P-H")


def test_renewal_queue_without_subscriptions_is_empty_and_checks_its_parameters():
    prods = products([("a", "P-A", "adopt", 0.35, 60, 3, 37)])
    assert renewal_queue(prods, None, today=TODAY).is_empty()
    with pytest.raises(ParameterError):
        renewal_queue(prods, None, today="2026-11-01")
    with pytest.raises(ParameterError):
        renewal_queue(prods, None, today=TODAY, horizon_days=-1)


# ---------------------------------------------------------------------------
# Own seats and idle cost
# ---------------------------------------------------------------------------
def test_own_seats_against_partner_center_totals():
    prods = products([("a", "P-A", "deploy", 0.9, 250, 155, 7), ("a", "P-B", "healthy", 0.9, 20, 2, 3),
                      ("b", "P-C", "data_check", 0.9, 0, 0, 0), ("c", "P-D", "healthy", 0.9, 10, 0, 0)])
    subs = subscriptions([("a", "P-A", 150, "active", False, "P1Y", "2027-08-15", True),
                          ("a", "P-A", 25, "active", True, "P1M", "2026-11-30", False),     # trial: not an entitlement
                          ("b", "P-C", 5, "active", False, "P1Y", "2027-01-01", True)])
    own = {r["product_name"]: r for r in own_seats(prods, subs).to_dicts()}
    # 150 of 250 yours: 100 elsewhere, share 150 / 250 = 0.6
    assert (own["P-A"]["own_quantity"], own["P-A"]["other_quantity"], own["P-A"]["own_share"]) == (150, 100, 0.6)
    assert own["P-B"]["own_quantity"] is None and own["P-B"]["own_share"] is None     # no subscription: unknown
    assert own["P-C"]["own_quantity"] == 5 and own["P-C"]["own_share"] is None        # sold 0: no share
    customers = {r["customer_id"]: r for r in own_seats_by_customer(own_seats(prods, subs)).to_dicts()}
    # customer a: 150 of (250 + 20) = 0.5556; customer c: no subscription at all -> null
    assert customers["a"]["own_share"] == pytest.approx(150 / 270) and customers["c"]["own_share"] is None


def test_idle_cost_values_priced_products_and_lists_the_others():
    prods = products([("a", "E3", "deploy", 0.9, 250, 155, 7), ("a", "D365", "healthy", 0.8, 20, 2, 3),
                      ("b", "FREE", "deploy", 0.0, 10000, 9997, 0, True)])
    prods = prods.with_columns(pl.col("product_id").replace({"id-E3": E3, "id-D365": D365}))
    prices = pl.DataFrame({"product_id": [E3, "id-FREE"], "product_name": ["Microsoft 365 E3", "free"],
                           "unit_price_per_month": [36.0, 0.0], "currency": ["USD", "USD"], "source_file": ["p", "p"]})
    valued, unpriced = idle_cost(prods, prices)
    # E3: idle 155 + 7 = 162 x 36.00 = 5,832.00 a month, x 12 = 69,984.00 a year
    assert valued.select("product_id", "licenses_idle", "idle_cost_per_month", "idle_cost_per_year").rows() == \
        [(E3, 162, 5832.0, 69984.0)]
    # D365 has no price: listed with its 2 + 3 = 5 idle licences, not valued (never a zero); the excluded free
    # SKU is neither valued nor listed, although the price list names it.
    assert unpriced.rows() == [(D365, "D365", 1, 5)]
    per_customer = idle_cost_by_customer(prods, valued).row(0, named=True)
    assert (per_customer["idle_cost_per_month"], per_customer["priced_idle_licenses"],
            per_customer["unpriced_idle_licenses"], per_customer["currency"]) == (5832.0, 162, 5, "USD")
    nothing, all_unpriced = idle_cost(prods, None)
    assert nothing.is_empty() and all_unpriced.height == 2


# ---------------------------------------------------------------------------
# Support load
# ---------------------------------------------------------------------------
def tickets(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame([{"customer_id": c, "ticket_id": f"t{i}", "opened_at": utc(at), "category": cat,
                          "category_raw": cat, "source_file": "t"} for i, (c, at, cat) in enumerate(rows)],
                        schema=schema.TICKET_COLUMNS)


def customers_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame([{"customer_id": c, "customer_name": c.upper(), "segment": seg, "licenses_active": active}
                         for c, seg, active in rows])


def test_support_load_window_rate_and_guards():
    # Window: the 90 days ending 2026-11-01, both included: 2026-11-01 - 89 days = 2026-08-04 .. 2026-11-01.
    rows = [("a", "2026-08-04T00:00:00", "how-to"), ("a", "2026-08-03T23:59:00", "how-to"),   # in / out
            ("a", "2026-11-01T23:59:00", "how-to"), ("a", "2026-11-02T00:00:00", "how-to"),   # in / out
            ("a", "2026-09-10T10:00:00", "how-to"), ("a", "2026-10-01T10:00:00", "how-to"),
            ("a", "2026-10-02T10:00:00", "how-to"), ("a", "2026-10-03T10:00:00", "break-fix"),
            ("a", "2026-10-04T10:00:00", "other"),
            ("b", "2026-10-01T10:00:00", "how-to"), ("b", "2026-10-02T10:00:00", "how-to"),
            ("c", "2026-10-01T10:00:00", "how-to"), ("c", "2026-10-02T10:00:00", "how-to"),
            ("c", "2026-10-03T10:00:00", "how-to"),
            ("zz", "2026-10-01T10:00:00", "how-to")]                                             # unknown tenant
    frame = support_load(customers_frame([("a", "adopt", 13), ("b", "upsell", 1), ("c", "healthy", 0),
                                          ("d", "healthy", 40)]), tickets(rows), today=TODAY)
    by = {r["customer_id"]: r for r in frame.to_dicts()}
    # a: 5 how-to in the window (08-04, 11-01, 09-10, 10-01, 10-02), 13 active: 100 x 5 / 13 = 38.4615 >= 10
    assert (by["a"]["how_to_tickets"], by["a"]["break_fix_tickets"], by["a"]["other_tickets"]) == (5, 1, 1)
    assert by["a"]["how_to_per_100"] == pytest.approx(38.4615, abs=1e-4)
    assert by["a"]["support_heavy"] is True and by["a"]["support_next_step"] == SUPPORT_NEXT_STEP
    assert "training (in person or online) plus self-service options" in SUPPORT_NEXT_STEP
    assert by["a"]["segment"] == "adopt"                                  # shown beside its adoption segment
    # b: 2 how-to for 1 active user = 200 per 100, but fewer than 3 tickets: not a pattern
    assert by["b"]["how_to_per_100"] == pytest.approx(200.0) and by["b"]["support_heavy"] is False
    # c: no active user: no rate, no flag; d: no ticket: 0 per 100
    assert by["c"]["how_to_per_100"] is None and by["c"]["support_heavy"] is False
    assert (by["d"]["how_to_tickets"], by["d"]["how_to_per_100"]) == (0, 0.0)
    assert (str(by["a"]["window_start"]), str(by["a"]["window_end"])) == ("2026-08-04", "2026-11-01")
    assert frame.get_column("customer_id").to_list()[0] == "a"              # flagged first
    # The threshold and the minimum are parameters.
    assert support_load(customers_frame([("a", "adopt", 13)]), tickets(rows), today=TODAY,
                        threshold_per_100=40.0).row(0, named=True)["support_heavy"] is False
    assert support_load(customers_frame([("b", "upsell", 1)]), tickets(rows), today=TODAY,
                        min_tickets=2).row(0, named=True)["support_heavy"] is True
    with pytest.raises(ParameterError):
        support_load(customers_frame([("a", "adopt", 1)]), None, today=TODAY, window_days=0)
