"""snapshot_history gives exactly the figures of its first, straightforward implementation (kept here as the
reference: every snapshot computed with the subscriptions, a self-join of all snapshots' workload rows for the
change since the previous one, window medians over workload x period), row for row, on the sample and on a
generated 20,000-customer book of four monthly snapshots, also when customers skip snapshots (so one snapshot
has several previous processedDateTime values) and when the newest snapshot is not every customer's latest."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl
import pytest

from adoption_kit import schema
from adoption_kit.compute.history import (
    HISTORY_CUSTOMER_COLUMNS,
    HISTORY_PORTFOLIO_COLUMNS,
    HISTORY_WORKLOAD_COLUMNS,
    History,
    robust_z,
    snapshot_history,
)
from adoption_kit.compute.insights import with_insights_exclusions
from adoption_kit.compute.metrics import compute, compute_frames, load_exclusions
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.inputs import load_exports
from adoption_kit.sample.generator import write_sample

KEYS = {"workloads": ["customer_id", "product_id", "workload", "workload_code", "processed_at"],
        "customers": ["customer_id", "processed_at"], "portfolio": ["processed_at"]}


# ---------------------------------------------------------------------------
# The reference: snapshot_history as first written (adoption-kit before issue 19), verbatim but for names
# ---------------------------------------------------------------------------
_KEY = ["customer_id", "product_id", "workload", "workload_code"]
_PERIOD = ["workload", "previous_processed_at", "processed_at"]


def reference_history(exports: Any, *, thresholds=None, exclusions: Any = None, min_qualified: int = 10,
                      z_threshold: float = 3.5, min_change: float = 0.05, min_peers: int = 5,
                      current: Any = None) -> History:
    kwargs = {} if thresholds is None else {"thresholds": thresholds}
    deployment, usage = exports.deployment, exports.usage
    stamps = (pl.concat([deployment.select("processed_at"), usage.select("processed_at")])
              .get_column("processed_at").drop_nulls().unique().sort().to_list())
    subscriptions = getattr(exports, "subscriptions", None)
    exclusions = with_insights_exclusions(exclusions, exports)
    workloads, customers, portfolio = [], [], []
    for stamp in stamps:
        at_stamp = deployment.filter(pl.col("processed_at") == stamp), usage.filter(pl.col("processed_at") == stamp)
        if current is not None and stamp == stamps[-1] and _ref_is_latest(exports, *at_stamp):
            metrics = current
        else:
            metrics = compute_frames(*at_stamp, subscriptions, exclusions=exclusions, **kwargs)
        at = pl.lit(stamp, dtype=schema.UTC_DATETIME).alias("processed_at")
        workloads.append(metrics.workloads.select(
            "customer_id", "customer_name", "product_id", "product_name", "workload", "workload_code", "excluded",
            at, "licenses_qualified", "licenses_active", "usage_rate"))
        customers.append(metrics.customers.select(
            "customer_id", "customer_name", at, "licenses_sold", "licenses_assigned", "licenses_qualified",
            "licenses_active", "deployment_rate", "usage_rate", "segment"))
        portfolio.append(metrics.portfolio.select(at, *[c for c in HISTORY_PORTFOLIO_COLUMNS if c != "processed_at"]))
    customer_rows = _ref_customer_changes(pl.concat(customers))
    previous = customer_rows.select("customer_id", "processed_at", "previous_processed_at")
    workload_rows = _ref_workload_changes(pl.concat(workloads), previous, min_qualified, z_threshold, min_change,
                                          min_peers)
    counts = (workload_rows.filter(pl.col("trend_flag").is_not_null())
              .group_by("customer_id", "processed_at")
              .agg((pl.col("trend_flag") == "drop").sum().cast(pl.Int64).alias("drops"),
                   (pl.col("trend_flag") == "spike").sum().cast(pl.Int64).alias("spikes")))
    customer_rows = (customer_rows.join(counts, on=["customer_id", "processed_at"], how="left")
                     .with_columns(pl.col("drops", "spikes").fill_null(0)))
    return History(
        workloads=_ref_finish(workload_rows, HISTORY_WORKLOAD_COLUMNS,
                              ["customer_name", "customer_id", "product_name", "product_id", "workload",
                               "processed_at"]),
        customers=_ref_finish(customer_rows, HISTORY_CUSTOMER_COLUMNS, ["customer_name", "customer_id",
                                                                        "processed_at"]),
        portfolio=_ref_finish(pl.concat(portfolio), HISTORY_PORTFOLIO_COLUMNS, ["processed_at"]),
    )


def _ref_is_latest(exports: Any, deployment: pl.DataFrame, usage: pl.DataFrame) -> bool:
    latest = exports.latest()
    return latest.deployment.height == deployment.height and latest.usage.height == usage.height


def _ref_customer_changes(rows: pl.DataFrame) -> pl.DataFrame:
    rows = rows.sort("customer_id", "processed_at")
    before = {c: pl.col(c).shift(1).over("customer_id") for c in
              ("processed_at", "deployment_rate", "usage_rate", "segment")}
    return rows.with_columns(**{f"previous_{c}": e for c, e in before.items()}).with_columns(
        (pl.col("deployment_rate") - pl.col("previous_deployment_rate")).alias("deployment_change"),
        (pl.col("usage_rate") - pl.col("previous_usage_rate")).alias("usage_change"),
        (pl.col("previous_segment").is_not_null() & (pl.col("previous_segment") != pl.col("segment")))
        .fill_null(False).alias("segment_changed"),
    )


def _ref_workload_changes(rows: pl.DataFrame, previous: pl.DataFrame, min_qualified: int, z_threshold: float,
                          min_change: float, min_peers: int) -> pl.DataFrame:
    rows = rows.join(previous, on=["customer_id", "processed_at"], how="left")
    earlier = rows.select(*_KEY, pl.col("processed_at").alias("previous_processed_at"),
                          pl.col("licenses_qualified").alias("previous_licenses_qualified"),
                          pl.col("licenses_active").alias("previous_licenses_active"),
                          pl.col("usage_rate").alias("previous_usage_rate"))
    rows = rows.join(earlier, on=[*_KEY, "previous_processed_at"], how="left", nulls_equal=True)
    change = pl.col("usage_rate") - pl.col("previous_usage_rate")
    enough = pl.min_horizontal("licenses_qualified", "previous_licenses_qualified") >= min_qualified
    rows = rows.with_columns(change.alias("usage_change")).with_columns(
        (pl.col("usage_change").is_not_null() & ~enough & ~pl.col("excluded")).fill_null(False).alias("guarded"),
        pl.when(enough & ~pl.col("excluded")).then(pl.col("usage_change")).alias("_comparable"),
    )
    comparable = pl.col("_comparable")
    median = comparable.median().over(_PERIOD)
    rows = rows.with_columns(
        comparable.count().over(_PERIOD).cast(pl.Int64).alias("peers"),
        median.alias("peer_median"),
        (comparable - median).abs().median().over(_PERIOD).alias("peer_mad"),
        robust_z(comparable, _PERIOD, min_peers=min_peers).alias("robust_z"),
    )
    material = (comparable - pl.col("peer_median")).abs() >= min_change
    flagged = (pl.col("robust_z").abs() >= z_threshold) & material
    return rows.with_columns(
        pl.when(comparable.is_null()).then(pl.lit(None, pl.Int64)).otherwise(pl.col("peers")).alias("peers"),
        pl.when(flagged & (pl.col("robust_z") < 0)).then(pl.lit("drop"))
        .when(flagged & (pl.col("robust_z") > 0)).then(pl.lit("spike")).alias("trend_flag"),
    ).drop("_comparable")


def _ref_finish(frame: pl.DataFrame, columns: dict, sort: list[str]) -> pl.DataFrame:
    return frame.sort(sort, nulls_last=True).select([pl.col(c).cast(t) for c, t in columns.items()])


# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------
def assert_same(new: History, old: History) -> None:
    for name, key in KEYS.items():
        got, want = getattr(new, name), getattr(old, name)
        assert got.schema == want.schema, name
        assert got.height == want.height, name
        # Exact: every value bit for bit (floats too), nulls in the same places.
        assert got.sort(key, nulls_last=True).equals(want.sort(key, nulls_last=True)), name
        assert got.equals(want), name   # ... and in the same, documented order


def with_gaps(exports: Any, every: int) -> Any:
    """Every `every`-th customer (by id) skips the second-newest snapshot (its newest one then follows an
    older one) and every `every`-th + 1 is missing from the newest (its latest rows are older, so the newest
    snapshot is not everyone's latest)."""
    stamps = exports.snapshots
    ids = exports.usage.get_column("customer_id").unique().sort()
    skip = ids.gather_every(every)
    gone = ids.gather_every(every, offset=1)
    drop = (((pl.col("processed_at") == stamps[-2]) & pl.col("customer_id").is_in(skip.implode()))
            | ((pl.col("processed_at") == stamps[-1]) & pl.col("customer_id").is_in(gone.implode())))
    return replace(exports, deployment=exports.deployment.filter(~drop), usage=exports.usage.filter(~drop))


def check(exports: Any, exclusions: Any, **settings: Any) -> History:
    current = compute(exports.latest(), exclusions=exclusions)
    new = snapshot_history(exports, exclusions=exclusions, current=current, **settings)
    assert_same(new, reference_history(exports, exclusions=exclusions, current=current, **settings))
    return new


@pytest.fixture(scope="module")
def exclusions() -> pl.DataFrame:
    return load_exclusions()


@pytest.fixture(scope="module")
def sample_exports():
    return load_exports(SAMPLE_DIR)


@pytest.fixture(scope="module")
def book_20000(tmp_path_factory):
    folder = tmp_path_factory.mktemp("book-20000")
    write_sample(folder, customers=20000, seed=1, page_size=10000, snapshots=4)
    return load_exports(folder)


def test_the_sample_as_before(sample_exports, exclusions):
    history = check(sample_exports, exclusions)
    assert history.workloads.get_column("trend_flag").drop_nulls().len() == 3   # the planted changes
    assert_same(snapshot_history(sample_exports, exclusions=exclusions),
                reference_history(sample_exports, exclusions=exclusions))


def test_the_sample_with_customers_skipping_snapshots(sample_exports, exclusions):
    exports = with_gaps(sample_exports, 7)
    history = check(exports, exclusions, min_qualified=2, min_peers=3, min_change=0.0, z_threshold=2.0)
    newest = history.workloads.filter(pl.col("processed_at") == exports.snapshots[-1])
    # the month before, and two months before for the customers that skipped it
    assert set(newest.get_column("previous_processed_at").drop_nulls()) == set(exports.snapshots[-3:-1])


def test_a_20000_customer_book_of_four_snapshots(book_20000, exclusions):
    assert len(book_20000.snapshots) == 4
    history = check(book_20000, exclusions)
    assert history.workloads.height == book_20000.usage.height
    assert history.workloads.get_column("trend_flag").drop_nulls().len() > 0


def test_a_20000_customer_book_with_gaps(book_20000, exclusions):
    exports = with_gaps(book_20000, 13)
    history = check(exports, exclusions, min_peers=3, z_threshold=3.0)
    newest = history.workloads.filter(pl.col("processed_at") == exports.snapshots[-1])
    assert set(newest.get_column("previous_processed_at").drop_nulls()) == set(exports.snapshots[-3:-1])
    assert history.customers.filter(pl.col("processed_at") == exports.snapshots[-2]).height < \
        history.customers.filter(pl.col("processed_at") == exports.snapshots[-3]).height
