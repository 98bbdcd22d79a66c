"""Exact 28-day usage from Microsoft 365 active-user detail rows (counts only, never user names);
pure polars, no I/O and no Partner Center figures."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

import polars as pl

if TYPE_CHECKING:  # pragma: no cover - typing only
    from polars._typing import PolarsDataType

from adoption_kit import schema
from adoption_kit.errors import ParameterError

__all__ = [
    "ACTIVITY_CUSTOMER_COLUMNS",
    "ACTIVITY_PRODUCT_COLUMNS",
    "ACTIVITY_WORKLOAD_COLUMNS",
    "ASSIGNED_PRODUCT_SKUS",
    "CONCEALED_SHARE",
    "EXACT_BASIS",
    "LOWER_BOUND_BASIS",
    "WINDOW_DAYS",
    "WORKLOADS",
    "activity_customers",
    "activity_evidence",
    "activity_products",
    "activity_tables",
    "activity_workloads",
    "concealment_note",
    "in_window",
    "window_of",
]

# ---------------------------------------------------------------------------
# Definitions (docs/contracts.md repeats them)
#
# window       the 28 calendar days that end on the file's Report Refresh Date, both ends included:
#              refresh - 27 days <= date <= refresh. A date after the refresh date is invalid data: the
#              loader warns and it is never counted.
# entitled     on a workload: its "Has <workload> License" is True and "Is Deleted" is False.
#              SharePoint merges OneDrive (as Partner Center does): Has SharePoint or Has OneDrive License.
# active       on a workload: its last-activity date is in the window (SharePoint: the SharePoint or the
#              OneDrive date).
# licensed user  not deleted and entitled on at least one workload.
# active (any)   a licensed user active on at least one workload they are entitled to.
# usage_rate   active entitled users / entitled users (null when nobody is entitled); it cannot exceed 1.
# Evidence for usage over 100% in Partner Center (counted per workload and per customer):
#   deleted_active_users       deleted users with activity in the window (they left, their activity stays)
#   assigned_in_window_users   not deleted, licensed, licence assigned inside the window (a licence that
#                              moved to a new user: both may count as active in the same period)
#   active_unlicensed_users    not deleted, active on the workload without its licence (Yammer beyond
#                              entitlement, for the Yammer workload)
# ---------------------------------------------------------------------------
WINDOW_DAYS: Final = 28
EXACT_BASIS: Final = "exact, from user activity"
LOWER_BOUND_BASIS: Final = "lower bound, from Partner Center workload rows"
# A tenant conceals names for all users at once; a few real names (e.g. added after the export was taken
# by hand) should not hide that, hence "nearly all".
CONCEALED_SHARE: Final = 0.9
_CONCEALED_TOKEN = r"^[0-9A-F]{32}$"

# Canonical workload (as in Partner Center's usage rows) -> the activity keys it merges.
WORKLOADS: Final[Mapping[str, tuple[str, ...]]] = {
    "Exchange": ("exchange",),
    "SharePoint": ("sharepoint", "onedrive"),
    "Skype For Business": ("skype",),
    "Yammer": ("yammer",),
    "Teams": ("teams",),
}

ACTIVITY_WORKLOAD_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String,
    "workload": pl.String,
    "entitled_users": pl.Int64,
    "active_entitled_users": pl.Int64,
    "usage_rate": pl.Float64,
    "active_users_any_licence": pl.Int64,      # every user active on it: entitled, unlicensed or deleted
    "active_unlicensed_users": pl.Int64,
    "deleted_active_users": pl.Int64,
    "assigned_in_window_users": pl.Int64,
    "report_refresh_date": pl.Date,
    "window_start": pl.Date,
}
ACTIVITY_CUSTOMER_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String,
    "users": pl.Int64,                         # rows in the report (deleted users included)
    "deleted_users": pl.Int64,
    "licensed_users": pl.Int64,
    "active_users_any_workload": pl.Int64,
    "usage_rate_exact": pl.Float64,
    "deleted_active_users": pl.Int64,
    "assigned_in_window_users": pl.Int64,
    "unlicensed_active_users": pl.Int64,       # not deleted, no licence for any workload, active somewhere
    "yammer_unlicensed_active_users": pl.Int64,
    "concealed_names": pl.Boolean,
    "report_refresh_date": pl.Date,
    "window_start": pl.Date,
}
ACTIVITY_PRODUCT_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String,
    "assigned_product": pl.String,             # as the report names it, upper case
    "sku_string_id": pl.String,                # null when the name is not in ASSIGNED_PRODUCT_SKUS
    "product_id": pl.String,                   # lower-case SKU GUID (= Partner Center productId), or null
    "users": pl.Int64,                         # not deleted users holding it
    "active_users": pl.Int64,                  # of those, active on a workload they are entitled to
}

# Assigned Products display names (upper case, as the report writes them) -> (String_Id, GUID) from
# Microsoft's "Product names and service plan identifiers for licensing" list. Only names whose SKU is
# certain; the old names (before the April 2020 renames) that Partner Center still shows are included.
# "MICROSOFT 365 BUSINESS BASIC/STANDARD" and "MICROSOFT 365 APPS FOR BUSINESS" also name SMB_* SKUs with
# other GUIDs (not sold through CSP); the CSP SKU is given here. Unknown names pass through unmapped.
ASSIGNED_PRODUCT_SKUS: Final[Mapping[str, tuple[str, str]]] = {
    "MICROSOFT 365 BUSINESS BASIC": ("O365_BUSINESS_ESSENTIALS", "3b555118-da6a-4418-894f-7df1e2096870"),
    "OFFICE 365 BUSINESS ESSENTIALS": ("O365_BUSINESS_ESSENTIALS", "3b555118-da6a-4418-894f-7df1e2096870"),
    "MICROSOFT 365 BUSINESS STANDARD": ("O365_BUSINESS_PREMIUM", "f245ecc8-75af-4f8e-b61f-27d8114de5f3"),
    "OFFICE 365 BUSINESS PREMIUM": ("O365_BUSINESS_PREMIUM", "f245ecc8-75af-4f8e-b61f-27d8114de5f3"),
    "MICROSOFT 365 BUSINESS PREMIUM": ("SPB", "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46"),
    "MICROSOFT 365 BUSINESS": ("SPB", "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46"),
    "MICROSOFT 365 APPS FOR BUSINESS": ("O365_BUSINESS", "cdd28e44-67e3-425e-be4c-737fab2899d3"),
    "OFFICE 365 BUSINESS": ("O365_BUSINESS", "cdd28e44-67e3-425e-be4c-737fab2899d3"),
    "MICROSOFT 365 APPS FOR ENTERPRISE": ("OFFICESUBSCRIPTION", "c2273bd0-dff7-4215-9ef5-2c7bcfb06425"),
    "OFFICE 365 E1": ("STANDARDPACK", "18181a46-0d4e-45cd-891e-60aabd171b4e"),
    "OFFICE 365 E3": ("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900"),
    "OFFICE 365 ENTERPRISE E3": ("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900"),
    "OFFICE 365 E5": ("ENTERPRISEPREMIUM", "c7df2760-2c81-4ef7-b578-5b5392b571df"),
    "OFFICE 365 F3": ("DESKLESSPACK", "4b585984-651b-448a-9e53-3b10f069cf7f"),
    "MICROSOFT 365 E3": ("SPE_E3", "05e9a617-0261-4cee-bb44-138d3ef5d965"),
    "MICROSOFT 365 E5": ("SPE_E5", "06ebc4ee-1bb5-47dd-8120-11324bc54e06"),
    "MICROSOFT 365 F3": ("SPE_F1", "66b55226-6b4f-492c-910c-a3b7a3c9d993"),
    "ENTERPRISE MOBILITY + SECURITY E3": ("EMS", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"),
    "ENTERPRISE MOBILITY + SECURITY E5": ("EMSPREMIUM", "b05e124f-c7cc-45a0-a6aa-8cf78c946968"),
    "EXCHANGE ONLINE (PLAN 1)": ("EXCHANGESTANDARD", "4b9405b0-7788-4568-add1-99614e613b69"),
    "POWER BI PRO": ("POWER_BI_PRO", "f8a1db68-be16-40ed-86d5-cb42ce701560"),
    "MICROSOFT FLOW FREE": ("FLOW_FREE", "f30db892-07e9-47e9-837c-80727f46fd3d"),
    "DYNAMICS 365 FOR SALES PROFESSIONAL": ("D365_SALES_PRO", "be9f9771-1c64-4618-9907-244325141096"),
}

# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------
def in_window(column: str | pl.Expr, refresh: pl.Expr | None = None) -> pl.Expr:
    """True when the date is within the 28 days ending on the refresh date (both ends included); null -> False."""
    value = pl.col(column) if isinstance(column, str) else column
    end = pl.col("report_refresh_date") if refresh is None else refresh
    return value.is_between(end - pl.duration(days=WINDOW_DAYS - 1), end, closed="both").fill_null(False)


def _prepare(activity: Any) -> pl.DataFrame:
    """The activity rows, checked, with each customer's newest report only."""
    if activity is None:
        return schema.empty_frame(schema.ACTIVITY_COLUMNS)
    if isinstance(activity, pl.LazyFrame):
        activity = activity.collect()
    if not isinstance(activity, pl.DataFrame):
        if type(activity).__module__.split(".")[0] == "pandas":
            activity = pl.from_pandas(activity)
        else:
            raise ParameterError(f"activity is a {type(activity).__name__}, not a polars or pandas DataFrame")
    needed = [c for c in schema.ACTIVITY_COLUMNS if c not in ("assigned_products", "source_file", "deleted_date")]
    missing = [c for c in needed if c not in activity.columns]
    if missing:
        raise ParameterError(f"activity has no column(s) {', '.join(missing)}; load it with "
                             f"adoption_kit.inputs.load_exports")
    if activity.height and activity.get_column("report_refresh_date").n_unique() > 1:
        newest = pl.col("report_refresh_date") == pl.col("report_refresh_date").max().over("customer_id")
        activity = activity.filter(newest)
    return activity


def _user_flags(df: pl.DataFrame) -> pl.DataFrame:
    """Per user (row): customer_id, report_refresh_date and, per canonical workload W, the boolean columns
    'W\x00entitled', 'W\x00active_entitled', 'W\x00active_any', 'W\x00active_unlicensed',
    'W\x00deleted_active', 'W\x00assigned_in_window' (vectorised; dates compared as day numbers)."""
    refresh = pl.col("report_refresh_date").to_physical()

    def window(column: str) -> pl.Expr:
        days_before = refresh - pl.col(column).to_physical()
        return ((days_before >= 0) & (days_before < WINDOW_DAYS)).fill_null(False)

    keys = list(schema.ACTIVITY_WORKLOADS.values())
    base = df.select(
        "customer_id", "report_refresh_date",
        (~pl.col("is_deleted").fill_null(False)).alias("_alive"),
        *[pl.col(f"has_{k}_license").fill_null(False).alias(f"_lic_{k}") for k in keys],
        *[window(f"{k}_last_activity").alias(f"_act_{k}") for k in keys],
        *[window(f"{k}_license_assign_date").alias(f"_asg_{k}") for k in keys],
    )
    alive = pl.col("_alive")
    columns = []
    for workload, merged in WORKLOADS.items():
        licensed = pl.any_horizontal([pl.col(f"_lic_{k}") for k in merged])
        active = pl.any_horizontal([pl.col(f"_act_{k}") for k in merged])
        assigned = pl.any_horizontal([pl.col(f"_lic_{k}") & pl.col(f"_asg_{k}") for k in merged])
        columns += [
            (alive & licensed).alias(f"{workload}\x00entitled"),
            (alive & licensed & active).alias(f"{workload}\x00active_entitled"),
            active.alias(f"{workload}\x00active_any"),
            (alive & ~licensed & active).alias(f"{workload}\x00active_unlicensed"),
            (~alive & active).alias(f"{workload}\x00deleted_active"),
            (alive & assigned).alias(f"{workload}\x00assigned_in_window"),
        ]
    return base.select("customer_id", "report_refresh_date", "_alive",
                       *[f"_lic_{k}" for k in keys], *[f"_act_{k}" for k in keys], *columns)


_WORKLOAD_FIELDS: Final = {
    "entitled": "entitled_users", "active_entitled": "active_entitled_users",
    "active_any": "active_users_any_licence", "active_unlicensed": "active_unlicensed_users",
    "deleted_active": "deleted_active_users", "assigned_in_window": "assigned_in_window_users",
}


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64))


def _window_columns() -> list[pl.Expr]:
    return [pl.col("report_refresh_date"),
            (pl.col("report_refresh_date") - pl.duration(days=WINDOW_DAYS - 1)).alias("window_start")]


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def activity_tables(activity: Any, *, concealed_share: float = CONCEALED_SHARE) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(activity_workloads, activity_customers) from one pass over the users (what metrics.compute uses)."""
    df = _prepare(activity)
    if df.is_empty():
        return schema.empty_frame(ACTIVITY_WORKLOAD_COLUMNS), schema.empty_frame(ACTIVITY_CUSTOMER_COLUMNS)
    totals = _totals(df)
    return _workload_table(totals), _customer_table(totals, concealed_share)


def activity_workloads(activity: Any) -> pl.DataFrame:
    """One row per customer x workload (Exchange, SharePoint incl. OneDrive, Skype For Business, Yammer,
    Teams): entitled users, active entitled users, usage_rate and the over-100% evidence counts.

    ``activity`` is ``Exports.activity`` (schema.ACTIVITY_COLUMNS). Each customer's newest report is used.
    """
    return activity_tables(activity)[0]


def activity_customers(activity: Any, *, concealed_share: float = CONCEALED_SHARE) -> pl.DataFrame:
    """One row per customer: licensed users, users active on a workload they are entitled to, the exact
    any-workload usage rate, the evidence counts, and whether names are concealed (``concealed_share`` of
    the User Principal Names, or more, are 32-character upper-case hex tokens)."""
    return activity_tables(activity, concealed_share=concealed_share)[1]


_CUSTOMER_COUNTS: Final = ("deleted_users", "licensed_users", "active_users_any_workload", "deleted_active_users",
                           "assigned_in_window_users", "unlicensed_active_users", "yammer_unlicensed_active_users")


def _totals(df: pl.DataFrame) -> pl.DataFrame:
    """One row per customer: every count both tables need, from a single group_by over the users."""
    flags = _user_flags(df)
    alive = pl.col("_alive")

    def any_of(flag: str) -> pl.Expr:
        return pl.any_horizontal([pl.col(f"{w}\x00{flag}") for w in WORKLOADS])

    licensed_any = pl.any_horizontal([pl.col(f"_lic_{k}") for k in schema.ACTIVITY_WORKLOADS.values()])
    user_key = df.get_column("user_key")
    per_user = flags.with_columns(
        (~alive).alias("deleted_users"),
        any_of("entitled").alias("licensed_users"),
        any_of("active_entitled").alias("active_users_any_workload"),
        (~alive & any_of("active_any")).alias("deleted_active_users"),
        any_of("assigned_in_window").alias("assigned_in_window_users"),
        (alive & ~licensed_any & any_of("active_any")).alias("unlicensed_active_users"),
        pl.col("Yammer\x00active_unlicensed").alias("yammer_unlicensed_active_users"),
        pl.lit(user_key.str.contains(_CONCEALED_TOKEN).fill_null(False)).alias("_tokens"),
        pl.lit(user_key.is_not_null()).alias("_named"),
    )
    counted = [f"{w}\x00{flag}" for w in WORKLOADS for flag in _WORKLOAD_FIELDS] + [*_CUSTOMER_COUNTS, "_tokens",
                                                                                   "_named"]
    sums = [pl.len().cast(pl.Int64).alias("users"), pl.col("report_refresh_date").max(),
            *[pl.col(c).sum().cast(pl.Int64) for c in counted]]
    # The loader stacks one report per customer, so customers come in runs of rows: summing each run with a
    # plain select is several times faster than a hash group_by over a million rows. Runs of one customer
    # (a frame built otherwise) are added up afterwards; many short runs fall back to group_by.
    runs = per_user.get_column("customer_id").rle()
    if runs.len() > 64:
        return per_user.group_by("customer_id").agg(*sums).sort("customer_id")
    parts, offset = [], 0
    for length, customer_id in runs.struct.unnest().iter_rows():
        part = per_user.slice(offset, length).select(*sums)
        parts.append(part.with_columns(pl.lit(customer_id, dtype=pl.String).alias("customer_id")))
        offset += length
    stacked = pl.concat(parts)
    if stacked.get_column("customer_id").is_duplicated().any():
        stacked = stacked.group_by("customer_id").agg(
            pl.col("report_refresh_date").max(), pl.exclude("customer_id", "report_refresh_date").sum())
    return stacked.sort("customer_id")


def _workload_table(totals: pl.DataFrame) -> pl.DataFrame:
    parts = [totals.select("customer_id", pl.lit(w).alias("workload"),
                           *[pl.col(f"{w}\x00{flag}").alias(name) for flag, name in _WORKLOAD_FIELDS.items()],
                           "report_refresh_date")
             for w in WORKLOADS]
    order = {w: i for i, w in enumerate(WORKLOADS)}
    out = (pl.concat(parts)
           .with_columns(_ratio(pl.col("active_entitled_users"), pl.col("entitled_users")).alias("usage_rate"),
                         *_window_columns())
           .with_columns(pl.col("workload").replace_strict(order, return_dtype=pl.Int64).alias("_order"))
           .sort("customer_id", "_order"))
    return out.select([pl.col(c).cast(t) for c, t in ACTIVITY_WORKLOAD_COLUMNS.items()])


def _customer_table(totals: pl.DataFrame, concealed_share: float) -> pl.DataFrame:
    out = totals.with_columns(
        _ratio(pl.col("active_users_any_workload"), pl.col("licensed_users")).alias("usage_rate_exact"),
        ((pl.col("_tokens") >= concealed_share * pl.col("_named")) & (pl.col("_named") > 0))
        .alias("concealed_names"),
        *_window_columns(),
    )
    return out.select([pl.col(c).cast(t) for c, t in ACTIVITY_CUSTOMER_COLUMNS.items()])


def activity_products(activity: Any) -> pl.DataFrame:
    """One row per customer x Assigned Products name: users holding it (not deleted) and how many of them
    were active on a workload they are entitled to, with the SKU where ASSIGNED_PRODUCT_SKUS knows the name."""
    df = _prepare(activity)
    if df.is_empty() or "assigned_products" not in df.columns:
        return schema.empty_frame(ACTIVITY_PRODUCT_COLUMNS)
    active = _user_flags(df).select(
        pl.any_horizontal([pl.col(f"{w}\x00active_entitled") for w in WORKLOADS]).alias("_active")).to_series()
    names = pl.DataFrame({"assigned_product": list(ASSIGNED_PRODUCT_SKUS),
                          "sku_string_id": [v[0] for v in ASSIGNED_PRODUCT_SKUS.values()],
                          "product_id": [v[1] for v in ASSIGNED_PRODUCT_SKUS.values()]})
    out = (
        df.select("customer_id", "is_deleted", pl.col("assigned_products").alias("assigned_product"))
        .with_columns(active)
        .filter(~pl.col("is_deleted").fill_null(False))
        .explode("assigned_product")
        .drop_nulls("assigned_product")
        .with_columns(pl.col("assigned_product").str.to_uppercase())
        .group_by("customer_id", "assigned_product")
        .agg(pl.len().cast(pl.Int64).alias("users"), pl.col("_active").sum().cast(pl.Int64).alias("active_users"))
        .join(names, on="assigned_product", how="left")
        .sort("customer_id", "assigned_product")
    )
    return out.select([pl.col(c).cast(t) for c, t in ACTIVITY_PRODUCT_COLUMNS.items()])


def activity_evidence(workloads: pl.DataFrame) -> pl.DataFrame:
    """Per customer x workload: whether the activity explains usage over 100% in Partner Center.

    ``turnover``: deleted users with activity in the window, or licences of the workload assigned inside
    it. ``yammer_beyond_entitlement``: the Yammer workload has users active without a Yammer licence.
    Takes the ``activity_workloads`` frame; returns customer_id, workload, turnover,
    yammer_beyond_entitlement, and the exact columns metrics joins to Partner Center's workload rows.
    """
    missing = [c for c in ACTIVITY_WORKLOAD_COLUMNS if c not in workloads.columns]
    if missing:
        raise ParameterError(f"activity_evidence needs the activity_workloads frame (missing {', '.join(missing)})")
    return workloads.select(
        "customer_id", "workload",
        ((pl.col("deleted_active_users") > 0) | (pl.col("assigned_in_window_users") > 0)).alias("turnover"),
        ((pl.col("workload") == schema.YAMMER_WORKLOAD) & (pl.col("active_unlicensed_users") > 0))
        .alias("yammer_beyond_entitlement"),
        pl.col("entitled_users").alias("entitled_users_exact"),
        pl.col("active_entitled_users").alias("active_users_exact"),
        pl.col("usage_rate").alias("usage_rate_exact"),
    )


def concealment_note(concealed: Any) -> str | None:
    """What cannot be done when a customer's report conceals names, or None when names are real.

    Takes a bool, an ``activity_customers`` row (dict) or that frame (any customer concealed)."""
    if isinstance(concealed, pl.DataFrame):
        flag = bool(concealed.height and concealed.get_column("concealed_names").fill_null(False).any())
    elif isinstance(concealed, Mapping):
        flag = bool(concealed.get("concealed_names"))
    else:
        flag = bool(concealed)
    if not flag:
        return None
    return ("User names in this activity report are concealed (32-character codes instead of names, "
            "Microsoft 365's default since September 2021). Every count here is still exact, but the users "
            "cannot be named, listed for follow-up, or joined by name to other user data (an HR list, "
            "another report). To get names, the customer's administrator can turn off the report "
            "concealment setting in the Microsoft 365 admin center (Org settings, Reports) and export again.")


def window_of(refresh: date) -> tuple[date, date]:
    """(first, last) day of the 28-day window that ends on ``refresh``."""
    return refresh - timedelta(days=WINDOW_DAYS - 1), refresh
