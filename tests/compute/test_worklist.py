"""The work queue (adoption_kit.compute.worklist): renewal ordering, own seats, idle cost, support load;
hand-built frames and the sample's planted cases, pinned by hand-computed numbers
(the arithmetic is in the comments)."""
from __future__ import annotations

import csv
from datetime import date, datetime, timezone

import polars as pl
import pytest
from raw_pages import raw_records

from adoption_kit import analysis, schema
from adoption_kit.compute.worklist import (
    SUPPORT_NEXT_STEP,
    customer_renewals,
    idle_cost,
    idle_cost_by_customer,
    own_seats,
    own_seats_by_customer,
    renewal_queue,
    support_load,
)
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.report import actions, book
from adoption_kit.sample.generator import generate_sample

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
    assert (rows["a"]["days_to_renewal"], rows["a"]["days_to_change"], str(rows["a"]["change_at"])) == \
        (46, 46, "2026-12-17")
    assert rows["a"]["term"] == "annual" and "only at renewal" in rows["a"]["change_rule"]
    assert (rows["b"]["days_to_change"], rows["b"]["in_horizon"]) == (273, False)
    assert (rows["c"]["days_to_change"], rows["c"]["term"]) == (19, "monthly")
    assert (rows["d"]["days_to_renewal"], rows["d"]["days_to_change"]) == (None, 0)
    assert "any time" in rows["d"]["change_rule"] and rows["d"]["term"] == "unknown"
    assert (rows["h"]["days_to_change"], rows["h"]["term"], rows["h"]["subscriptions"], rows["h"]["own_quantity"]) == \
        (4, "monthly", 2, 510)
    assert (rows["i"]["days_to_renewal"], rows["i"]["days_to_change"]) == (-12, 0)
    assert "passed" in rows["i"]["change_rule"]
    assert rows["e"]["queued"] is False and rows["e"]["days_to_change"] == 9
    assert rows["j"]["auto_renew"] is False
    per_customer = customer_renewals(queue).filter(pl.col("customer_id") == "h").row(0, named=True)
    assert (per_customer["queue_rank"], per_customer["days_to_renewal"], per_customer["renewal_product"]) == \
        (3, 4, "P-H")


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


# ---------------------------------------------------------------------------
# The sample's planted cases
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    return generate_sample(50, 7).planted




def test_planted_renewal_soon_with_low_usage_comes_first(sample, planted):
    # '=HYPERLINK(...)': annual subscription from 2023-12-17, commitment end 2026-12-17; the newest export is
    # 2026-11-01, so 30 (rest of November) + 16 = 46 days, inside 60. Usage 20 of 57 = 35.1% < 60% (adopt).
    (tenant,) = planted["renewal_soon_low_usage"]
    queue = sample.book.renewals
    row = queue.filter(pl.col("customer_id") == tenant.lower()).row(0, named=True)
    assert (row["days_to_renewal"], row["days_to_change"], str(row["change_at"])) == (46, 46, "2026-12-17")
    assert row["usage_rate"] == pytest.approx(20 / 57) and row["segment"] == "adopt"
    assert row["queued"] and row["in_horizon"] and row["auto_renew"] is True and row["own_quantity"] == 60
    # Idle: 60 - 57 = 3 unassigned + 57 - 20 = 37 inactive = 40.
    assert row["licenses_idle"] == 40
    queued = queue.filter(pl.col("queued"))
    before = queued.filter(pl.col("queue_rank") < row["queue_rank"]).get_column("days_to_change")
    after = queued.filter(pl.col("queue_rank") > row["queue_rank"]).get_column("days_to_change")
    assert before.max() <= 46 <= after.min()
    # The low-adoption ranking puts Northhaven Logistics (812 idle) above it; its seats change only in 247 days,
    # so the renewal queue puts this account first.
    northhaven = sample.ranking.filter(pl.col("customer_name") == "Northhaven Logistics A/S").row(0, named=True)
    mine = sample.ranking.filter(pl.col("customer_id") == tenant.lower()).row(0, named=True)
    assert northhaven["rank"] < mine["rank"]
    other = queued.filter(pl.col("customer_name") == "Northhaven Logistics A/S").row(0, named=True)
    assert other["days_to_change"] == 247 and other["queue_rank"] > row["queue_rank"]


def test_planted_own_seats_partial(sample, planted):
    # '<img ...>': MICROSOFT 365 E3, 250 sold in Partner Center, 150 on the partner's subscription:
    # 100 elsewhere, share 150 / 250 = 60%.
    (tenant,) = planted["own_seats_partial"]
    row = sample.book.own_seats.filter((pl.col("customer_id") == tenant.lower()) & (pl.col("product_id") == E3)).row(
        0, named=True)
    assert (row["licenses_sold"], row["own_quantity"], row["other_quantity"], row["own_share"]) == (250, 150, 100, 0.6)
    shown = book.own_seats_summary(sample, top_n=10)
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown.html and HOSTILE not in shown.html
    assert "150" in shown.text and "60.0%" in shown.text


def test_planted_unpriced_product_is_listed_not_valued(sample, planted):
    (tenant,) = planted["unpriced_product"]
    tenant = tenant.lower()
    # '<img ...>': E3 idle = (250 - 95) unassigned + (95 - 88) inactive = 162 x 36.00 = 5,832.00 / month,
    # 69,984.00 / year; Dynamics 365 Sales Professional idle = (20 - 18) + (18 - 15) = 5: no price, not valued.
    cost = sample.book.customer("idle_cost_customers", tenant)
    assert (cost["idle_cost_per_month"], cost["idle_cost_per_year"]) == (5832.0, 69984.0)
    assert (cost["priced_idle_licenses"], cost["unpriced_idle_licenses"], cost["currency"]) == (162, 5, "USD")
    assert sample.book.idle_cost.filter((pl.col("customer_id") == tenant) & (pl.col("product_id") == D365)).is_empty()
    # Portfolio: every holder of the unpriced product, from the raw records:
    # idle = sold - deployed + qualified - max active
    deployment = [r for r in raw_records(SAMPLE_DIR, "deployment") if r["productId"].lower() == D365]
    usage = [r for r in raw_records(SAMPLE_DIR, "usage") if r["productId"].lower() == D365]
    idle = sum(d["licensesSold"] - d["licensesDeployed"] for d in deployment) + sum(
        r["licensesQualified"] - r["licensesActive"] for r in usage)        # one (CRM) workload row each
    (row,) = sample.book.unpriced.to_dicts()
    assert (row["product_id"], row["customers"], row["licenses_idle"]) == (D365, len(deployment), idle)
    text = book.idle_cost_summary(sample, top_n=5).text
    assert "DYNAMICS 365 FOR SALES PROFESSIONAL" in text and "never counted as zero" in text


def test_planted_support_heavy_account(sample, planted):
    # Riverfield Print: how-to tickets on 10-29, 10-22, 10-07, 09-02 and 08-04 (day 89: in); 08-03 (day 90) is out.
    # Break-fix: 10-27, 09-22; other: 10-17 (Billing). Active users 13 (Exchange, its busiest workload; the free
    # Power Automate SKU is excluded): 100 x 5 / 13 = 38.46 how-to tickets per 100 active users >= 10.
    (tenant,) = planted["support_heavy"]
    row = sample.book.customer("support", tenant.lower())
    assert (row["how_to_tickets"], row["break_fix_tickets"], row["other_tickets"], row["active_users"]) == (5, 2, 1, 13)
    assert row["how_to_per_100"] == pytest.approx(500 / 13) == pytest.approx(38.4615, abs=1e-4)
    assert row["support_heavy"] is True and row["segment"] == "upsell"
    (few,) = planted["support_few_tickets"]
    small = sample.book.customer("support", few.lower())   # 2 how-to tickets, 1 active user: 200 per 100, only 2
    assert (small["how_to_tickets"], small["how_to_per_100"], small["support_heavy"]) == (2, 200.0, False)
    assert sample.book.support.filter(pl.col("support_heavy")).get_column("customer_id").to_list() == [tenant.lower()]


def test_action_csv_carries_the_work_queue(sample, planted, tmp_path):
    written = actions.write_action_list(sample, str(tmp_path / "crm.csv"))
    with (tmp_path / "crm.csv").open(encoding="utf-8", newline="") as handle:
        rows = {r["customer_id"]: r for r in csv.DictReader(handle)}
    assert written.rows == len(rows) == sample.ranking.height
    (tenant,) = planted["renewal_soon_low_usage"]
    row = rows[tenant.lower()]
    # 40 idle x 12.50 = 500.00 a month; renewal in 46 days on 2026-12-17
    assert (row["days_to_renewal"], row["renewal_date"], row["idle_cost_per_month"], row["currency"],
            row["support_heavy"]) == ("46", "2026-12-17", "500.0", "USD", "false")
    assert row["customer_name"].startswith("'=HYPERLINK")                # still formula-safe
    assert set(actions.ACTION_COLUMNS) >= {"days_to_renewal", "idle_cost_per_month", "support_heavy"}


def test_without_optional_inputs_the_book_says_so(tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(SAMPLE_DIR, bare, ignore=shutil.ignore_patterns("prices.csv", "support-tickets.csv",
                                                                     "subscriptions.csv"))
    result = analysis.prepare(bare)
    assert result.book.renewals.is_empty() and result.book.idle_cost.is_empty() and result.book.support.is_empty()
    assert result.book.unpriced.is_empty()
    assert "No subscriptions export" in book.renewal_queue_table(result, top_n=5).text
    assert "No price list" in book.idle_cost_summary(result, top_n=5).text
    assert "No support-ticket file" in book.support_signal(result, top_n=5).text
    figures = book.book_figures(result)
    assert figures["idle_cost_per_month"] is None and figures["support_heavy_accounts"] == 0
    crm = actions.action_list(result)
    assert crm.get_column("days_to_renewal").null_count() == crm.height
