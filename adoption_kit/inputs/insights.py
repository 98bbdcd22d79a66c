"""Partner Center Insights downloads (OfficeUsage, DynamicsUsage, SeatsSubscriptionsAndRevenue): their rules,
the merge of overlapping downloads, and their rows mapped onto the licence frames the metrics read.

Each month of a download is one snapshot (`processed_at` = the first instant of the month, UTC), so the history,
trends and segment changes work from the first download. The mapping (see README.md, "Insights downloads"):

- OfficeUsage: one usage row per tenant x canonical workload x month under the one product OFFICE_PRODUCT_ID
  (the dataset has no product): licenses_qualified = PaidAvailableUnits, licenses_active = MonthlyActiveUsers.
  The metrics' product rule (largest non-Yammer active count over the largest non-Yammer qualified count) then
  gives the customer's usage. Workloads that share a canonical name (OneDrive and SharePoint) become one row: the larger
  MAU over the larger PAU, a lower bound. Rows flagged IsDuplicateRowForPGA are dropped (counted once).
- The seats report gives that product's deployment per tenant x month: the sums of TotalAssignedSeats and
  TotalSoldSeats over its non-Dynamics, not-churned rows. Without it there is no deployment row at all:
  deployment is unknown, never 0.
- DynamicsUsage: per tenant x SKUId x month, summed over subscriptions, a deployment row (sold =
  AvailableSeats, assigned = AssignedSeats) and a usage row (qualified = AvailableSeats, active = ActiveSeats),
  so deployment = assigned / available and usage = active / available, Partner Center's own definition for
  this report (ActiveUsagePercent is never read). Each subscription's newest month becomes a subscriptions row,
  so that an In Grace Period or Inactive subscription beside another of the same SKU is the
  duplicate_subscription cause. Free SKUs (FreeVsPaidSKU) go on the exclusion list: reported, not dropped.
- Both sources in one folder: for a customer that also has REST licence rows, Insights months from the month of
  its oldest REST snapshot on are dropped: REST gives the current figures, Insights the history before them.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import Problem
from adoption_kit.inputs.convert import _MAX_LISTED_ROWS, _by_file
from adoption_kit.inputs.duplicates import _drop_duplicates
from adoption_kit.inputs.subscriptions import _STATUS_VOCABULARY
from adoption_kit.values import product_name_key

OFFICE_PRODUCT_NAME = "Office 365 (Insights, all products)"
OFFICE_PRODUCT_ID = "name:" + " ".join(OFFICE_PRODUCT_NAME.upper().split())
DYNAMICS_WORKLOAD = "Dynamics 365"
FREE_SKU_REASON = "free SKU (Insights FreeVsPaidSKU)"
_OVERLAP_FIX = "keep the newer of the two downloads for the months they share"
_DYNAMICS_STATUSES = ("active", "disabled", "grace_period")   # Active, Inactive, In Grace Period


def _status(raw: str) -> pl.Expr:
    return (pl.col(raw).str.to_lowercase().str.replace_all(r"[^a-z]", "")
            .replace_strict(_STATUS_VOCABULARY, default="unknown"))


def _unknown_statuses(frame: pl.DataFrame, raw: str, status: str, known: tuple[str, ...],
                      what: str) -> list[str]:
    warnings = []
    for name, part in _by_file(frame.filter(~pl.col(status).is_in(known))):
        values = part.get_column(raw).unique(maintain_order=True).head(3)
        warnings.append(f"{name}: {what} {', '.join(repr(v[:40]) for v in values)} not documented for this "
                        f"report; kept as '{part.get_column(status)[0]}' and never taken as a cause of usage "
                        f"over 100%")
    return warnings


def office_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """OfficeUsage: each row's canonical workload (names the kit does not know pass through)."""
    pairs = frame.select(pl.col("workload_name").unique()).with_columns(_canonical_by_name().alias("workload"))
    # a handful of distinct names: looked up, not joined
    workload = pl.col("workload_name").replace_strict(pairs.get_column("workload_name"), pairs.get_column("workload"),
                                                      return_dtype=pl.String)
    return frame.with_columns(workload.alias("workload")), []


def _canonical_by_name() -> pl.Expr:
    """The kit's workload name for an Insights WorkloadName (Exchange Online -> Exchange, Viva Engage ->
    Yammer, OneDrive -> SharePoint, ...); names it does not know pass through as written."""
    key = pl.col("workload_name").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    return pl.coalesce(key.replace_strict(schema.CANONICAL_WORKLOADS, default=None), pl.col("workload_name"))


def dynamics_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """DynamicsUsage: status words to the kit's vocabulary, the free flag, SKUId lower-cased."""
    frame = frame.with_columns(pl.col("subscription_status").alias("subscription_status_raw")).with_columns(
        _status("subscription_status_raw").alias("subscription_status"),
        pl.col("free_vs_paid").str.to_lowercase().str.strip_chars().eq("free").fill_null(False).alias("free"),
        pl.col("sku_id").str.strip_chars("{} ").str.to_lowercase(),
    )
    return frame, _unknown_statuses(frame, "subscription_status_raw", "subscription_status", _DYNAMICS_STATUSES,
                                    "SubscriptionStatus value(s)")


def seats_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """The seats report: SubscriptionState (Active, Churned) to the kit's vocabulary."""
    frame = frame.with_columns(pl.col("subscription_state").alias("subscription_state_raw")).with_columns(
        _status("subscription_state_raw").alias("subscription_state"))
    return frame, _unknown_statuses(frame, "subscription_state_raw", "subscription_state",
                                    ("active", "deprovisioned"), "SubscriptionState value(s)")


# ---------------------------------------------------------------------------
# Overlapping downloads, then the licence frames
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InsightsRows:
    """The Insights rows of one load, merged across downloads, and what they add to the licence frames."""

    office: pl.DataFrame          # schema.INSIGHTS_OFFICE_COLUMNS, duplicates for PGA locations dropped
    dynamics: pl.DataFrame        # schema.INSIGHTS_DYNAMICS_COLUMNS
    seats: pl.DataFrame           # schema.INSIGHTS_SEATS_COLUMNS
    deployment: pl.DataFrame      # schema.DEPLOYMENT_COLUMNS rows (seats report, Dynamics)
    usage: pl.DataFrame           # schema.USAGE_COLUMNS rows (Office, Dynamics)
    subscriptions: pl.DataFrame   # schema.SUBSCRIPTION_COLUMNS rows (Dynamics subscriptions, newest month)
    exclusions: pl.DataFrame      # product_id, product_name, reason (free Dynamics SKUs)
    warnings: tuple[str, ...]

    def exports_fields(self) -> dict[str, pl.DataFrame]:
        """The Exports fields these rows fill."""
        return {"insights_office": self.office, "insights_dynamics": self.dynamics, "insights_seats": self.seats,
                "insights_exclusions": self.exclusions}


def _empty(columns: dict) -> pl.DataFrame:
    return pl.DataFrame(schema={"_row": pl.UInt32, **columns})


def resolve_insights(office: pl.DataFrame | None, dynamics: pl.DataFrame | None, seats: pl.DataFrame | None,
                     rest: list[pl.DataFrame], rest_subscriptions: pl.DataFrame,
                     problems: list[Problem]) -> InsightsRows:
    """Merge overlapping downloads (identical rows silently, conflicting ones into `problems`), drop the PGA
    duplicates, and map the rows onto the licence frames. `rest` are the REST deployment and usage frames:
    their customers' Insights months from their oldest REST snapshot's month on are dropped."""
    office = _empty(schema.INSIGHTS_OFFICE_COLUMNS) if office is None else office
    dynamics = _empty(schema.INSIGHTS_DYNAMICS_COLUMNS) if dynamics is None else dynamics
    seats = _empty(schema.INSIGHTS_SEATS_COLUMNS) if seats is None else seats
    warnings: list[str] = []

    pga = office.get_column("is_duplicate_row_for_pga").fill_null(False)
    if pga.any():
        warnings.append(f"Insights Office 365 usage: {int(pga.sum())} row(s) marked IsDuplicateRowForPGA (the "
                        f"same tenant repeated for another location of a partner global account) counted once")
        office = office.filter(~pga)
    office_key = ["customer_id", "workload_name", "month"]
    more: list[str] = []
    if not _surely_unique(office, office_key):   # the usual download: no key repeats, told by one hash pass
        office, more = _drop_duplicates(office, office_key, ["paid_available_units", "monthly_active_users"],
                                        "Insights Office 365 usage", problems, fix=_OVERLAP_FIX)
    warnings += [w.replace("e.g. the same page saved twice", "e.g. downloads that overlap in months")
                 for w in more]
    dynamics, more = _drop_duplicates(dynamics, ["customer_id", "subscription_id", "sku_id", "month"],
                                      ["available_seats", "assigned_seats", "active_seats", "subscription_status"],
                                      "Insights Dynamics 365 usage", problems, fix=_OVERLAP_FIX)
    warnings += [w.replace("e.g. the same page saved twice", "e.g. downloads that overlap in months")
                 for w in more]
    seats = _merge_seats(seats, problems)

    first_rest = _first_rest_month(rest)
    office_usage, merged = _office_usage(office)
    if merged:
        warnings.append(f"Insights Office 365 usage: {merged} tenant-month(s) list OneDrive and SharePoint (or "
                        f"two names of one workload) separately; each pair is one SharePoint row: the larger "
                        f"monthly active users over the larger paid available units, a lower bound")
    dyn_deployment, dyn_usage = _dynamics_frames(dynamics)
    deployment = pl.concat([_office_deployment(seats, dynamics), dyn_deployment], how="vertical")
    usage = pl.concat([office_usage, dyn_usage], how="vertical")
    deployment, dropped_d = _before_rest(deployment, first_rest)
    usage, dropped_u = _before_rest(usage, first_rest)
    if dropped_d + dropped_u:
        warnings.append(f"Insights: {dropped_d + dropped_u} licence row(s) of customers that also have the REST "
                        f"licence feeds are not used from the month of their first REST snapshot on: the REST "
                        f"feeds give those customers' current figures, Insights the months before")
    subscriptions = _dynamics_subscriptions(dynamics, rest_subscriptions)
    free = (dynamics.filter(pl.col("free")).group_by("sku_id")
            .agg(pl.col("sku").sort_by("month").last())
            .select(pl.col("sku_id").alias("product_id"), pl.col("sku").alias("product_name"),
                    pl.lit(FREE_SKU_REASON).alias("reason")).sort("product_id"))
    if free.height:
        names = free.get_column("product_name").head(_MAX_LISTED_ROWS).fill_null("?")
        warnings.append(f"Insights Dynamics 365 usage: {free.height} free SKU(s) ({', '.join(names)}) are shown "
                        f"but excluded from the ratios")
    return InsightsRows(office.select(list(schema.INSIGHTS_OFFICE_COLUMNS)),
                        dynamics.select(list(schema.INSIGHTS_DYNAMICS_COLUMNS)),
                        seats.select(list(schema.INSIGHTS_SEATS_COLUMNS)),
                        deployment, usage, subscriptions, free, tuple(warnings))


def _merge_seats(seats: pl.DataFrame, problems: list[Problem]) -> pl.DataFrame:
    """The seats report has no row key (two subscriptions of one SKU are two equal-looking rows), so downloads
    are merged per tenant x month: every file that has the tenant-month must list the same rows; the first
    file's are kept. Different rows are a conflict."""
    if seats.is_empty() or seats.get_column("source_file").n_unique() == 1:
        return seats
    row_text = pl.concat_str([pl.col("sku").fill_null(""), pl.col("subscription_state").fill_null(""),
                              pl.col("total_sold_seats").cast(pl.String),
                              pl.col("total_assigned_seats").cast(pl.String)],
                             separator="\x1f")
    signatures = (seats.group_by("customer_id", "month", "source_file")
                  .agg(row_text.sort().str.join("\x1e").alias("_sig")))
    keep = signatures.group_by("customer_id", "month").agg(
        pl.col("source_file").min().alias("_keep"), pl.col("_sig").n_unique().alias("_n"),
        pl.col("source_file").sort().alias("_files"))
    for row in keep.filter(pl.col("_n") > 1).sort("month", "customer_id").head(_MAX_LISTED_ROWS).iter_rows(named=True):
        problems.append(Problem(row["_files"][0], f"Insights seats rows conflict for customer {row['customer_id']}, "
                                f"month {row['month']:%Y-%m}: {' and '.join(row['_files'])} list different seats",
                                _OVERLAP_FIX + "; remove the stale copy"))
    return (seats.join(keep.select("customer_id", "month", "_keep"), on=["customer_id", "month"], how="left")
            .filter(pl.col("source_file") == pl.col("_keep")).drop("_keep"))


def _select(frame: pl.DataFrame, columns: dict) -> pl.DataFrame:
    """`frame` with the licence frame's columns (missing ones null) and an empty _row."""
    return frame.select(pl.lit(None, pl.UInt32).alias("_row"),
                        *[(pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
                          for c, t in columns.items()])


def _surely_unique(frame: pl.DataFrame, key: list[str]) -> bool:
    """True when no key repeats; False means: find the repeats and compare them (the slower path).

    Told by one hash per row (the key's columns hashed with different seeds and combined): distinct hashes mean
    distinct keys; a repeated hash (a repeated key, or a collision) sends the frame to the exact path. A
    quarter of the cost of hashing the key rows to compare them."""
    if frame.is_empty():
        return True
    combined = pl.col(key[0]).hash(1)
    for seed, column in enumerate(key[1:], start=2):
        combined = combined ^ pl.col(column).hash(seed)
    return bool(frame.select(combined.n_unique()).item() == frame.height)


def _office_usage(office: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    # Only canonical workloads that several WorkloadNames feed (OneDrive and SharePoint) need grouping. The
    # workload is a function of the name (office_rules): told from the distinct names, mapped again.
    names = office.select(pl.col("workload_name").unique()).with_columns(_canonical_by_name().alias("workload"))
    shared = names.filter(pl.len().over("workload") > 1).get_column("workload").unique().implode()
    several = pl.col("workload").is_in(shared)
    single = office.filter(~several).select(
        "customer_id", "month", "workload", pl.col("paid_available_units").alias("licenses_qualified"),
        pl.col("monthly_active_users").alias("licenses_active"), "customer_name", "source_file",
        pl.lit(1, pl.UInt32).alias("_n"))
    grouped = (office.filter(several).group_by("customer_id", "month", "workload", maintain_order=True)
               .agg(pl.col("paid_available_units").max().alias("licenses_qualified"),
                    pl.col("monthly_active_users").max().alias("licenses_active"),
                    pl.col("customer_name").drop_nulls().first(), pl.col("source_file").first(),
                    pl.len().alias("_n")))
    grouped = pl.concat([single, grouped.select(single.columns)], how="vertical")
    merged = int((grouped.get_column("_n") > 1).sum())
    frame = grouped.with_columns(
        pl.col("month").alias("processed_at"), pl.lit("o365").alias("service_code"),
        pl.lit("Microsoft Office 365").alias("service_name"), pl.lit(OFFICE_PRODUCT_ID).alias("product_id"),
        pl.lit(OFFICE_PRODUCT_NAME).alias("product_name"), pl.col("workload").alias("workload_code"),
    )
    return _select(frame, schema.USAGE_COLUMNS), merged


def _office_deployment(seats: pl.DataFrame, dynamics: pl.DataFrame) -> pl.DataFrame:
    """Per tenant x month: the seats report's assigned and sold seats of the Office product. Rows of a
    Dynamics SKU (a SKU of the DynamicsUsage download, or one whose name says Dynamics) and churned rows are
    left out."""
    dynamics_skus = dynamics.select(product_name_key(pl.col("sku")).alias("_k")).unique().get_column("_k")
    key = product_name_key(pl.col("sku"))
    office = seats.filter(~key.str.contains("DYNAMICS").fill_null(False) & ~key.is_in(dynamics_skus.implode())
                          & (pl.col("subscription_state") != "deprovisioned"))
    frame = (office.group_by("customer_id", "month")
             .agg(pl.col("total_sold_seats").sum().alias("licenses_sold"),
                  pl.col("total_assigned_seats").sum().alias("licenses_assigned"),
                  pl.col("customer_name").drop_nulls().last(), pl.col("source_file").min())
             .with_columns(pl.col("month").alias("processed_at"), pl.lit("o365").alias("service_code"),
                           pl.lit("Microsoft Office 365").alias("service_name"),
                           pl.lit(OFFICE_PRODUCT_ID).alias("product_id"),
                           pl.lit(OFFICE_PRODUCT_NAME).alias("product_name"))
             .sort("customer_id", "month"))
    return _select(frame, schema.DEPLOYMENT_COLUMNS)


def _dynamics_frames(dynamics: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    summed = (dynamics.group_by("customer_id", "sku_id", "month")
              .agg(pl.col("available_seats").sum(), pl.col("assigned_seats").sum(), pl.col("active_seats").sum(),
                   pl.col("sku").drop_nulls().last(), pl.col("customer_name").drop_nulls().last(),
                   pl.col("source_file").min())
              .with_columns(pl.col("month").alias("processed_at"), pl.lit("crm").alias("service_code"),
                            pl.lit("Microsoft Dynamics 365").alias("service_name"),
                            pl.col("sku_id").alias("product_id"), pl.col("sku").alias("product_name"))
              .sort("customer_id", "sku_id", "month"))
    deployment = summed.rename({"available_seats": "licenses_sold", "assigned_seats": "licenses_assigned"})
    usage = summed.with_columns(pl.lit(DYNAMICS_WORKLOAD).alias("workload"),
                                pl.lit(DYNAMICS_WORKLOAD).alias("workload_code")).rename(
        {"available_seats": "licenses_qualified", "active_seats": "licenses_active"})
    return _select(deployment, schema.DEPLOYMENT_COLUMNS), _select(usage, schema.USAGE_COLUMNS)


def _dynamics_subscriptions(dynamics: pl.DataFrame, rest: pl.DataFrame) -> pl.DataFrame:
    """Each Dynamics subscription's newest month as a subscriptions row (the REST export's wins)."""
    newest = (dynamics.sort("month", "source_file", "_row")
              .group_by("customer_id", "subscription_id", maintain_order=True).last()
              .join(rest.select("customer_id", "subscription_id"), on=["customer_id", "subscription_id"], how="anti")
              .select("customer_id", "customer_name", "subscription_id",
                      pl.col("sku").alias("product_name"), product_name_key(pl.col("sku")).alias("product_key"),
                      pl.col("available_seats").alias("quantity"), pl.col("subscription_status").alias("status"),
                      pl.col("subscription_status_raw").alias("status_raw"),
                      pl.col("subscription_start_at").alias("created_at"),
                      pl.col("subscription_start_at").alias("effective_start_at"),
                      pl.col("subscription_end_at").alias("commitment_end_at"), "source_file")
              .sort("customer_id", "subscription_id"))
    return _select(newest, schema.SUBSCRIPTION_COLUMNS)


def _first_rest_month(rest: list[pl.DataFrame]) -> pl.DataFrame:
    stacked = pl.concat([f.select("customer_id", "processed_at") for f in rest]) if rest else \
        pl.DataFrame(schema={"customer_id": pl.String, "processed_at": schema.UTC_DATETIME})
    return (stacked.drop_nulls().group_by("customer_id")
            .agg(pl.col("processed_at").min().dt.truncate("1mo").alias("_first_rest")))


def _before_rest(frame: pl.DataFrame, first_rest: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    if first_rest.is_empty() or frame.is_empty():
        return frame, 0
    joined = frame.join(first_rest, on="customer_id", how="left", maintain_order="left")
    keep = pl.col("_first_rest").is_null() | (pl.col("processed_at") < pl.col("_first_rest"))
    kept = joined.filter(keep).drop("_first_rest")
    return kept, frame.height - kept.height
