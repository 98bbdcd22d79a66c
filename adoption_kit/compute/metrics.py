"""Adoption metrics from normalised export frames (polars or pandas in, polars out): pure functions;
no I/O except load_exclusions, no printing, no plotting."""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Union

import polars as pl

from adoption_kit import config, schema
from adoption_kit.compute.activity import (
    ACTIVITY_CUSTOMER_COLUMNS,
    ACTIVITY_WORKLOAD_COLUMNS,
    EXACT_BASIS,
    LOWER_BOUND_BASIS,
    activity_evidence,
    activity_tables,
)
from adoption_kit.compute.insights import with_insights_exclusions
from adoption_kit.config import DEFAULT_THRESHOLDS, Thresholds
from adoption_kit.errors import InputFileError, ParameterError, Problem
from adoption_kit.inputs.catalog import SkuCatalog, display_names, match_subscriptions, packaged_catalog, unmatched
from adoption_kit.values import check_whole_number, product_name_key

if TYPE_CHECKING:
    # pragma: no cover - typing only
    import pandas as pd
    from polars._typing import PolarsDataType

    from adoption_kit.inputs import Exports

Frame = Union[pl.DataFrame, "pd.DataFrame"]

__all__ = [
    "CAUSES",
    "EXCLUSION_COLUMNS",
    "Metrics",
    "NEXT_STEPS",
    "SEGMENTS",
    "assign_segments",
    "compute",
    "compute_frames",
    "customer_metrics",
    "load_exclusions",
    "low_adoption_ranking",
    "portfolio_summary",
    "product_metrics",
    "workload_metrics",
]

# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------
SEGMENTS: Final = ("data_check", "deploy", "adopt", "upsell", "healthy")  # precedence order
CAUSES: Final = ("duplicate_subscription", "trial", "turnover", "unchecked_no_subscription_match", "unexplained",
                 "yammer")  # sorted, as joined
EXCLUSION_COLUMNS: Final = ("product_id", "product_name", "reason")

# Plain-language next steps. `{name}` is replaced, row by row, by the column `licenses_<name>`.
# The data_check entries are combined (in CAUSES order, after "data_check:no_sold") when several apply.
NEXT_STEPS: Final[Mapping[str, str]] = {
    "deploy": (
        "Licenses not yet assigned: {unassigned} of {sold}. Help the customer assign them: list who "
        "still needs a license, assign it in the Microsoft 365 admin center, or lower the quantity "
        "at the next renewal."
    ),
    "adopt": (
        "Licenses assigned but not active: {inactive} of {qualified}. Drive adoption: share case "
        "studies and user testimonials about specific scenarios (meetings and chat in Teams, "
        "co-authoring files in SharePoint/OneDrive, shared mailboxes), and send tutorial blogs or "
        "videos; then check usage again in the next export."
    ),
    "upsell": (
        "Deployed and used at or above target: offer the next product (a higher plan or an add-on "
        "such as security, compliance or Teams Phone) or advanced training for power users."
    ),
    "healthy": "On track: no action now; keep monitoring deployment and usage in the next export.",
    "data_check:no_sold": (
        "No licenses sold through you (sold 0, assigned {assigned}, qualified {qualified}): the "
        "licenses in use were probably bought elsewhere, from another partner or directly from "
        "Microsoft. Check the customer's subscriptions in Partner Center before acting on these "
        "figures."
    ),
    "data_check:over_assigned": (
        "More licenses assigned than sold through you ({assigned} assigned, {sold} sold): the extra "
        "licenses were probably bought from another partner or directly from Microsoft. Check the "
        "customer's subscriptions before judging deployment."
    ),
    "data_check:duplicate_subscription": (
        "Usage is over 100% and the customer has two or more subscriptions for the same product, at "
        "least one suspended, disabled, expired or deprovisioned: users may still count against "
        "the old one. Check the subscriptions and move users to the active subscription."
    ),
    "data_check:trial": (
        "Usage is over 100% while a trial subscription for the product is open: trial seats are "
        "active but are not paid entitlements. Check whether the trial will convert, and offer to "
        "convert it."
    ),
    "data_check:turnover": (
        "Usage is over 100% and the customer's user activity shows turnover in the same 28 days "
        "(deleted users who were still active, or licenses assigned to new users inside the window): "
        "a license that moved from a leaver to a newcomer counts for both, so this is not a license "
        "shortage. Judge adoption on the exact usage from user activity, and check that licenses of "
        "deleted users are released."
    ),
    "data_check:unchecked_no_subscription_match": (
        "Usage is over 100% and no subscription of the customer matches this product, while some of the "
        "customer's subscriptions match no licence product (see the loader's warning): a trial or a second, "
        "suspended subscription cannot be checked. Check the customer's subscriptions in Partner Center, or add "
        "Microsoft's product catalog CSV to the data folder if the product is newer than the kit's catalog."
    ),
    "data_check:unexplained": (
        "Usage is over 100% with no cause in the data (no Yammer, trial or duplicate "
        "subscription): verify the export (licenses held elsewhere, a reporting lag between the "
        "usage and deployment feeds) before acting on it."
    ),
    # Appended to any segment's text when the row's counts are unknown (missing is not zero).
    "note:no_deployment": (
        "Deployment unknown: there is no licenses deployment row, so licenses sold and assigned are "
        "unknown (not 0); add or download again the licenses deployment export before judging deployment."
    ),
    "note:no_usage": (
        "Usage unknown: there are no licenses usage rows, so qualified and active licenses are unknown "
        "(not 0); add or download again the licenses usage export before judging usage."
    ),
    "note:some_without_deployment": (
        "Deployment covers only the products with a deployment row: {products_without_deployment} "
        "product(s) have none, and their licenses sold and assigned are unknown."
    ),
    "note:some_without_usage": (
        "Usage covers only the products with usage rows: {products_without_usage} product(s) have none, "
        "and their qualified and active licenses are unknown."
    ),
    "data_check:yammer": (
        "Usage is over 100% because of Yammer (Viva Engage) activity, which also counts users "
        "without a paid license: not a license shortage. Judge adoption on the other workloads."
    ),
}

_COUNT_COLUMNS: Final = ("licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active")
# Products of a customer (portfolio) without a deployment row / without usage rows: their counts are unknown.
_UNKNOWN_COUNTS: Final = ("products_without_deployment", "products_without_usage")
_YAMMER_KEYS: Final = frozenset(k for k, v in schema.CANONICAL_WORKLOADS.items() if v == schema.YAMMER_WORKLOAD)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

_WORKLOAD_SCHEMA: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "product_id": pl.String, "product_name": pl.String,
    "workload": pl.String, "workload_code": pl.String, "licenses_qualified": pl.Int64,
    "licenses_active": pl.Int64, "usage_rate": pl.Float64, "licenses_inactive": pl.Int64,
    "inflated": pl.Boolean, "inflation_causes": pl.String, "excluded": pl.Boolean,
}
_PRODUCT_SCHEMA: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "product_id": pl.String, "product_name": pl.String,
    "licenses_sold": pl.Int64, "licenses_assigned": pl.Int64, "licenses_qualified": pl.Int64,
    "qualified_conflict": pl.Boolean, "licenses_active": pl.Int64, "deployment_rate": pl.Float64,
    "usage_rate": pl.Float64, "licenses_unassigned": pl.Int64, "licenses_inactive": pl.Int64,
    "licenses_idle": pl.Int64, "inflated": pl.Boolean, "inflation_causes": pl.String,
    "segment": pl.String, "next_step": pl.String, "excluded": pl.Boolean, "exclusion_reason": pl.String,
    "product_display_name": pl.String,   # the catalog's current name of the SKU; product_name stays as exported
}
_CUSTOMER_SCHEMA: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "products": pl.Int64,
    "licenses_sold": pl.Int64, "licenses_assigned": pl.Int64, "licenses_qualified": pl.Int64,
    "licenses_active": pl.Int64, "deployment_rate": pl.Float64, "usage_rate": pl.Float64,
    "licenses_unassigned": pl.Int64, "licenses_inactive": pl.Int64, "licenses_idle": pl.Int64,
    "inflated": pl.Boolean, "inflation_causes": pl.String, "segment": pl.String, "next_step": pl.String,
    "products_without_deployment": pl.Int64, "products_without_usage": pl.Int64,
}
_PORTFOLIO_SCHEMA: Final[dict[str, PolarsDataType]] = {
    "customers": pl.Int64, "products": pl.Int64, "excluded_products": pl.Int64,
    "licenses_sold": pl.Int64, "licenses_assigned": pl.Int64, "licenses_qualified": pl.Int64,
    "licenses_active": pl.Int64, "deployment_rate": pl.Float64, "usage_rate": pl.Float64,
    "median_customer_deployment_rate": pl.Float64, "median_customer_usage_rate": pl.Float64,
    "licenses_unassigned": pl.Int64, "licenses_inactive": pl.Int64, "licenses_idle": pl.Int64,
    "processed_at_min": schema.UTC_DATETIME, "processed_at_max": schema.UTC_DATETIME,
    "products_without_deployment": pl.Int64, "products_without_usage": pl.Int64,
}
_RANKING_EXTRA: Final[dict[str, PolarsDataType]] = {
    "rank": pl.Int64, "idle_share": pl.Float64, "idle_share_lower_bound": pl.Float64,
    "priority_score": pl.Float64,
}

_PRODUCT_SORT: Final = ["customer_name", "customer_id", "product_name", "product_id"]


@dataclass(frozen=True)
class Metrics:
    """Every metric frame of one run (see docs/contracts.md for the columns).

    ``excluded`` holds the rows of ``products`` whose product is on the exclusion list: they are
    in ``products``/``workloads`` with ``excluded=True`` but not in ``customers``/``portfolio``.
    """

    workloads: pl.DataFrame
    products: pl.DataFrame
    customers: pl.DataFrame
    portfolio: pl.DataFrame
    excluded: pl.DataFrame
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    # Exact figures from Microsoft 365 active-user detail (adoption_kit.compute.activity); empty without activity.
    activity_workloads: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(ACTIVITY_WORKLOAD_COLUMNS))
    activity_customers: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(ACTIVITY_CUSTOMER_COLUMNS))


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def compute(exports: Exports, *, thresholds: Thresholds = DEFAULT_THRESHOLDS,
            exclusions: Frame | None = None) -> Metrics:
    """All metric frames of the loaders' ``Exports`` (its deployment, usage, subscriptions and activity feeds).

    The same as ``compute_frames(exports.deployment, exports.usage, exports.subscriptions,
    activity=exports.activity, ...)``; see there for the rules.
    """
    return compute_frames(exports.deployment, exports.usage, exports.subscriptions, thresholds=thresholds,
                          exclusions=with_insights_exclusions(exclusions, exports), activity=exports.activity,
                          catalog=getattr(exports, "catalog", None))


def compute_frames(
    deployment: Frame,
    usage: Frame,
    subscriptions: Frame | None = None,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    exclusions: Frame | None = None,
    activity: Frame | None = None,
    catalog: SkuCatalog | None = None,
) -> Metrics:
    """All metric frames from the normalised frames (polars or pandas; schema.DEPLOYMENT_COLUMNS and friends).

    ``exclusions`` is a frame with columns product_id, product_name, reason (``load_exclusions()`` reads
    the packaged list); ``None`` excludes nothing, so that this function stays free of I/O. The free SKUs of
    Insights DynamicsUsage downloads (``exports.insights_exclusions``) are added by ``compute(exports)``; with
    this function pass ``with_insights_exclusions(exclusions, exports)`` (adoption_kit.compute.insights).

    Snapshots: when a feed holds several ``processed_at`` values for one customer, only that customer's
    newest rows of that feed are used (the same rule as ``Exports.latest()``); a key still seen twice
    with different counts raises ``ParameterError``.

    User activity (``activity``: schema.ACTIVITY_COLUMNS rows, Microsoft 365 active-user detail): when it
    has rows, ``workloads`` gains entitled_users_exact, active_users_exact, usage_rate_exact (per customer x
    workload, across the customer's products: see adoption_kit.compute.activity) and usage_basis (EXACT_BASIS where
    the customer x workload has activity, else LOWER_BOUND_BASIS); ``customers`` gains usage_rate_exact
    (licensed users active on a workload they are entitled to) and usage_basis. Partner Center's figure
    stays in usage_rate, side by side. An inflated workload row whose customer x workload activity shows
    deleted users still active or licences assigned inside the window gets the cause ``turnover`` (a
    product: when one of the workload rows that set its active count does). Without activity rows the
    frames are exactly as before (no extra columns).

    Subscriptions are matched to licence products with the product catalog (``catalog``; None: the packaged
    one, adoption_kit.inputs.catalog): by SKU GUID, any known name of the SKU, then the folded name.
    """
    thresholds = _check_thresholds(thresholds)
    dep, use, attrs = _prepare_all(deployment, usage, subscriptions, exclusions, catalog)
    act_workloads, act_customers = activity_tables(activity)
    evidence = activity_evidence(act_workloads) if act_workloads.height else None
    workloads = _workloads(use, attrs, evidence)
    products = _products(dep, use, attrs, thresholds, evidence)
    customers = customer_metrics(products, thresholds=thresholds)
    portfolio = portfolio_summary(customers, products, sources=(dep, use))
    excluded = products.filter(pl.col("excluded"))
    if evidence is not None:
        workloads = _with_exact(workloads, evidence, ["customer_id", "workload"],
                                ["entitled_users_exact", "active_users_exact", "usage_rate_exact"])
        customers = _with_exact(customers, act_customers, ["customer_id"], ["usage_rate_exact"])
    return Metrics(workloads, products, customers, portfolio, excluded, thresholds, act_workloads, act_customers)


def _with_exact(frame: pl.DataFrame, exact: pl.DataFrame, key: list[str], columns: list[str]) -> pl.DataFrame:
    """Partner Center's rows with the exact figures beside them, and which basis the row's usage has."""
    has = "_has_activity"
    out = frame.join(exact.select(*key, *columns, pl.lit(True).alias(has)), on=key, how="left",
                     maintain_order="left")
    basis = pl.when(pl.col(has).fill_null(False)).then(pl.lit(EXACT_BASIS)).otherwise(pl.lit(LOWER_BOUND_BASIS))
    return out.with_columns(basis.alias("usage_basis")).drop(has)


def workload_metrics(
    usage: Frame, subscriptions: Frame | None = None, *, exclusions: Frame | None = None
) -> pl.DataFrame:
    """One row per customer x product x workload: usage_rate, licenses_inactive, inflated and causes.

    usage_rate = active / qualified (null when qualified == 0); licenses_inactive = max(qualified -
    active, 0); inflated = usage_rate > 1, with causes ``yammer`` (the workload is Yammer), ``trial``,
    ``duplicate_subscription`` (from ``subscriptions``) or else ``unexplained``. The figure is never
    capped. Names are the latest non-null ones in ``usage`` (``compute`` also looks at deployment).
    """
    _, use, attrs = _prepare_all(None, usage, subscriptions, exclusions)
    return _workloads(use, attrs)


def product_metrics(
    deployment: Frame,
    usage: Frame,
    subscriptions: Frame | None = None,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    exclusions: Frame | None = None,
) -> pl.DataFrame:
    """One row per customer x product (union of deployment and usage keys), with segment and next_step.

    - licenses_sold/assigned come from deployment (0 when the product has no deployment row);
      deployment_rate = assigned / sold, null when sold == 0.
    - licenses_qualified is the qualified count of the product's workload rows (the same seats are
      listed once per workload, so they are never summed); when rows disagree the largest of the rows that
      give the active count (the non-Yammer ones, see below) is kept and ``qualified_conflict`` is true.
    - licenses_active is the largest active count over the non-Yammer workloads: a *lower bound* of
      "active in at least one workload" (a user active only in Exchange and another only in SharePoint
      count once each in their workload, and the export cannot tell that they differ). Yammer rows are
      used only when the product has no other workload, because Yammer counts users without a paid
      license. A product without usage rows has qualified = active = 0 and usage_rate null.
    - usage_rate = active / qualified (null when qualified == 0), never capped; over 1 -> ``inflated``
      with causes ``yammer`` (the active count came from Yammer rows), ``trial``,
      ``duplicate_subscription`` or ``unexplained``.
    - unassigned = max(sold - assigned, 0), inactive = max(qualified - active, 0), idle = their sum.
    - excluded/exclusion_reason from ``exclusions`` (matched on lower-cased product_id; rows without a
      product_id match product_name case- and whitespace-insensitively; when the data has no GUID,
      i.e. a ``name:`` product_id, GUID rows match by name too).
    - segment/next_step: see ``assign_segments``.
    """
    thresholds = _check_thresholds(thresholds)
    dep, use, attrs = _prepare_all(deployment, usage, subscriptions, exclusions)
    return _products(dep, use, attrs, thresholds)


def customer_metrics(products: Frame, *, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pl.DataFrame:
    """One row per customer with at least one included (not excluded) product, from the products frame.

    Counts are sums of the included products' columns; deployment_rate = sum assigned / sum sold and
    usage_rate = sum active / sum qualified (weighted ratios, never means of product ratios; null when
    the denominator is 0). inflated = customer usage_rate > 1 or any included product inflated; causes
    = union of the product causes, plus ``unexplained`` when the customer ratio is over 1 with no
    product cause (a product with qualified == 0 but active > 0 can do that). The customer segment
    applies the rules of ``assign_segments`` to the customer's own ratios.
    """
    thresholds = _check_thresholds(thresholds)
    df = _to_polars(products, "products")
    _require(df, "products", ["customer_id", "customer_name", *_COUNT_COLUMNS, "licenses_unassigned",
                              "licenses_inactive", "licenses_idle", "inflated", "inflation_causes", "excluded"])
    has_cause = {
        c: pl.col("inflation_causes").str.split(";").list.contains(c).fill_null(False).any() for c in CAUSES
    }
    out = (
        df.filter(~pl.col("excluded").fill_null(False))
        .group_by("customer_id")
        .agg(
            pl.col("customer_name").max(),
            pl.len().cast(pl.Int64).alias("products"),
            *[_sum_known(c) for c in _COUNT_COLUMNS],
            *[_sum_known(c) for c in ("licenses_unassigned", "licenses_inactive", "licenses_idle")],
            pl.col("licenses_sold").is_null().sum().cast(pl.Int64).alias("products_without_deployment"),
            pl.col("licenses_qualified").is_null().sum().cast(pl.Int64).alias("products_without_usage"),
            pl.col("inflated").fill_null(False).any().alias("_any_inflated"),
            *[expr.alias(f"_cause_{c}") for c, expr in has_cause.items()],
        )
        .with_columns(
            _ratio("licenses_assigned", "licenses_sold").alias("deployment_rate"),
            _ratio("licenses_active", "licenses_qualified").alias("usage_rate"),
        )
        .with_columns(
            ((pl.col("usage_rate") > 1).fill_null(False) | pl.col("_any_inflated")).alias("inflated"),
            (pl.col("usage_rate") > 1).fill_null(False).alias("_ratio_over"),
        )
    )
    product_cause = pl.any_horizontal([pl.col(f"_cause_{c}") for c in CAUSES])
    cause_flags = {
        c: pl.col(f"_cause_{c}") if c != "unexplained"
        else pl.col("_cause_unexplained") | (pl.col("_ratio_over") & ~product_cause)
        for c in CAUSES
    }
    out = out.with_columns(_join_causes(cause_flags, pl.col("inflated")).alias("inflation_causes"))
    out = assign_segments(out, thresholds=thresholds)
    return _finish(out, _CUSTOMER_SCHEMA, ["customer_name", "customer_id"])


def portfolio_summary(
    customers: Frame, products: Frame | None = None, *, sources: Iterable[Frame] = ()
) -> pl.DataFrame:
    """One-row portfolio totals from the customers frame (so included products only).

    deployment_rate and usage_rate are sum/sum over all customers (weighted); the medians are over
    customers whose rate is not null. ``excluded_products`` counts ``products`` rows with
    excluded=True (null without ``products``). processed_at_min/max span the ``processed_at`` of the
    ``sources`` frames (``compute`` passes the deployment and usage rows it used); null without them.
    """
    df = _to_polars(customers, "customers")
    _require(df, "customers", ["customer_id", "products", *_COUNT_COLUMNS, "deployment_rate", "usage_rate",
                               "licenses_unassigned", "licenses_inactive", "licenses_idle"])
    for c in _UNKNOWN_COUNTS:  # customers frames from before these columns: nothing known to be missing
        if c not in df.columns:
            df = df.with_columns(pl.lit(0, dtype=pl.Int64).alias(c))
    sums = [*[pl.col(c).sum().cast(pl.Int64) for c in ("products", *_UNKNOWN_COUNTS)],
            *[_sum_known(c) for c in (*_COUNT_COLUMNS, "licenses_unassigned", "licenses_inactive", "licenses_idle")]]
    out = df.select(
        pl.len().cast(pl.Int64).alias("customers"),
        *sums,
        pl.col("deployment_rate").median().cast(pl.Float64).alias("median_customer_deployment_rate"),
        pl.col("usage_rate").median().cast(pl.Float64).alias("median_customer_usage_rate"),
    ).with_columns(
        _ratio("licenses_assigned", "licenses_sold").alias("deployment_rate"),
        _ratio("licenses_active", "licenses_qualified").alias("usage_rate"),
    )
    if products is not None:
        prod = _to_polars(products, "products")
        _require(prod, "products", ["excluded"])
        n_excluded = int(prod.get_column("excluded").fill_null(False).sum())
        out = out.with_columns(pl.lit(n_excluded, dtype=pl.Int64).alias("excluded_products"))
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.Int64).alias("excluded_products"))
    stamps = [
        _to_polars(s, "sources").get_column("processed_at").cast(schema.UTC_DATETIME)
        for s in sources
        if "processed_at" in _to_polars(s, "sources").columns
    ]
    stamp = pl.concat(stamps) if stamps else pl.Series("processed_at", [], dtype=schema.UTC_DATETIME)
    out = out.with_columns(
        pl.lit(stamp.min(), dtype=schema.UTC_DATETIME).alias("processed_at_min"),
        pl.lit(stamp.max(), dtype=schema.UTC_DATETIME).alias("processed_at_max"),
    )
    return _finish(out, _PORTFOLIO_SCHEMA, None)


def assign_segments(frame: Frame, *, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pl.DataFrame:
    """Add ``segment`` and ``next_step`` to a products or customers frame (first rule that applies wins).

    1. data_check: usage_rate > 1, or licenses_sold == 0, or deployment_rate > 1 (more assigned than
                   sold through this partner: licenses bought elsewhere)
    2. deploy:     deployment_rate < thresholds.deploy
    3. adopt:      usage_rate < thresholds.adopt
    4. upsell:     deployment_rate >= thresholds.upsell and usage_rate >= thresholds.upsell
    5. healthy:    everything else

    A null usage_rate (no qualified seats, e.g. a product with no usage rows) with sold > 0 can be
    neither adopt nor upsell: such a row is deploy when its deployment_rate is under the threshold,
    otherwise healthy. Comparisons are exact (a rate of exactly 0.80 is not under 0.80).
    next_step is the ``NEXT_STEPS`` text of the segment with the counts filled in; data_check joins
    the texts of each reason that applies (sold == 0, then each inflation cause).
    Needs licenses_sold, licenses_assigned, licenses_qualified, licenses_unassigned, licenses_inactive,
    deployment_rate and usage_rate; inflation_causes is used when present.
    """
    thresholds = _check_thresholds(thresholds)
    df = _to_polars(frame, "frame")
    _require(df, "frame", ["licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_unassigned",
                           "licenses_inactive", "deployment_rate", "usage_rate"])
    dep, use, sold = pl.col("deployment_rate"), pl.col("usage_rate"), pl.col("licenses_sold")
    over = (use > 1).fill_null(False)
    over_assigned = (dep > 1).fill_null(False)
    segment = (
        pl.when(over | (sold == 0) | over_assigned).then(pl.lit("data_check"))
        .when(dep < thresholds.deploy).then(pl.lit("deploy"))
        .when(use < thresholds.adopt).then(pl.lit("adopt"))
        .when((dep >= thresholds.upsell) & (use >= thresholds.upsell)).then(pl.lit("upsell"))
        .otherwise(pl.lit("healthy"))
    )
    df = df.with_columns(segment.alias("segment"))

    if "inflation_causes" in df.columns:
        causes = pl.coalesce(pl.col("inflation_causes"), pl.when(over).then(pl.lit("unexplained")))
    else:
        causes = pl.when(over).then(pl.lit("unexplained"))
    cause_list = causes.str.split(";")
    is_check = pl.col("segment") == "data_check"
    check_parts = [pl.when(is_check & (sold == 0)).then(_fill(NEXT_STEPS["data_check:no_sold"])),
                   pl.when(is_check & over_assigned).then(_fill(NEXT_STEPS["data_check:over_assigned"]))]
    for cause in CAUSES:
        hit = is_check & over & cause_list.list.contains(cause).fill_null(False)
        check_parts.append(pl.when(hit).then(_fill(NEXT_STEPS[f"data_check:{cause}"])))
    next_step = (
        pl.when(is_check).then(pl.concat_str(check_parts, separator=" ", ignore_nulls=True))
        .when(pl.col("segment") == "deploy").then(_fill(NEXT_STEPS["deploy"]))
        .when(pl.col("segment") == "adopt").then(_fill(NEXT_STEPS["adopt"]))
        .when(pl.col("segment") == "upsell").then(_fill(NEXT_STEPS["upsell"]))
        .otherwise(_fill(NEXT_STEPS["healthy"]))
    )
    return df.with_columns(pl.concat_str([next_step, *_unknown_notes(df)], separator=" ",
                                         ignore_nulls=True).alias("next_step"))


def _unknown_notes(df: pl.DataFrame) -> list[pl.Expr]:
    """The next-step notes for counts that are unknown (null) or known for only some products."""
    notes: list[pl.Expr] = [pl.when(pl.col("licenses_sold").is_null()).then(pl.lit(NEXT_STEPS["note:no_deployment"])),
             pl.when(pl.col("licenses_qualified").is_null()).then(pl.lit(NEXT_STEPS["note:no_usage"]))]
    for count, known, key in (("products_without_deployment", "licenses_sold", "note:some_without_deployment"),
                              ("products_without_usage", "licenses_qualified", "note:some_without_usage")):
        if count in df.columns:
            text = NEXT_STEPS[key].split("{" + count + "}")
            notes.append(pl.when((pl.col(count) > 0) & pl.col(known).is_not_null()).then(
                pl.concat_str([pl.lit(text[0]), pl.col(count).cast(pl.String), pl.lit(text[1])])))
    return notes


def low_adoption_ranking(customers: Frame, *, z: float = 1.96, limit: int | None = None) -> pl.DataFrame:
    """Customers in segment deploy or adopt, rank 1 = act first; fair to small accounts.

    With n = max(licenses_sold, licenses_qualified) seats and idle_share = licenses_idle / n (clipped
    to [0, 1]), the score is ``priority_score = n * wilson_lower_bound(idle_share, n, z)``: the number
    of idle licenses we are confident about at confidence z (1.96 ~ 95 %). Wilson lower bound:
    (p + z²/2n - z*sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n).

    Why: ranking by raw idle count ignores that a small account can be entirely idle; ranking by
    idle share lets tiny accounts (2 of 2 seats idle) jump over big ones. The lower bound shrinks
    shares measured on few seats: a 2-seat account with 2 idle scores 2 * 0.342 = 0.68 and stays
    below a 500-seat account with 200 idle (500 * 0.358 = 179), while a 20-seat account at 100 %
    idle (20 * 0.839 = 16.8) still outranks a 1000-seat account with 5 idle (1000 * 0.0021 = 2.1).
    Ties: licenses_idle descending, then customer_name, customer_id. ``limit`` keeps the first rows.
    """
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z) or z <= 0:
        raise ParameterError(f"z={z!r} is not a positive number; 1.96 gives a 95 % confidence bound")
    if limit is not None:
        check_whole_number("limit", limit)
    df = _to_polars(customers, "customers")
    _require(df, "customers", ["customer_id", "customer_name", "segment", "licenses_sold",
                               "licenses_qualified", "licenses_idle"])
    df = df.drop([c for c in _RANKING_EXTRA if c in df.columns])  # re-ranking a ranking
    z2 = float(z) * float(z)
    n = pl.max_horizontal("licenses_sold", "licenses_qualified").cast(pl.Float64)
    p = pl.col("idle_share")
    centre = p + z2 / (2 * n)
    margin = float(z) * ((p * (1 - p) / n) + z2 / (4 * n * n)).sqrt()
    lower = ((centre - margin) / (1 + z2 / n)).clip(0.0, 1.0)
    out = (
        df.filter(pl.col("segment").is_in(["deploy", "adopt"]))
        .with_columns(n.alias("_n"))
        .with_columns(
            pl.when(pl.col("_n") > 0)
            .then((pl.col("licenses_idle").cast(pl.Float64) / pl.col("_n")).clip(0.0, 1.0))
            .otherwise(0.0).alias("idle_share")
        )
        .with_columns(pl.when(pl.col("_n") > 0).then(lower).otherwise(0.0).alias("idle_share_lower_bound"))
        .with_columns((pl.col("_n") * pl.col("idle_share_lower_bound")).alias("priority_score"))
        .sort(["priority_score", "licenses_idle", "customer_name", "customer_id"],
              descending=[True, True, False, False], nulls_last=True)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"))
        .drop("_n")
    )
    if limit is not None:
        out = out.head(limit)
    ordered = ["rank", *[c for c in df.columns], "idle_share", "idle_share_lower_bound", "priority_score"]
    return out.select(ordered).cast({k: v for k, v in _RANKING_EXTRA.items()})


def load_exclusions(path: str | Path | None = None) -> pl.DataFrame:
    """Read an exclusion list (CSV: product_id,product_name,reason); None reads the packaged one.

    product_id is a GUID (any case; returned lower-cased) or empty, in which case product_name is
    matched case-insensitively. The only I/O in this module. Raises ``InputFileError`` listing every
    problem (missing file or column, a row with neither id nor name, a malformed GUID, an empty reason).
    """
    file = Path(path) if path is not None else config.DEFAULT_EXCLUSIONS_FILE
    fix_columns = "use a CSV with the header product_id,product_name,reason"
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputFileError.single(file, f"cannot read the exclusion list ({exc.strerror or exc})",
                                    "pass the path of an existing CSV file") from exc
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    try:
        df = pl.read_csv(BytesIO(text.encode("utf-8")), infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise InputFileError.single(file, f"not a readable CSV ({exc})", fix_columns) from exc
    rename = {c: schema.header_key(c) for c in df.columns}
    wanted = {schema.header_key(c): c for c in EXCLUSION_COLUMNS}
    df = df.rename({c: wanted[k] for c, k in rename.items() if k in wanted})
    missing = [c for c in EXCLUSION_COLUMNS if c not in df.columns]
    if missing:
        raise InputFileError.single(file, f"missing column(s) {', '.join(missing)}", fix_columns)
    df = df.select(
        pl.col("product_id").str.strip_chars().str.to_lowercase().replace("", None),
        pl.col("product_name").str.strip_chars().replace("", None),
        pl.col("reason").str.strip_chars().replace("", None),
    )
    guid = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    checks = df.with_row_index("_row", offset=1).with_columns(
        (pl.col("product_id").is_null() & pl.col("product_name").is_null()).alias("_no_key"),
        (pl.col("product_id").is_not_null() & ~pl.col("product_id").str.contains(guid)).alias("_bad_guid"),
        pl.col("reason").is_null().alias("_no_reason"),
    ).filter(pl.col("_no_key") | pl.col("_bad_guid") | pl.col("_no_reason"))
    problems: list[Problem] = []
    for row in checks.iter_rows(named=True):  # only the faulty rows, for the messages
        if row["_no_key"]:
            problems.append(Problem(str(file), "neither product_id nor product_name is set",
                                    "give the product GUID or its name", row["_row"]))
        if row["_bad_guid"]:
            problems.append(Problem(str(file), f"product_id {row['product_id']!r} is not a GUID",
                                    "write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or leave it empty",
                                    row["_row"], "product_id"))
        if row["_no_reason"]:
            problems.append(Problem(str(file), "reason is empty",
                                    "say why the product is excluded (free, trial-only, device...)",
                                    row["_row"], "reason"))
    if problems:
        raise InputFileError(problems)
    return df


# ---------------------------------------------------------------------------
# Building blocks (pure)
# ---------------------------------------------------------------------------
def _check_thresholds(thresholds: Any) -> Thresholds:
    if not isinstance(thresholds, Thresholds):
        raise ParameterError(
            f"thresholds={thresholds!r} is not a Thresholds; use Thresholds(deploy=0.8, adopt=0.6, upsell=0.9)"
        )
    return thresholds


def _to_polars(frame: Any, name: str) -> pl.DataFrame:
    """Polars as is; pandas converted once with ``pl.from_pandas``; anything else is refused."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if type(frame).__module__.split(".")[0] == "pandas":
        return pl.from_pandas(frame)
    raise ParameterError(f"{name} is a {type(frame).__name__}, not a polars or pandas DataFrame")


def _require(df: pl.DataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ParameterError(f"{name} has no column(s) {', '.join(missing)}")




def _ratio(numerator: str, denominator: str) -> pl.Expr:
    den = pl.col(denominator)
    return pl.when(den > 0).then(pl.col(numerator).cast(pl.Float64) / den.cast(pl.Float64)).otherwise(None)


def _floor0(expr: pl.Expr) -> pl.Expr:
    """max(expr, 0); null (unknown) stays null, where max_horizontal alone would make it 0."""
    return pl.when(expr.is_not_null()).then(pl.max_horizontal(expr, pl.lit(0, dtype=pl.Int64))).cast(pl.Int64)


def _known_sum(columns: list[str]) -> pl.Expr:
    """Row-wise sum of the known (non-null) columns; null only when every one is unknown."""
    known = pl.any_horizontal([pl.col(c).is_not_null() for c in columns])
    return pl.when(known).then(pl.sum_horizontal(columns)).cast(pl.Int64)


def _sum_known(column: str) -> pl.Expr:
    """Aggregate sum over the known rows; null when there are rows and none is known (polars' sum alone
    gives 0). No rows at all sum to 0: an empty portfolio has nothing sold, which is known."""
    known = pl.col(column).is_not_null().any() | (pl.len() == 0)
    return pl.when(known).then(pl.col(column).sum()).cast(pl.Int64).alias(column)


def _fill(template: str) -> pl.Expr:
    """The template as a row-wise string, ``{x}`` replaced by column ``licenses_x``."""
    parts: list[pl.Expr] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(pl.lit(template[pos:match.start()]))
        parts.append(pl.col(f"licenses_{match.group(1)}").cast(pl.String).fill_null("unknown"))
        pos = match.end()
    parts.append(pl.lit(template[pos:]))
    return pl.concat_str(parts)


def _join_causes(flags: Mapping[str, pl.Expr], inflated: pl.Expr) -> pl.Expr:
    """Sorted ';'-joined causes; ``unexplained`` when inflated with no flag; null when not inflated."""
    named = [pl.when(flags[c]).then(pl.lit(c)) for c in CAUSES if c in flags]
    joined = pl.concat_str(named, separator=";", ignore_nulls=True)
    return (
        pl.when(~inflated).then(pl.lit(None, dtype=pl.String))
        .when(joined == "").then(pl.lit("unexplained"))
        .otherwise(joined)
    )


def _cast_columns(df: pl.DataFrame, columns: Mapping[str, PolarsDataType], name: str) -> pl.DataFrame:
    """Add missing optional columns as nulls and cast to the schema dtype (strictly)."""
    missing = [c for c, t in columns.items() if c not in df.columns]
    df = df.with_columns([pl.lit(None, dtype=columns[c]).alias(c) for c in missing])
    try:
        return df.select([pl.col(c).cast(t, strict=True) for c, t in columns.items()])
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError,
            pl.exceptions.SchemaError) as exc:
        raise ParameterError(f"{name}: a column does not have the normalised type ({exc})") from exc


def _check_counts(df: pl.DataFrame, name: str, counts: list[str]) -> None:
    bad = df.select(
        *[(pl.col(c).is_null() | (pl.col(c) < 0)).sum().alias(c) for c in counts],
        pl.col("customer_id").is_null().sum().alias("customer_id"),
    ).row(0, named=True)
    for c in counts:
        if bad[c]:
            raise ParameterError(f"{name}: {bad[c]} row(s) have a missing or negative {c}")
    if bad["customer_id"]:
        raise ParameterError(f"{name}: {bad['customer_id']} row(s) have no customer_id")


def _with_product_id(df: pl.DataFrame) -> pl.DataFrame:
    """A missing product_id becomes ``name:<PRODUCT NAME>``, as the loaders do."""
    if not df.get_column("product_id").has_nulls():
        return df
    return df.with_columns(
        pl.coalesce(pl.col("product_id"), pl.lit("name:") + product_name_key(pl.col("product_name")))
        .alias("product_id")
    )


def _prepare_deployment(frame: Frame) -> pl.DataFrame:
    df = _to_polars(frame, "deployment")
    _require(df, "deployment", ["customer_id", "product_name", "licenses_sold", "licenses_assigned"])
    cols = {c: schema.DEPLOYMENT_COLUMNS[c] for c in
            ("processed_at", "customer_id", "customer_name", "product_id", "product_name",
             "licenses_sold", "licenses_assigned")}
    df = _cast_columns(df, cols, "deployment")
    _check_counts(df, "deployment", ["licenses_sold", "licenses_assigned"])
    return _with_product_id(df)


def _prepare_usage(frame: Frame) -> pl.DataFrame:
    df = _to_polars(frame, "usage")
    _require(df, "usage", ["customer_id", "product_name", "workload", "licenses_qualified", "licenses_active"])
    cols = {c: schema.USAGE_COLUMNS[c] for c in
            ("processed_at", "customer_id", "customer_name", "product_id", "product_name", "workload",
             "workload_code", "licenses_qualified", "licenses_active")}
    df = _cast_columns(df, cols, "usage")
    _check_counts(df, "usage", ["licenses_qualified", "licenses_active"])
    return _with_product_id(df)


_SUB_COLUMNS: Final = {c: schema.SUBSCRIPTION_COLUMNS[c] for c in
                       ("customer_id", "subscription_id", "offer_id", "product_name", "product_key", "status",
                        "is_trial", "trial_start_at", "trial_converted_at")}


def _prepare_subscriptions(frame: Frame | None) -> pl.DataFrame:
    if frame is None:
        return schema.empty_frame(_SUB_COLUMNS)
    df = _to_polars(frame, "subscriptions")
    if df.width == 0:
        return schema.empty_frame(_SUB_COLUMNS)
    _require(df, "subscriptions", ["customer_id"])
    if "product_key" not in df.columns and "product_name" not in df.columns:
        raise ParameterError("subscriptions has neither product_key nor product_name")
    return _cast_columns(df, _SUB_COLUMNS, "subscriptions")


def _prepare_exclusions(frame: Frame | None) -> pl.DataFrame:
    cols = {"product_id": pl.String, "product_name": pl.String, "reason": pl.String}
    if frame is None:
        return schema.empty_frame(cols)
    df = _to_polars(frame, "exclusions")
    _require(df, "exclusions", ["product_id", "reason"])
    return _cast_columns(df, cols, "exclusions").with_columns(
        pl.col("product_id").str.strip_chars().str.to_lowercase().replace("", None),
        pl.col("product_name").str.strip_chars().replace("", None),
        pl.coalesce(pl.col("reason"), pl.lit("on the exclusion list")).alias("reason"),
    )


_KEY: Final = ["customer_id", "product_id"]
_USAGE_KEY: Final = ["customer_id", "product_id", "workload", "workload_code"]


def _prepare_all(deployment: Frame | None, usage: Frame, subscriptions: Frame | None,
                 exclusions: Frame | None, catalog: SkuCatalog | None = None,
                 ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Validated latest-snapshot deployment and usage rows, and the per customer x product attributes."""
    dep_all = _prepare_deployment(schema.empty_frame(schema.DEPLOYMENT_COLUMNS) if deployment is None else deployment)
    use_all = _prepare_usage(usage)
    subs = _prepare_subscriptions(subscriptions)
    excl = _prepare_exclusions(exclusions)
    customer_names = _latest_names([dep_all, use_all], "customer_id", "customer_name")
    product_names = _latest_names([dep_all, use_all], "product_id", "product_name")
    dep = _unique_keys(_latest_per_customer(dep_all), _KEY, "deployment")
    use = _unique_keys(_latest_per_customer(use_all), _USAGE_KEY, "usage")
    keys = pl.concat([dep.select(_KEY), use.select(_KEY)]).unique()
    catalog = catalog if catalog is not None else packaged_catalog()
    subs = match_subscriptions(subs, keys.join(product_names, on="product_id", how="left"), catalog)
    attrs = display_names(_attributes(keys, customer_names, product_names, _subscription_flags(subs), excl), catalog)
    lost = (subs.filter(unmatched(subs)).select("customer_id").unique()
            .with_columns(pl.lit(True).alias("_unmatched")))
    attrs = (attrs.join(lost, on="customer_id", how="left", maintain_order="left")
             .with_columns((pl.col("_unmatched").fill_null(False) & ~pl.col("_has_sub")).alias("_unchecked"))
             .drop("_unmatched"))
    return dep, use, attrs


def _latest_names(frames: list[pl.DataFrame], key: str, name: str) -> pl.DataFrame:
    """Latest non-null name per key by processed_at (ties: the greatest name), deterministic."""
    stacked = pl.concat([f.select(key, name, "processed_at") for f in frames])
    return (
        stacked.filter(pl.col(name).is_not_null() & (pl.col(name).str.strip_chars() != ""))
        .group_by(key, name).agg(pl.col("processed_at").max())  # few distinct pairs: sort those only
        .group_by(key)
        .agg(pl.col(name).sort_by(["processed_at", name], nulls_last=False).last())
    )


def _latest_per_customer(df: pl.DataFrame) -> pl.DataFrame:
    """Keep each customer's newest processed_at rows (all rows when a customer has no timestamp)."""
    if df.get_column("processed_at").n_unique() <= 1:  # one snapshot: nothing to drop
        return df
    return df.filter(pl.col("processed_at").eq_missing(pl.col("processed_at").max().over("customer_id")))


def _unique_keys(df: pl.DataFrame, key: list[str], feed: str) -> pl.DataFrame:
    """Drop rows repeated with the same counts; raise when one key still has different counts."""
    counts = [c for c in _COUNT_COLUMNS if c in df.columns]
    df = df.select([*key, *counts, "processed_at"])
    if not df.select(key).is_duplicated().any():
        return df
    df = df.unique()
    dup = df.filter(pl.len().over(key) > 1)
    if dup.height:
        first = dup.sort(key, nulls_last=True).row(0, named=True)
        where = ", ".join(f"{k}={first[k]!r}" for k in key)
        raise ParameterError(
            f"{feed}: {dup.select(key).unique().height} key(s) have conflicting counts in the same "
            f"snapshot, e.g. {where}; load the files with adoption_kit.inputs.load_exports, which reports them"
        )
    return df


def _subscription_flags(subs: pl.DataFrame) -> pl.DataFrame:
    """Per customer x product_key: _trial and _duplicate (>= 2 subscriptions, at least one inactive)."""
    trial = pl.col("is_trial").fill_null(False) | (
        pl.col("trial_start_at").is_not_null() & pl.col("trial_converted_at").is_null()
    )
    inactive = pl.col("status").str.strip_chars().str.to_lowercase().is_in(
        sorted(schema.INACTIVE_SUBSCRIPTION_STATUSES)
    ).fill_null(False)
    n_subs = pl.col("subscription_id").drop_nulls().n_unique() + pl.col("subscription_id").null_count()
    return (
        subs.with_columns(product_name_key(pl.coalesce(pl.col("product_key"), pl.col("product_name"))).alias("_pkey"))
        .filter(pl.col("_pkey").is_not_null())
        .group_by("customer_id", "_pkey")
        .agg(
            trial.any().alias("_trial"),
            ((n_subs >= 2) & inactive.any()).alias("_duplicate"),
            pl.lit(True).alias("_has_sub"),
        )
    )


def _exclusion_flags(products: pl.DataFrame, excl: pl.DataFrame) -> pl.DataFrame:
    """products (product_id, product_name) + excluded, exclusion_reason."""
    by_id = (excl.filter(pl.col("product_id").is_not_null())
             .group_by("product_id").agg(pl.col("reason").min().alias("_r_id")))
    named = (excl.filter(pl.col("product_name").is_not_null())
             .with_columns(product_name_key(pl.col("product_name")).alias("_nk")))
    by_name = (named.filter(pl.col("product_id").is_null())
               .group_by("_nk").agg(pl.col("reason").min().alias("_r_name")))
    by_guid_name = (named.filter(pl.col("product_id").is_not_null())
                    .group_by("_nk").agg(pl.col("reason").min().alias("_r_guid_name")))
    out = (
        products.with_columns(
            pl.col("product_id").str.to_lowercase().alias("_pid"),
            product_name_key(pl.col("product_name")).alias("_nk"),
        )
        .join(by_id, left_on="_pid", right_on="product_id", how="left")
        .join(by_name, on="_nk", how="left")
        .join(by_guid_name, on="_nk", how="left")
        .with_columns(
            pl.coalesce(
                pl.col("_r_id"),
                pl.col("_r_name"),
                pl.when(pl.col("product_id").str.starts_with("name:")).then(pl.col("_r_guid_name")),
            ).alias("exclusion_reason")
        )
        .with_columns(pl.col("exclusion_reason").is_not_null().alias("excluded"))
    )
    return out.drop("_pid", "_nk", "_r_id", "_r_name", "_r_guid_name")


def _attributes(keys: pl.DataFrame, customer_names: pl.DataFrame, product_names: pl.DataFrame,
                flags: pl.DataFrame, excl: pl.DataFrame) -> pl.DataFrame:
    """Per customer x product: names, subscription flags, exclusion, and ``_order`` (the output order).

    Computed once on the distinct keys and joined to the (much longer) workload rows.
    """
    product_table = _exclusion_flags(
        keys.select("product_id").unique().join(product_names, on="product_id", how="left"), excl
    ).with_columns(product_name_key(pl.col("product_name")).alias("_pkey"))
    return (
        keys.join(customer_names, on="customer_id", how="left")
        .join(product_table, on="product_id", how="left")
        .join(flags, on=["customer_id", "_pkey"], how="left")
        .with_columns(pl.col("_trial", "_duplicate", "_has_sub").fill_null(False))
        .drop("_pkey")
        .sort(_PRODUCT_SORT, nulls_last=True)
        .with_row_index("_order")
    )


def _is_yammer() -> pl.Expr:
    key = pl.col("workload").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    return key.is_in(sorted(_YAMMER_KEYS)).fill_null(False)


def _workloads(use: pl.DataFrame, attrs: pl.DataFrame, evidence: pl.DataFrame | None = None) -> pl.DataFrame:
    labels = (use.select("workload", "workload_code").unique()  # few distinct labels: rank them once
              .sort(["workload", "workload_code"], nulls_last=True).with_row_index("_w")
              .with_columns(_is_yammer().alias("_yammer")))
    df = (
        use.join(attrs, on=_KEY, how="left")
        .join(labels, on=["workload", "workload_code"], how="left", nulls_equal=True)
        .with_columns(
            _ratio("licenses_active", "licenses_qualified").alias("usage_rate"),
            _floor0(pl.col("licenses_qualified") - pl.col("licenses_active")).alias("licenses_inactive"),
        )
        .with_columns((pl.col("usage_rate") > 1).fill_null(False).alias("inflated"))
    )
    df = _with_turnover(df, evidence)
    causes = {"duplicate_subscription": pl.col("_duplicate"), "trial": pl.col("_trial"), "yammer": pl.col("_yammer"),
              "turnover": pl.col("_turnover")}
    causes["unchecked_no_subscription_match"] = pl.col("_unchecked") & ~pl.col("_yammer") & ~pl.col("_turnover")
    df = df.with_columns(_join_causes(causes, pl.col("inflated")).alias("inflation_causes"))
    return _finish(df, _WORKLOAD_SCHEMA, ["_order", "_w"])


def _with_turnover(use: pl.DataFrame, evidence: pl.DataFrame | None) -> pl.DataFrame:
    """`_turnover`: the row's customer x workload activity shows turnover (false without activity)."""
    if evidence is None:
        return use.with_columns(pl.lit(False).alias("_turnover"))
    return (use.join(evidence.select("customer_id", "workload", pl.col("turnover").alias("_turnover")),
                     on=["customer_id", "workload"], how="left", maintain_order="left")
            .with_columns(pl.col("_turnover").fill_null(False)))


def _products(dep: pl.DataFrame, use: pl.DataFrame, attrs: pl.DataFrame, thresholds: Thresholds,
              evidence: pl.DataFrame | None = None) -> pl.DataFrame:
    # Which workload labels are Yammer, decided once per distinct label (a handful) rather than by a regular
    # expression on every usage row inside each of the aggregations below.
    labels = use.select(pl.col("workload").unique()).with_columns(_is_yammer().alias("_yammer"))
    yammer = pl.col("_yammer")
    over = pl.col("_turnover") & (pl.col("licenses_active") > pl.col("licenses_qualified"))
    usage = (
        _with_turnover(use, evidence)
        .join(labels, on="workload", how="left", nulls_equal=True, maintain_order="left")
        .group_by(_KEY)
        .agg(
            pl.col("licenses_qualified").filter(~yammer).max().alias("_qualified_other"),
            pl.col("licenses_qualified").filter(yammer).max().alias("_qualified_yammer"),
            (pl.col("licenses_qualified").n_unique() > 1).alias("qualified_conflict"),
            pl.col("licenses_active").filter(~yammer).max().alias("_active_other"),
            pl.col("licenses_active").filter(yammer).max().alias("_active_yammer"),
            (over & ~yammer).any().alias("_turnover_other"),
            (over & yammer).any().alias("_turnover_yammer"),
        )
        .with_columns(
            # qualified and active from the same rows: the non-Yammer ones (Yammer only when there are no others)
            pl.when(pl.col("_active_other").is_null() & pl.col("_active_yammer").is_not_null())
            .then(pl.col("_qualified_yammer")).otherwise(pl.col("_qualified_other")).alias("licenses_qualified"),
            pl.coalesce("_active_other", "_active_yammer").alias("licenses_active"),
            (pl.col("_active_other").is_null() & pl.col("_active_yammer").is_not_null()).alias("_from_yammer"),
        )
        .with_columns(  # turnover on the workload rows that set the product's active count
            pl.when(pl.col("_from_yammer")).then(pl.col("_turnover_yammer")).otherwise(pl.col("_turnover_other"))
            .alias("_turnover"))
    )
    df = (
        dep.select(*_KEY, "licenses_sold", "licenses_assigned")
        .join(usage, on=_KEY, how="full", coalesce=True)
        .with_columns(  # no deployment (usage) row: those counts stay null, i.e. unknown, never 0
            *[pl.col(c).cast(pl.Int64) for c in _COUNT_COLUMNS],
            pl.col("qualified_conflict").fill_null(False),
            pl.col("_from_yammer").fill_null(False),
            pl.col("_turnover").fill_null(False),
        )
        .join(attrs, on=_KEY, how="left")
    )
    df = df.with_columns(
        _ratio("licenses_assigned", "licenses_sold").alias("deployment_rate"),
        _ratio("licenses_active", "licenses_qualified").alias("usage_rate"),
        _floor0(pl.col("licenses_sold") - pl.col("licenses_assigned")).alias("licenses_unassigned"),
        _floor0(pl.col("licenses_qualified") - pl.col("licenses_active")).alias("licenses_inactive"),
    ).with_columns(
        _known_sum(["licenses_unassigned", "licenses_inactive"]).alias("licenses_idle"),
        (pl.col("usage_rate") > 1).fill_null(False).alias("inflated"),
    )
    causes = {"duplicate_subscription": pl.col("_duplicate"), "trial": pl.col("_trial"),
              "yammer": pl.col("_from_yammer"), "turnover": pl.col("_turnover")}
    # no subscription matched this product while some of the customer's match none: the cause is unchecked
    causes["unchecked_no_subscription_match"] = (pl.col("_unchecked") & ~pl.col("_from_yammer")
                                                 & ~pl.col("_turnover"))
    df = df.with_columns(_join_causes(causes, pl.col("inflated")).alias("inflation_causes"))
    df = assign_segments(df, thresholds=thresholds)
    return _finish(df, _PRODUCT_SCHEMA, ["_order"])


def _finish(df: pl.DataFrame, columns: Mapping[str, PolarsDataType], sort: list[str] | None) -> pl.DataFrame:
    if sort:
        df = df.sort(sort, nulls_last=True)
    return df.select([pl.col(c).cast(t) for c, t in columns.items()])
