"""The book over time: per-snapshot metrics, change since the previous snapshot, robust drop/spike flags and
segment changes; pure polars, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import polars as pl

if TYPE_CHECKING:  # pragma: no cover - typing only
    from polars._typing import PolarsDataType

from adoption_kit import schema
from adoption_kit.compute.insights import with_insights_exclusions
from adoption_kit.compute.metrics import SEGMENTS, compute_frames
from adoption_kit.config import DEFAULT_THRESHOLDS, Thresholds
from adoption_kit.errors import ParameterError
from adoption_kit.values import check_whole_number

__all__ = [
    "HISTORY_CUSTOMER_COLUMNS", "HISTORY_PORTFOLIO_COLUMNS", "HISTORY_WORKLOAD_COLUMNS", "History",
    "MAD_SCALE", "MEAN_AD_SCALE", "latest_period", "robust_z", "segment_changes", "snapshot_history",
]

# Iglewicz and Hoaglin's modified z-score: 0.6745 (x - median) / MAD; 0.6745 is the 0.75 quantile of the
# standard normal, so that MAD / 0.6745 estimates the standard deviation of normal data. When MAD is 0
# (more than half of the changes are identical, e.g. most accounts did not move), the mean absolute
# deviation from the median stands in: (x - median) / (1.253314 x MeanAD), 1.253314 = sqrt(pi / 2).
MAD_SCALE: Final = 0.6745
MEAN_AD_SCALE: Final = 1.253314
DEFAULT_Z_THRESHOLD: Final = 3.5
DEFAULT_MIN_QUALIFIED: Final = 10
DEFAULT_MIN_CHANGE: Final = 0.05
DEFAULT_MIN_PEERS: Final = 5
FLAGS: Final = ("drop", "spike")

_KEY: Final = ["customer_id", "product_id", "workload", "workload_code"]
_PERIOD: Final = ["workload", "previous_processed_at", "processed_at"]

HISTORY_WORKLOAD_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "product_id": pl.String, "product_name": pl.String,
    "workload": pl.String, "workload_code": pl.String, "excluded": pl.Boolean,
    "processed_at": schema.UTC_DATETIME, "licenses_qualified": pl.Int64, "licenses_active": pl.Int64,
    "usage_rate": pl.Float64,
    "previous_processed_at": schema.UTC_DATETIME, "previous_licenses_qualified": pl.Int64,
    "previous_licenses_active": pl.Int64, "previous_usage_rate": pl.Float64,
    "usage_change": pl.Float64,          # usage_rate - previous_usage_rate (fraction: -0.25 = 25 points down)
    "guarded": pl.Boolean,               # a change exists but min(qualified, previous qualified) < min_qualified
    "peers": pl.Int64,                   # comparable changes of the same workload and period (the distribution)
    "peer_median": pl.Float64, "peer_mad": pl.Float64,
    "robust_z": pl.Float64,              # null: no change, guarded, excluded, too few peers, or no spread
    "trend_flag": pl.String,             # "drop" | "spike" | null
}
HISTORY_CUSTOMER_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "processed_at": schema.UTC_DATETIME,
    "licenses_sold": pl.Int64, "licenses_assigned": pl.Int64, "licenses_qualified": pl.Int64,
    "licenses_active": pl.Int64, "deployment_rate": pl.Float64, "usage_rate": pl.Float64, "segment": pl.String,
    "previous_processed_at": schema.UTC_DATETIME, "previous_deployment_rate": pl.Float64,
    "previous_usage_rate": pl.Float64, "previous_segment": pl.String,
    "deployment_change": pl.Float64, "usage_change": pl.Float64, "segment_changed": pl.Boolean,
    "drops": pl.Int64, "spikes": pl.Int64,   # flagged workload rows of the customer in this period
}
HISTORY_PORTFOLIO_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "processed_at": schema.UTC_DATETIME, "customers": pl.Int64, "licenses_sold": pl.Int64,
    "licenses_assigned": pl.Int64, "licenses_qualified": pl.Int64, "licenses_active": pl.Int64,
    "deployment_rate": pl.Float64, "usage_rate": pl.Float64, "median_customer_deployment_rate": pl.Float64,
    "median_customer_usage_rate": pl.Float64, "licenses_idle": pl.Int64,
}


@dataclass(frozen=True)
class History:
    """Every snapshot's figures and their change since the customer's previous snapshot (empty frames: one snapshot).

    workloads: one row per customer x product x workload x snapshot (HISTORY_WORKLOAD_COLUMNS);
    customers: one row per customer x snapshot (HISTORY_CUSTOMER_COLUMNS);
    portfolio: one row per snapshot (HISTORY_PORTFOLIO_COLUMNS), over the customers present in it.
    """

    workloads: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(HISTORY_WORKLOAD_COLUMNS))
    customers: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(HISTORY_CUSTOMER_COLUMNS))
    portfolio: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(HISTORY_PORTFOLIO_COLUMNS))
    settings: dict = field(default_factory=dict)

    @property
    def snapshots(self) -> list:
        """The processedDateTime values, oldest first."""
        return self.portfolio.get_column("processed_at").to_list()


def snapshot_history(exports: Any, *, thresholds: Thresholds = DEFAULT_THRESHOLDS, exclusions: Any = None,
                     min_qualified: int = DEFAULT_MIN_QUALIFIED, z_threshold: float = DEFAULT_Z_THRESHOLD,
                     min_change: float = DEFAULT_MIN_CHANGE, min_peers: int = DEFAULT_MIN_PEERS,
                     current: Any = None) -> History:
    """Metrics of every snapshot in `exports` (inputs.Exports with all its processedDateTime values), each
    compared with the same customer's previous snapshot, and sudden drops and spikes flagged.

    - A snapshot is one processedDateTime value; each is computed alone with `metrics.compute_frames` (same
      thresholds and exclusions as the current figures, so the newest snapshot's rows are the current ones).
      A customer's previous snapshot is the latest earlier processedDateTime at which it has rows; a product
      or workload missing there has no change.
    - usage_change = usage_rate - previous_usage_rate (fractions) per customer x product x workload.
    - Denominator guard: a change counts only when both snapshots have at least `min_qualified` qualified
      users (default 10); below, the row is `guarded`: never flagged and left out of the distribution.
      Excluded products are never flagged either.
    - The distribution: the comparable changes of the same workload and the same period (previous ->
      current processedDateTime) across the portfolio; its median and MAD (median absolute deviation).
    - robust_z = 0.6745 x (change - median) / MAD (Iglewicz-Hoaglin modified z-score). When MAD is 0 (most
      changes identical), (change - median) / (1.253314 x mean absolute deviation); when that is 0 too, or
      fewer than `min_peers` changes are comparable, robust_z is null and nothing is flagged.
    - Flag: |robust_z| >= `z_threshold` (default 3.5) and |change - median| >= `min_change` (default 0.05,
      5 points: a materiality floor for very stable books); "drop" below the median, "spike" above.
    - `current`: the metrics.Metrics already computed from `exports.latest()` with the same thresholds and
      exclusions. When the newest snapshot holds exactly those rows (every customer was exported then, the
      usual case), it is reused instead of computed again.
    """
    check_whole_number("min_qualified", min_qualified, minimum=1)
    if not z_threshold > 0 or not min_change >= 0 or not (isinstance(min_peers, int) and min_peers >= 2):
        raise ParameterError("z_threshold must be positive, min_change 0 or more and min_peers at least 2")
    settings = {"min_qualified": min_qualified, "z_threshold": z_threshold, "min_change": min_change,
                "min_peers": min_peers}
    deployment, usage = exports.deployment, exports.usage
    stamps = (pl.concat([deployment.select("processed_at"), usage.select("processed_at")])
              .get_column("processed_at").drop_nulls().unique().sort().to_list())
    if not stamps:
        return History(settings=settings)
    exclusions = with_insights_exclusions(exclusions, exports)
    workloads, customers, portfolio = [], [], []
    for stamp in stamps:
        if current is not None and stamp == stamps[-1] and _is_latest(exports, deployment, usage, stamp):
            metrics = current
        else:
            at_stamp = (deployment.filter(pl.col("processed_at") == stamp),
                        usage.filter(pl.col("processed_at") == stamp))
            # No subscriptions: they feed only the inflation causes and next-step texts, which the history
            # does not keep; matching them to every older snapshot's products was a third of its time.
            metrics = compute_frames(*at_stamp, None, thresholds=thresholds, exclusions=exclusions)
        at = pl.lit(stamp, dtype=schema.UTC_DATETIME).alias("processed_at")
        workloads.append(metrics.workloads.select(
            "customer_id", "customer_name", "product_id", "product_name", "workload", "workload_code", "excluded",
            at, "licenses_qualified", "licenses_active", "usage_rate"))
        customers.append(metrics.customers.select(
            "customer_id", "customer_name", at, "licenses_sold", "licenses_assigned", "licenses_qualified",
            "licenses_active", "deployment_rate", "usage_rate", "segment"))
        portfolio.append(metrics.portfolio.select(at, *[c for c in HISTORY_PORTFOLIO_COLUMNS if c != "processed_at"]))
        del metrics
    customer_rows = _customer_changes(pl.concat(customers))
    del customers
    # Each snapshot's workload rows meet only the rows of their customers' previous snapshots, and the
    # distribution of a period is within one snapshot: one snapshot at a time, never a join of all of them.
    previous = customer_rows.select("customer_id", "processed_at", "previous_processed_at")
    by_stamp = dict(zip(stamps, workloads))
    changed = []
    for stamp in stamps:
        changed.append(_workload_changes(by_stamp[stamp], by_stamp,
                                         previous.filter(pl.col("processed_at") == stamp).drop("processed_at"),
                                         min_qualified, z_threshold, min_change, min_peers))
    del by_stamp, workloads
    flagged = [c.select("customer_id", "processed_at", "trend_flag").filter(pl.col("trend_flag").is_not_null())
               for c in changed]
    counts = (pl.concat(flagged)
              .group_by("customer_id", "processed_at")
              .agg((pl.col("trend_flag") == "drop").sum().cast(pl.Int64).alias("drops"),
                   (pl.col("trend_flag") == "spike").sum().cast(pl.Int64).alias("spikes")))
    customer_rows = (customer_rows.join(counts, on=["customer_id", "processed_at"], how="left")
                     .with_columns(pl.col("drops", "spikes").fill_null(0)))
    return History(
        workloads=_finish_parts(changed, HISTORY_WORKLOAD_COLUMNS, ["customer_name", "customer_id", "product_name",
                                                                        "product_id", "workload", "processed_at"]),
        customers=_finish(customer_rows, HISTORY_CUSTOMER_COLUMNS, ["customer_name", "customer_id", "processed_at"]),
        portfolio=_finish(pl.concat(portfolio), HISTORY_PORTFOLIO_COLUMNS, ["processed_at"]),
        settings=settings,
    )


def _is_latest(exports: Any, deployment: pl.DataFrame, usage: pl.DataFrame, stamp: Any) -> bool:
    """Whether the rows at `stamp`, the newest snapshot, are every customer's newest rows (Exports.latest()):
    the newest snapshot's rows are always among those, so equal row counts mean the same rows."""
    if not hasattr(exports, "latest"):
        return False
    latest = exports.latest()
    at = pl.col("processed_at") == stamp
    return (latest.deployment.height == deployment.select(at.sum()).item()
            and latest.usage.height == usage.select(at.sum()).item())


def robust_z(change: pl.Expr, groups: list[str], *, min_peers: int = DEFAULT_MIN_PEERS) -> pl.Expr:
    """The modified z-score of `change` within `groups` (see `snapshot_history`); null where undefined.

    Only non-null changes take part: mask the ones that must not (guarded rows) to null before calling.
    """
    median = change.median().over(groups)
    deviation = (change - median).abs()
    mad = deviation.median().over(groups)
    mean_ad = deviation.mean().over(groups)
    peers = change.count().over(groups)
    return (pl.when(change.is_null() | (peers < min_peers)).then(None)
            .when(mad > 0).then(MAD_SCALE * (change - median) / mad)
            .when(mean_ad > 0).then((change - median) / (MEAN_AD_SCALE * mean_ad))
            .otherwise(None))


def _customer_changes(rows: pl.DataFrame) -> pl.DataFrame:
    """`rows`: one row per customer and snapshot, the snapshots stacked oldest first, so that the row before
    a customer's row (over customer_id) is its previous snapshot, found by one window over customer_id and
    gathered for every column at once (without sorting the book)."""
    before = (rows.select("customer_id").with_row_index("_row")
              .select(pl.col("_row").shift(1).over("customer_id")).to_series())
    earlier = rows.select("processed_at", "deployment_rate", "usage_rate", "segment").gather(before)
    rows = rows.hstack([column.alias(f"previous_{column.name}") for column in earlier.get_columns()])
    return rows.with_columns(
        (pl.col("deployment_rate") - pl.col("previous_deployment_rate")).alias("deployment_change"),
        (pl.col("usage_rate") - pl.col("previous_usage_rate")).alias("usage_change"),
        (pl.col("previous_segment").is_not_null() & (pl.col("previous_segment") != pl.col("segment")))
        .fill_null(False).alias("segment_changed"),
    )


_BEFORE: Final = {"licenses_qualified": "previous_licenses_qualified", "licenses_active": "previous_licenses_active",
                  "usage_rate": "previous_usage_rate"}


def _workload_changes(rows: pl.DataFrame, snapshots: dict[Any, pl.DataFrame], previous: pl.DataFrame,
                      min_qualified: int, z_threshold: float, min_change: float, min_peers: int) -> pl.DataFrame:
    """One snapshot's workload rows (`rows`) with their change since each customer's previous snapshot.

    `snapshots`: every snapshot's workload rows by processed_at; `previous`: customer_id ->
    previous_processed_at of this snapshot's customers. Only the narrow key columns are joined, in the
    rows' order (maintain_order), and the results set beside the rows, so no wide frame is copied.
    """
    keys = rows.select(_KEY)
    before = keys.join(previous, on="customer_id", how="left", maintain_order="left").get_column(
        "previous_processed_at")
    found = {n: pl.Series(n, [], rows.schema[c]).extend_constant(None, rows.height) for c, n in _BEFORE.items()}
    for stamp in before.drop_nulls().unique().sort().to_list():   # usually one: the snapshot before
        earlier = snapshots[stamp].select(*_KEY, *[pl.col(c).alias(n) for c, n in _BEFORE.items()])
        there = keys.join(earlier, on=_KEY, how="left", nulls_equal=True, maintain_order="left")
        here = (before == stamp).fill_null(False)
        found = {n: there.get_column(n).zip_with(here, column) for n, column in found.items()}
    columns = [before.cast(schema.UTC_DATETIME), *found.values()]
    rows = rows.hstack(columns)
    change = pl.col("usage_rate") - pl.col("previous_usage_rate")
    enough = pl.min_horizontal("licenses_qualified", "previous_licenses_qualified") >= min_qualified
    rows = rows.with_columns(change.alias("usage_change")).with_columns(
        (pl.col("usage_change").is_not_null() & ~enough & ~pl.col("excluded")).fill_null(False).alias("guarded"),
        pl.when(enough & ~pl.col("excluded")).then(pl.col("usage_change")).alias("_comparable"),
    )
    # The distribution of a period (workload x previous -> this processed_at): within this snapshot's rows.
    # The expressions are robust_z's, nested windows included: a median column materialised first and the
    # deviations' mean taken over it differ from them in the last bit of some means.
    period = ["workload", "previous_processed_at"]
    comparable = pl.col("_comparable")
    median = comparable.median().over(period)
    rows = rows.with_columns(
        comparable.count().over(period).cast(pl.Int64).alias("peers"),
        median.alias("peer_median"),
        (comparable - median).abs().median().over(period).alias("peer_mad"),
        robust_z(comparable, period, min_peers=min_peers).alias("robust_z"),
    )
    material = (comparable - pl.col("peer_median")).abs() >= min_change
    flagged = (pl.col("robust_z").abs() >= z_threshold) & material
    return rows.with_columns(
        pl.when(comparable.is_null()).then(pl.lit(None, pl.Int64)).otherwise(pl.col("peers")).alias("peers"),
        pl.when(flagged & (pl.col("robust_z") < 0)).then(pl.lit("drop"))
        .when(flagged & (pl.col("robust_z") > 0)).then(pl.lit("spike")).alias("trend_flag"),
    ).drop("_comparable")


def latest_period(frame: pl.DataFrame) -> pl.DataFrame:
    """Each customer's rows at its newest processedDateTime (a history frame's current period)."""
    if frame.is_empty():
        return frame
    return frame.filter(pl.col("processed_at") == pl.col("processed_at").max().over("customer_id"))


def segment_changes(customers: pl.DataFrame, *, latest_only: bool = True) -> pl.DataFrame:
    """Customers whose segment differs from their previous snapshot's (History.customers rows).

    latest_only: only each customer's newest period (what changed since the last export). Ordered by the
    new segment (SEGMENTS order: data_check first), then name and id.
    """
    rows = latest_period(customers) if latest_only else customers
    order = {s: i for i, s in enumerate(SEGMENTS)}
    return (rows.filter(pl.col("segment_changed"))
            .with_columns(pl.col("segment").replace_strict(order, default=len(order)).alias("_order"))
            .sort("_order", "customer_name", "customer_id", "processed_at", nulls_last=True).drop("_order"))


def _finish(frame: pl.DataFrame, columns: dict[str, PolarsDataType], sort: list[str]) -> pl.DataFrame:
    return frame.sort(sort, nulls_last=True).select([pl.col(c).cast(t) for c, t in columns.items()])


def _finish_parts(parts: list[pl.DataFrame], columns: dict[str, PolarsDataType], sort: list[str]) -> pl.DataFrame:
    """`_finish` of the stacked `parts`, which it empties: the rows are put in order one column at a time,
    each input column released once gathered, so that the book's largest frame is not held twice."""
    frame = pl.concat(parts)
    parts.clear()
    order = frame.select(pl.arg_sort_by(sort, nulls_last=True)).to_series()
    inputs = [frame.get_column(c).cast(t) for c, t in columns.items()]
    del frame
    ordered = []
    for i in range(len(inputs)):
        ordered.append(inputs[i].gather(order))
        inputs[i] = None  # type: ignore[call-overload]
    return pl.DataFrame(ordered)
