"""Deterministic synthetic partner portfolio written in the real Partner Center raw export shapes;
it writes raw exports only and never loads, cleans or scores them."""
from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from adoption_kit.errors import ParameterError
from adoption_kit.values import check_whole_number

if TYPE_CHECKING:  # pragma: no cover - typing only
    from polars._typing import PolarsDataType

__all__ = [
    "ACTIVITY_DIR",
    "ACTIVITY_FIELDS",
    "ACTIVITY_FILE",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PROCESSED_AT",
    "DEFAULT_SNAPSHOTS",
    "DEPLOYMENT_FIELDS",
    "PLANTED_CASES",
    "PRICE_CURRENCY",
    "PRICE_FIELDS",
    "PRICES",
    "PRICES_FILE",
    "SUBSCRIPTION_FIELDS",
    "TICKET_FIELDS",
    "TICKETS_FILE",
    "USAGE_FIELDS",
    "SampleData",
    "generate_sample",
    "write_sample",
]

DEFAULT_PROCESSED_AT = datetime(2026, 11, 1, tzinfo=timezone.utc)
# Small on purpose so that the committed 50-customer sample spans several usage pages; the real API
# serves at most 10000 rows a page (pass page_size=10000 for large books).
DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 10000
API_BASE = "https://api.partnercenter.microsoft.com/partner/v1/analytics/commercial"

# Exact raw field names, in export order (shared/reference/exports.md sections 1.1, 1.2 and 2).
_COMMON_FIELDS = ("processedDateTime", "serviceCode", "serviceName", "channel", "customerTenantId",
                  "customerName", "productId", "productName")
DEPLOYMENT_FIELDS = _COMMON_FIELDS + ("licensesDeployed", "licensesSold")
USAGE_FIELDS = _COMMON_FIELDS + ("workloadCode", "workloadName", "licensesActive", "licensesQualified")
SUBSCRIPTION_FIELDS = ("customerTenantId", "customerName", "customerMarket", "id", "status", "productName",
                       "subscriptionType", "autoRenewEnabled", "partnerId", "friendlyName", "creationDate",
                       "effectiveStartDate", "commitmentEndDate", "trialStartDate", "trialEndDate",
                       "trialToPaidConversionDate", "deprovisionedDate", "licenseCount")

DEPLOYMENT_FILE = "license-deployment-page-{}.json"
USAGE_FILE = "license-usage-page-{}.json"
SUBSCRIPTIONS_FILE = "subscriptions.csv"
# Microsoft 365 active-user detail (exports.md section 3), one file per planted customer in a folder named
# after its tenant id: activity/<TENANT-ID>/ActiveUserDetail.csv (UTF-8 with BOM, True/False, YYYY-MM-DD).
ACTIVITY_DIR = "activity"
ACTIVITY_FILE = "ActiveUserDetail.csv"
_REPORT_WORKLOADS = ("Exchange", "OneDrive", "SharePoint", "Skype For Business", "Yammer", "Teams")
ACTIVITY_FIELDS = ("Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
                   *[f"Has {w} License" for w in _REPORT_WORKLOADS],
                   *[f"{w} Last Activity Date" for w in _REPORT_WORKLOADS],
                   *[f"{w} License Assign Date" for w in _REPORT_WORKLOADS],
                   "Assigned Products")
NO_COMMITMENT_END = "9999-12-31T00:00:00"

# Monthly history: older snapshots of both license feeds, one calendar month apart, ending at processed_at.
# The newest keeps the file names above; an older one carries its month: license-usage-2026-09-page-1.json.
# Bulk customers' active counts walk back month by month by round(v x qualified) seats, v uniform in
# +-HISTORY_NOISE (sold, assigned and qualified stay); planted customers change only where they say so.
DEFAULT_SNAPSHOTS = 3
MAX_SNAPSHOTS = 12
HISTORY_NOISE = 0.10
HISTORY_DEPLOYMENT_FILE = "license-deployment-{month}-page-{{}}.json"
HISTORY_USAGE_FILE = "license-usage-{month}-page-{{}}.json"

# Kit-defined inputs (README.md, "The book over time"): the partner's price list and a support-ticket export.
PRICES_FILE = "prices.csv"
PRICE_FIELDS = ("productId", "productName", "unitPricePerMonth", "currency")
PRICE_CURRENCY = "USD"
# Illustrative prices per licence and month; DYNAMICS 365 FOR SALES PROFESSIONAL is left out on purpose
# (the unpriced product), and the free Power Automate SKU is never priced.
PRICES: dict[str, str] = {
    "O365_BUSINESS_ESSENTIALS": "6.00", "O365_BUSINESS_PREMIUM": "12.50", "SPB": "22.00",
    "O365_BUSINESS": "8.25", "ENTERPRISEPACK": "23.00", "SPE_E3": "36.00", "SPE_E5": "57.00",
    "DESKLESSPACK": "4.00",
}
TICKETS_FILE = "support-tickets.csv"
TICKET_FIELDS = ("customerTenantId", "ticketId", "openedDate", "category")
# Raw category spellings of bulk tickets (how-to, how-to, break-fix x3, other x2) and their cumulative odds.
_TICKET_CATEGORIES = ("How-to", "How to / usage question", "Break/fix", "Incident", "Outage", "Billing",
                      "Licence change")
_TICKET_CDF = np.array([0.25, 0.40, 0.60, 0.72, 0.80, 0.92])

# ---------------------------------------------------------------------------
# Catalogue: real SKU GUIDs (Microsoft's licensing service plan reference) with the legacy upper-case
# names Partner Center shows. Workload codes beyond EXO/SPO/SFB are undocumented labels.
# ---------------------------------------------------------------------------
WORKLOADS: tuple[tuple[str, str], ...] = (
    ("EXO", "Exchange"), ("SPO", "SharePoint"), ("SFB", "Skype For Business"),
    ("TEAMS", "Teams"), ("YAM", "Yammer"), ("CRM", "Dynamics 365"),
)
_WL_INDEX = {code: i for i, (code, _) in enumerate(WORKLOADS)}
_OFFICE_WL = ("EXO", "SPO", "SFB", "TEAMS", "YAM")
SERVICES = {"o365": "Microsoft Office 365", "crm": "Microsoft Dynamics"}


@dataclass(frozen=True)
class _Product:
    key: str                 # String_Id in Microsoft's SKU list
    guid: str
    name: str                # productName as Partner Center shows it
    friendly: str            # current marketing name, used as the subscription friendlyName
    service: str             # serviceCode
    subscription_type: str   # subscription analytics subscriptionType
    workloads: tuple[str, ...]
    business: bool = False   # capped at 300 seats


PRODUCTS: tuple[_Product, ...] = (
    _Product("O365_BUSINESS_ESSENTIALS", "3b555118-da6a-4418-894f-7df1e2096870", "OFFICE 365 BUSINESS ESSENTIALS",
             "Microsoft 365 Business Basic", "o365", "Office", _OFFICE_WL, True),
    _Product("O365_BUSINESS_PREMIUM", "f245ecc8-75af-4f8e-b61f-27d8114de5f3", "OFFICE 365 BUSINESS PREMIUM",
             "Microsoft 365 Business Standard", "o365", "Office", _OFFICE_WL, True),
    _Product("SPB", "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "MICROSOFT 365 BUSINESS",
             "Microsoft 365 Business Premium", "o365", "Microsoft365", _OFFICE_WL, True),
    # Microsoft 365 Apps for business has no Exchange/Teams/Yammer plans: OneDrive counts under SPO.
    _Product("O365_BUSINESS", "cdd28e44-67e3-425e-be4c-737fab2899d3", "OFFICE 365 BUSINESS",
             "Microsoft 365 Apps for business", "o365", "Office", ("SPO",), True),
    _Product("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900", "OFFICE 365 ENTERPRISE E3",
             "Office 365 E3", "o365", "Office", _OFFICE_WL),
    _Product("SPE_E3", "05e9a617-0261-4cee-bb44-138d3ef5d965", "MICROSOFT 365 E3",
             "Microsoft 365 E3", "o365", "Microsoft365", _OFFICE_WL),
    _Product("SPE_E5", "06ebc4ee-1bb5-47dd-8120-11324bc54e06", "MICROSOFT 365 E5",
             "Microsoft 365 E5", "o365", "Microsoft365", _OFFICE_WL),
    _Product("DESKLESSPACK", "4b585984-651b-448a-9e53-3b10f069cf7f", "OFFICE 365 F3",
             "Office 365 F3", "o365", "Office", _OFFICE_WL),
    _Product("D365_SALES_PRO", "be9f9771-1c64-4618-9907-244325141096", "DYNAMICS 365 FOR SALES PROFESSIONAL",
             "Dynamics 365 Sales Professional", "crm", "Dynamics", ("CRM",)),
    # Free viral SKU: never bought through the partner (no subscription), shows 10000 units, and has no
    # documented workload, so it gets a deployment row only.
    _Product("FLOW_FREE", "f30db892-07e9-47e9-837c-80727f46fd3d", "MICROSOFT FLOW FREE",
             "Microsoft Power Automate Free", "o365", "Office", ()),
)
_P = {p.key: i for i, p in enumerate(PRODUCTS)}
_CHOOSABLE = len(PRODUCTS) - 1          # every product but FLOW_FREE is drawn for the bulk
_FLOW_FREE = _P["FLOW_FREE"]
FREE_SKU_UNITS = 10000

# Product draw weights per size band (small 1-25, mid 26-99, large 100-2000 seats), catalogue order.
_PRODUCT_WEIGHTS = np.array([
    # ESS  BP  SPB  BUS  E3  SPE3 SPE5 F3  D365
    [30, 30, 20, 12, 3, 2, 1, 2, 1],
    [15, 25, 25, 8, 10, 8, 2, 5, 4],
    [5, 8, 10, 4, 25, 25, 10, 15, 8],
], dtype=float)
_PRODUCT_COUNT_CDF = np.array([[0.60, 0.90], [0.35, 0.80], [0.20, 0.60]])  # P(1), P(<=2) per band
_BANDS = np.array([[1, 25], [26, 99], [100, 2000]])
_BAND_CDF = (0.72, 0.93)

# ---------------------------------------------------------------------------
# Company names: brand (prefix + root) + industry + legal suffix, which also sets customerMarket.
# ---------------------------------------------------------------------------
_NAME_PREFIXES = ("North", "South", "East", "West", "Silver", "Golden", "Oak", "Pine", "Stone", "River",
                  "Lake", "Bright", "Clear", "Blue", "Green", "Red", "High", "Fair", "Elm", "Ash", "Maple",
                  "Iron", "Copper", "Summit", "Harbor", "Cedar", "Willow", "Fox", "Eagle", "Birch")
_NAME_ROOTS = ("field", "gate", "brook", "wood", "ridge", "view", "well", "bridge", "ford", "haven", "crest",
               "vale", "port", "side", "mont", "wick", "ton", "hurst", "mere", "stead")
_NAME_INDUSTRIES = ("Accounting", "Analytics", "Architects", "Bakery", "Builders", "Capital", "Construction",
                    "Consulting", "Dental", "Design", "Distribution", "Electrical", "Energy", "Engineering",
                    "Foods", "Freight", "Healthcare", "Hospitality", "Insurance", "Interiors", "Labs", "Legal",
                    "Logistics", "Manufacturing", "Marine", "Media", "Medical", "Motors", "Pharma", "Plumbing",
                    "Print", "Properties", "Recruitment", "Retail", "Robotics", "Security", "Software",
                    "Studios", "Trading", "Travel")
_NAME_SUFFIXES = (("Ltd", "GB"), ("Limited", "IE"), ("Inc.", "US"), ("LLC", "US"), ("GmbH", "DE"),
                  ("AG", "CH"), ("S.A.", "ES"), ("SARL", "FR"), ("S.r.l.", "IT"), ("B.V.", "NL"),
                  ("Pty Ltd", "AU"), ("Oy", "FI"), ("AB", "SE"), ("A/S", "DK"), ("KK", "JP"))
_NAME_SPACE = len(_NAME_PREFIXES) * len(_NAME_ROOTS) * len(_NAME_INDUSTRIES) * len(_NAME_SUFFIXES)

# ---------------------------------------------------------------------------
# Planted cases: fixed positions among the first 30 customers, so every book of 30+ customers built
# from the same seed holds them at the same positions with the same tenant ids.
# ---------------------------------------------------------------------------
PLANTED_CASES = (
    "inflated_yammer", "inflated_trial", "inflated_duplicate_subscription", "inflated_unexplained",
    "sold_zero", "free_sku", "low_deployment", "low_usage", "upsell_ready", "tiny_account",
    "name_comma", "name_quote", "name_non_ascii", "name_hostile",
    # user activity reports (activity/<TENANT-ID>/ActiveUserDetail.csv)
    "inflated_turnover", "activity_exact", "activity_concealed_names", "activity_deleted_active",
    "activity_assigned_in_window", "activity_yammer_unlicensed", "activity_window_boundaries",
    # the book over time (older snapshots, subscriptions, prices.csv, support-tickets.csv)
    "trend_drop", "trend_spike", "trend_guarded", "segment_change", "renewal_soon_low_usage",
    "own_seats_partial", "unpriced_product", "support_heavy", "support_few_tickets",
)


@dataclass(frozen=True)
class _Sub:
    status: str                  # ACTIVE | SUSPENDED | DEPROVISIONED
    count: int
    age_days: int                # creation date, days before processed_at
    trial: bool = False          # unconverted trial: trialStartDate set, no conversion
    legacy: bool = False         # commitmentEndDate 9999-12-31 (none)
    deprovisioned_days_ago: int | None = None


@dataclass(frozen=True)
class _PlantedProduct:
    product: str
    sold: int
    deployed: int
    qualified: int
    active: dict[str, int] = field(default_factory=dict)   # workload code -> licensesActive
    subs: tuple[_Sub, ...] | None = None                    # None: one ordinary ACTIVE sub when sold > 0
    before: dict[str, int] = field(default_factory=dict)   # licensesActive in every older snapshot, where it
                                                            # differs (else the same as the newest)


@dataclass(frozen=True)
class _Planted:
    index: int
    cases: tuple[str, ...]
    products: tuple[_PlantedProduct, ...]
    name: str | None = None      # None: keep the generated name and market
    market: str | None = None
    tickets: tuple[tuple[int, str], ...] = ()   # support tickets: (days before processed_at, raw category)


def _office(exo: int, spo: int, sfb: int, teams: int, yam: int) -> dict[str, int]:
    return {"EXO": exo, "SPO": spo, "SFB": sfb, "TEAMS": teams, "YAM": yam}


_PLANTED: tuple[_Planted, ...] = (
    # Teams 59 of 118 active in September and October, 116 in November: a spike (+57/118).
    _Planted(1, ("upsell_ready", "trend_spike"), (
        _PlantedProduct("SPB", 120, 118, 118, _office(117, 113, 114, 116, 40), before={"TEAMS": 59}),
        _PlantedProduct("D365_SALES_PRO", 12, 12, 12, {"CRM": 12}),
    )),
    # SharePoint 27 of 28 active in September and October, 20 in November: a drop (-7/28).
    _Planted(3, ("inflated_yammer", "name_comma", "trend_drop"), (
        _PlantedProduct("O365_BUSINESS_PREMIUM", 30, 28, 28, _office(26, 20, 3, 24, 34), before={"SPO": 27}),
    ), name="Smith, Jones & Partners", market="GB"),
    # Two how-to tickets for one active user: 200 per 100, but too few tickets to flag.
    _Planted(6, ("tiny_account", "support_few_tickets"), (
        _PlantedProduct("O365_BUSINESS_ESSENTIALS", 1, 1, 1, _office(1, 1, 0, 1, 0)),
    ), tickets=((7, "How-to"), (30, "Question"))),
    _Planted(8, ("inflated_trial", "name_non_ascii"), (
        _PlantedProduct("SPE_E3", 20, 20, 20, _office(38, 27, 4, 33, 6), subs=(
            _Sub("ACTIVE", 20, age_days=700),
            _Sub("ACTIVE", 25, age_days=12, trial=True),
        )),
    ), name="Müller Bäckerei GmbH", market="DE"),
    # 150 of the 250 Microsoft 365 E3 seats on the partner's own subscription (the rest bought elsewhere);
    # Dynamics 365 Sales Professional has no price in prices.csv.
    _Planted(11, ("low_deployment", "name_hostile", "own_seats_partial", "unpriced_product"), (
        _PlantedProduct("SPE_E3", 250, 95, 95, _office(88, 70, 5, 80, 10),
                        subs=(_Sub("ACTIVE", 150, age_days=400 + 37 * 11),)),
        _PlantedProduct("D365_SALES_PRO", 20, 18, 18, {"CRM": 15}),
    ), name="<img src=x onerror=alert(1)>", market="US"),
    _Planted(14, ("inflated_duplicate_subscription", "name_quote"), (
        _PlantedProduct("ENTERPRISEPACK", 50, 48, 48, _office(61, 52, 6, 58, 9), subs=(
            _Sub("ACTIVE", 50, age_days=200),
            _Sub("SUSPENDED", 15, age_days=1500, legacy=True),
        )),
    ), name='"Best" Widgets Ltd', market="GB"),
    _Planted(17, ("sold_zero", "name_non_ascii"), (
        _PlantedProduct("SPB", 25, 24, 24, _office(22, 15, 1, 20, 3)),
        _PlantedProduct("ENTERPRISEPACK", 0, 12, 12, _office(11, 7, 0, 10, 2)),
    ), name="Société Générale d'Études", market="FR"),
    # Exchange 40 of 57 active in September and October (healthy), 20 in November (adopt); the annual
    # subscription, started 2023-12-17, renews on 2026-12-17: 46 days after the newest export.
    _Planted(20, ("low_usage", "name_hostile", "segment_change", "renewal_soon_low_usage"), (
        _PlantedProduct("O365_BUSINESS_PREMIUM", 60, 57, 57, _office(20, 12, 1, 15, 2), before={"EXO": 40},
                        subs=(_Sub("ACTIVE", 60, age_days=1049),)),
    ), name='=HYPERLINK("http://example.invalid","x")', market="US"),
    # 13 active users and 5 how-to tickets in the 90 days ending on processed_at (day 89 in, day 90 out).
    _Planted(23, ("free_sku", "support_heavy"), (
        _PlantedProduct("O365_BUSINESS_PREMIUM", 15, 14, 14, _office(13, 9, 1, 12, 2)),
        _PlantedProduct("FLOW_FREE", FREE_SKU_UNITS, 3, 0),
    ), tickets=((3, "How-to"), (5, "Break/fix"), (10, "how to"), (15, "Billing"),
                (25, "Question - how to share a calendar"), (40, "Incident"), (60, "Training request"),
                (89, "HowTo"), (90, "How-to"))),
    _Planted(26, ("inflated_unexplained",), (
        _PlantedProduct("O365_BUSINESS_ESSENTIALS", 10, 10, 10, _office(13, 8, 0, 11, 1)),
    )),
    # Exchange 2 of 2 active before, 0 now: -100%, but 2 seats are too few to flag.
    _Planted(29, ("tiny_account", "name_non_ascii", "trend_guarded"), (
        _PlantedProduct("O365_BUSINESS_ESSENTIALS", 2, 2, 2, _office(0, 0, 0, 0, 0), before={"EXO": 2}),
    ), name="株式会社サンプル", market="JP"),
    # Exchange 24 active of 20: 18 current users plus 6 who left inside the 28 days (see _PLANTED_ACTIVITY).
    _Planted(32, ("inflated_turnover",), (
        _PlantedProduct("O365_BUSINESS_PREMIUM", 20, 20, 20, _office(24, 17, 1, 19, 3)),
    )),
)


@dataclass(frozen=True)
class _Users:
    """Identical users of a planted activity report. Days count back from the Report Refresh Date (0 = that
    day); a (lo, hi) pair spreads the group's users over lo..hi deterministically."""
    count: int
    active: dict[str, int | tuple[int, int]] = field(default_factory=dict)  # report workload -> days ago
    licensed: bool = True             # all six workload licences; False: none and no Assigned Products
    assigned_days_ago: int = 600      # License Assign Date of every workload
    deleted_days_ago: int | None = None
    products: str = "MICROSOFT 365 BUSINESS STANDARD"


@dataclass(frozen=True)
class _PlantedActivity:
    index: int
    cases: tuple[str, ...]
    users: tuple[_Users, ...]
    concealed: bool = False           # names replaced by 32-character hex tokens (Microsoft's default)


_EMS_E5 = "MICROSOFT 365 BUSINESS STANDARD+ENTERPRISE MOBILITY + SECURITY E5"
# Per-workload active counts match the planted Partner Center rows (deleted users' activity included there).
_PLANTED_ACTIVITY: tuple[_PlantedActivity, ...] = (
    # Smith, Jones & Partners: 28 licensed; Exchange 26, SharePoint 20, Skype 3, Teams 24, Yammer 22 + 12
    # unlicensed Yammer users = Partner Center's 34; one user exactly 27 days back (active), one 28 (not).
    _PlantedActivity(3, ("activity_exact", "activity_yammer_unlicensed", "activity_window_boundaries"), (
        _Users(3, {"Exchange": (0, 6), "SharePoint": (1, 9), "Skype For Business": (2, 20), "Teams": (0, 4),
                   "Yammer": (3, 15)}),
        _Users(17, {"Exchange": (0, 5), "SharePoint": (0, 20), "OneDrive": (0, 12), "Teams": (0, 8),
                    "Yammer": (0, 25)}),
        _Users(2, {"Exchange": (1, 3), "Teams": (2, 10), "Yammer": (5, 20)}),
        _Users(2, {"Exchange": (0, 2), "Teams": (1, 14)}),
        _Users(1, {"Exchange": 27}),
        _Users(1, {"Exchange": 0}),
        _Users(1, {"Exchange": 28, "Teams": 45}),
        _Users(1),
        _Users(12, {"Yammer": (0, 20)}, licensed=False),
    )),
    # '=HYPERLINK(...)': concealed names; 57 licensed, Exchange 20, SharePoint 12 (2 via OneDrive only),
    # Skype 1, Teams 15, Yammer 2 as in Partner Center, but 22 active on some workload (Partner Center: >= 20).
    _PlantedActivity(20, ("activity_exact", "activity_concealed_names"), (
        _Users(10, {"Exchange": (0, 10), "SharePoint": (0, 20), "Teams": (0, 12)}, assigned_days_ago=900),
        _Users(2, {"Exchange": (0, 5), "OneDrive": (1, 8), "Teams": (2, 9), "Yammer": (3, 22)}, assigned_days_ago=900),
        _Users(1, {"Exchange": 4, "Skype For Business": 11, "Teams": 6}, assigned_days_ago=900),
        _Users(2, {"Teams": (0, 15)}, assigned_days_ago=900),
        _Users(7, {"Exchange": (0, 26)}, assigned_days_ago=900),
        _Users(5, {"Exchange": 28}, assigned_days_ago=900),
        _Users(20, {"Exchange": (35, 120), "Teams": (40, 200)}, assigned_days_ago=900),
        _Users(10, assigned_days_ago=900),
    ), concealed=True),
    # Turnover: 20 current users (Exchange 18, SharePoint 15, Skype 1, Teams 17, Yammer 3; 5 licences
    # assigned inside the window, one of them exactly 27 days back, one more 28 days back: outside) and
    # 7 deleted users, 6 of them active inside the window (Exchange 6, SharePoint 2, Teams 2).
    _PlantedActivity(32, ("activity_exact", "activity_deleted_active", "activity_assigned_in_window",
                          "activity_window_boundaries"), (
        _Users(4, {"Exchange": (0, 3), "SharePoint": (0, 9), "Teams": (0, 5)}, assigned_days_ago=10),
        _Users(1, {"Exchange": 1, "OneDrive": 4, "Teams": 2}, assigned_days_ago=27),
        _Users(1, {"Exchange": 2, "SharePoint": 6, "Teams": 1, "Skype For Business": 9}, assigned_days_ago=28),
        _Users(3, {"Exchange": (0, 4), "SharePoint": (0, 15), "Teams": (0, 6), "Yammer": (2, 20)}, products=_EMS_E5),
        _Users(6, {"Exchange": (0, 4), "SharePoint": (0, 15), "Teams": (0, 6)}),
        _Users(2, {"Exchange": 27, "Teams": (3, 12)}),
        _Users(1, {"Exchange": 0}),
        _Users(1, {"Exchange": 28}),
        _Users(1),
        _Users(2, {"Exchange": (13, 16), "SharePoint": (14, 20), "Teams": (13, 15)}, assigned_days_ago=500,
               deleted_days_ago=12),
        _Users(4, {"Exchange": (6, 9)}, assigned_days_ago=500, deleted_days_ago=5),
        _Users(1, {"Exchange": 61}, assigned_days_ago=800, deleted_days_ago=60),
    )),
)

# Independent random streams spawned from default_rng(seed). Every draw is a fixed number of values per
# customer (or independent of the book size), so customer i is identical in books of any size >= i + 1.
(_S_NAMES, _S_TENANT, _S_CUSTOMER, _S_CHOICE, _S_PRODUCT, _S_WORKLOAD, _S_SUB, _S_SUB_ID,
 _S_PLANTED_ID, _S_PARTNER, _S_HISTORY, _S_TICKETS, _N_STREAMS) = range(13)
_SUB_ID_COLS = 14   # raw uint64 words per customer: 3 product slots x 2 subscriptions x 2 + 1 extra x 2
_PLANTED_ID_ROWS = 64   # GUIDs reserved for planted subscriptions (fixed, so ids do not depend on n)


@dataclass(frozen=True, eq=False)
class SampleData:
    """Raw records of one synthetic book, exactly as write_sample writes them.

    deployment / usage: one column per raw field (DEPLOYMENT_FIELDS / USAGE_FIELDS), in file order.
    subscriptions: SUBSCRIPTION_FIELDS as CSV cell text (None = empty cell) except licenseCount (Int64).
    customers: index, customerTenantId, customerName, customerMarket, in generation order.
    planted: case name -> tenant ids of the customers it was planted in (every case is a key).
    activity: tenant id -> that customer's active-user detail rows, ACTIVITY_FIELDS as CSV cell text
    (None = empty cell), in file order.
    history / prices / tickets: the older snapshots, prices.csv and support-tickets.csv.
    """

    processed_at: datetime
    customers: pl.DataFrame
    deployment: pl.DataFrame
    usage: pl.DataFrame
    subscriptions: pl.DataFrame
    planted: dict[str, list[str]]
    activity: dict[str, pl.DataFrame] = field(default_factory=dict)
    # Older monthly snapshots, oldest first: (processed_at, deployment, usage) in the raw shapes above.
    history: tuple[tuple[datetime, pl.DataFrame, pl.DataFrame], ...] = ()
    prices: pl.DataFrame | None = None       # PRICE_FIELDS as CSV cell text
    tickets: pl.DataFrame | None = None      # TICKET_FIELDS as CSV cell text, in file order


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def _guids(raw: np.ndarray) -> np.ndarray:
    """Upper-case RFC 4122 version-4 GUID strings from pairs of uint64 words (shape (k, 2)), vectorised."""
    raw = np.ascontiguousarray(raw, dtype="<u8").reshape(-1, 2)
    b = raw.view(np.uint8).reshape(-1, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hexed = np.empty((len(b), 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[b >> 4]
    hexed[:, 1::2] = _HEX[b & 0x0F]
    out = np.full((len(b), 36), ord("-"), dtype=np.uint8)
    for src, dst in (((0, 8), (0, 8)), ((8, 12), (9, 13)), ((12, 16), (14, 18)),
                     ((16, 20), (19, 23)), ((20, 32), (24, 36))):
        out[:, dst[0]:dst[1]] = hexed[:, src[0]:src[1]]
    return out.view("S36").ravel().astype("U36")


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _company_names(n: int, rng: np.random.Generator) -> tuple[pl.Series, pl.Series]:
    """Unique names and their markets for customers 0..n-1 (a seeded bijection, independent of n)."""
    perm = rng.permutation(_NAME_SPACE)
    idx = np.arange(n, dtype=np.int64)
    code = perm[idx % _NAME_SPACE]
    block = idx // _NAME_SPACE
    suffix = code % len(_NAME_SUFFIXES)
    code //= len(_NAME_SUFFIXES)
    industry = code % len(_NAME_INDUSTRIES)
    code //= len(_NAME_INDUSTRIES)
    root = code % len(_NAME_ROOTS)
    prefix = code // len(_NAME_ROOTS)
    frame = pl.DataFrame({
        "prefix": pl.Series(_NAME_PREFIXES).gather(prefix),
        "root": pl.Series(_NAME_ROOTS).gather(root),
        "industry": pl.Series(_NAME_INDUSTRIES).gather(industry),
        "block": pl.Series(block),
        "suffix": pl.Series([s for s, _ in _NAME_SUFFIXES]).gather(suffix),
    })
    names = frame.select(
        pl.concat_str(
            pl.col("prefix"), pl.col("root"), pl.lit(" "), pl.col("industry"),
            pl.when(pl.col("block") > 0).then(pl.format(" {}", pl.col("block") + 1)).otherwise(pl.lit("")),
            pl.lit(" "), pl.col("suffix"),
        ).alias("name")
    ).to_series()
    markets = pl.Series("market", [m for _, m in _NAME_SUFFIXES]).gather(suffix)
    return names, markets


# ---------------------------------------------------------------------------
# Bulk generation (vectorised)
# ---------------------------------------------------------------------------
def _bulk_products(n: int, streams: list[np.random.Generator]) -> pl.DataFrame:
    """One row per customer x product: cust, seq, prod, sold, deployed, qualified, engagement."""
    cu = streams[_S_CUSTOMER].random((n, 4))
    band = np.searchsorted(_BAND_CDF, cu[:, 0], side="right")
    lo, hi = _BANDS[band, 0].astype(float), _BANDS[band, 1].astype(float)
    seats = np.floor(np.exp(np.log(lo) + cu[:, 1] * (np.log(hi + 1) - np.log(lo))))
    seats = np.clip(seats, lo, hi).astype(np.int64)
    count = 1 + (cu[:, 2:3] >= _PRODUCT_COUNT_CDF[band]).sum(axis=1)

    # Weighted draw of `count` distinct products (Efraimidis-Spirakis keys log(u)/w, largest first).
    cw = streams[_S_CHOICE].random((n, _CHOOSABLE))
    with np.errstate(divide="ignore"):
        keys = np.log(cw) / _PRODUCT_WEIGHTS[band]
    chosen = np.argsort(-keys, axis=1, kind="stable")[:, :3]
    # Dynamics is an add-on for a few users, never the seat-defining first product: swap it behind.
    crm_first = chosen[:, 0] == _P["D365_SALES_PRO"]
    chosen[crm_first, 0], chosen[crm_first, 1] = chosen[crm_first, 1], _P["D365_SALES_PRO"]
    count = np.where(crm_first, np.maximum(count, 2), count)

    pu = streams[_S_PRODUCT].random((n, 3, 5))
    frac_lo = np.where(chosen == _P["DESKLESSPACK"], 0.3, np.where(chosen == _P["D365_SALES_PRO"], 0.05, 0.1))
    frac_hi = np.where(chosen == _P["DESKLESSPACK"], 1.0, np.where(chosen == _P["D365_SALES_PRO"], 0.3, 0.5))
    frac = frac_lo + pu[:, :, 0] * (frac_hi - frac_lo)
    frac[:, 0] = 1.0
    sold = np.maximum(1, np.floor(seats[:, None] * frac + 0.5)).astype(np.int64)
    business = np.array([p.business for p in PRODUCTS[:_CHOOSABLE]])[chosen]
    sold = np.where(business, np.minimum(sold, 300), sold)
    rate = np.where(pu[:, :, 1] < 0.85, 1.0 - 0.3 * pu[:, :, 2] ** 2, 0.2 + 0.5 * pu[:, :, 2])
    deployed = np.minimum(sold, np.floor(sold * rate + 0.5)).astype(np.int64)
    qualified = (deployed - np.floor(deployed * 0.04 * pu[:, :, 3])).astype(np.int64)
    engagement = pu[:, :, 4] ** 0.6

    keep = np.arange(3)[None, :] < count[:, None]
    cust = np.broadcast_to(np.arange(n)[:, None], (n, 3))
    slot = np.broadcast_to(np.arange(3)[None, :], (n, 3))
    frame = pl.DataFrame({
        "cust": cust[keep].astype(np.int64),
        "seq": slot[keep].astype(np.int64),
        "prod": chosen[keep].astype(np.int64),
        "sold": sold[keep],
        "deployed": deployed[keep],
        "qualified": qualified[keep],
        "engagement": engagement[keep],
    })

    # A few tenants also carry the free Power Automate SKU (10000 units, a handful assigned).
    has_free = cu[:, 3] < 0.03
    free_idx = np.flatnonzero(has_free)
    free_deployed = 1 + np.floor(cu[free_idx, 3] / 0.03 * np.minimum(seats[free_idx], 40) * 0.3).astype(np.int64)
    free = pl.DataFrame({
        "cust": free_idx.astype(np.int64),
        "seq": np.full(len(free_idx), 3, dtype=np.int64),
        "prod": np.full(len(free_idx), _FLOW_FREE, dtype=np.int64),
        "sold": np.full(len(free_idx), FREE_SKU_UNITS, dtype=np.int64),
        "deployed": free_deployed,
        "qualified": np.zeros(len(free_idx), dtype=np.int64),
        "engagement": np.zeros(len(free_idx)),
    })
    return pl.concat([frame, free])


def _workload_table() -> tuple[np.ndarray, np.ndarray]:
    width = max(len(p.workloads) for p in PRODUCTS)
    table = np.full((len(PRODUCTS), width), -1, dtype=np.int64)
    for i, p in enumerate(PRODUCTS):
        table[i, :len(p.workloads)] = [_WL_INDEX[w] for w in p.workloads]
    return table, np.array([len(p.workloads) for p in PRODUCTS], dtype=np.int64)


def _bulk_usage(products: pl.DataFrame, n: int, streams: list[np.random.Generator]) -> pl.DataFrame:
    """One row per product x workload with active <= qualified (Exchange high, Skype and Yammer low)."""
    table, widths = _workload_table()
    prod = products["prod"].to_numpy()
    nw = widths[prod]
    rep = np.repeat(np.arange(len(prod)), nw)
    pos = np.arange(len(rep)) - np.repeat(np.cumsum(nw) - nw, nw)
    wl = table[prod[rep], pos]
    cust = products["cust"].to_numpy()[rep]
    seq = products["seq"].to_numpy()[rep]
    qualified = products["qualified"].to_numpy()[rep]
    e = products["engagement"].to_numpy()[rep]

    noise = streams[_S_WORKLOAD].random((n, 3, len(_OFFICE_WL)))
    z = noise[cust, np.minimum(seq, 2), pos]
    code = np.array([c for c, _ in WORKLOADS])[wl]
    rate = np.select(
        [code == "EXO", code == "SPO", code == "SFB", code == "TEAMS", code == "YAM"],
        [0.35 + 0.62 * e - 0.08 * z, 0.15 + 0.70 * e - 0.12 * z, 0.15 * e * z,
         0.25 + 0.68 * e - 0.10 * z, 0.30 * e * z],
        default=0.30 + 0.65 * e - 0.10 * z,     # CRM
    )
    active = np.minimum(qualified, np.floor(qualified * np.clip(rate, 0.0, 1.0) + 0.5)).astype(np.int64)
    return pl.DataFrame({
        "cust": cust, "seq": seq, "prod": prod[rep], "wl": wl, "wpos": pos,
        "qualified": qualified, "active": active,
    })


_SUB_SCHEMA: dict[str, PolarsDataType] = {
    "cust": pl.Int64, "seq": pl.Int64, "sub_no": pl.Int64, "prod": pl.Int64, "status": pl.String,
    "count": pl.Int64, "age_ms": pl.Int64, "term": pl.String, "auto_renew": pl.Boolean,
    "trial": pl.String, "deprov_days": pl.Int64, "id_row": pl.Int64, "id_col": pl.Int64,
}


def _bulk_subscriptions(products: pl.DataFrame, n: int, streams: list[np.random.Generator]) -> pl.DataFrame:
    """The partner's own subscriptions: one ACTIVE per sold product (some split in two, some converted
    trials) plus, for a few customers, a DEPROVISIONED subscription of a product they no longer hold."""
    su = streams[_S_SUB].random((n, 4, 6))
    paid = products.filter((pl.col("sold") > 0) & (pl.col("prod") != _FLOW_FREE))
    cust = paid["cust"].to_numpy()
    seq = paid["seq"].to_numpy()
    sold = paid["sold"].to_numpy()
    u = su[cust, seq]
    age_ms = ((30 + np.floor(u[:, 0] * 2400)) * 86_400_000 + np.floor(u[:, 1] * 86_400_000)).astype(np.int64)
    term = np.where(u[:, 2] < 0.70, "P1Y", np.where(u[:, 2] < 0.90, "P1M", "legacy"))
    split = (sold >= 10) & (u[:, 3] < 0.08)
    first = np.where(split, np.floor(sold * (0.4 + 0.4 * u[:, 4]) + 0.5), sold).astype(np.int64)
    trial = np.where(u[:, 5] < 0.03, "converted", "")
    auto = np.where(term == "legacy", u[:, 4] >= 0.5, True)   # some legacy subscriptions do not auto-renew
    base = {
        "cust": cust, "seq": seq, "prod": paid["prod"].to_numpy(), "age_ms": age_ms, "term": term,
        "auto_renew": auto, "deprov_days": np.full(len(cust), -1, dtype=np.int64),
        "id_row": cust, "status": np.full(len(cust), "ACTIVE"),
    }
    main = pl.DataFrame({**base, "sub_no": np.zeros(len(cust), dtype=np.int64), "count": first,
                         "trial": trial, "id_col": seq * 4})
    s_idx = np.flatnonzero(split)
    second = pl.DataFrame({
        **{k: v[s_idx] for k, v in base.items()},
        "sub_no": np.ones(len(s_idx), dtype=np.int64), "count": (sold - first)[s_idx],
        "trial": np.full(len(s_idx), ""), "id_col": seq[s_idx] * 4 + 2,
    }).with_columns(age_ms=pl.col("age_ms") // 3)   # the top-up was bought later

    # Churned subscription of a product the customer no longer holds (Basic, else Apps for business).
    cu = su[:, 3]
    held = np.zeros((n, len(PRODUCTS)), dtype=bool)
    held[products["cust"].to_numpy(), products["prod"].to_numpy()] = True
    candidate = np.where(~held[:, _P["O365_BUSINESS_ESSENTIALS"]], _P["O365_BUSINESS_ESSENTIALS"],
                         np.where(~held[:, _P["O365_BUSINESS"]], _P["O365_BUSINESS"], -1))
    old = np.flatnonzero((cu[:, 0] < 0.06) & (candidate >= 0))
    deprov_days = (30 + np.floor(cu[old, 1] * 300)).astype(np.int64)
    old_age_days = deprov_days + 60 + np.floor(cu[old, 2] * 1200).astype(np.int64)
    churned = pl.DataFrame({
        "cust": old.astype(np.int64), "seq": np.full(len(old), 9, dtype=np.int64),
        "prod": candidate[old].astype(np.int64),
        "age_ms": old_age_days * 86_400_000 + np.floor(cu[old, 3] * 86_400_000).astype(np.int64),
        "term": np.full(len(old), "P1Y"), "auto_renew": np.zeros(len(old), dtype=bool),
        "deprov_days": deprov_days, "id_row": old.astype(np.int64), "status": np.full(len(old), "DEPROVISIONED"),
        "sub_no": np.zeros(len(old), dtype=np.int64),
        "count": (1 + np.floor(cu[old, 4] * 20)).astype(np.int64),
        "trial": np.full(len(old), ""), "id_col": np.full(len(old), 12, dtype=np.int64),
    })
    return pl.concat([f.select([pl.col(c).cast(t) for c, t in _SUB_SCHEMA.items()]) for f in (main, second, churned)])


# ---------------------------------------------------------------------------
# Planted cases (hand-built rows that replace the bulk rows of their customers)
# ---------------------------------------------------------------------------
def _planted_frames(n: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    products, usage, subs = [], [], []
    sub_serial = 0   # counts every planted subscription, present in this book or not: ids stay stable
    for spec in _PLANTED:
        for seq, pp in enumerate(spec.products):
            prod = _P[pp.product]
            wanted = spec.index < n
            if wanted:
                products.append({"cust": spec.index, "seq": seq, "prod": prod, "sold": pp.sold,
                                 "deployed": pp.deployed, "qualified": pp.qualified, "engagement": 0.0})
                for wpos, code in enumerate(PRODUCTS[prod].workloads):
                    usage.append({"cust": spec.index, "seq": seq, "prod": prod, "wl": _WL_INDEX[code],
                                  "wpos": wpos, "qualified": pp.qualified, "active": pp.active[code],
                                  "before": pp.before.get(code, pp.active[code])})
            subs_spec = pp.subs
            if subs_spec is None:
                subs_spec = (_Sub("ACTIVE", pp.sold, age_days=400 + 37 * spec.index),) \
                    if pp.sold > 0 and prod != _FLOW_FREE else ()
            for sub_no, s in enumerate(subs_spec):
                if wanted:
                    subs.append({
                        "cust": spec.index, "seq": seq, "sub_no": sub_no, "prod": prod, "status": s.status,
                        "count": s.count, "age_ms": s.age_days * 86_400_000 + 36_900_000 + 123,
                        "term": "legacy" if s.legacy else ("trial" if s.trial else "P1Y"),
                        "auto_renew": not (s.trial or s.status != "ACTIVE"),
                        "trial": "open" if s.trial else "",
                        "deprov_days": s.deprovisioned_days_ago if s.deprovisioned_days_ago is not None else -1,
                        "id_row": sub_serial, "id_col": -1,
                    })
                sub_serial += 1
    if sub_serial > _PLANTED_ID_ROWS:
        raise AssertionError("more planted subscriptions than reserved GUIDs; raise _PLANTED_ID_ROWS")
    product_schema = {"cust": pl.Int64, "seq": pl.Int64, "prod": pl.Int64, "sold": pl.Int64,
                      "deployed": pl.Int64, "qualified": pl.Int64, "engagement": pl.Float64}
    usage_schema = {"cust": pl.Int64, "seq": pl.Int64, "prod": pl.Int64, "wl": pl.Int64, "wpos": pl.Int64,
                    "qualified": pl.Int64, "active": pl.Int64, "before": pl.Int64}
    return (pl.DataFrame(products, schema=product_schema), pl.DataFrame(usage, schema=usage_schema),
            pl.DataFrame(subs, schema=_SUB_SCHEMA))


def _activity_frame(spec: _PlantedActivity, tenant_id: str, refresh: datetime) -> pl.DataFrame:
    """A planted customer's active-user detail report as text cells (None = empty), one row per user."""
    def day(days_ago: int) -> str:
        return (refresh - timedelta(days=days_ago)).strftime("%Y-%m-%d")

    def token(kind: str, serial: int) -> str:
        return hashlib.md5(f"{kind}:{tenant_id}:{serial}".encode()).hexdigest().upper()  # 32 hex digits

    rows = []
    serial = 0
    for group in spec.users:
        for j in range(group.count):
            serial += 1
            deleted = group.deleted_days_ago is not None
            last = {}
            for workload, days in group.active.items():
                if isinstance(days, tuple):
                    lo, hi = days
                    days = lo + (j * 5) % (hi - lo + 1)
                last[workload] = day(days)
            licence = "True" if group.licensed else "False"
            assigned = day(group.assigned_days_ago) if group.licensed else None
            rows.append((
                day(0),
                token("upn", serial) if spec.concealed else f"user{serial:03d}@customer{spec.index}.onmicrosoft.com",
                token("name", serial) if spec.concealed else f"User {serial:03d}",
                "True" if deleted else "False",
                day(group.deleted_days_ago) if group.deleted_days_ago is not None else None,
                *[licence for _ in _REPORT_WORKLOADS],
                *[last.get(w) for w in _REPORT_WORKLOADS],
                *[assigned for _ in _REPORT_WORKLOADS],
                group.products if group.licensed else None,
            ))
    return pl.DataFrame(rows, schema={f: pl.String for f in ACTIVITY_FIELDS}, orient="row")


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def generate_sample(customers: int = 50, seed: int = 7,
                    processed_at: datetime = DEFAULT_PROCESSED_AT,
                    snapshots: int = DEFAULT_SNAPSHOTS) -> SampleData:
    """Build a synthetic book of `customers` tenants in memory; pure and byte-for-byte deterministic.

    Customer i (and so every planted case) is the same in any book of more than i customers with the
    same seed and processed_at. Naive processed_at values are taken as UTC. `snapshots` monthly snapshots
    of the license feeds end at processed_at (1: the newest only); the newest is the same whatever their
    number.
    """
    check_whole_number("customers", customers, minimum=1, example=50)
    check_whole_number("seed", seed, example=7)
    check_whole_number("snapshots", snapshots, minimum=1, maximum=MAX_SNAPSHOTS, example=3)
    if not isinstance(processed_at, datetime):
        raise ParameterError(f"processed_at={processed_at!r} is not a datetime; pass e.g. "
                             f"datetime(2026, 11, 1, tzinfo=timezone.utc)")
    n = int(customers)
    proc = _utc_naive(processed_at)
    streams = np.random.default_rng(int(seed)).spawn(_N_STREAMS)

    # Customers
    tenant_ids = _guids(streams[_S_TENANT].bit_generator.random_raw((n, 2)))
    name_series, market_series = _company_names(n, streams[_S_NAMES])
    names, markets = name_series.to_list(), market_series.to_list()
    for spec in _PLANTED:
        if spec.index < n and spec.name is not None:
            names[spec.index], markets[spec.index] = spec.name, spec.market
    customers_df = pl.DataFrame({
        "index": np.arange(n, dtype=np.int64),
        "customerTenantId": pl.Series(tenant_ids, dtype=pl.String),
        "customerName": pl.Series(names, dtype=pl.String),
        "customerMarket": pl.Series(markets, dtype=pl.String),
    })

    # Bulk rows, with the planted customers' rows swapped for hand-built ones.
    products = _bulk_products(n, streams)
    usage = _bulk_usage(products, n, streams)
    subs = _bulk_subscriptions(products, n, streams)
    planted_idx = [s.index for s in _PLANTED if s.index < n]
    p_products, p_usage, p_subs = _planted_frames(n)
    products = pl.concat([products.filter(~pl.col("cust").is_in(planted_idx)), p_products]) \
        .sort("cust", "seq")
    usage = pl.concat([usage.filter(~pl.col("cust").is_in(planted_idx))
                       .with_columns(before=pl.lit(None, dtype=pl.Int64)), p_usage]).sort("cust", "seq", "wpos")
    bulk_sub_ids = subs.filter(~pl.col("cust").is_in(planted_idx))
    subs_ids_raw = streams[_S_SUB_ID].bit_generator.random_raw((n, _SUB_ID_COLS))
    planted_ids_raw = streams[_S_PLANTED_ID].bit_generator.random_raw((_PLANTED_ID_ROWS, 2))
    bulk_sub_guids = _guids(np.stack([
        subs_ids_raw[bulk_sub_ids["id_row"].to_numpy(), bulk_sub_ids["id_col"].to_numpy()],
        subs_ids_raw[bulk_sub_ids["id_row"].to_numpy(), bulk_sub_ids["id_col"].to_numpy() + 1],
    ], axis=1))
    planted_sub_guids = _guids(planted_ids_raw[p_subs["id_row"].to_numpy()])
    subs = pl.concat([
        bulk_sub_ids.with_columns(id=pl.Series(bulk_sub_guids, dtype=pl.String)),
        p_subs.with_columns(id=pl.Series(planted_sub_guids, dtype=pl.String)),
    ]).sort("cust", "seq", "sub_no")
    partner_id = str(_guids(streams[_S_PARTNER].bit_generator.random_raw((1, 2)))[0])

    # Raw string columns
    ids = customers_df["customerTenantId"]
    cnames = customers_df["customerName"]
    p_guid = pl.Series([p.guid.upper() for p in PRODUCTS])
    p_name = pl.Series([p.name for p in PRODUCTS])
    p_service = pl.Series([p.service for p in PRODUCTS])
    p_service_name = pl.Series([SERVICES[p.service] for p in PRODUCTS])
    processed_text = proc.strftime("%Y-%m-%dT%H:%M:%S")

    def common(frame: pl.DataFrame) -> dict[str, pl.Series]:
        prod, cust = frame["prod"], frame["cust"]
        return {
            "serviceCode": p_service.gather(prod),
            "serviceName": p_service_name.gather(prod),
            "customerTenantId": ids.gather(cust),
            "customerName": cnames.gather(cust),
            "productId": p_guid.gather(prod),
            "productName": p_name.gather(prod),
        }

    constants = {"processedDateTime": pl.lit(processed_text), "channel": pl.lit("reseller")}
    deployment = pl.DataFrame({
        **common(products),
        "licensesDeployed": products["deployed"],
        "licensesSold": products["sold"],
    }).with_columns(**constants)
    wl_code = pl.Series([c for c, _ in WORKLOADS])
    wl_name = pl.Series([w for _, w in WORKLOADS])
    usage_df = pl.DataFrame({
        **common(usage),
        "workloadCode": wl_code.gather(usage["wl"]),
        "workloadName": wl_name.gather(usage["wl"]),
        "licensesActive": usage["active"],
        "licensesQualified": usage["qualified"],
    }).with_columns(**constants)
    subscriptions = _subscription_rows(subs, customers_df, proc, partner_id)
    specs: tuple[_Planted | _PlantedActivity, ...] = (*_PLANTED, *_PLANTED_ACTIVITY)
    planted = {case: [str(tenant_ids[s.index]) for s in specs
                      if case in s.cases and s.index < n]
               for case in PLANTED_CASES}
    refresh = proc.replace(hour=0, minute=0, second=0, microsecond=0)  # Report Refresh Date = processed day
    activity = {str(tenant_ids[a.index]): _activity_frame(a, str(tenant_ids[a.index]), refresh)
                for a in _PLANTED_ACTIVITY if a.index < n}
    history = []
    for months_back, active in enumerate(_older_active(usage, n, streams[_S_HISTORY], int(snapshots)), start=1):
        stamp = pl.lit(_months_before(proc, months_back).strftime("%Y-%m-%dT%H:%M:%S"))
        history.append((_months_before(proc, months_back).replace(tzinfo=timezone.utc),
                        deployment.with_columns(processedDateTime=stamp).select(DEPLOYMENT_FIELDS),
                        usage_df.with_columns(processedDateTime=stamp, licensesActive=active).select(USAGE_FIELDS)))
    return SampleData(processed_at=proc.replace(tzinfo=timezone.utc), customers=customers_df,
                      deployment=deployment.select(DEPLOYMENT_FIELDS), usage=usage_df.select(USAGE_FIELDS),
                      subscriptions=subscriptions, planted=planted, activity=activity,
                      history=tuple(reversed(history)), prices=_price_rows(),
                      tickets=_ticket_rows(n, ids, proc, streams[_S_TICKETS]))


def _months_before(value: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the day clamped to the month's length)."""
    year, month = divmod(value.year * 12 + value.month - 1 - months, 12)
    month += 1
    days = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31,
            30, 31, 30, 31][month - 1]
    return value.replace(year=year, month=month, day=min(value.day, days))


def _older_active(usage: pl.DataFrame, n: int, stream: np.random.Generator, snapshots: int) -> list[pl.Series]:
    """licensesActive of each older snapshot (1 month back first), row for row with `usage`.

    Bulk rows walk back one month at a time: previous = clip(next + round(v x qualified), 0, qualified) with
    v uniform in +-HISTORY_NOISE, drawn per customer x product slot x workload position from a child stream
    per month (so customer i and month k are the same in any book). Planted rows take their `before` value.
    """
    if snapshots <= 1:
        return []
    cust, seq, wpos = (usage[c].to_numpy() for c in ("cust", "seq", "wpos"))
    qualified = usage["qualified"].to_numpy()
    planted = usage["before"].is_not_null().to_numpy()
    before = usage["before"].fill_null(0).to_numpy()
    active = usage["active"].to_numpy()
    out = []
    for month in stream.spawn(snapshots - 1):
        u = month.random((n, 3, len(_OFFICE_WL)))[cust, np.minimum(seq, 2), wpos]
        delta = np.round((u - 0.5) * 2 * HISTORY_NOISE * qualified).astype(np.int64)
        active = np.where(planted, before, np.clip(active + delta, 0, qualified))
        out.append(pl.Series("licensesActive", active, dtype=pl.Int64))
    return out


def _price_rows() -> pl.DataFrame:
    """prices.csv: the catalogue's priced products (marketing names, as a partner's price list would have)."""
    rows = [(p.guid.upper(), p.friendly, PRICES[p.key], PRICE_CURRENCY) for p in PRODUCTS if p.key in PRICES]
    return pl.DataFrame(rows, schema={f: pl.String for f in PRICE_FIELDS}, orient="row")


def _ticket_rows(n: int, tenant_ids: pl.Series, proc: datetime, stream: np.random.Generator) -> pl.DataFrame:
    """support-tickets.csv: planted customers' tickets as specified (dates YYYY-MM-DD); for 40% of the
    others 0-2 tickets over the last 120 days (date-times), so that no bulk customer has 3 how-to tickets."""
    day = proc.replace(hour=0, minute=0, second=0, microsecond=0)
    t = stream.random((n, 7))
    planted = {spec.index: spec for spec in _PLANTED if spec.index < n}
    rows = []
    for cust in range(n):
        tenant = tenant_ids[cust]
        if cust in planted:
            for number, (days_ago, category) in enumerate(planted[cust].tickets, start=1):
                rows.append((tenant, f"INC-{cust:05d}-P{number:02d}",
                             (day - timedelta(days=days_ago)).strftime("%Y-%m-%d"), category))
            continue
        count = int(t[cust, 0] * 3) if t[cust, 1] < 0.4 else 0
        for number in range(count):
            category = _TICKET_CATEGORIES[int(np.searchsorted(_TICKET_CDF, t[cust, 2 + number], side="right"))]
            opened = day - timedelta(days=int(t[cust, 4 + number] * 120)) + timedelta(hours=8 + int(t[cust, 6] * 10),
                                                                                     minutes=17 * number)
            rows.append((tenant, f"INC-{cust:05d}-{number + 1}", opened.strftime("%Y-%m-%dT%H:%M:00Z"), category))
    return pl.DataFrame(rows, schema={f: pl.String for f in TICKET_FIELDS}, orient="row")


def _subscription_rows(subs: pl.DataFrame, customers: pl.DataFrame, proc: datetime,
                       partner_id: str) -> pl.DataFrame:
    """Render the internal subscription frame into the subscription-analytics columns (text cells)."""
    day = "%Y-%m-%dT%H:%M:%S"
    p = pl.lit(proc)
    frame = subs.with_columns(
        created=p - pl.duration(milliseconds=pl.col("age_ms")),
    ).with_columns(
        effective=pl.col("created").dt.truncate("1d"),
    ).with_columns(
        age_days=((p - pl.col("effective")).dt.total_days()),
    )
    # Next anniversary after processed_at: whole terms elapsed + 1 (and one more if that lands on/before it).
    years = (pl.col("age_days") // 365 + 1).cast(pl.Int64)
    months = (pl.col("age_days") * 12 // 365 + 1).cast(pl.Int64)
    end_y = pl.col("effective").dt.offset_by(pl.format("{}y", years))
    end_y2 = pl.col("effective").dt.offset_by(pl.format("{}y", years + 1))
    end_m = pl.col("effective").dt.offset_by(pl.format("{}mo", months))
    end_m2 = pl.col("effective").dt.offset_by(pl.format("{}mo", months + 1))
    trial_start = pl.col("effective")
    trial_end = pl.col("effective") + pl.duration(days=30)
    deprov = (p - pl.duration(days=pl.col("deprov_days"))).dt.truncate("1d")
    frame = frame.with_columns(
        commitment=pl.when(pl.col("status") == "DEPROVISIONED").then(deprov.dt.strftime(day))
        .when(pl.col("term") == "legacy").then(pl.lit(NO_COMMITMENT_END))
        .when(pl.col("term") == "trial").then(trial_end.dt.strftime(day))
        .when(pl.col("term") == "P1M").then(pl.when(end_m > p).then(end_m).otherwise(end_m2).dt.strftime(day))
        .otherwise(pl.when(end_y > p).then(end_y).otherwise(end_y2).dt.strftime(day)),
        trialStartDate=pl.when(pl.col("trial") == "open").then(trial_start.dt.strftime(day))
        .when(pl.col("trial") == "converted").then((pl.col("effective") - pl.duration(days=30)).dt.strftime(day)),
        trialEndDate=pl.when(pl.col("trial") == "open").then(trial_end.dt.strftime(day))
        .when(pl.col("trial") == "converted").then(pl.col("effective").dt.strftime(day)),
        trialToPaidConversionDate=pl.when(pl.col("trial") == "converted")
        .then(pl.col("effective").dt.strftime(day)),
        deprovisionedDate=pl.when(pl.col("status") == "DEPROVISIONED").then(deprov.dt.strftime(day)),
    )
    cust = frame["cust"]
    prod = frame["prod"]
    friendly = pl.Series([p.friendly for p in PRODUCTS]).gather(prod)
    friendly = pl.select(pl.when(pl.Series(frame["trial"] == "open"))
                         .then(pl.concat_str(pl.lit(friendly), pl.lit(" Trial")))
                         .otherwise(pl.lit(friendly))).to_series()
    out = pl.DataFrame({
        "customerTenantId": customers["customerTenantId"].gather(cust),
        "customerName": customers["customerName"].gather(cust),
        "customerMarket": customers["customerMarket"].gather(cust),
        "id": frame["id"],
        "status": frame["status"],
        "productName": pl.Series([p.name for p in PRODUCTS]).gather(prod),
        "subscriptionType": pl.Series([p.subscription_type for p in PRODUCTS]).gather(prod),
        "autoRenewEnabled": pl.select(pl.when(pl.lit(frame["auto_renew"])).then(pl.lit("true"))
                                      .otherwise(pl.lit("false"))).to_series(),
        "friendlyName": friendly,
        "creationDate": frame["created"].dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"),
        "effectiveStartDate": frame["effective"].dt.strftime(day),
        "commitmentEndDate": frame["commitment"],
        "trialStartDate": frame["trialStartDate"],
        "trialEndDate": frame["trialEndDate"],
        "trialToPaidConversionDate": frame["trialToPaidConversionDate"],
        "deprovisionedDate": frame["deprovisionedDate"],
        "licenseCount": frame["count"],
    }).with_columns(partnerId=pl.lit(partner_id))
    return out.select(SUBSCRIPTION_FIELDS)


def _page_json(chunk: pl.DataFrame, next_link: str | None) -> bytes:
    """One analytics API page: {"Value": [...], "@nextLink": ..., "TotalCount": n}, one record a line."""
    records = chunk.write_ndjson().rstrip("\n").replace("\n", ",\n") if chunk.height else ""
    body = "\n".join((
        '{"Value": [',
        records,
        f'], "@nextLink": {json.dumps(next_link)}, "TotalCount": {chunk.height}}}',
    )) if records else f'{{"Value": [], "@nextLink": {json.dumps(next_link)}, "TotalCount": 0}}'
    return (body + "\n").encode("utf-8")


def _write_pages(frame: pl.DataFrame, out_dir: Path, pattern: str, endpoint: str,
                 page_size: int) -> list[Path]:
    pages = max(1, math.ceil(frame.height / page_size))
    written = []
    for page in range(pages):
        chunk = frame.slice(page * page_size, page_size)
        next_link = (f"{API_BASE}/{endpoint}?top={page_size}&skip={(page + 1) * page_size}"
                     if page + 1 < pages else None)
        path = out_dir / pattern.format(page + 1)
        path.write_bytes(_page_json(chunk, next_link))
        written.append(path)
    return written


def write_sample(out_dir: Path | str, *, customers: int = 50, seed: int = 7,
                 processed_at: datetime = DEFAULT_PROCESSED_AT,
                 page_size: int = DEFAULT_PAGE_SIZE, snapshots: int = DEFAULT_SNAPSHOTS) -> list[Path]:
    """Write a synthetic book as raw exports into out_dir and return the written files, sorted.

    Files: license-deployment-page-N.json and license-usage-page-N.json (analytics API pages of at most
    page_size rows, chained by @nextLink), subscriptions.csv (subscription analytics columns, UTF-8,
    csv.QUOTE_MINIMAL) and, for the planted activity customers, activity/<TENANT-ID>/ActiveUserDetail.csv
    (Microsoft 365 active-user detail: UTF-8 with BOM, True/False, empty cells for null). The older
    monthly snapshots (`snapshots` - 1 of them) are license-{deployment,usage}-YYYY-MM-page-N.json;
    prices.csv and support-tickets.csv are the kit-defined inputs (UTF-8, csv.QUOTE_MINIMAL). Stale page
    files, subscriptions.csv, prices.csv, support-tickets.csv and activity reports from an earlier run in
    out_dir are removed first so a folder never mixes two books; other files are left alone.
    """
    check_whole_number("page_size", page_size, minimum=1, maximum=MAX_PAGE_SIZE, example=10000)
    data = generate_sample(customers, seed, processed_at, snapshots)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out} is a file, not a folder; give a folder path for the sample")
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("license-deployment-page-*.json"), *out.glob("license-usage-page-*.json"),
                  *out.glob("license-deployment-*-page-*.json"), *out.glob("license-usage-*-page-*.json"),
                  *out.glob(SUBSCRIPTIONS_FILE), *out.glob(PRICES_FILE), *out.glob(TICKETS_FILE),
                  *out.glob(f"{ACTIVITY_DIR}/*/{ACTIVITY_FILE}")):
        stale.unlink()
    for folder in sorted(out.glob(f"{ACTIVITY_DIR}/*"), reverse=True) + [out / ACTIVITY_DIR]:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    written = _write_pages(data.deployment, out, DEPLOYMENT_FILE, "deployment/license", int(page_size))
    written += _write_pages(data.usage, out, USAGE_FILE, "usage/license", int(page_size))
    for older, deployment, usage in data.history:
        month = f"{older:%Y-%m}"
        written += _write_pages(deployment, out, HISTORY_DEPLOYMENT_FILE.format(month=month), "deployment/license",
                                int(page_size))
        written += _write_pages(usage, out, HISTORY_USAGE_FILE.format(month=month), "usage/license", int(page_size))
    for name, fields, frame in ((PRICES_FILE, PRICE_FIELDS, data.prices), (TICKETS_FILE, TICKET_FIELDS, data.tickets)):
        path = out / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
            writer.writerow(fields)
            assert frame is not None   # generate() always builds both tables
            writer.writerows(frame.iter_rows())
        written.append(path)
    subs_path = out / SUBSCRIPTIONS_FILE
    with subs_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(SUBSCRIPTION_FIELDS)
        writer.writerows(data.subscriptions.iter_rows())
    written.append(subs_path)
    for tenant_id, frame in data.activity.items():
        path = out / ACTIVITY_DIR / tenant_id / ACTIVITY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
            writer.writerow(ACTIVITY_FIELDS)
            writer.writerows(frame.iter_rows())
        written.append(path)
    return sorted(written)
