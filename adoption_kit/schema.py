"""Column contracts: the raw fields each export kind may carry and the normalised frames the loaders return;
no parsing here."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # pragma: no cover - typing only
    from polars._typing import PolarsDataType

# ---------------------------------------------------------------------------
# Raw fields, per export kind. Keys are the canonical raw names from
# shared/reference/exports.md; header matching is case- and space-insensitive
# (see `header_key`). `aliases` are other spellings seen in real files.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RawField:
    name: str                      # exact documented name
    target: str                    # normalised column it feeds
    kind: str                      # "str" | "int" | "guid" | "datetime" | "bool" | "date" | "decimal" | "currency"
    required: bool = False
    aliases: tuple[str, ...] = ()
    allow_empty: bool = False      # with required: the column must be present, its cells may be empty
    read: bool = True              # False: documented (it names the file's columns) but nothing uses it, so the
    #                                loaders neither check nor keep it (the wide Insights downloads' partner columns)


@dataclass(frozen=True)
class ExportKind:
    name: str                      # the kind's key: one of the EXPORT_KINDS names ("deployment", "usage", ...)
    title: str                     # human name used in messages
    fields: tuple[RawField, ...]
    signature: frozenset[str] = field(default_factory=frozenset)  # header keys that identify the kind


def header_key(name: str) -> str:
    """Case-, space- and underscore-insensitive key for matching a header to a documented field."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


_COMMON_LICENSE_FIELDS = (
    RawField("processedDateTime", "processed_at", "datetime", required=True),
    RawField("serviceCode", "service_code", "str"),
    RawField("serviceName", "service_name", "str"),
    RawField("channel", "channel", "str"),
    RawField("customerTenantId", "customer_id", "guid", required=True, aliases=("customerId",)),
    RawField("customerName", "customer_name", "str", required=True),
    RawField("productId", "product_id", "guid"),
    RawField("productName", "product_name", "str", required=True),
)

DEPLOYMENT = ExportKind(
    name="deployment",
    title="Partner Center licenses deployment",
    fields=_COMMON_LICENSE_FIELDS + (
        RawField("licensesDeployed", "licenses_assigned", "int", required=True),
        RawField("licensesSold", "licenses_sold", "int", required=True),
    ),
    signature=frozenset({"licensesdeployed", "licensessold"}),
)

USAGE = ExportKind(
    name="usage",
    title="Partner Center licenses usage",
    fields=_COMMON_LICENSE_FIELDS + (
        RawField("workloadCode", "workload_code", "str", required=True),
        RawField("workloadName", "workload_name", "str"),
        RawField("licensesActive", "licenses_active", "int", required=True, aliases=("licenseActive",)),
        RawField("licensesQualified", "licenses_qualified", "int", required=True),
    ),
    signature=frozenset({"workloadcode", "licensesqualified"}),
)

SUBSCRIPTIONS = ExportKind(
    name="subscriptions",
    title="Partner Center subscriptions",
    fields=(
        RawField("customerTenantId", "customer_id", "guid", required=True, aliases=("customerId",)),
        RawField("customerName", "customer_name", "str"),
        RawField("id", "subscription_id", "str", required=True, aliases=("subscriptionId",)),
        RawField("offerId", "offer_id", "str"),
        RawField("offerName", "product_name", "str", aliases=("productName",)),
        RawField("friendlyName", "friendly_name", "str"),
        RawField("quantity", "quantity", "int", aliases=("licenseCount",)),
        RawField("unitType", "unit_type", "str"),
        RawField("status", "status_raw", "str", required=True),
        RawField("isTrial", "is_trial_raw", "bool"),
        RawField("billingCycle", "billing_cycle", "str"),
        RawField("billingType", "billing_type", "str"),
        RawField("termDuration", "term_duration", "str"),
        RawField("subscriptionType", "subscription_type", "str"),
        RawField("creationDate", "created_at", "datetime"),
        RawField("effectiveStartDate", "effective_start_at", "datetime"),
        RawField("commitmentEndDate", "commitment_end_at", "datetime"),
        RawField("autoRenewEnabled", "auto_renew", "bool"),
        RawField("partnerId", "partner_id", "str"),
        RawField("parentSubscriptionId", "parent_subscription_id", "str"),
        RawField("trialStartDate", "trial_start_at", "datetime"),
        RawField("trialEndDate", "trial_end_at", "datetime"),
        RawField("trialToPaidConversionDate", "trial_converted_at", "datetime"),
        RawField("deprovisionedDate", "deprovisioned_at", "datetime"),
        RawField("customerMarket", "customer_market", "str", read=False),
    ),
    signature=frozenset({"status"}),  # plus an id field and quantity/licenseCount or offerName/productName
)

# Microsoft Graph getOffice365ActiveUserDetail (exports.md section 3). One row per user; the file carries no
# tenant id: the loaders take it from the folder the file sits in (a folder named after the tenant GUID).
# Workloads as the report names them -> the short key used in the normalised column names.
ACTIVITY_WORKLOADS: dict[str, str] = {
    "Exchange": "exchange", "OneDrive": "onedrive", "SharePoint": "sharepoint",
    "Skype For Business": "skype", "Yammer": "yammer", "Teams": "teams",
}

ACTIVITY = ExportKind(
    name="activity",
    title="Microsoft 365 active-user detail",
    fields=(
        RawField("Report Refresh Date", "report_refresh_date", "date", required=True),
        RawField("User Principal Name", "user_key", "str", required=True),
        RawField("Display Name", "display_name", "str"),          # read for the header check, never kept
        RawField("Is Deleted", "is_deleted", "bool", required=True),
        RawField("Deleted Date", "deleted_date", "date"),
        *[RawField(f"Has {w} License", f"has_{k}_license", "bool", required=True)
          for w, k in ACTIVITY_WORKLOADS.items()],
        *[RawField(f"{w} Last Activity Date", f"{k}_last_activity", "date", required=True, allow_empty=True)
          for w, k in ACTIVITY_WORKLOADS.items()],
        *[RawField(f"{w} License Assign Date", f"{k}_license_assign_date", "date", required=True,
                   allow_empty=True)
          for w, k in ACTIVITY_WORKLOADS.items()],
        RawField("Assigned Products", "assigned_products", "str"),
    ),
    signature=frozenset({"reportrefreshdate", "userprincipalname"}),
)

# Files the kit defines itself (no Partner Center export carries prices or support tickets); README.md,
# "The book over time", documents both. One currency per price list; tickets' category is free text that the
# loader folds to TICKET_CATEGORIES by TICKET_KEYWORDS (the raw text is kept).
PRICE_LIST = ExportKind(
    name="price_list",
    title="price list (kit-defined CSV)",
    fields=(
        RawField("productId", "product_id", "guid", required=True),
        RawField("productName", "product_name", "str"),
        RawField("unitPricePerMonth", "unit_price_per_month", "decimal", required=True),
        RawField("currency", "currency", "currency", required=True),
    ),
    signature=frozenset({"unitpricepermonth"}),
)

SUPPORT_TICKETS = ExportKind(
    name="support_tickets",
    title="support tickets (kit-defined CSV)",
    fields=(
        RawField("customerTenantId", "customer_id", "guid", required=True),
        RawField("ticketId", "ticket_id", "str", required=True),
        RawField("openedDate", "opened_at", "datetime", required=True),
        RawField("category", "category_raw", "str", required=True, allow_empty=True),
    ),
    signature=frozenset({"ticketid", "openeddate"}),
)

# Partner Center Insights downloads (exports.md section 1.6): monthly datasets, tab-separated from the portal,
# CSV or TSV from the Insights API. `Month` is kind "month" (YYYY-MM, YYYY-MM-DD or a date-time: the calendar
# month written). adoption_kit.inputs.insights maps their rows onto the licence frames below.
_INSIGHTS_CUSTOMER_FIELDS = (
    RawField("CustomerTenantId", "customer_id", "guid", required=True),
    RawField("CustomerName", "customer_name", "str", required=True, allow_empty=True),
    RawField("Month", "month", "month", required=True),
)

INSIGHTS_OFFICE = ExportKind(
    name="insights_office",
    title="Insights Office 365 licence usage (OfficeUsage)",
    fields=_INSIGHTS_CUSTOMER_FIELDS + (
        RawField("CustomerTpid", "customer_tpid", "str", read=False),
        RawField("WorkloadName", "workload_name", "str", required=True),
        RawField("PaidAvailableUnits", "paid_available_units", "int", required=True),
        RawField("MonthlyActiveUsers", "monthly_active_users", "int", required=True),
        RawField("CustomerMarket", "customer_market", "str", read=False),
        RawField("CustomerSegment", "customer_segment", "str", read=False),
        RawField("MPNId", "mpn_id", "str", read=False),
        RawField("PartnerName", "partner_name", "str", read=False),
        RawField("PartnerLocation", "partner_location", "str", read=False),
        RawField("PartnerAttributionType", "partner_attribution_type", "str", read=False),
        RawField("IsDuplicateRowForPGA", "is_duplicate_row_for_pga", "bool"),
    ),
    signature=frozenset({"paidavailableunits", "monthlyactiveusers"}),
)

INSIGHTS_DYNAMICS = ExportKind(
    name="insights_dynamics",
    title="Insights Dynamics 365 licence usage (DynamicsUsage)",
    fields=_INSIGHTS_CUSTOMER_FIELDS + (
        RawField("SubscriptionId", "subscription_id", "str", required=True),
        RawField("SubscriptionStartDate", "subscription_start_at", "datetime"),
        RawField("SubscriptionEndDate", "subscription_end_at", "datetime"),
        RawField("SubscriptionStatus", "subscription_status", "str", required=True),
        RawField("SKU", "sku", "str", required=True),
        RawField("SKUId", "sku_id", "str", required=True),
        RawField("FreeVsPaidSKU", "free_vs_paid", "str", required=True, allow_empty=True),
        RawField("CustomerTpid", "customer_tpid", "str", read=False),
        RawField("CustomerMarket", "customer_market", "str", read=False),
        RawField("CustomerSegment", "customer_segment", "str", read=False),
        RawField("AvailableSeats", "available_seats", "int", required=True),
        RawField("AssignedSeats", "assigned_seats", "int", required=True),
        RawField("ActiveSeats", "active_seats", "int", required=True),
    ),
    signature=frozenset({"availableseats", "activeseats"}),
)

INSIGHTS_SEATS = ExportKind(
    name="insights_seats",
    title="Insights seats and subscriptions (SeatsSubscriptionsAndRevenue)",
    fields=_INSIGHTS_CUSTOMER_FIELDS + (
        RawField("SubscriptionState", "subscription_state", "str", required=True),
        RawField("IsAutoRenew", "is_auto_renew", "bool"),
        RawField("SKU", "sku", "str", required=True),
        RawField("ProductPartNumber", "product_part_number", "str"),
        RawField("TotalSoldSeats", "total_sold_seats", "int", required=True),
        RawField("TotalAssignedSeats", "total_assigned_seats", "int", required=True),
    ),
    signature=frozenset({"totalsoldseats", "totalassignedseats"}),
)

INSIGHTS_KINDS: tuple[ExportKind, ...] = (INSIGHTS_OFFICE, INSIGHTS_DYNAMICS, INSIGHTS_SEATS)
# Microsoft's "Product names and service plan identifiers for licensing" CSV (exports.md section 4), when the user
# drops a copy in the data folder: read by adoption_kit.inputs.catalog (merged over the packaged crosswalk).
# `String_ Id` and other header drift fold to the same keys.
SKU_CATALOG = ExportKind(
    name="sku_catalog",
    title="Microsoft product names and service plan identifiers (licensing CSV)",
    fields=(
        RawField("Product_Display_Name", "display_name", "str", required=True),
        RawField("String_Id", "string_id", "str", required=True),
        RawField("GUID", "guid", "guid", required=True),
    ),
    signature=frozenset({"productdisplayname", "stringid", "guid"}),
)
EXPORT_KINDS: tuple[ExportKind, ...] = (DEPLOYMENT, USAGE, SUBSCRIPTIONS, ACTIVITY, PRICE_LIST, SUPPORT_TICKETS,
                                        *INSIGHTS_KINDS, SKU_CATALOG)

# ---------------------------------------------------------------------------
# Normalised frames returned by adoption_kit.inputs.load_exports (column -> dtype).
# Every id is a lower-case string; every timestamp is UTC.
# When a feed has no productId, product_id holds "name:<PRODUCT NAME UPPER-CASED>"
# so that grouping still works (the loader warns).
# ---------------------------------------------------------------------------
UTC_DATETIME = pl.Datetime("us", "UTC")

DEPLOYMENT_COLUMNS: dict[str, PolarsDataType] = {
    "processed_at": UTC_DATETIME,
    "service_code": pl.String,
    "service_name": pl.String,
    "channel": pl.String,
    "customer_id": pl.String,
    "customer_name": pl.String,
    "product_id": pl.String,
    "product_name": pl.String,
    "licenses_sold": pl.Int64,
    "licenses_assigned": pl.Int64,
    "source_file": pl.String,
}

USAGE_COLUMNS: dict[str, PolarsDataType] = {
    "processed_at": UTC_DATETIME,
    "service_code": pl.String,
    "service_name": pl.String,
    "channel": pl.String,
    "customer_id": pl.String,
    "customer_name": pl.String,
    "product_id": pl.String,
    "product_name": pl.String,
    "workload_code": pl.String,   # raw code as exported, e.g. "EXO"
    "workload": pl.String,        # canonical: Exchange, SharePoint, Skype For Business, Teams, Yammer, or the raw label
    "licenses_qualified": pl.Int64,
    "licenses_active": pl.Int64,
    "source_file": pl.String,
}

# Normalised subscription status vocabulary (status_raw keeps the exported spelling).
SUBSCRIPTION_STATUSES = ("active", "grace_period", "suspended", "disabled", "deprovisioned",
                         "expired", "pending", "deleted", "unknown")
INACTIVE_SUBSCRIPTION_STATUSES = frozenset({"grace_period", "suspended", "disabled", "deprovisioned",
                                            "expired", "deleted"})

SUBSCRIPTION_COLUMNS: dict[str, PolarsDataType] = {
    "customer_id": pl.String,
    "customer_name": pl.String,
    "subscription_id": pl.String,
    "offer_id": pl.String,
    "product_name": pl.String,
    "product_key": pl.String,     # upper-cased, space-folded product_name: the join key to license rows' product_name
    "friendly_name": pl.String,
    "quantity": pl.Int64,
    "status": pl.String,          # one of SUBSCRIPTION_STATUSES
    "status_raw": pl.String,
    "is_trial": pl.Boolean,
    "billing_cycle": pl.String,
    "term_duration": pl.String,
    "created_at": UTC_DATETIME,
    "effective_start_at": UTC_DATETIME,
    "commitment_end_at": UTC_DATETIME,   # null when the export says 9999-... (no commitment end)
    "auto_renew": pl.Boolean,
    "partner_id": pl.String,
    "trial_start_at": UTC_DATETIME,
    "trial_end_at": UTC_DATETIME,
    "trial_converted_at": UTC_DATETIME,
    "deprovisioned_at": UTC_DATETIME,
    "source_file": pl.String,
}

# Normalised active-user detail rows (one per user and file). user_key is the User Principal Name as given
# (a 32-character hex token when the tenant conceals names); it stays in this frame and is never copied into
# metric frames or bundles. Display Name is not kept.
ACTIVITY_COLUMNS: dict[str, PolarsDataType] = {
    "customer_id": pl.String,          # lower-case tenant GUID, from the folder name
    "report_refresh_date": pl.Date,
    "user_key": pl.String,
    "is_deleted": pl.Boolean,
    "deleted_date": pl.Date,
    **{f"has_{k}_license": pl.Boolean for k in ACTIVITY_WORKLOADS.values()},
    **{f"{k}_last_activity": pl.Date for k in ACTIVITY_WORKLOADS.values()},
    **{f"{k}_license_assign_date": pl.Date for k in ACTIVITY_WORKLOADS.values()},
    "assigned_products": pl.List(pl.String),   # split on '+' without spaces around it (see activity.py)
    "source_file": pl.String,
}

PRICE_COLUMNS: dict[str, PolarsDataType] = {
    "product_id": pl.String,             # lower-case GUID, the join key to the license rows' product_id
    "product_name": pl.String,           # as written in the price list (shown only; never joined on)
    "unit_price_per_month": pl.Float64,  # per licence and month, >= 0, in `currency`
    "currency": pl.String,               # ISO 4217, upper case; one per price list
    "source_file": pl.String,
}

TICKET_CATEGORIES = ("how-to", "break-fix", "other")
# Words (after case folding; every run of non-letters/digits is one space) that put a ticket's free-text
# category into a TICKET_CATEGORIES value. How-to is tried first ("How to fix ..." is a how-to question),
# then break-fix; anything else, or an empty category, is "other".
TICKET_KEYWORDS: dict[str, tuple[str, ...]] = {
    "how-to": ("how to", "howto", "question", "questions", "training", "guidance", "advice", "usage"),
    "break-fix": ("break", "breakfix", "fix", "incident", "outage", "error", "failure", "bug", "broken"),
}

TICKET_COLUMNS: dict[str, PolarsDataType] = {
    "customer_id": pl.String,            # lower-case tenant GUID
    "ticket_id": pl.String,
    "opened_at": UTC_DATETIME,           # a date alone is midnight UTC
    "category": pl.String,               # one of TICKET_CATEGORIES
    "category_raw": pl.String,           # as written (null when empty)
    "source_file": pl.String,
}

# Normalised Insights rows (adoption_kit.inputs.insights), kept in Exports.insights_* beside the licence frames
# they are mapped onto. `month` is the first instant of the calendar month, UTC.
INSIGHTS_OFFICE_COLUMNS: dict[str, PolarsDataType] = {
    "customer_id": pl.String, "customer_name": pl.String, "month": UTC_DATETIME,
    "workload_name": pl.String,       # as exported, e.g. "Exchange Online"
    "workload": pl.String,            # canonical (CANONICAL_WORKLOADS), unknown names passed through
    "paid_available_units": pl.Int64, "monthly_active_users": pl.Int64,
    "is_duplicate_row_for_pga": pl.Boolean, "source_file": pl.String,
}
INSIGHTS_DYNAMICS_COLUMNS: dict[str, PolarsDataType] = {
    "customer_id": pl.String, "customer_name": pl.String, "month": UTC_DATETIME,
    "subscription_id": pl.String, "subscription_start_at": UTC_DATETIME, "subscription_end_at": UTC_DATETIME,
    "subscription_status_raw": pl.String,
    "subscription_status": pl.String,   # one of SUBSCRIPTION_STATUSES
    "sku": pl.String, "sku_id": pl.String,   # sku_id lower-cased
    "free": pl.Boolean,                 # FreeVsPaidSKU says free
    "available_seats": pl.Int64, "assigned_seats": pl.Int64, "active_seats": pl.Int64, "source_file": pl.String,
}
INSIGHTS_SEATS_COLUMNS: dict[str, PolarsDataType] = {
    "customer_id": pl.String, "customer_name": pl.String, "month": UTC_DATETIME,
    "subscription_state_raw": pl.String,
    "subscription_state": pl.String,    # one of SUBSCRIPTION_STATUSES (Churned: deprovisioned)
    "sku": pl.String, "product_part_number": pl.String,
    "total_sold_seats": pl.Int64, "total_assigned_seats": pl.Int64, "source_file": pl.String,
}
# Where the usage figures of a row come from (shown in every report's data section).
INSIGHTS_BASIS = "monthly active users (calendar month)"
REST_BASIS = "active in the last 28 days"

CANONICAL_WORKLOADS: dict[str, str] = {
    # code or name (header_key form) -> canonical workload name
    "exo": "Exchange", "exchange": "Exchange", "exchangeonline": "Exchange",
    "spo": "SharePoint", "sharepoint": "SharePoint", "sharepointonline": "SharePoint",
    "odb": "SharePoint", "onedrive": "SharePoint", "onedriveforbusiness": "SharePoint",
    "sfb": "Skype For Business", "skypeforbusiness": "Skype For Business", "skype": "Skype For Business",
    "teams": "Teams", "microsoftteams": "Teams",
    "yammer": "Yammer", "vivaengage": "Yammer",
}
YAMMER_WORKLOAD = "Yammer"


def empty_frame(columns: Mapping[str, PolarsDataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=columns)
