"""Golden-number tests for adoption_kit.compute.metrics: every expected figure is worked out by hand in a comment."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import pytest

from adoption_kit import config, schema
from adoption_kit.compute import metrics
from adoption_kit.config import Thresholds
from adoption_kit.errors import InputFileError, ParameterError

T1 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
T0 = dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc)
E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
BUSINESS = "cdd28e44-67e3-425e-be4c-737fab2899d3"
E1 = "18181a46-0d4e-45cd-891e-60aabd171b4e"
FLOW_FREE = "f30db892-07e9-47e9-837c-80727f46fd3d"
NAMES = {E3: "OFFICE 365 E3", BUSINESS: "OFFICE 365 BUSINESS", FLOW_FREE: "MICROSOFT FLOW FREE"}


# ---------------------------------------------------------------------------
# Tiny normalised frames with the schema dtypes
# ---------------------------------------------------------------------------
def frame(rows: list[dict], columns: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], schema=columns)


def dep(customer: str, product: str, sold: int, assigned: int, **extra) -> dict:
    row = dict(processed_at=T1, service_code="o365", service_name="Microsoft Office 365", channel="reseller",
               customer_id=customer, customer_name=f"Customer {customer}", product_id=product,
               product_name=NAMES.get(product, f"PRODUCT {product}"), licenses_sold=sold,
               licenses_assigned=assigned, source_file="deployment.json")
    row.update(extra)
    return row


def use(customer: str, product: str, workload: str, qualified: int, active: int, **extra) -> dict:
    code = {"Exchange": "EXO", "SharePoint": "SPO", "Skype For Business": "SFB", "Teams": "TEAMS",
            "Yammer": "YAMMER"}.get(workload, workload)
    row = dict(processed_at=T1, service_code="o365", service_name="Microsoft Office 365", channel="reseller",
               customer_id=customer, customer_name=f"Customer {customer}", product_id=product,
               product_name=NAMES.get(product, f"PRODUCT {product}"), workload_code=code, workload=workload,
               licenses_qualified=qualified, licenses_active=active, source_file="usage.json")
    row.update(extra)
    return row


def sub(customer: str, product_name: str, sub_id: str, status: str = "active", is_trial: bool = False,
        **extra) -> dict:
    key = " ".join(product_name.upper().split())
    row = dict(customer_id=customer, subscription_id=sub_id, product_name=product_name, product_key=key,
               quantity=10, status=status, status_raw=status.upper(), is_trial=is_trial, source_file="subs.json")
    row.update(extra)
    return row


def deployment(*rows: dict) -> pl.DataFrame:
    return frame(list(rows), schema.DEPLOYMENT_COLUMNS)


def usage(*rows: dict) -> pl.DataFrame:
    return frame(list(rows), schema.USAGE_COLUMNS)


def subscriptions(*rows: dict) -> pl.DataFrame:
    return frame(list(rows), schema.SUBSCRIPTION_COLUMNS)


def exclusions(*rows: tuple[str | None, str | None, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"product_id": pl.String, "product_name": pl.String, "reason": pl.String},
                        orient="row")


def one(df: pl.DataFrame, **where) -> dict:
    """The single row matching column == value filters."""
    hit = df.filter(*[pl.col(k) == v for k, v in where.items()])
    assert hit.height == 1, f"{where}: {hit.height} rows"
    return hit.row(0, named=True)


# ---------------------------------------------------------------------------
# Contract: columns and dtypes
# ---------------------------------------------------------------------------
def test_output_columns_match_the_contract():
    m = metrics.compute_frames(deployment(dep("c1", E3, 10, 8)), usage(use("c1", E3, "Exchange", 8, 6)))
    assert m.workloads.columns == [
        "customer_id", "customer_name", "product_id", "product_name", "workload", "workload_code",
        "licenses_qualified", "licenses_active", "usage_rate", "licenses_inactive", "inflated",
        "inflation_causes", "excluded"]
    assert m.products.columns == [
        "customer_id", "customer_name", "product_id", "product_name", "licenses_sold", "licenses_assigned",
        "licenses_qualified", "qualified_conflict", "licenses_active", "deployment_rate", "usage_rate",
        "licenses_unassigned", "licenses_inactive", "licenses_idle", "inflated", "inflation_causes",
        "segment", "next_step", "excluded", "exclusion_reason", "product_display_name"]
    assert m.customers.columns == [
        "customer_id", "customer_name", "products", "licenses_sold", "licenses_assigned", "licenses_qualified",
        "licenses_active", "deployment_rate", "usage_rate", "licenses_unassigned", "licenses_inactive",
        "licenses_idle", "inflated", "inflation_causes", "segment", "next_step",
        "products_without_deployment", "products_without_usage"]
    for col in ("customers", "products", "licenses_sold", "licenses_assigned", "licenses_qualified",
                "licenses_active", "deployment_rate", "usage_rate", "median_customer_deployment_rate",
                "median_customer_usage_rate", "licenses_idle", "processed_at_min", "processed_at_max"):
        assert col in m.portfolio.columns
    assert m.portfolio.height == 1
    for f in (m.workloads, m.products, m.customers, m.portfolio):
        for col, dtype in f.schema.items():
            if col.startswith("licenses_") or col in ("customers", "products"):
                assert dtype == pl.Int64, col
            if col.endswith("_rate"):
                assert dtype == pl.Float64, col
    assert m.excluded.columns == m.products.columns


# ---------------------------------------------------------------------------
# Workload level
# ---------------------------------------------------------------------------
def test_workload_usage_rate_and_inactive():
    w = metrics.workload_metrics(usage(
        use("c1", E3, "Exchange", 10, 7),
        use("c1", E3, "SharePoint", 0, 0),
        use("c1", E3, "Teams", 10, 12),
    ))
    exo = one(w, workload="Exchange")
    assert exo["usage_rate"] == pytest.approx(0.7)  # 7 active / 10 qualified = 0.7
    assert exo["licenses_inactive"] == 3            # max(10 - 7, 0) = 3
    assert exo["inflated"] is False and exo["inflation_causes"] is None
    spo = one(w, workload="SharePoint")
    assert spo["usage_rate"] is None                # qualified 0 -> null, not 0 and not inf
    assert spo["licenses_inactive"] == 0
    teams = one(w, workload="Teams")
    assert teams["usage_rate"] == pytest.approx(1.2)  # 12 / 10 = 1.2, stored uncapped
    assert teams["licenses_inactive"] == 0            # max(10 - 12, 0) = 0
    assert teams["inflated"] is True and teams["inflation_causes"] == "unexplained"


def test_workload_yammer_cause_while_product_is_not_inflated():
    rows = (use("c1", E3, "Exchange", 10, 8), use("c1", E3, "Yammer", 10, 15))
    w = metrics.workload_metrics(usage(*rows))
    yam = one(w, workload="Yammer")
    assert yam["usage_rate"] == pytest.approx(1.5)  # 15 / 10
    assert yam["inflation_causes"] == "yammer"
    p = metrics.compute_frames(deployment(dep("c1", E3, 10, 10)), usage(*rows)).products
    row = one(p, product_id=E3)
    assert row["licenses_active"] == 8  # Yammer's 15 ignored: Exchange is the only other workload
    assert row["inflated"] is False


def test_viva_engage_label_counts_as_yammer():
    w = metrics.workload_metrics(usage(use("c1", E3, "Viva Engage", 4, 9)))
    assert one(w, customer_id="c1")["inflation_causes"] == "yammer"


# ---------------------------------------------------------------------------
# Product level
# ---------------------------------------------------------------------------
def test_product_counts_rates_and_idle():
    m = metrics.compute_frames(
        deployment(dep("c1", E3, 20, 15)),
        usage(use("c1", E3, "Exchange", 15, 9), use("c1", E3, "SharePoint", 15, 6), use("c1", E3, "Teams", 15, 11)),
    )
    p = one(m.products, product_id=E3)
    assert p["deployment_rate"] == pytest.approx(0.75)  # 15 assigned / 20 sold
    assert p["licenses_qualified"] == 15                # same on every workload row, not 3 x 15
    assert p["qualified_conflict"] is False
    assert p["licenses_active"] == 11                   # max(9, 6, 11)
    assert p["usage_rate"] == pytest.approx(11 / 15)    # 11 active / 15 qualified = 0.7333
    assert p["licenses_unassigned"] == 5                # 20 - 15
    assert p["licenses_inactive"] == 4                  # 15 - 11
    assert p["licenses_idle"] == 9                      # 5 + 4


def test_qualified_conflict_takes_the_largest_and_flags():
    p = metrics.compute_frames(
        deployment(dep("c1", E3, 12, 12)),
        usage(use("c1", E3, "Exchange", 10, 6), use("c1", E3, "SharePoint", 12, 3)),
    ).products
    row = one(p, product_id=E3)
    assert row["licenses_qualified"] == 12   # max(10, 12)
    assert row["qualified_conflict"] is True
    assert row["usage_rate"] == pytest.approx(0.5)  # max active 6 / 12 = 0.5


def test_product_active_ignores_yammer_when_other_workloads_exist():
    p = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 10)),
        usage(use("c1", E3, "Exchange", 10, 7), use("c1", E3, "SharePoint", 10, 5), use("c1", E3, "Yammer", 10, 9)),
    ).products
    row = one(p, product_id=E3)
    assert row["licenses_active"] == 7                  # max(7, 5); Yammer's 9 is not used
    assert row["usage_rate"] == pytest.approx(0.7)      # 7 / 10


def test_product_qualified_comes_from_the_same_non_yammer_rows_as_active():
    # Yammer lists more seats (12) than the paid workloads (10): active 7 (Exchange) is over 10, not 12
    p = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 10)),
        usage(use("c1", E3, "Exchange", 10, 7), use("c1", E3, "Yammer", 12, 11)),
    ).products
    row = one(p, product_id=E3)
    assert (row["licenses_qualified"], row["licenses_active"]) == (10, 7)
    assert row["usage_rate"] == pytest.approx(0.7)      # 7 / 10, not 7 / 12
    assert row["licenses_inactive"] == 3                 # 10 - 7
    assert row["qualified_conflict"] is True            # the rows disagree: said so


def test_yammer_only_product_uses_yammer_and_blames_it_when_over_100():
    p = metrics.compute_frames(
        deployment(dep("c1", BUSINESS, 10, 10)), usage(use("c1", BUSINESS, "Yammer", 10, 13)),
    ).products
    row = one(p, product_id=BUSINESS)
    assert row["licenses_active"] == 13                 # Yammer is the only workload
    assert row["usage_rate"] == pytest.approx(1.3)      # 13 / 10, not capped
    assert row["inflated"] is True
    assert row["inflation_causes"] == "yammer"
    assert row["segment"] == "data_check"
    assert "Yammer" in row["next_step"]


def test_sold_zero_gives_null_deployment_rate_and_data_check():
    p = metrics.compute_frames(
        deployment(dep("c1", E3, 0, 4)), usage(use("c1", E3, "Exchange", 4, 3)),
    ).products
    row = one(p, product_id=E3)
    assert row["deployment_rate"] is None           # 4 / 0 is undefined, not infinite
    assert row["usage_rate"] == pytest.approx(0.75)  # 3 / 4
    assert row["licenses_unassigned"] == 0           # max(0 - 4, 0)
    assert row["segment"] == "data_check"
    assert "bought elsewhere" in row["next_step"] and "subscriptions" in row["next_step"]
    assert "assigned 4" in row["next_step"]


def test_usage_without_deployment_row_has_unknown_sold_not_zero():
    # Missing is not zero: no deployment row -> sold and assigned unknown (null), and the segment follows the
    # usage rule instead of "sold 0 -> bought elsewhere".
    p = metrics.compute_frames(deployment(), usage(use("c1", E3, "Exchange", 6, 6),
                                                   use("c1", BUSINESS, "Exchange", 10, 3))).products
    row = one(p, product_id=E3)
    assert (row["licenses_sold"], row["licenses_assigned"], row["licenses_unassigned"]) == (None, None, None)
    assert row["deployment_rate"] is None
    assert row["usage_rate"] == pytest.approx(1.0)  # 6 / 6 is not over 100 %
    assert row["licenses_idle"] == 0                # inactive 6 - 6 = 0; unassigned unknown adds nothing
    assert row["inflated"] is False
    assert row["segment"] == "healthy"              # not over 1, not under 0.6; upsell needs a deployment rate
    assert "bought elsewhere" not in row["next_step"]
    assert "no licenses deployment row" in row["next_step"] and "unknown (not 0)" in row["next_step"]
    low = one(p, product_id=BUSINESS)
    assert low["segment"] == "adopt"                # 3 / 10 = 0.3 < 0.6
    assert "Licenses assigned but not active: 7 of 10" in low["next_step"]
    assert "Deployment unknown" in low["next_step"]


def test_no_deployment_export_gives_unknown_deployment_at_every_level():
    m = metrics.compute_frames(deployment(), usage(use("c1", E3, "Exchange", 10, 9),
                                                   use("c2", E3, "Exchange", 4, 1)))
    for c in m.customers.iter_rows(named=True):
        assert (c["licenses_sold"], c["licenses_assigned"], c["deployment_rate"]) == (None, None, None)
        assert c["products_without_deployment"] == 1 and c["products_without_usage"] == 0
        assert "Deployment unknown" in c["next_step"]
    assert one(m.customers, customer_id="c1")["segment"] == "healthy"   # 9 / 10 = 0.9
    assert one(m.customers, customer_id="c2")["segment"] == "adopt"     # 1 / 4 = 0.25
    p = m.portfolio.row(0, named=True)
    assert (p["licenses_sold"], p["licenses_assigned"], p["deployment_rate"]) == (None, None, None)
    assert p["median_customer_deployment_rate"] is None
    assert (p["licenses_qualified"], p["licenses_active"]) == (14, 10)   # 10 + 4, 9 + 1
    assert p["usage_rate"] == pytest.approx(10 / 14)
    assert p["licenses_idle"] == 4                                        # inactive 1 + 3
    assert (p["products_without_deployment"], p["products_without_usage"]) == (2, 0)


def test_customer_sums_are_over_known_products_and_count_the_unknown():
    # c1: E3 has both feeds (sold 10, assigned 8; qualified 8, active 6); BUSINESS has usage only
    # (qualified 5, active 5); a third product has deployment only (sold 4, assigned 1).
    m = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 8), dep("c1", E1, 4, 1)),
        usage(use("c1", E3, "Exchange", 8, 6), use("c1", BUSINESS, "Exchange", 5, 5)))
    c = one(m.customers, customer_id="c1")
    assert (c["licenses_sold"], c["licenses_assigned"]) == (14, 9)            # 10 + 4, 8 + 1
    assert c["deployment_rate"] == pytest.approx(9 / 14)
    assert (c["licenses_qualified"], c["licenses_active"]) == (13, 11)        # 8 + 5, 6 + 5
    assert c["usage_rate"] == pytest.approx(11 / 13)
    assert (c["products_without_deployment"], c["products_without_usage"]) == (1, 1)
    assert c["licenses_unassigned"] == 5                                      # 2 + 3
    assert c["licenses_inactive"] == 2                                        # 2 + 0
    assert c["licenses_idle"] == 7
    assert c["segment"] == "deploy"                                           # 9 / 14 = 0.64 < 0.8
    assert "1 product(s) have none" in c["next_step"]
    assert "Deployment covers only the products with a deployment row" in c["next_step"]
    only_dep = one(m.products, product_id=E1)
    assert (only_dep["licenses_qualified"], only_dep["licenses_active"], only_dep["licenses_inactive"]) == (
        None, None, None)
    assert only_dep["licenses_idle"] == 3                                     # unassigned 4 - 1
    assert "Usage unknown" in only_dep["next_step"]


def test_deployment_without_usage_rows_has_null_usage_and_falls_through():
    p = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 9), dep("c1", BUSINESS, 10, 5)), usage(),
    ).products
    healthy = one(p, product_id=E3)
    assert (healthy["licenses_qualified"], healthy["licenses_active"]) == (None, None)   # unknown, not 0
    assert healthy["usage_rate"] is None
    # 9 / 10 = 0.9 >= 0.8: not deploy; null usage can be neither adopt nor upsell -> healthy
    assert healthy["segment"] == "healthy"
    low = one(p, product_id=BUSINESS)
    assert low["segment"] == "deploy"  # 5 / 10 = 0.5 < 0.8


# ---------------------------------------------------------------------------
# Over 100 %: causes from subscriptions
# ---------------------------------------------------------------------------
def _inflated_product(subs: pl.DataFrame | None, workload: str = "Exchange") -> dict:
    # 12 active / 10 qualified = 1.2 > 1
    m = metrics.compute_frames(deployment(dep("c1", E3, 10, 10)), usage(use("c1", E3, workload, 10, 12)), subs)
    row = one(m.products, product_id=E3)
    assert row["usage_rate"] == pytest.approx(1.2)
    assert row["inflated"] is True
    return row


def test_unexplained_without_subscriptions():
    row = _inflated_product(None)
    assert row["inflation_causes"] == "unexplained"
    assert row["segment"] == "data_check"
    assert "no cause in the data" in row["next_step"]


def test_trial_subscription_is_a_cause():
    row = _inflated_product(subscriptions(sub("c1", "Office 365 E3", "s1", is_trial=True)))
    assert row["inflation_causes"] == "trial"
    assert "trial" in row["next_step"]


def test_unconverted_trial_dates_are_a_trial_but_a_converted_one_is_not():
    open_trial = sub("c1", "Office 365 E3", "s1", trial_start_at=T0)
    assert _inflated_product(subscriptions(open_trial))["inflation_causes"] == "trial"
    converted = sub("c1", "Office 365 E3", "s1", trial_start_at=T0, trial_converted_at=T1)
    assert _inflated_product(subscriptions(converted))["inflation_causes"] == "unexplained"


@pytest.mark.parametrize("status", ["suspended", "deprovisioned", "grace_period", "disabled", "expired", "deleted"])
def test_duplicate_subscription_with_an_inactive_second_one(status):
    subs = subscriptions(sub("c1", "OFFICE 365 E3", "s1"), sub("c1", "OFFICE 365 E3", "s2", status=status))
    row = _inflated_product(subs)
    assert row["inflation_causes"] == "duplicate_subscription"
    assert "two or more subscriptions" in row["next_step"]


def test_two_active_subscriptions_or_one_suspended_alone_are_not_duplicates():
    both_active = subscriptions(sub("c1", "OFFICE 365 E3", "s1"), sub("c1", "OFFICE 365 E3", "s2"))
    assert _inflated_product(both_active)["inflation_causes"] == "unexplained"
    single = subscriptions(sub("c1", "OFFICE 365 E3", "s1", status="suspended"))
    assert _inflated_product(single)["inflation_causes"] == "unexplained"
    same_id_twice = subscriptions(sub("c1", "OFFICE 365 E3", "s1"),
                                  sub("c1", "OFFICE 365 E3", "s1", status="suspended"))
    assert _inflated_product(same_id_twice)["inflation_causes"] == "unexplained"  # one subscription, two rows


def test_subscriptions_of_other_customers_or_products_do_not_count():
    subs = subscriptions(
        sub("c2", "OFFICE 365 E3", "s1", is_trial=True),
        sub("c1", "OFFICE 365 BUSINESS", "s2", is_trial=True),
    )
    # c1's subscription matches no licence product of c1 (it has E3 only), so whether E3 has a trial or a second
    # subscription cannot be checked: said so, rather than a plain "unexplained"
    row = _inflated_product(subs)
    assert row["inflation_causes"] == "unchecked_no_subscription_match"
    assert "no subscription of the customer matches this product" in row["next_step"]


def test_unexplained_when_every_subscription_of_the_customer_matches_another_product():
    m = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 10), dep("c1", BUSINESS, 5, 5)),
        usage(use("c1", E3, "Exchange", 10, 12), use("c1", BUSINESS, "Exchange", 5, 5)),
        subscriptions(sub("c1", "OFFICE 365 BUSINESS", "s2", is_trial=True)))
    assert one(m.products, product_id=E3)["inflation_causes"] == "unexplained"


def test_marketing_offer_names_match_legacy_licence_names_through_the_catalog():
    # Licence feeds: legacy upper-case names; subscriptions: offerName marketing names (exports.md section 2).
    legacy = {E3: "OFFICE 365 ENTERPRISE E3", E1: "OFFICE 365 ENTERPRISE E1"}
    d = deployment(*[dep("c1", g, 10, 10, product_name=n) for g, n in legacy.items()])
    u = usage(*[use("c1", g, "Exchange", 10, 12, product_name=n) for g, n in legacy.items()])
    subs = subscriptions(sub("c1", "Office 365 E3", "s1", status="active"),
                         sub("c1", "Office 365 E3", "s2", status="suspended"),
                         sub("c1", "Office 365 E1 Trial", "s3"))   # isTrial false: the name says trial
    p = metrics.compute_frames(d, u, subs).products
    assert one(p, product_id=E3)["inflation_causes"] == "duplicate_subscription"   # 2 subs, one suspended
    assert one(p, product_id=E1)["inflation_causes"] == "trial"


def test_products_get_the_catalog_display_name_and_keep_the_exported_one():
    new = "0f0f0f0f-0000-4000-8000-000000000001"
    d = deployment(dep("c1", E3, 10, 8, product_name="OFFICE 365 ENTERPRISE E3"),
                   dep("c1", BUSINESS, 5, 5, product_name="OFFICE 365 BUSINESS"),
                   dep("c1", new, 1, 1, product_name="CONTOSO NEW"),
                   dep("c1", None, 2, 2, product_name="office 365 enterprise e1"))   # no productId: by name
    p = metrics.compute_frames(d, usage()).products
    assert one(p, product_id=E3)["product_display_name"] == "Office 365 E3"
    assert one(p, product_id=E3)["product_name"] == "OFFICE 365 ENTERPRISE E3"
    assert one(p, product_id=BUSINESS)["product_display_name"] == "Microsoft 365 Apps for Business"
    assert one(p, product_id=new)["product_display_name"] == "CONTOSO NEW"           # unknown SKU: as exported
    assert one(p, product_id="name:OFFICE 365 ENTERPRISE E1")["product_display_name"] == "Office 365 E1"


def test_a_product_missing_from_the_catalog_still_matches_by_folded_name():
    new = "0f0f0f0f-0000-4000-8000-000000000001"   # not in the packaged catalog
    d = deployment(dep("c1", new, 10, 10, product_name="CONTOSO COPILOT PLUS"))
    u = usage(use("c1", new, "Exchange", 10, 12, product_name="CONTOSO COPILOT PLUS"))
    p = metrics.compute_frames(d, u, subscriptions(sub("c1", "Contoso  Copilot plus", "s1", is_trial=True))).products
    assert one(p, product_id=new)["inflation_causes"] == "trial"


def test_subscription_name_matches_case_and_whitespace_insensitively():
    subs = subscriptions(sub("c1", "office 365   e3 ", "s1", is_trial=True, product_key=None))
    assert _inflated_product(subs)["inflation_causes"] == "trial"


def test_combined_causes_are_sorted_and_joined():
    subs = subscriptions(
        sub("c1", "OFFICE 365 E3", "s1", is_trial=True),
        sub("c1", "OFFICE 365 E3", "s2", status="deprovisioned"),
    )
    assert _inflated_product(subs)["inflation_causes"] == "duplicate_subscription;trial"
    row = _inflated_product(subs, workload="Yammer")  # Yammer-only product
    assert row["inflation_causes"] == "duplicate_subscription;trial;yammer"
    assert "two or more subscriptions" in row["next_step"] and "trial" in row["next_step"]
    assert "Yammer" in row["next_step"]
    w = metrics.compute_frames(deployment(dep("c1", E3, 10, 10)), usage(use("c1", E3, "Yammer", 10, 12)),
                               subs).workloads
    assert one(w, workload="Yammer")["inflation_causes"] == "duplicate_subscription;trial;yammer"


def test_causes_are_only_given_to_inflated_rows():
    subs = subscriptions(sub("c1", "OFFICE 365 E3", "s1", is_trial=True))
    m = metrics.compute_frames(deployment(dep("c1", E3, 10, 10)), usage(use("c1", E3, "Exchange", 10, 9)), subs)
    row = one(m.products, product_id=E3)
    assert row["inflated"] is False and row["inflation_causes"] is None  # 9 / 10 = 0.9


# ---------------------------------------------------------------------------
# Segments and thresholds
# ---------------------------------------------------------------------------
def _segment(sold: int, assigned: int, qualified: int, active: int, thresholds: Thresholds = Thresholds()) -> dict:
    m = metrics.compute_frames(
        deployment(dep("c1", E3, sold, assigned)), usage(use("c1", E3, "Exchange", qualified, active)),
        thresholds=thresholds,
    )
    return one(m.products, product_id=E3)


@pytest.mark.parametrize(
    ("sold", "assigned", "qualified", "active", "segment"),
    [
        (10, 7, 7, 7, "deploy"),      # 7/10 = 0.70 < 0.80
        (10, 8, 8, 8, "healthy"),     # 8/10 = 0.80 is not < 0.80 -> not deploy; usage 8/8 = 1.0 but deploy 0.8 < 0.9
        (10, 8, 8, 4, "adopt"),       # deploy 0.80 ok; usage 4/8 = 0.5 < 0.60
        (10, 10, 10, 6, "healthy"),   # usage 6/10 = 0.60 is not < 0.60; 0.6 < 0.9 -> not upsell
        (10, 9, 10, 9, "upsell"),     # deploy 9/10 = 0.90 >= 0.90 and usage 9/10 = 0.90 >= 0.90
        (100, 90, 100, 89, "healthy"),  # deploy 0.90 but usage 89/100 = 0.89 < 0.90
        (10, 5, 10, 1, "deploy"),     # 0.5 < 0.8 and 0.1 < 0.6: deploy wins over adopt
        (10, 5, 5, 6, "data_check"),  # usage 6/5 = 1.2 > 1 wins over deploy (0.5)
        (0, 0, 5, 1, "data_check"),   # sold == 0 wins over adopt (1/5 = 0.2)
        (10, 12, 12, 3, "data_check"),  # assigned 12 > sold 10: 12/10 = 1.2 > 1 wins over adopt (3/12 = 0.25)
        (10, 10, 10, 3, "adopt"),     # 10/10 = 1.0 is not over 1: usage 3/10 = 0.3 < 0.6
    ],
)
def test_segments_and_threshold_edges(sold, assigned, qualified, active, segment):
    assert _segment(sold, assigned, qualified, active)["segment"] == segment


def test_exact_deploy_threshold_is_not_deploy():
    # 8 / 10 = 0.8 exactly: "deployment_rate < 0.80" is false; usage 8/10 = 0.8 -> healthy
    row = _segment(10, 8, 10, 8)
    assert row["deployment_rate"] == 0.8
    assert row["segment"] == "healthy"


def test_custom_thresholds_move_the_edges():
    strict = Thresholds(deploy=0.95, adopt=0.9, upsell=1.0)
    assert _segment(10, 9, 10, 9, strict)["segment"] == "deploy"   # 0.9 < 0.95
    assert _segment(10, 10, 10, 8, strict)["segment"] == "adopt"   # deploy 1.0; usage 0.8 < 0.9
    assert _segment(10, 10, 10, 10, strict)["segment"] == "upsell"  # 1.0 >= 1.0 twice
    loose = Thresholds(deploy=0.5, adopt=0.3, upsell=0.6)
    assert _segment(10, 6, 10, 6, loose)["segment"] == "upsell"    # 0.6 >= 0.6 twice
    assert _segment(10, 7, 10, 7)["segment"] == "deploy"           # same data, default 0.7 < 0.8


def test_thresholds_must_be_a_thresholds_object():
    with pytest.raises(ParameterError):
        metrics.compute_frames(deployment(), usage(), thresholds={"deploy": 0.8})


def test_next_step_texts_carry_the_counts():
    deploy_row = _segment(10, 7, 7, 7)
    assert deploy_row["next_step"].startswith("Licenses not yet assigned: 3 of 10.")  # 10 - 7 = 3
    adopt_row = _segment(10, 8, 8, 4)
    assert adopt_row["next_step"].startswith("Licenses assigned but not active: 4 of 8.")  # 8 - 4 = 4
    assert "case studies" in adopt_row["next_step"] and "tutorial" in adopt_row["next_step"]
    assert "next product" in _segment(10, 9, 10, 9)["next_step"]
    assert "keep monitoring" in _segment(10, 10, 10, 6)["next_step"]
    assert set(metrics.SEGMENTS) <= {k.split(":")[0] for k in metrics.NEXT_STEPS}


def test_more_assigned_than_sold_says_licenses_came_from_elsewhere():
    row = _segment(10, 12, 12, 12)  # 12 assigned / 10 sold = 1.2
    assert row["deployment_rate"] == 1.2 and row["licenses_unassigned"] == 0  # max(10 - 12, 0) = 0
    assert row["next_step"].startswith("More licenses assigned than sold through you (12 assigned, 10 sold)")


def test_assign_segments_works_on_a_hand_built_frame():
    f = pl.DataFrame({
        "licenses_sold": [10, 10], "licenses_assigned": [5, 10], "licenses_qualified": [5, 0],
        "licenses_unassigned": [5, 0], "licenses_inactive": [0, 0],
        "deployment_rate": [0.5, 1.0], "usage_rate": [None, 1.5],
    }, schema_overrides={"usage_rate": pl.Float64})
    out = metrics.assign_segments(f)
    assert out["segment"].to_list() == ["deploy", "data_check"]
    assert "no cause in the data" in out["next_step"][1]  # no inflation_causes column -> unexplained


# ---------------------------------------------------------------------------
# Customers and portfolio
# ---------------------------------------------------------------------------
def test_customer_sums_and_weighted_ratios():
    m = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 10), dep("c1", BUSINESS, 90, 45)),
        usage(use("c1", E3, "Exchange", 10, 9), use("c1", BUSINESS, "Exchange", 45, 9)),
    )
    c = one(m.customers, customer_id="c1")
    assert c["products"] == 2
    assert (c["licenses_sold"], c["licenses_assigned"]) == (100, 55)  # 10 + 90, 10 + 45
    assert c["deployment_rate"] == pytest.approx(0.55)  # 55 / 100 (the mean of 1.0 and 0.5 would be 0.75)
    assert c["usage_rate"] == pytest.approx(18 / 55)     # (9 + 9) / (10 + 45) = 0.327 (mean of ratios: 0.55)
    assert c["licenses_unassigned"] == 45                # 0 + 45
    assert c["licenses_inactive"] == 37                  # 1 + 36
    assert c["licenses_idle"] == 82                      # 45 + 37
    assert c["segment"] == "deploy"                      # 0.55 < 0.8
    assert c["next_step"].startswith("Licenses not yet assigned: 45 of 100.")


def test_customer_inflated_by_a_product_and_union_of_causes():
    subs = subscriptions(sub("c1", "OFFICE 365 BUSINESS", "s1", is_trial=True))
    m = metrics.compute_frames(
        deployment(dep("c1", E3, 100, 100), dep("c1", BUSINESS, 10, 10)),
        usage(use("c1", E3, "Exchange", 100, 50), use("c1", BUSINESS, "Yammer", 10, 15)),
        subs,
    )
    c = one(m.customers, customer_id="c1")
    assert c["usage_rate"] == pytest.approx(65 / 110)  # (50 + 15) / (100 + 10) = 0.59: not over 1
    assert c["inflated"] is True                       # ... but BUSINESS is (15 / 10 = 1.5)
    assert c["inflation_causes"] == "trial;yammer"
    assert c["segment"] == "adopt"                     # segment uses the customer's own 0.59 < 0.60


def test_customer_ratio_over_one_without_product_cause_is_unexplained():
    # E3: qualified 0, active 5 -> usage_rate null, not inflated; BUSINESS 10/10 = 1.0, not inflated
    m = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 10), dep("c1", BUSINESS, 10, 10)),
        usage(use("c1", E3, "Exchange", 0, 5), use("c1", BUSINESS, "Exchange", 10, 10)),
    )
    assert m.products["inflated"].to_list() == [False, False]
    c = one(m.customers, customer_id="c1")
    assert c["usage_rate"] == pytest.approx(1.5)  # (5 + 10) / (0 + 10) = 1.5
    assert c["inflated"] is True
    assert c["inflation_causes"] == "unexplained"
    assert c["segment"] == "data_check"


def test_portfolio_weighted_ratio_differs_from_mean_and_median():
    m = metrics.compute_frames(
        deployment(dep("a", E3, 10, 5), dep("b", E3, 10, 9), dep("c", E3, 80, 80), dep("d", E3, 10, 10)),
        usage(use("a", E3, "Exchange", 5, 1), use("b", E3, "Exchange", 9, 9), use("c", E3, "Exchange", 80, 40)),
    )
    p = m.portfolio.row(0, named=True)
    assert p["customers"] == 4 and p["products"] == 4
    assert (p["licenses_sold"], p["licenses_assigned"]) == (110, 104)  # 10+10+80+10, 5+9+80+10
    assert p["deployment_rate"] == pytest.approx(104 / 110)  # 0.9455; mean of 0.5, 0.9, 1.0, 1.0 = 0.85
    # median of customer deployment rates 0.5, 0.9, 1.0, 1.0 = (0.9 + 1.0) / 2 = 0.95
    assert p["median_customer_deployment_rate"] == pytest.approx(0.95)
    assert p["usage_rate"] == pytest.approx(50 / 94)  # (1 + 9 + 40) / (5 + 9 + 80) = 0.5319
    # d has no usage rows -> null usage; median of 0.2, 1.0, 0.5 = 0.5 (mean would be 0.5667)
    assert p["median_customer_usage_rate"] == pytest.approx(0.5)
    assert p["licenses_idle"] == 50  # unassigned 5+1+0+0 = 6, inactive 4+0+40+0 = 44
    assert p["processed_at_min"] == T1 and p["processed_at_max"] == T1
    assert p["excluded_products"] == 0


def test_empty_inputs_give_empty_frames_and_a_zero_portfolio():
    m = metrics.compute_frames(deployment(), usage(), subscriptions())
    assert m.workloads.height == m.products.height == m.customers.height == 0
    p = m.portfolio.row(0, named=True)
    assert (p["customers"], p["products"], p["licenses_sold"], p["licenses_idle"]) == (0, 0, 0, 0)
    assert p["deployment_rate"] is None and p["median_customer_usage_rate"] is None
    assert p["processed_at_min"] is None


# ---------------------------------------------------------------------------
# Exclusions
# ---------------------------------------------------------------------------
def test_excluded_products_are_reported_but_left_out_of_sums():
    excl = exclusions((FLOW_FREE.upper(), "Microsoft Power Automate Free", "free SKU"))
    m = metrics.compute_frames(
        deployment(dep("c1", E3, 10, 5), dep("c1", FLOW_FREE, 10000, 3)),
        usage(use("c1", E3, "Exchange", 5, 5), use("c1", FLOW_FREE, "Exchange", 3, 1)),
        exclusions=excl,
    )
    free = one(m.products, product_id=FLOW_FREE)
    assert free["excluded"] is True and free["exclusion_reason"] == "free SKU"
    assert free["licenses_unassigned"] == 9997  # still computed and reported: 10000 - 3
    assert one(m.products, product_id=E3)["excluded"] is False
    assert one(m.workloads, product_id=FLOW_FREE)["excluded"] is True
    assert m.excluded["product_id"].to_list() == [FLOW_FREE]
    c = one(m.customers, customer_id="c1")
    assert (c["products"], c["licenses_sold"], c["licenses_assigned"]) == (1, 10, 5)  # E3 only
    assert c["deployment_rate"] == pytest.approx(0.5)  # 5 / 10, not (5 + 3) / 10010
    p = m.portfolio.row(0, named=True)
    assert (p["products"], p["excluded_products"], p["licenses_sold"]) == (1, 1, 10)


def test_customer_with_only_excluded_products_is_not_ranked_or_summed():
    excl = exclusions((FLOW_FREE, None, "free SKU"))
    m = metrics.compute_frames(deployment(dep("c9", FLOW_FREE, 50, 0)), usage(), exclusions=excl)
    assert m.products.height == 1 and m.excluded.height == 1
    assert m.customers.height == 0
    assert metrics.low_adoption_ranking(m.customers).height == 0
    assert m.portfolio["customers"][0] == 0


def test_name_only_exclusion_matches_case_insensitively():
    excl = exclusions((None, "office 365  business", "device SKU"))
    p = metrics.compute_frames(deployment(dep("c1", BUSINESS, 1, 1), dep("c1", E3, 1, 1)), usage(),
                               exclusions=excl).products
    assert one(p, product_id=BUSINESS)["exclusion_reason"] == "device SKU"
    assert one(p, product_id=E3)["excluded"] is False


def test_guid_rows_match_names_only_when_the_data_has_no_guid():
    excl = exclusions((FLOW_FREE, "Microsoft Flow Free", "free SKU"))
    no_guid = dep("c1", "name:MICROSOFT FLOW FREE", 5, 5, product_name="MICROSOFT FLOW FREE")
    other_guid = dep("c1", "11111111-2222-3333-4444-555555555555", 5, 5, product_name="Microsoft Flow Free")
    p = metrics.compute_frames(deployment(no_guid, other_guid), usage(), exclusions=excl).products
    assert one(p, product_id="name:MICROSOFT FLOW FREE")["excluded"] is True
    assert one(p, product_id="11111111-2222-3333-4444-555555555555")["excluded"] is False


def test_packaged_exclusion_list_loads_and_holds_known_free_skus():
    excl = metrics.load_exclusions()
    assert excl.columns == ["product_id", "product_name", "reason"]
    ids = set(excl["product_id"].drop_nulls().to_list())
    assert {FLOW_FREE, "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235", "710779e8-3d4a-4c88-adb9-386c958d1fdf",
            "6470687e-a428-4b7a-bef2-8a291ad947c9", "726a0894-2c77-4d65-99da-9775ef05aad1",
            "6070a4c8-34c6-4937-8dfb-39bbc6397a60", "440eaaa8-b3e0-484b-a8be-62870b9ba70a"} <= ids
    assert excl["reason"].null_count() == 0
    assert excl.filter(pl.col("product_id").is_null())["product_name"].null_count() == 0
    assert config.DEFAULT_EXCLUSIONS_FILE.is_file()
    assert metrics.load_exclusions(config.DEFAULT_EXCLUSIONS_FILE).equals(excl)


def test_load_exclusions_reports_every_problem(tmp_path):
    bad = tmp_path / "excl.csv"
    bad.write_text("Product_Id,product name,REASON\nnot-a-guid,X,free\n,,free\n" + FLOW_FREE + ",Y,\n",
                   encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        metrics.load_exclusions(bad)
    problems = err.value.problems
    assert [(p.row, p.column) for p in problems] == [(1, "product_id"), (2, None), (3, "reason")]
    missing = tmp_path / "cols.csv"
    missing.write_text("product_id,reason\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="product_name"):
        metrics.load_exclusions(missing)
    with pytest.raises(InputFileError):
        metrics.load_exclusions(tmp_path / "absent.csv")


def test_load_exclusions_accepts_a_bom_and_upper_case_guid(tmp_path):
    f = tmp_path / "excl.csv"
    f.write_bytes(b"\xef\xbb\xbfproduct_id,product_name,reason\n" + FLOW_FREE.upper().encode() + b",Flow,free\n")
    assert metrics.load_exclusions(f)["product_id"].to_list() == [FLOW_FREE]


# ---------------------------------------------------------------------------
# Low-adoption ranking
# ---------------------------------------------------------------------------
def _customers(*rows: tuple[str, str, str, int, int, int]) -> pl.DataFrame:
    """(id, name, segment, sold, qualified, idle) rows of a hand-built customers frame."""
    return pl.DataFrame(rows, schema={"customer_id": pl.String, "customer_name": pl.String, "segment": pl.String,
                                      "licenses_sold": pl.Int64, "licenses_qualified": pl.Int64,
                                      "licenses_idle": pl.Int64}, orient="row")


# Wilson lower bound, z = 1.96, z² = 3.8416:  (p + z²/2n - z*sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
# tiny:  n = 2,    p = 2/2 = 1:      (1 + 0.9604 - 1.96*sqrt(0 + 0.2401)) / (1 + 1.9208)
#                                     = (1.9604 - 1.96*0.49) / 2.9208 = 1 / 2.9208 = 0.342372;
#                                     score 2 * 0.342372 = 0.684744
# big:   n = 500,  p = 200/500 = 0.4: (0.4 + 0.0038416 - 1.96*sqrt(0.00048 + 0.0000038416)) / 1.0076832
#                                     = (0.4038416 - 1.96*0.0219964) / 1.0076832 = 0.3607287 / 1.0076832 = 0.357978
#                                     score 500 * 0.357978 = 178.989
# twenty: n = 20,  p = 1:           20 / (20 + 3.8416) = 0.838870;  score 20 * 0.838870 = 16.7774
# huge:  n = 1000, p = 5/1000 = 0.005: (0.005 + 0.0019208 - 1.96*sqrt(0.000004975 + 0.00000096040)) / 1.0038416
#                                     = (0.0069208 - 1.96*0.00243627) / 1.0038416 = 0.00214572 / 1.0038416 = 0.0021375
#                                     score 1000 * 0.0021375 = 2.1375
def test_ranking_is_fair_to_small_accounts():
    r = metrics.low_adoption_ranking(_customers(
        ("t", "Tiny", "deploy", 2, 0, 2),
        ("b", "Big", "deploy", 500, 300, 200),
        ("w", "Twenty", "adopt", 20, 20, 20),
        ("h", "Huge", "adopt", 1000, 1000, 5),
    ))
    assert r["customer_id"].to_list() == ["b", "w", "h", "t"]
    assert r["rank"].to_list() == [1, 2, 3, 4]
    by = {row["customer_id"]: row for row in r.iter_rows(named=True)}
    assert by["t"]["idle_share"] == pytest.approx(1.0)
    assert by["t"]["idle_share_lower_bound"] == pytest.approx(0.342372, abs=1e-6)
    assert by["t"]["priority_score"] == pytest.approx(0.684744, abs=1e-6)
    assert by["b"]["idle_share"] == pytest.approx(0.4)
    assert by["b"]["idle_share_lower_bound"] == pytest.approx(0.357978, abs=1e-6)
    assert by["b"]["priority_score"] == pytest.approx(178.989, abs=1e-3)
    assert by["w"]["idle_share_lower_bound"] == pytest.approx(0.838870, abs=1e-6)
    assert by["w"]["priority_score"] == pytest.approx(16.7774, abs=1e-4)
    assert by["h"]["idle_share_lower_bound"] == pytest.approx(0.0021375, abs=1e-7)
    assert by["h"]["priority_score"] == pytest.approx(2.1375, abs=1e-4)


def test_ranking_uses_max_of_sold_and_qualified_and_clips_share():
    # n = max(4, 10) = 10; idle 4 -> p = 0.4:
    # (0.4 + 0.19208 - 1.96*sqrt(0.024 + 0.009604)) / (1 + 0.38416) = (0.59208 - 1.96*0.183314) / 1.38416
    #   = 0.2327847 / 1.38416 = 0.168178;  score 10 * 0.168178 = 1.68178
    # idle 30 on n = 20 clips to p = 1 -> 20 / 23.8416 = 0.838870
    r = metrics.low_adoption_ranking(_customers(
        ("x", "X", "adopt", 4, 10, 4),
        ("y", "Y", "deploy", 20, 0, 30),
    ))
    by = {row["customer_id"]: row for row in r.iter_rows(named=True)}
    assert by["x"]["idle_share_lower_bound"] == pytest.approx(0.168178, abs=1e-6)
    assert by["x"]["priority_score"] == pytest.approx(1.68178, abs=1e-5)
    assert by["y"]["idle_share"] == 1.0
    assert by["y"]["idle_share_lower_bound"] == pytest.approx(0.838870, abs=1e-6)


def test_ranking_keeps_only_deploy_and_adopt_and_breaks_ties():
    r = metrics.low_adoption_ranking(_customers(
        ("k2", "Same", "adopt", 10, 10, 5),
        ("k1", "Same", "adopt", 10, 10, 5),
        ("a", "Alpha", "deploy", 10, 10, 5),
        ("u", "Upsell", "upsell", 10, 10, 9),
        ("d", "Check", "data_check", 10, 10, 9),
        ("h", "Healthy", "healthy", 10, 10, 9),
    ))
    # equal scores: by customer_name (Alpha < Same), then customer_id (k1 < k2)
    assert r["customer_id"].to_list() == ["a", "k1", "k2"]
    assert metrics.low_adoption_ranking(_customers(("a", "A", "deploy", 10, 10, 5)), limit=0).height == 0


def test_ranking_limit_and_z():
    cust = _customers(("a", "A", "deploy", 10, 10, 5), ("b", "B", "deploy", 100, 100, 50))
    assert metrics.low_adoption_ranking(cust, limit=1)["customer_id"].to_list() == ["b"]
    # a larger z gives a smaller (more cautious) lower bound
    lo = metrics.low_adoption_ranking(cust, z=3.0)["idle_share_lower_bound"]
    hi = metrics.low_adoption_ranking(cust, z=1.0)["idle_share_lower_bound"]
    assert all(x < y for x, y in zip(lo, hi))
    for bad in ({"z": 0}, {"z": -1.0}, {"z": float("nan")}, {"limit": -1}, {"limit": 1.5}):
        with pytest.raises(ParameterError):
            metrics.low_adoption_ranking(cust, **bad)


def test_ranking_from_compute_customers():
    m = metrics.compute_frames(
        deployment(dep("s", E3, 2, 0), dep("l", E3, 500, 300)),
        usage(use("l", E3, "Exchange", 300, 300)),
    )
    r = metrics.low_adoption_ranking(m.customers)
    assert r["customer_id"].to_list() == ["l", "s"]  # 178.99 > 0.68 (see the Wilson numbers above)
    assert r["licenses_idle"].to_list() == [200, 2]
    assert r.columns[0] == "rank" and r.columns[-3:] == ["idle_share", "idle_share_lower_bound", "priority_score"]


# ---------------------------------------------------------------------------
# Inputs: pandas, Exports, snapshots, names, order, validation
# ---------------------------------------------------------------------------
def _mixed_inputs():
    d = deployment(dep("c1", E3, 10, 8), dep("c2", BUSINESS, 5, 1), dep("c3", FLOW_FREE, 1, 1))
    u = usage(use("c1", E3, "Exchange", 8, 9), use("c1", E3, "Yammer", 8, 2), use("c2", BUSINESS, "Teams", 1, 0),
              use("c4", E3, "Exchange", 3, 0))
    s = subscriptions(sub("c1", "OFFICE 365 E3", "s1", is_trial=True), sub("c1", "OFFICE 365 E3", "s2",
                                                                            status="suspended"))
    e = exclusions((FLOW_FREE, None, "free SKU"))
    return d, u, s, e


def _assert_same(a: metrics.Metrics, b: metrics.Metrics) -> None:
    for name in ("workloads", "products", "customers", "portfolio", "excluded"):
        assert getattr(a, name).equals(getattr(b, name)), name


def test_pandas_input_gives_the_same_result_as_polars():
    d, u, s, e = _mixed_inputs()
    _assert_same(metrics.compute_frames(d, u, s, exclusions=e),
                 metrics.compute_frames(d.to_pandas(), u.to_pandas(), s.to_pandas(), exclusions=e.to_pandas()))
    assert metrics.workload_metrics(u.to_pandas()).equals(metrics.workload_metrics(u))
    m = metrics.compute_frames(d, u, s, exclusions=e)
    assert metrics.customer_metrics(m.products.to_pandas()).equals(m.customers)
    assert metrics.low_adoption_ranking(m.customers.to_pandas()).equals(metrics.low_adoption_ranking(m.customers))


def test_compute_reads_the_feeds_of_an_exports_object():
    @dataclass(frozen=True)
    class Exports:
        deployment: pl.DataFrame
        usage: pl.DataFrame
        subscriptions: pl.DataFrame
        activity: pl.DataFrame | None = None

    d, u, s, e = _mixed_inputs()
    _assert_same(metrics.compute(Exports(d, u, s), exclusions=e), metrics.compute_frames(d, u, s, exclusions=e))
    with pytest.raises(ParameterError):
        metrics.compute_frames([1, 2], u)


def test_public_functions_agree_with_compute():
    d, u, s, e = _mixed_inputs()
    m = metrics.compute_frames(d, u, s, exclusions=e)
    assert metrics.product_metrics(d, u, s, exclusions=e).equals(m.products)
    assert metrics.customer_metrics(m.products).equals(m.customers)
    assert metrics.portfolio_summary(m.customers, m.products, sources=(d, u)).equals(m.portfolio)
    assert metrics.workload_metrics(u, s, exclusions=e).equals(m.workloads)


def test_outputs_are_sorted_by_name_then_id():
    m = metrics.compute_frames(
        deployment(dep("z", E3, 1, 1, customer_name="Alpha"), dep("a", E3, 1, 1, customer_name="Beta"),
                   dep("z", BUSINESS, 1, 1, customer_name="Alpha")),
        usage(),
    )
    assert m.customers["customer_id"].to_list() == ["z", "a"]  # Alpha before Beta
    # OFFICE 365 BUSINESS < OFFICE 365 E3
    assert m.products.select("customer_id", "product_id").rows() == [("z", BUSINESS), ("z", E3), ("a", E3)]


def test_latest_snapshot_per_customer_and_latest_name():
    d = deployment(
        dep("c1", E3, 10, 2, processed_at=T0, customer_name="Old Name"),
        dep("c1", E3, 10, 9, processed_at=T1, customer_name=None),
        dep("c2", E3, 4, 4, processed_at=T0),
    )
    u = usage(use("c1", E3, "Exchange", 9, 9, processed_at=T1, customer_name="New Name"))
    m = metrics.compute_frames(d, u)
    c1 = one(m.products, customer_id="c1")
    assert c1["licenses_assigned"] == 9           # the T1 row; the T0 row (2) is an older snapshot
    assert c1["customer_name"] == "New Name"     # latest non-null name (T1 in usage)
    c2 = one(m.products, customer_id="c2")
    assert c2["licenses_assigned"] == 4          # c2's newest snapshot is T0
    p = m.portfolio.row(0, named=True)
    assert (p["processed_at_min"], p["processed_at_max"]) == (T0, T1)


def test_repeated_rows_are_dropped_and_conflicting_rows_raise():
    same = deployment(dep("c1", E3, 10, 8), dep("c1", E3, 10, 8, source_file="copy.json"))
    assert metrics.compute_frames(same, usage()).products["licenses_sold"].to_list() == [10]
    clash = deployment(dep("c1", E3, 10, 8), dep("c1", E3, 10, 7))
    with pytest.raises(ParameterError, match="conflicting"):
        metrics.compute_frames(clash, usage())


def test_missing_or_negative_counts_are_refused():
    with pytest.raises(ParameterError, match="licenses_active"):
        metrics.compute_frames(deployment(), usage(use("c1", E3, "Exchange", 5, -1)))
    with pytest.raises(ParameterError, match="licenses_sold"):
        metrics.compute_frames(deployment(dep("c1", E3, None, 1)), usage())
    with pytest.raises(ParameterError, match="no column"):
        metrics.compute_frames(deployment().drop("licenses_sold"), usage())


def test_missing_product_id_falls_back_to_the_name():
    p = metrics.compute_frames(deployment(dep("c1", None, 3, 3, product_name="Some  Product")), usage()).products
    assert p["product_id"].to_list() == ["name:SOME PRODUCT"]
