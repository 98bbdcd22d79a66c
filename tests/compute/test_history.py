"""The book over time (adoption_kit.compute.history): robust drop/spike flags, the denominator guard, segment changes,
and the planted history of the sample, pinned by hand-computed numbers (the arithmetic is in the comments)."""
from __future__ import annotations

import shutil
import statistics
from datetime import datetime, timezone
from types import SimpleNamespace

import polars as pl
import pytest
from raw_pages import raw_records

from adoption_kit import analysis, schema
from adoption_kit.compute.history import latest_period, robust_z, segment_changes, snapshot_history
from adoption_kit.config import SAMPLE_DIR, Thresholds
from adoption_kit.errors import ParameterError
from adoption_kit.sample.generator import generate_sample

SEP = datetime(2026, 9, 1, tzinfo=timezone.utc)
OCT = datetime(2026, 10, 1, tzinfo=timezone.utc)
NOV = datetime(2026, 11, 1, tzinfo=timezone.utc)
PRODUCT = "6fd2c87f-b296-42f0-b197-1e91e994b900"


def cid(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-000000000000"


def book(rows: list[tuple]) -> SimpleNamespace:
    """Exports-like frames from (processed_at, customer index, sold, assigned, qualified, {workload: active})."""
    dep, use = [], []
    for at, i, sold, assigned, qualified, actives in rows:
        common = {"processed_at": at, "service_code": "o365", "service_name": "Microsoft Office 365",
                  "channel": "reseller", "customer_id": cid(i), "customer_name": f"Customer {i}",
                  "product_id": PRODUCT, "product_name": "OFFICE 365 ENTERPRISE E3", "source_file": "test"}
        dep.append({**common, "licenses_sold": sold, "licenses_assigned": assigned})
        for workload, active in actives.items():
            use.append({**common, "workload_code": workload.upper()[:3], "workload": workload,
                        "licenses_qualified": qualified, "licenses_active": active})
    return SimpleNamespace(deployment=pl.DataFrame(dep, schema=schema.DEPLOYMENT_COLUMNS),
                           usage=pl.DataFrame(use, schema=schema.USAGE_COLUMNS), subscriptions=None)


def changes_book(before: list[int], after: list[int], qualified: int = 100) -> SimpleNamespace:
    rows = [(OCT, i, qualified, qualified, qualified, {"Exchange": a}) for i, a in enumerate(before)]
    rows += [(NOV, i, qualified, qualified, qualified, {"Exchange": a}) for i, a in enumerate(after)]
    return book(rows)


def nov_rows(history) -> dict[str, dict]:
    return {r["customer_id"]: r for r in history.workloads.filter(pl.col("processed_at") == NOV).to_dicts()}


# ---------------------------------------------------------------------------
# The method, on hand-built frames
# ---------------------------------------------------------------------------
def test_robust_z_with_mad_flags_the_outlier_only():
    # 100 qualified users each; active 50 in October, then +0, +1, -1, +2, -2, +0, -30 seats in November:
    # changes 0, .01, -.01, .02, -.02, 0, -.30.  Sorted: -.30 -.02 -.01 0 0 .01 .02 -> median 0.
    # |change - 0|: 0 .01 .01 .02 .02 0 .30 -> sorted 0 0 .01 .01 .02 .02 .30 -> MAD .01.
    # z(-.30) = 0.6745 x -.30 / .01 = -20.235 (flag: drop); z(.02) = 0.6745 x .02 / .01 = 1.349 (no flag).
    history = snapshot_history(changes_book([50] * 7, [50, 51, 49, 52, 48, 50, 20]))
    rows = nov_rows(history)
    assert rows[cid(6)]["usage_change"] == pytest.approx(-0.30)
    assert rows[cid(6)]["peer_median"] == pytest.approx(0.0) and rows[cid(6)]["peer_mad"] == pytest.approx(0.01)
    assert rows[cid(6)]["robust_z"] == pytest.approx(-20.235)
    assert rows[cid(6)]["trend_flag"] == "drop" and rows[cid(6)]["peers"] == 7
    assert rows[cid(3)]["robust_z"] == pytest.approx(1.349)
    assert [r["customer_id"] for r in rows.values() if r["trend_flag"]] == [cid(6)]
    # The first snapshot has nothing to compare with.
    assert history.workloads.filter(pl.col("processed_at") == OCT).get_column("usage_change").null_count() == 7
    customers = {r["customer_id"]: r for r in history.customers.filter(pl.col("processed_at") == NOV).to_dicts()}
    assert (customers[cid(6)]["drops"], customers[cid(6)]["spikes"]) == (1, 0)


def test_mad_zero_falls_back_to_the_mean_absolute_deviation():
    # Changes 0, 0, 0, 0, +.10, -.40 (qualified 100, active 50 -> 50, 50, 50, 50, 60, 10).
    # Sorted -.40 0 0 0 0 .10 -> median 0; deviations 0 0 0 0 .10 .40 -> MAD = (0 + 0) / 2 = 0.
    # Mean absolute deviation = (.10 + .40) / 6 = .083333; z = change / (1.253314 x .083333) = change / .1044428.
    # z(-.40) = -3.8299 (|z| >= 3.5: drop); z(.10) = 0.9575 (no flag).
    history = snapshot_history(changes_book([50] * 6, [50, 50, 50, 50, 60, 10]))
    rows = nov_rows(history)
    assert rows[cid(5)]["peer_mad"] == 0.0
    assert rows[cid(5)]["robust_z"] == pytest.approx(-0.40 / (1.253314 * 0.5 / 6))
    assert rows[cid(5)]["robust_z"] == pytest.approx(-3.8299, abs=1e-4)
    assert rows[cid(5)]["trend_flag"] == "drop"
    assert rows[cid(4)]["robust_z"] == pytest.approx(0.9575, abs=1e-4) and rows[cid(4)]["trend_flag"] is None


def test_no_spread_or_too_few_peers_flags_nothing():
    same = nov_rows(snapshot_history(changes_book([50] * 6, [40] * 6)))   # every change -.10: no spread
    assert all(r["robust_z"] is None and r["trend_flag"] is None for r in same.values())
    few = nov_rows(snapshot_history(changes_book([50] * 4, [50, 50, 51, 10])))   # 4 peers < min_peers 5
    assert all(r["robust_z"] is None and r["trend_flag"] is None for r in few.values())
    assert nov_rows(snapshot_history(changes_book([50] * 4, [50, 50, 51, 10]), min_peers=4))[cid(3)]["trend_flag"] \
        == "drop"


def test_spike_and_materiality_floor():
    # Changes 0 x5, +.01, +.03 (qualified 100). Median 0; deviations 0 x5, .01, .03 -> MAD 0; mean AD = .04 / 7.
    # z(.03) = .03 / (1.253314 x .005714) = 4.19: a large z, but a 3-point move is under the 5-point floor.
    history = snapshot_history(changes_book([50] * 7, [50, 50, 50, 50, 50, 51, 53]))
    row = nov_rows(history)[cid(6)]
    assert row["robust_z"] == pytest.approx(0.03 / (1.253314 * 0.04 / 7)) and row["robust_z"] > 3.5
    assert row["trend_flag"] is None
    assert nov_rows(snapshot_history(changes_book([50] * 7, [50, 50, 50, 50, 50, 51, 53]), min_change=0.0))[cid(6)][
        "trend_flag"] == "spike"


def test_tiny_denominators_are_guarded_not_flagged_and_not_peers():
    # Six customers with 100 qualified users move by 0, 0, +.01, -.01, 0, +.02; a seventh with 9 qualified users
    # goes from 9 to 0 active (-100%): below min_qualified 10, so guarded, never flagged, not in the distribution.
    rows = [(OCT, i, 100, 100, 100, {"Exchange": 50}) for i in range(6)] + [(OCT, 6, 9, 9, 9, {"Exchange": 9})]
    rows += [(NOV, i, 100, 100, 100, {"Exchange": a}) for i, a in enumerate([50, 50, 51, 49, 50, 52])]
    rows += [(NOV, 6, 9, 9, 9, {"Exchange": 0})]
    history = snapshot_history(book(rows))
    tiny = nov_rows(history)[cid(6)]
    assert tiny["usage_change"] == pytest.approx(-1.0)
    assert tiny["guarded"] is True and tiny["robust_z"] is None and tiny["trend_flag"] is None
    assert tiny["peers"] is None and nov_rows(history)[cid(0)]["peers"] == 6
    # The guard is a parameter: with min_qualified=5 the 9-seat account is judged (and stands out).
    judged = nov_rows(snapshot_history(book(rows), min_qualified=5))[cid(6)]
    assert judged["guarded"] is False and judged["trend_flag"] == "drop" and judged["peers"] == 7
    # A row is guarded when either snapshot is small: min(previous qualified, qualified).
    grew = [(OCT, 0, 9, 9, 9, {"Exchange": 5}), (NOV, 0, 40, 40, 40, {"Exchange": 30})]
    assert nov_rows(snapshot_history(book(grew)))[cid(0)]["guarded"] is True


def test_segment_changes_and_customer_movement():
    # Customer 0: 100 sold, 95 assigned, 100 qualified; active 80 (usage 80%: healthy) -> 40 (40%: adopt).
    # Customer 1: 100 / 95 / 100, active 80 both times: unchanged. Customer 2 only in November: no previous.
    rows = [(OCT, 0, 100, 95, 100, {"Exchange": 80}), (OCT, 1, 100, 95, 100, {"Exchange": 80}),
            (NOV, 0, 100, 95, 100, {"Exchange": 40}), (NOV, 1, 100, 95, 100, {"Exchange": 80}),
            (NOV, 2, 10, 10, 10, {"Exchange": 10})]
    history = snapshot_history(book(rows))
    changed = segment_changes(history.customers)
    assert changed.select("customer_id", "previous_segment", "segment").rows() == [(cid(0), "healthy", "adopt")]
    row = changed.row(0, named=True)
    assert (row["previous_usage_rate"], row["usage_rate"], row["usage_change"]) == pytest.approx((0.8, 0.4, -0.4))
    assert row["previous_deployment_rate"] == pytest.approx(0.95) and row["deployment_change"] == pytest.approx(0.0)
    latest = latest_period(history.customers)
    assert latest.height == 3
    assert latest.filter(pl.col("customer_id") == cid(2)).get_column("previous_segment")[0] is None
    assert history.portfolio.get_column("customers").to_list() == [2, 3]


def test_robust_z_expression_alone():
    frame = pl.DataFrame({"g": ["a"] * 5 + ["b"] * 2, "x": [0.0, 0.1, -0.1, 0.2, None, 1.0, 2.0]})
    z = frame.with_columns(robust_z(pl.col("x"), ["g"], min_peers=3).alias("z")).get_column("z").to_list()
    # group a: 0, .1, -.1, .2 -> median .05; deviations .05 .05 .15 .15 -> MAD .10; z(.2) = 0.6745 x .15 / .1 = 1.01175
    assert z[3] == pytest.approx(1.01175) and z[4] is None
    assert z[5] is None and z[6] is None          # group b: 2 values < min_peers 3


def test_bad_settings_are_refused():
    with pytest.raises(ParameterError):
        snapshot_history(changes_book([1], [1]), min_qualified=0)
    with pytest.raises(ParameterError):
        snapshot_history(changes_book([1], [1]), z_threshold=0)


# ---------------------------------------------------------------------------
# The sample's planted history, computed from its raw records by hand
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    return generate_sample(50, 7).planted


def raw_usage(month: str) -> list[dict]:
    return raw_records(SAMPLE_DIR, "usage", None if month == "2026-11" else month)


def workload_row(frame: pl.DataFrame, tenant: str, workload: str, at: datetime = NOV) -> dict:
    rows = frame.filter((pl.col("customer_id") == tenant.lower()) & (pl.col("workload") == workload)
                        & (pl.col("processed_at") == at))
    assert rows.height == 1
    return rows.row(0, named=True)


def oracle_z(code: str, tenant: str) -> float:
    """The robust z of one November change, recomputed from the raw JSON with the statistics module."""
    before = {(r["customerTenantId"], r["productId"], r["workloadCode"]): r for r in raw_usage("2026-10")}
    changes, mine = [], None
    for r in raw_usage("2026-11"):
        if r["workloadCode"] != code:
            continue
        b = before[(r["customerTenantId"], r["productId"], r["workloadCode"])]
        if min(r["licensesQualified"], b["licensesQualified"]) < 10:
            continue
        change = r["licensesActive"] / r["licensesQualified"] - b["licensesActive"] / b["licensesQualified"]
        changes.append(change)
        if r["customerTenantId"] == tenant:
            mine = change
    median = statistics.median(changes)
    mad = statistics.median(abs(c - median) for c in changes)
    return 0.6745 * (mine - median) / mad


def test_planted_spike(sample, planted):
    # Goldencrest Builders, MICROSOFT 365 BUSINESS, Teams: 59 of 118 active in October, 116 of 118 in November:
    # 116/118 - 59/118 = 57/118 = +0.483051 (+48.3 points).
    (tenant,) = planted["trend_spike"]
    row = workload_row(sample.book.history_workloads, tenant, "Teams")
    assert (row["previous_licenses_active"], row["licenses_active"], row["licenses_qualified"]) == (59, 116, 118)
    assert row["usage_change"] == pytest.approx(57 / 118) == pytest.approx(0.483051, abs=1e-6)
    assert row["trend_flag"] == "spike"
    assert row["robust_z"] == pytest.approx(oracle_z("TEAMS", tenant)) and row["robust_z"] >= 3.5


def test_planted_drop(sample, planted):
    # Smith, Jones & Partners, SharePoint: 27 of 28 -> 20 of 28: 20/28 - 27/28 = -7/28 = -0.25 (-25 points).
    (tenant,) = planted["trend_drop"]
    row = workload_row(sample.book.history_workloads, tenant, "SharePoint")
    assert (row["previous_licenses_active"], row["licenses_active"], row["licenses_qualified"]) == (27, 20, 28)
    assert row["usage_change"] == pytest.approx(-0.25)
    assert row["trend_flag"] == "drop"
    assert row["robust_z"] == pytest.approx(oracle_z("SPO", tenant)) and row["robust_z"] <= -3.5
    # Its segment does not move: the product's usage is its busiest non-Yammer workload, Exchange 26 of 28.
    customer = (latest_period(sample.book.history_customers)
                .filter(pl.col("customer_id") == tenant.lower()).row(0, named=True))
    assert customer["segment_changed"] is False and customer["usage_rate"] == pytest.approx(26 / 28)


def test_planted_segment_change(sample, planted):
    # '=HYPERLINK(...)': OFFICE 365 BUSINESS PREMIUM, 60 sold, 57 assigned, 57 qualified (deployment 57/60 = 95%).
    # October: busiest workload Exchange 40 -> usage 40/57 = 70.18%: not under adopt 60%, not upsell (< 90%): healthy.
    # November: Exchange 20 -> usage 20/57 = 35.09% < 60%: adopt. The Exchange row drops by -20/57 = -0.350877.
    (tenant,) = planted["segment_change"]
    changed = segment_changes(sample.book.history_customers).filter(pl.col("customer_id") == tenant.lower())
    assert changed.height == 1
    row = changed.row(0, named=True)
    assert (row["previous_segment"], row["segment"]) == ("healthy", "adopt")
    assert row["previous_usage_rate"] == pytest.approx(40 / 57) == pytest.approx(0.701754, abs=1e-6)
    assert row["usage_rate"] == pytest.approx(20 / 57) == pytest.approx(0.350877, abs=1e-6)
    assert row["previous_deployment_rate"] == row["deployment_rate"] == pytest.approx(0.95)
    exchange = workload_row(sample.book.history_workloads, tenant, "Exchange")
    assert exchange["usage_change"] == pytest.approx(-20 / 57) and exchange["trend_flag"] == "drop"
    assert exchange["robust_z"] == pytest.approx(oracle_z("EXO", tenant))


def test_planted_tiny_account_is_guarded(sample, planted):
    # 株式会社サンプル: Exchange 2 of 2 -> 0 of 2 (-100%), but 2 < 10 qualified users: not judged.
    (tenant,) = planted["trend_guarded"]
    row = workload_row(sample.book.history_workloads, tenant, "Exchange")
    assert row["usage_change"] == pytest.approx(-1.0)
    assert row["guarded"] is True and row["trend_flag"] is None and row["robust_z"] is None


def test_the_sample_flags_exactly_the_planted_changes(sample, planted):
    flagged = sample.book.history_workloads.filter(pl.col("trend_flag").is_not_null())
    expected = {(planted["trend_spike"][0].lower(), "Teams", "spike"),
                (planted["trend_drop"][0].lower(), "SharePoint", "drop"),
                (planted["segment_change"][0].lower(), "Exchange", "drop")}
    assert set(flagged.select("customer_id", "workload", "trend_flag").iter_rows()) == expected
    assert set(flagged.get_column("processed_at")) == {NOV}
    assert sample.book.history_portfolio.get_column("processed_at").to_list() == [SEP, OCT, NOV]


def test_history_does_not_move_the_current_figures(sample, tmp_path):
    """The newest snapshot's metrics are the same with or without the older exports beside them."""
    newest = tmp_path / "newest"
    shutil.copytree(SAMPLE_DIR, newest, ignore=shutil.ignore_patterns("license-*-20??-??-page-*.json"))
    alone = analysis.prepare(newest)
    assert alone.book.history_portfolio.is_empty()          # one snapshot: no trend
    for name in ("workloads", "products", "customers", "portfolio"):
        assert getattr(alone.metrics, name).equals(getattr(sample.metrics, name)), name
    assert alone.ranking.equals(sample.ranking)
    # ... and the history's newest rows are the current figures.
    now = latest_period(sample.book.history_customers).sort("customer_id")
    current = sample.customers.sort("customer_id")
    assert now.get_column("segment").to_list() == current.get_column("segment").to_list()
    assert now.get_column("usage_rate").equals(current.get_column("usage_rate"))


def test_as_of_limits_the_history(sample):
    october = analysis.prepare(SAMPLE_DIR, as_of="2026-10-15")
    assert october.book.history_portfolio.get_column("processed_at").to_list() == [SEP, OCT]
    assert october.book.today.isoformat() == "2026-10-01"
    assert october.book.history_workloads.filter(pl.col("trend_flag").is_not_null()).is_empty()


def test_thresholds_apply_to_every_snapshot():
    strict = analysis.prepare(SAMPLE_DIR, thresholds=Thresholds(deploy=0.8, adopt=0.75, upsell=0.9))
    older = strict.book.history_customers.filter(pl.col("processed_at") == OCT)
    assert (older.filter(pl.col("usage_rate") < 0.75).get_column("segment")
            .is_in(["adopt", "deploy", "data_check"]).all())


def test_current_metrics_are_reused_only_when_the_newest_snapshot_is_every_customers_latest(monkeypatch):
    from adoption_kit.compute import history as history_module
    from adoption_kit.compute.metrics import compute
    from adoption_kit.inputs import load_exports

    exports = load_exports(SAMPLE_DIR)
    current = compute(exports.latest())
    calls = []
    real_compute = history_module.compute_frames
    monkeypatch.setattr(history_module, "compute_frames", lambda *a, **k: calls.append(1) or real_compute(*a, **k))
    fresh = snapshot_history(exports)
    computed_calls = len(calls)
    calls.clear()
    reused = snapshot_history(exports, current=current)
    assert computed_calls == len(exports.snapshots) and len(calls) == computed_calls - 1
    for name in ("workloads", "customers", "portfolio"):
        assert getattr(reused, name).equals(getattr(fresh, name)), name

    # One customer missing from the newest snapshot: its latest rows are older, so nothing is reused.
    newest = exports.snapshots[-1]
    gone = exports.deployment.get_column("customer_id")[0]
    partial = type(exports)(**{**exports.__dict__,
                               "deployment": exports.deployment.filter((pl.col("processed_at") < newest)
                                                                       | (pl.col("customer_id") != gone)),
                               "usage": exports.usage.filter((pl.col("processed_at") < newest)
                                                             | (pl.col("customer_id") != gone))})
    calls.clear()
    snapshot_history(partial, current=compute(partial.latest()))
    assert len(calls) == computed_calls
