"""Property tests for adoption_kit.compute.metrics: invariants that must hold for any normalised input."""
from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adoption_kit import schema
from adoption_kit.compute import metrics

CUSTOMERS = ["c1", "c2", "c3", "c4"]
PRODUCTS = {"p1": "OFFICE 365 E3", "p2": "OFFICE 365 BUSINESS", "p3": "MICROSOFT FLOW FREE"}
WORKLOADS = ["Exchange", "SharePoint", "Teams", "Yammer"]
STAMPS = [dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)]
STATUSES = list(schema.SUBSCRIPTION_STATUSES)
EXCLUSIONS = pl.DataFrame({"product_id": ["p3"], "product_name": [None], "reason": ["free SKU"]},
                          schema={"product_id": pl.String, "product_name": pl.String, "reason": pl.String})

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

count = st.integers(min_value=0, max_value=60)


@st.composite
def inputs(draw) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Deployment, usage and subscription frames with unique keys per snapshot and any counts."""
    stamp = {c: draw(st.sampled_from(STAMPS)) for c in CUSTOMERS}  # one snapshot per customer and feed
    dep_keys = draw(st.sets(st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from(sorted(PRODUCTS))), max_size=8))
    dep_rows = [
        dict(processed_at=stamp[c], customer_id=c, customer_name=draw(st.sampled_from([f"Name {c}", None])),
             product_id=p, product_name=PRODUCTS[p], licenses_sold=draw(count), licenses_assigned=draw(count))
        for c, p in sorted(dep_keys)
    ]
    use_keys = draw(st.sets(st.tuples(st.sampled_from(CUSTOMERS), st.sampled_from(sorted(PRODUCTS)),
                                      st.sampled_from(WORKLOADS)), max_size=14))
    use_rows = [
        dict(processed_at=stamp[c], customer_id=c, customer_name=f"Name {c}", product_id=p,
             product_name=PRODUCTS[p], workload=w, workload_code=w[:3].upper(),
             licenses_qualified=draw(count), licenses_active=draw(count))
        for c, p, w in sorted(use_keys)
    ]
    sub_rows = [
        dict(customer_id=draw(st.sampled_from(CUSTOMERS)), subscription_id=f"s{i}",
             product_name=(name := PRODUCTS[draw(st.sampled_from(sorted(PRODUCTS)))]), product_key=name,
             status=draw(st.sampled_from(STATUSES)), is_trial=draw(st.booleans()))
        for i in range(draw(st.integers(min_value=0, max_value=5)))
    ]
    dep = pl.DataFrame([{k: r.get(k) for k in schema.DEPLOYMENT_COLUMNS} for r in dep_rows],
                       schema=schema.DEPLOYMENT_COLUMNS)
    use = pl.DataFrame([{k: r.get(k) for k in schema.USAGE_COLUMNS} for r in use_rows], schema=schema.USAGE_COLUMNS)
    subs = pl.DataFrame([{k: r.get(k) for k in schema.SUBSCRIPTION_COLUMNS} for r in sub_rows],
                        schema=schema.SUBSCRIPTION_COLUMNS)
    return dep, use, subs


def run(dep, use, subs) -> metrics.Metrics:
    return metrics.compute_frames(dep, use, subs, exclusions=EXCLUSIONS)


def frames(m: metrics.Metrics) -> dict[str, pl.DataFrame]:
    return {"workloads": m.workloads, "products": m.products, "customers": m.customers,
            "portfolio": m.portfolio, "excluded": m.excluded,
            "ranking": metrics.low_adoption_ranking(m.customers)}


@SETTINGS
@given(inputs())
def test_rates_and_idle_counts_are_never_negative(data):
    m = run(*data)
    for name, f in frames(m).items():
        for col in f.columns:
            if col.endswith("_rate") or col.startswith("licenses_") or col in (
                    "idle_share", "idle_share_lower_bound", "priority_score"):
                assert (f[col].drop_nulls() >= 0).all(), (name, col)
    p = m.products
    assert (p["licenses_unassigned"] == (p["licenses_sold"] - p["licenses_assigned"]).clip(0)).all()
    assert (p["licenses_inactive"] == (p["licenses_qualified"] - p["licenses_active"]).clip(0)).all()
    for f in (m.products, m.customers):
        # idle counts the known idle licences: a part that is unknown (null) adds nothing, never a 0 of its own
        either = pl.col("licenses_unassigned").is_not_null() | pl.col("licenses_inactive").is_not_null()
        idle = pl.sum_horizontal("licenses_unassigned", "licenses_inactive")
        known = f.select(pl.when(either).then(idle)).to_series()
        assert f["licenses_idle"].equals(known.cast(pl.Int64).alias("licenses_idle"))


def known_sum(column: pl.Series):
    """The sum over known rows; None when there are rows and none is known (missing is not zero)."""
    return None if column.len() and column.null_count() == column.len() else column.sum()


@SETTINGS
@given(inputs())
def test_portfolio_ratios_are_sum_over_sum_of_included_products(data):
    m = run(*data)
    inc = m.products.filter(~pl.col("excluded"))
    p = m.portfolio.row(0, named=True)
    sold, assigned = known_sum(inc["licenses_sold"]), known_sum(inc["licenses_assigned"])
    qualified, active = known_sum(inc["licenses_qualified"]), known_sum(inc["licenses_active"])
    assert (p["licenses_sold"], p["licenses_assigned"], p["licenses_qualified"], p["licenses_active"]) == (
        sold, assigned, qualified, active)
    assert p["deployment_rate"] == (assigned / sold if sold else None)
    assert p["usage_rate"] == (active / qualified if qualified else None)
    assert p["products"] == inc.height
    assert p["products_without_deployment"] == inc["licenses_sold"].null_count()
    assert p["products_without_usage"] == inc["licenses_qualified"].null_count()
    assert p["customers"] == inc["customer_id"].n_unique()
    for c in m.customers.iter_rows(named=True):
        own = inc.filter(pl.col("customer_id") == c["customer_id"])
        s, a = known_sum(own["licenses_sold"]), known_sum(own["licenses_assigned"])
        assert (c["licenses_sold"], c["licenses_assigned"]) == (s, a)
        assert c["deployment_rate"] == (a / s if s else None)


@SETTINGS
@given(inputs(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(data, rnd):
    dep, use, subs = data

    def shuffled(f: pl.DataFrame) -> pl.DataFrame:
        order = list(range(f.height))
        rnd.shuffle(order)
        return f[order] if order else f

    a, b = run(dep, use, subs), run(shuffled(dep), shuffled(use), shuffled(subs))
    for (name, fa), fb in zip(frames(a).items(), frames(b).values()):
        assert fa.equals(fb), name


@SETTINGS
@given(inputs())
def test_pandas_and_polars_inputs_agree(data):
    dep, use, subs = data
    a = run(dep, use, subs)
    b = metrics.compute_frames(dep.to_pandas(), use.to_pandas(), subs.to_pandas(), exclusions=EXCLUSIONS.to_pandas())
    for (name, fa), fb in zip(frames(a).items(), frames(b).values()):
        assert fa.equals(fb), name


@SETTINGS
@given(inputs())
def test_inflated_iff_usage_rate_over_one(data):
    m = run(*data)
    for f in (m.workloads, m.products):
        over = (f["usage_rate"] > 1).fill_null(False)
        assert (f["inflated"] == over).all()
        assert (f["inflation_causes"].is_not_null() == over).all()
    any_product = (m.products.filter(~pl.col("excluded")).group_by("customer_id")
                   .agg(pl.col("inflated").any().alias("any_inflated")))
    c = m.customers.join(any_product, on="customer_id", how="left")
    assert (c["inflated"] == ((c["usage_rate"] > 1).fill_null(False) | c["any_inflated"])).all()
    for causes in m.products["inflation_causes"].drop_nulls():
        parts = causes.split(";")
        assert parts == sorted(set(parts)) and set(parts) <= set(metrics.CAUSES)


@SETTINGS
@given(inputs())
def test_segments_follow_the_rules_and_ranking_is_ordered(data):
    m = run(*data)
    for f in (m.products, m.customers):
        assert set(f["segment"]) <= set(metrics.SEGMENTS)
        assert f["next_step"].null_count() == 0
        check = ((f["usage_rate"] > 1).fill_null(False) | (f["licenses_sold"] == 0)
                 | (f["deployment_rate"] > 1).fill_null(False))
        assert ((f["segment"] == "data_check") == check).all()
    r = metrics.low_adoption_ranking(m.customers)
    assert r["rank"].to_list() == list(range(1, r.height + 1))
    scores = r["priority_score"].to_list()
    assert scores == sorted(scores, reverse=True)
    assert (r["idle_share_lower_bound"] <= r["idle_share"] + 1e-12).all()
    assert set(r["segment"]) <= {"deploy", "adopt"}
