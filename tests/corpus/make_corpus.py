"""Write the malformed and hostile input corpus (one folder per case) deterministically: `python tests/corpus/make_corpus.py`.

The expected outcome of each case is in cases.toml (hand-written, with the reason); tests/inputs/test_corpus.py runs
every case through the CLI and checks that this script still writes exactly the committed bytes.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import zipfile
import sys
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent

# Tenants and products (productIds are real SKU GUIDs from Microsoft's licensing CSV).
T1 = "0112A436-B14E-4888-967B-CA4BB2CF1234"
T2 = "5D8C9E21-3F4A-4B6C-8D7E-9F0A1B2C3D4E"
E3 = "6FD2C87F-B296-42F0-B197-1E91E994B900"          # OFFICE 365 ENTERPRISE E3
BUSINESS = "CDD28E44-67E3-425E-BE4C-737FAB2899D3"    # OFFICE 365 BUSINESS
PROCESSED = "2026-11-01T00:00:00"

DEPLOYMENT_FIELDS = ("processedDateTime", "serviceCode", "serviceName", "channel", "customerTenantId",
                     "customerName", "productId", "productName", "licensesDeployed", "licensesSold")
USAGE_FIELDS = ("processedDateTime", "serviceCode", "serviceName", "channel", "customerTenantId", "customerName",
                "productId", "productName", "workloadCode", "workloadName", "licensesActive", "licensesQualified")
SUBSCRIPTION_FIELDS = ("customerTenantId", "customerName", "customerMarket", "id", "status", "productName",
                       "subscriptionType", "autoRenewEnabled", "partnerId", "friendlyName", "creationDate",
                       "effectiveStartDate", "commitmentEndDate", "trialStartDate", "trialEndDate",
                       "trialToPaidConversionDate", "deprovisionedDate", "licenseCount")
ACTIVITY_WORKLOADS = ("Exchange", "OneDrive", "SharePoint", "Skype For Business", "Yammer", "Teams")
ACTIVITY_FIELDS = ("Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
                   *[f"Has {w} License" for w in ACTIVITY_WORKLOADS],
                   *[f"{w} Last Activity Date" for w in ACTIVITY_WORKLOADS],
                   *[f"{w} License Assign Date" for w in ACTIVITY_WORKLOADS],
                   "Assigned Products")


# ---------------------------------------------------------------------------
# Records of a small valid book: T1 "Contoso Ltd" (E3: sold 10, deployed 8; Exchange 6/8, SharePoint 4/8)
# and T2 "Fabrikam GmbH" (Business: sold 5, deployed 5; Exchange 5/5).
# ---------------------------------------------------------------------------
def deployment(tenant: str = T1, **overrides) -> dict:
    base = {"processedDateTime": PROCESSED, "serviceCode": "o365", "serviceName": "Microsoft Office 365",
            "channel": "reseller", "customerTenantId": tenant, "customerName": "Contoso Ltd",
            "productId": E3, "productName": "OFFICE 365 ENTERPRISE E3", "licensesDeployed": 8, "licensesSold": 10}
    if tenant == T2:
        base.update(customerName="Fabrikam GmbH", productId=BUSINESS, productName="OFFICE 365 BUSINESS",
                    licensesDeployed=5, licensesSold=5)
    base.update(overrides)
    return base


def usage(tenant: str = T1, workload: str = "EXO", **overrides) -> dict:
    names = {"EXO": "Exchange", "SPO": "SharePoint", "SFB": "Skype For Business", "YAM": "Yammer"}
    active = {"EXO": 6, "SPO": 4, "SFB": 1, "YAM": 9}[workload]
    base = {key: value for key, value in deployment(tenant).items() if not key.startswith("licenses")}
    base.update(workloadCode=workload, workloadName=names[workload], licensesActive=active, licensesQualified=8)
    if tenant == T2:
        base.update(licensesActive=5, licensesQualified=5)
    base.update(overrides)
    return base


def book_deployment() -> list[dict]:
    return [deployment(T1), deployment(T2)]


def book_usage() -> list[dict]:
    return [usage(T1, "EXO"), usage(T1, "SPO"), usage(T2, "EXO")]


def subscription(tenant: str = T1, **overrides) -> dict:
    base = {"customerTenantId": tenant, "customerName": "Contoso Ltd", "customerMarket": "GB",
            "id": "5F6CC7C7-69A8-4A95-8E81-D63C178E351F", "status": "ACTIVE", "productName": "OFFICE 365 ENTERPRISE E3",
            "subscriptionType": "Office", "autoRenewEnabled": "true", "partnerId": "1234567",
            "friendlyName": "Office 365 E3", "creationDate": "2025-01-01T00:00:00",
            "effectiveStartDate": "2025-01-01T00:00:00", "commitmentEndDate": "2027-01-01T00:00:00",
            "trialStartDate": "", "trialEndDate": "", "trialToPaidConversionDate": "", "deprovisionedDate": "",
            "licenseCount": "10"}
    base.update(overrides)
    return base


def activity_user(n: int, **overrides) -> dict:
    """One licensed, active user of T1 on the Report Refresh Date 2026-11-01."""
    row = {"Report Refresh Date": "2026-11-01", "User Principal Name": f"user{n:03d}@contoso.onmicrosoft.com",
           "Display Name": f"User {n:03d}", "Is Deleted": "False", "Deleted Date": ""}
    for w in ACTIVITY_WORKLOADS:
        row[f"Has {w} License"] = "True"
        row[f"{w} Last Activity Date"] = "2026-10-30" if w in ("Exchange", "Teams") else ""
        row[f"{w} License Assign Date"] = "2025-03-11"
    row["Assigned Products"] = "OFFICE 365 E3"
    row.update(overrides)
    return row


# ---------------------------------------------------------------------------
# Serialisers
# ---------------------------------------------------------------------------
def page(records: list, envelope: str = "Value", *, indent: int | None = None) -> bytes:
    if envelope == "items":
        document: object = {"totalCount": len(records), "items": records, "attributes": {"objectType": "Collection"}}
    elif envelope == "bare":
        document = records
    else:
        document = {envelope: records, "@nextLink": None, "TotalCount": len(records)}
    return json.dumps(document, indent=indent, ensure_ascii=False).encode("utf-8")


def table(records: list[dict], fields: tuple[str, ...] | None = None, *, delimiter: str = ",",
          quote_all: bool = False, header: list[str] | None = None) -> str:
    """Records as delimited text with CRLF line ends (as Excel and PowerShell write them)."""
    fields = fields or tuple(records[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n",
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(header or list(fields))
    for record in records:
        writer.writerow(["" if record.get(f) is None else record.get(f) for f in fields])
    return buffer.getvalue()


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


def valid_usage() -> dict[str, bytes]:
    return {"usage.json": page(book_usage())}


def valid_deployment() -> dict[str, bytes]:
    return {"deployment.json": page(book_deployment())}


def valid_book() -> dict[str, bytes]:
    return {**valid_deployment(), **valid_usage()}


def activity_path(tenant: str = T1) -> str:
    return f"activity/{tenant}/ActiveUserDetail.csv"


def activity(rows: list[dict], fields: tuple[str, ...] = ACTIVITY_FIELDS) -> bytes:
    return b"\xef\xbb\xbf" + utf8(table(rows, fields))     # Microsoft 365 admin center CSVs carry a BOM


# ---------------------------------------------------------------------------
# The cases: name -> files (path relative to the case folder -> bytes). Expected outcomes: cases.toml.
# ---------------------------------------------------------------------------
CASES: dict[str, Callable[[], dict[str, bytes]]] = {}


def case(function: Callable[[], dict[str, bytes]]) -> Callable[[], dict[str, bytes]]:
    CASES[function.__name__] = function
    return function


# --- whole files -------------------------------------------------------------------------------------
@case
def empty_file():
    return {**valid_usage(), "deployment.csv": b""}


@case
def whitespace_only_file():
    return {**valid_usage(), "deployment.csv": b"\r\n  \r\n\t\r\n"}


@case
def header_only_csv():
    return {**valid_usage(), "deployment.csv": utf8(table([], DEPLOYMENT_FIELDS))}


@case
def header_only_book():
    return {"deployment.csv": utf8(table([], DEPLOYMENT_FIELDS)), "usage.csv": utf8(table([], USAGE_FIELDS))}


@case
def binary_junk():
    return {**valid_book(), "usage-export.csv": bytes((i * 37 + 11) % 256 for i in range(2048))}


@case
def xlsx_saved_as_csv():
    # A workbook (a zip file: "PK\x03\x04" and binary headers) given a .csv name.
    return {**valid_usage(), "deployment.csv": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(200))}


@case
def truncated_json():
    text = page(book_deployment(), indent=1)
    return {**valid_usage(), "deployment.json": text[: len(text) * 2 // 3]}


@case
def wrong_envelope_json():
    return {**valid_usage(), "deployment.json": json.dumps({"data": book_deployment()}).encode()}


@case
def json_list_of_strings():
    return {**valid_usage(), "deployment.json": json.dumps({"Value": ["a", "b"]}).encode()}


@case
def items_envelope_json():
    return {"deployment.json": page(book_deployment(), "items"), "usage.json": page(book_usage(), "bare")}


@case
def no_export_files():
    return {"README.md": b"# exports go here\n", "notes.xlsx": b"PK\x03\x04"}


@case
def json_scalar():
    return {**valid_usage(), "deployment.json": b"42\n"}


@case
def json_nested_very_deep():
    return {**valid_usage(), "deployment.json": b'{"Value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"}


@case
def json_repeated_key():
    record = json.dumps(deployment(T1), ensure_ascii=False)[:-1] + ', "licensesSold": 99}'
    return {**valid_usage(), "deployment.json": ('{"Value": [' + record + ", " + json.dumps(deployment(T2)) + "]}").encode()}


@case
def json_keys_differ_only_in_case():
    rows = [{**deployment(T1), "LicensesSold": 99}, {**deployment(T2), "LicensesSold": 99}]
    return {**valid_usage(), "deployment.json": page(rows)}


@case
def json_nan_count():
    text = json.dumps({"Value": [deployment(T1, licensesSold=float("nan")), deployment(T2)]})
    return {**valid_usage(), "deployment.json": text.encode()}


@case
def zero_customer_portfolio():
    return {"deployment.json": page([]), "usage-page-1.json": page([]), "usage-page-2.json": page([], "items")}


@case
def one_customer_portfolio():
    return {"deployment.json": page([deployment(T1)]), "usage.json": page([usage(T1, "EXO"), usage(T1, "SPO")])}


@case
def unknown_file_kind():
    return {**valid_book(), "notes.csv": utf8("Customer,Comment\r\nContoso,call back\r\n")}


@case
def insights_office_beside_rest():
    text = table([{"CustomerTenantId": T1, "WorkloadName": "Exchange", "Month": "2026-10", "PaidAvailableUnits": 8,
                   "MonthlyActiveUsers": 6, "CustomerName": "Contoso Ltd"}], delimiter="\t")
    return {**valid_book(), "OfficeUsage.tsv": utf8(text)}


# --- Insights downloads (exports.md 1.6) ------------------------------------------------------------
OFFICE_FIELDS = ("CustomerTenantId", "CustomerTpid", "WorkloadName", "Month", "PaidAvailableUnits",
                 "MonthlyActiveUsers", "CustomerName", "CustomerMarket", "CustomerSegment", "MPNId", "PartnerName",
                 "PartnerLocation", "PartnerAttributionType", "IsDuplicateRowForPGA")
DYNAMICS_FIELDS = ("SubscriptionId", "SubscriptionStartDate", "SubscriptionEndDate", "SubscriptionStatus", "Month",
                   "RevSumDivisionName", "RevSumCategoryName", "SKU", "SKUId", "FreeVsPaidSKU", "SalesModel",
                   "DetailedSalesModel", "CustomerName", "CustomerTenantId", "CustomerTpid", "CustomerSegment",
                   "CustomerMarket", "MPNId", "PartnerName", "PartnerLocation", "PartnerAttachType", "AvailableSeats",
                   "AssignedSeats", "ActiveSeats", "DeploymentOpportunity", "ActiveUsagePercent")
SALES = "1E1A282C-9C54-43A2-9310-98EF728FAACE"   # a Dynamics SKUId (any id: the kit only groups by it)


def office_row(workload: str, pau: int, mau: int, month: str = "2026-10", tenant: str = T1, **overrides) -> dict:
    row = {"CustomerTenantId": tenant, "CustomerTpid": "1001", "WorkloadName": workload, "Month": month,
           "PaidAvailableUnits": pau, "MonthlyActiveUsers": mau, "CustomerName": "Contoso Ltd",
           "CustomerMarket": "GB", "CustomerSegment": "SMB", "MPNId": "1234567", "PartnerName": "Example Partner",
           "PartnerLocation": "GB", "PartnerAttributionType": "Transacting", "IsDuplicateRowForPGA": "False"}
    row.update(overrides)
    return row


def office_book() -> list[dict]:
    # T1 in October: Exchange 6/8, SharePoint 3/8 and OneDrive 5/7 (one SharePoint row: 5/8), Yammer 12/8
    return [office_row("Exchange Online", 8, 6), office_row("SharePoint", 8, 3), office_row("OneDrive", 7, 5),
            office_row("Yammer", 8, 12)]


def dynamics_row(subscription: str, status: str, available: int, assigned: int, active: int, **overrides) -> dict:
    row = dict.fromkeys(DYNAMICS_FIELDS, "")
    row.update(SubscriptionId=subscription, SubscriptionStartDate="2025-01-01", SubscriptionEndDate="2027-01-01",
               SubscriptionStatus=status, Month="2026-10-01T00:00:00", SKU="Dynamics 365 Sales Enterprise",
               SKUId=SALES, FreeVsPaidSKU="Paid", CustomerName="Fabrikam GmbH", CustomerTenantId=T2,
               AvailableSeats=available, AssignedSeats=assigned, ActiveSeats=active, ActiveUsagePercent="99")
    row.update(overrides)
    return row


@case
def insights_office_only():
    rows = office_book() + [office_row("Exchange Online", 8, 6, IsDuplicateRowForPGA="True", PartnerLocation="US")]
    return {"OfficeUsage.tsv": utf8(table(rows, OFFICE_FIELDS, delimiter="\t"))}


@case
def insights_bad_month():
    rows = [office_row("Exchange Online", 8, 6, month="Oct 2026"), office_row("SharePoint", 8, 3, month="2026-13")]
    return {"OfficeUsage.tsv": utf8(table(rows, OFFICE_FIELDS, delimiter="\t"))}


@case
def insights_missing_column():
    fields = tuple(f for f in OFFICE_FIELDS if f != "MonthlyActiveUsers")
    return {"OfficeUsage.csv": utf8(table(office_book(), fields))}


@case
def insights_overlap_conflict():
    later = [office_row("Exchange Online", 8, 7)]
    return {"OfficeUsage-1.tsv": utf8(table(office_book(), OFFICE_FIELDS, delimiter="\t")),
            "OfficeUsage-2.csv": utf8(table(later + office_book()[1:], OFFICE_FIELDS))}


@case
def insights_overlap_identical():
    return {"OfficeUsage-1.tsv": utf8(table(office_book(), OFFICE_FIELDS, delimiter="\t")),
            "OfficeUsage-2.tsv": utf8(table(office_book()[:2], OFFICE_FIELDS, delimiter="\t"))}


@case
def dynamics_grace_period_beside_active():
    # 10 + 5 available, 9 + 0 assigned, 12 + 4 active: usage 16/15 over 100%, with the grace-period copy
    rows = [dynamics_row("A1", "Active", 10, 9, 12), dynamics_row("A2", "In Grace Period", 5, 0, 4)]
    return {"DynamicsUsage.csv": utf8(table(rows, DYNAMICS_FIELDS))}


@case
def dynamics_negative_seats():
    rows = [dynamics_row("A1", "Active", 10, -1, 2), dynamics_row("A2", "Suspended?", 5, 0, 1)]
    return {"DynamicsUsage.csv": utf8(table(rows, DYNAMICS_FIELDS))}


# --- columns ---------------------------------------------------------------------------------------
@case
def missing_required_column():
    fields = tuple(f for f in DEPLOYMENT_FIELDS if f != "licensesSold")
    return {**valid_usage(), "deployment.csv": utf8(table(book_deployment(), fields))}


@case
def duplicated_column():
    header = list(DEPLOYMENT_FIELDS) + ["LicensesSold"]
    rows = [{**r, "extra": r["licensesSold"]} for r in book_deployment()]
    return {**valid_usage(), "deployment.csv": utf8(table(rows, DEPLOYMENT_FIELDS + ("extra",), header=header))}


@case
def renamed_column_typo():
    header = [("licensesQualifed" if f == "licensesQualified" else f) for f in USAGE_FIELDS]
    return {**valid_deployment(), "usage.csv": utf8(table(book_usage(), USAGE_FIELDS, header=header))}


@case
def header_case_spacing_and_alias():
    # PowerShell Export-Csv: #TYPE line, PascalCase, every cell quoted; "licenseActive" is a documented alias.
    header = ["Processed Date Time", "ServiceCode", "SERVICE_NAME", "Channel", "Customer Tenant Id", "CustomerName",
              "ProductId", "ProductName", "WorkloadCode", "WorkloadName", "licenseActive", "LicensesQualified"]
    text = "#TYPE Selected.System.Management.Automation.PSCustomObject\r\n" + \
        table(book_usage(), USAGE_FIELDS, quote_all=True, header=header)
    return {**valid_deployment(), "usage.csv": utf8(text)}


@case
def trailing_delimiter_empty_column():
    text = "".join(line + ",\r\n" for line in table(book_deployment(), DEPLOYMENT_FIELDS).splitlines())
    return {**valid_usage(), "deployment.csv": utf8(text)}


@case
def blank_and_empty_rows():
    # Blank lines and the ",,,," lines a spreadsheet leaves after the data.
    lines = table(book_deployment(), DEPLOYMENT_FIELDS).split("\r\n")
    text = "\r\n".join([lines[0], lines[1], "", lines[2], ",,,,,,,,,", ",,,,,,,,,", ""])
    return {**valid_usage(), "deployment.csv": utf8(text)}


@case
def cr_only_line_endings():
    # Excel for Mac's "CSV (Macintosh)": lines end with a lone CR.
    return {**valid_usage(), "deployment.csv": utf8(table(book_deployment(), DEPLOYMENT_FIELDS).replace("\r\n", "\r"))}


@case
def ragged_row():
    text = table(book_deployment(), DEPLOYMENT_FIELDS) + f"{PROCESSED},o365,x,reseller,{T2},Extra,{E3},E3,1,2,3,4\r\n"
    return {**valid_usage(), "deployment.csv": utf8(text)}


# --- counts ----------------------------------------------------------------------------------------
@case
def count_is_text():
    return {**valid_deployment(), "usage.csv": utf8(table([usage(T1, "EXO", licensesActive="six"), usage(T1, "SPO"),
                                                           usage(T2, "EXO")], USAGE_FIELDS))}


@case
def count_is_decimal():
    return {**valid_usage(), "deployment.json": page([deployment(T1, licensesSold=10.5), deployment(T2)])}


@case
def count_whole_decimal_and_plus():
    # 10.0 and +8 are the whole numbers 10 and 8 (a spreadsheet's number formatting): accepted.
    return {**valid_usage(), "deployment.csv": utf8(table([deployment(T1, licensesSold="10.0", licensesDeployed="+8"),
                                                           deployment(T2)], DEPLOYMENT_FIELDS))}


@case
def count_thousands_separator():
    return {**valid_usage(), "deployment.csv": utf8(table([deployment(T1, licensesSold="1,200", licensesDeployed="1,100"),
                                                           deployment(T2)], DEPLOYMENT_FIELDS))}


@case
def count_negative():
    return {**valid_deployment(), "usage.json": page([usage(T1, "EXO", licensesQualified=-8), usage(T1, "SPO"),
                                                      usage(T2, "EXO")])}


@case
def count_absurdly_large():
    return {**valid_usage(), "deployment.json": page([deployment(T1, licensesSold=10**30), deployment(T2)])}


@case
def count_scientific_notation():
    return {**valid_usage(), "deployment.csv": utf8(table([deployment(T1, licensesSold="1E+1"), deployment(T2)],
                                                          DEPLOYMENT_FIELDS))}


@case
def count_json_boolean():
    return {**valid_usage(), "deployment.json": page([deployment(T1, licensesDeployed=True), deployment(T2)])}


@case
def count_empty():
    return {**valid_usage(), "deployment.csv": utf8(table([deployment(T1, licensesSold=""), deployment(T2)],
                                                          DEPLOYMENT_FIELDS))}


@case
def active_above_qualified_exchange():
    # Exchange cannot be inflated by Yammer's rule; no trial, no second subscription: flagged, not rejected.
    return {**valid_deployment(), "usage.json": page([usage(T1, "EXO", licensesActive=11), usage(T1, "SPO"),
                                                      usage(T2, "EXO")])}


@case
def assigned_above_sold():
    return {**valid_usage(), "deployment.json": page([deployment(T1, licensesDeployed=14), deployment(T2)])}


@case
def sold_zero():
    return {**valid_usage(), "deployment.json": page([deployment(T1, licensesSold=0), deployment(T2)])}


# --- ids and names ---------------------------------------------------------------------------------
@case
def tenant_id_not_a_guid():
    return {**valid_usage(), "deployment.json": page([deployment(T1, customerTenantId="contoso.onmicrosoft.com"),
                                                      deployment(T2)])}


@case
def product_id_not_a_guid():
    return {**valid_deployment(), "usage.json": page([usage(T1, "EXO", productId="O365_E3"), usage(T1, "SPO"),
                                                      usage(T2, "EXO")])}


@case
def guid_braces_and_case():
    # The same tenant as {0112a436-...} in lower case with braces in usage: one customer, not two.
    return {**valid_deployment(), "usage.json": page([usage(T1, "EXO", customerTenantId="{" + T1.lower() + "}"),
                                                      usage(T1, "SPO"), usage(T2, "EXO")])}


@case
def same_customer_two_names():
    return {**valid_deployment(), "usage.json": page([usage(T1, "EXO", customerName="Contoso Limited"),
                                                      usage(T1, "SPO"), usage(T2, "EXO")])}


@case
def hostile_names():
    names = {T1: "<img src=x onerror=alert(1)>", T2: '=HYPERLINK("http://example.invalid","x")'}
    return {"deployment.json": page([deployment(t, customerName=n) for t, n in names.items()]),
            "usage.json": page([usage(T1, "EXO", customerName=names[T1]), usage(T2, "EXO", customerName=names[T2])])}


@case
def formula_prefixes_in_every_text_column():
    rows = [deployment(T1, customerName="+Contoso", productName="-E3 @risk"),
            deployment(T2, customerName="@Fabrikam", productName="\tOFFICE 365 BUSINESS")]
    return {**{"deployment.json": page(rows)},
            "usage.json": page([usage(T1, "EXO", customerName="+Contoso", productName="-E3 @risk"),
                                usage(T2, "EXO", customerName="@Fabrikam", productName="\tOFFICE 365 BUSINESS")])}


@case
def very_long_field():
    return {**valid_usage(), "deployment.json": page([deployment(T1, customerName="Contoso " + "x" * 5000),
                                                      deployment(T2)])}


@case
def unbalanced_quote():
    # A stray quote opens a field that would swallow the following rows as text.
    text = table(book_deployment(), DEPLOYMENT_FIELDS).replace("Contoso Ltd", '"Contoso Ltd', 1)
    return {**valid_usage(), "deployment.csv": utf8(text)}


@case
def embedded_newlines_and_quotes():
    rows = [deployment(T1, customerName='Contoso "North"\r\nLtd'), deployment(T2, customerName="Fabrikam,\nGmbH")]
    return {**valid_usage(), "deployment.csv": utf8(table(rows, DEPLOYMENT_FIELDS))}


@case
def control_characters_in_name():
    return {**valid_usage(), "deployment.json": page([deployment(T1, customerName="Contoso\x1b[31m Ltd\x07"),
                                                      deployment(T2)])}


# --- duplicates ------------------------------------------------------------------------------------
@case
def identical_duplicate_pages():
    return {**valid_usage(), "deployment-page-1.json": page(book_deployment()),
            "deployment-page-1 (1).json": page(book_deployment())}


@case
def conflicting_duplicate_rows():
    return {**valid_usage(), "deployment.csv": utf8(table(book_deployment() + [deployment(T1, licensesSold=12)],
                                                          DEPLOYMENT_FIELDS))}


# --- dates -----------------------------------------------------------------------------------------
@case
def mixed_iso_date_formats():
    return {**valid_usage(), "deployment.json": page([deployment(T1, processedDateTime="2026-11-01T00:00:00Z"),
                                                      deployment(T2, processedDateTime="2026-11-01T01:00:00+01:00")])}


@case
def spreadsheet_reformatted_dates():
    rows = [deployment(T1, processedDateTime="2026-11-01T00:00:00"), deployment(T2, processedDateTime="01/11/2026 00:00"),
            deployment(T2, productId=E3, productName="OFFICE 365 ENTERPRISE E3", processedDateTime="14/10/2026")]
    return {**valid_usage(), "deployment.csv": utf8(table(rows, DEPLOYMENT_FIELDS))}


@case
def excel_serial_date():
    return {**valid_usage(), "deployment.csv": utf8(table([deployment(T1, processedDateTime="46327"), deployment(T2)],
                                                          DEPLOYMENT_FIELDS))}


@case
def future_processed_date():
    rows = [deployment(T1, processedDateTime="2099-01-01T00:00:00"), deployment(T2)]
    return {"deployment.json": page(rows),
            "usage.json": page([usage(T1, "EXO", processedDateTime="2099-01-01T00:00:00"),
                                usage(T1, "SPO", processedDateTime="2099-01-01T00:00:00"), usage(T2, "EXO")])}


# --- encodings -------------------------------------------------------------------------------------
NON_ASCII_NAMES = {T1: "Société Générale d'Études", T2: "Müller Bäckerei GmbH"}


def _non_ascii_usage() -> dict[str, bytes]:
    return {"usage.json": page([usage(T1, "EXO", customerName=NON_ASCII_NAMES[T1]),
                                usage(T1, "SPO", customerName=NON_ASCII_NAMES[T1]),
                                usage(T2, "EXO", customerName=NON_ASCII_NAMES[T2])])}


def _encoded_deployment(encoding: str, *, delimiter: str = ",", bom: bytes = b"") -> dict[str, bytes]:
    rows = [deployment(t, customerName=n) for t, n in NON_ASCII_NAMES.items()]
    return {**_non_ascii_usage(),
            "deployment.csv": bom + table(rows, DEPLOYMENT_FIELDS, delimiter=delimiter).encode(encoding)}


@case
def windows_1252():
    return _encoded_deployment("cp1252")


@case
def utf8_bom():
    return _encoded_deployment("utf-8", bom=b"\xef\xbb\xbf")


@case
def utf16_le_unicode_text():
    # Excel "Unicode Text (*.txt)": UTF-16 LE with a BOM, tab-separated.
    return _encoded_deployment("utf-16-le", delimiter="\t", bom=b"\xff\xfe")


@case
def utf16_be_bom():
    return _encoded_deployment("utf-16-be", bom=b"\xfe\xff")


@case
def utf16_le_without_bom():
    return _encoded_deployment("utf-16-le", delimiter="\t")


@case
def utf8_bom_json():
    return {**_non_ascii_usage(),
            "deployment.json": b"\xef\xbb\xbf" + page([deployment(t, customerName=n) for t, n in NON_ASCII_NAMES.items()])}


@case
def mixed_utf8_and_1252():
    # Two exports pasted together: a UTF-8 name and a Windows-1252 name in one file.
    rows = table([deployment(t, customerName=n) for t, n in NON_ASCII_NAMES.items()], DEPLOYMENT_FIELDS)
    head, tail = rows.rsplit(NON_ASCII_NAMES[T2], 1)
    return {**_non_ascii_usage(),
            "deployment.csv": head.encode("utf-8") + NON_ASCII_NAMES[T2].encode("cp1252") + tail.encode("utf-8")}


# --- subscriptions ---------------------------------------------------------------------------------
@case
def subscriptions_bad_boolean():
    return {**valid_book(), "subscriptions.csv": utf8(table([subscription(autoRenewEnabled="maybe")], SUBSCRIPTION_FIELDS))}


@case
def subscriptions_negative_quantity():
    return {**valid_book(), "subscriptions.csv": utf8(table([subscription(licenseCount="-10")], SUBSCRIPTION_FIELDS))}


@case
def subscriptions_resource_without_customer():
    resource = {"id": "sub-1", "offerId": "CFQ7TTC0LF8Q:0001", "offerName": "Office 365 E3", "quantity": 10,
                "status": "active", "isTrial": False}
    return {**valid_book(), "subscriptions.json": page([resource], "items")}


@case
def subscriptions_resource_json():
    resources = [{"id": "sub-1", "offerId": "CFQ7TTC0LF8Q:0001", "offerName": "OFFICE 365 ENTERPRISE E3", "quantity": 10,
                  "unitType": "Licenses", "status": "active", "isTrial": False,
                  "links": {"self": {"uri": f"/customers/{T1}/subscriptions/sub-1", "method": "GET"}}},
                 {"id": "sub-2", "offerId": "CFQ7TTC0LF8Q:0001", "offerName": "OFFICE 365 ENTERPRISE E3", "quantity": 5,
                  "unitType": "Licenses", "status": "suspended", "isTrial": False,
                  "links": {"self": {"uri": f"/customers/{T1}/subscriptions/sub-2", "method": "GET"}}}]
    usage_rows = [usage(T1, "EXO", licensesActive=11), usage(T1, "SPO"), usage(T2, "EXO")]
    return {**valid_deployment(), "usage.json": page(usage_rows), "subscriptions.json": page(resources, "items")}


@case
def subscriptions_unknown_status():
    return {**valid_book(), "subscriptions.csv": utf8(table([subscription(status="Frozen")], SUBSCRIPTION_FIELDS))}


@case
def subscriptions_only():
    return {"subscriptions.csv": utf8(table([subscription()], SUBSCRIPTION_FIELDS))}


@case
def subscriptions_conflicting_duplicates():
    rows = [subscription(), subscription(licenseCount="12")]
    return {**valid_book(), "subscriptions.csv": utf8(table(rows, SUBSCRIPTION_FIELDS))}


# --- user activity (Microsoft 365 active-user detail) ----------------------------------------------
@case
def activity_valid_with_hostile_user_names():
    rows = [activity_user(1, **{"User Principal Name": "<img src=x onerror=alert(1)>@contoso.com",
                                "Display Name": '=HYPERLINK("http://example.invalid","x")'}),
            activity_user(2, **{"Display Name": "Zoë <script>alert(2)</script>"}), activity_user(3)]
    return {**valid_book(), activity_path(): activity(rows)}


@case
def activity_outside_tenant_folder():
    return {**valid_book(), "activity/ActiveUserDetail.csv": activity([activity_user(1)])}


@case
def activity_unknown_tenant_folder():
    return {**valid_book(), activity_path(T1[:-1] + "5"): activity([activity_user(1)])}


@case
def activity_header_only():
    return {**valid_book(), activity_path(): b"\xef\xbb\xbf" + utf8(table([], ACTIVITY_FIELDS))}


@case
def activity_reformatted_dates():
    rows = [activity_user(1), activity_user(2, **{"Exchange Last Activity Date": "30/10/2026"}),
            activity_user(3, **{"Exchange Last Activity Date": "30/10/2026"})]
    return {**valid_book(), activity_path(): activity(rows)}


@case
def activity_bad_boolean():
    return {**valid_book(), activity_path(): activity([activity_user(1, **{"Is Deleted": "Maybe"})])}


@case
def activity_missing_column():
    fields = tuple(f for f in ACTIVITY_FIELDS if f != "Has Teams License")
    return {**valid_book(), activity_path(): activity([activity_user(1)], fields)}


@case
def activity_two_refresh_dates():
    rows = [activity_user(1), activity_user(2, **{"Report Refresh Date": "2026-10-25"})]
    return {**valid_book(), activity_path(): activity(rows)}


@case
def activity_date_after_refresh():
    return {**valid_book(), activity_path(): activity([activity_user(1, **{"Teams Last Activity Date": "2026-11-05"}),
                                                       activity_user(2)])}


@case
def activity_future_refresh_date():
    rows = [activity_user(n, **{"Report Refresh Date": "2099-01-01", "Exchange Last Activity Date": "2098-12-30",
                                "Teams Last Activity Date": "2098-12-30"}) for n in (1, 2)]
    return {**valid_book(), activity_path(): activity(rows)}


@case
def activity_utf16_unicode_text():
    rows = [activity_user(1, **{"Display Name": "Zoë Ñúñez"}), activity_user(2)]
    return {**valid_book(), activity_path(): b"\xff\xfe" + table(rows, ACTIVITY_FIELDS, delimiter="\t").encode("utf-16-le")}


@case
def activity_empty_file():
    return {**valid_book(), activity_path(): b""}


# --- issue 13: never silently wrong on real files ------------------------------------------------------
T3 = "9A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D"
NEXT_PAGE = "https://api.partnercenter.microsoft.com/partner/v1/analytics/commercial/deployment/license?top=2&skip=2"


def envelope(records: list, *, total: int, next_link: str | None = None) -> bytes:
    return json.dumps({"Value": records, "@nextLink": next_link, "TotalCount": total}).encode("utf-8")


@case
def deployment_saved_as_workbook():
    # The deployment download opened and saved in Excel (.xlsx): only the usage feed is readable.
    return {**valid_usage(), "deployment.xlsx": b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(64))}


@case
def usage_export_missing():
    return valid_deployment()


@case
def kit_output_in_data_folder():
    header = ("customer_id,customer_name,products,licenses_sold,licenses_assigned,licenses_qualified,"
              "licenses_active,deployment_rate,usage_rate,segment,next_step\r\n")
    row = f"{T1.lower()},Contoso Ltd,1,10,8,8,5,0.8,0.625,adopt,Drive usage\r\n"
    return {**valid_book(), "customers.csv": utf8(header + row)}


@case
def total_count_above_rows_read():
    # One page of a 3-record query holds 2 records and says it is the last (@nextLink null): one is missing.
    return {**valid_usage(), "deployment.json": envelope(book_deployment(), total=3)}


@case
def dangling_next_link():
    # Page 1 of a query of 3 records (top=2) points at page 2, which was never saved.
    return {**valid_usage(), "deployment-page-1.json": envelope(book_deployment(), total=3, next_link=NEXT_PAGE)}


@case
def partial_re_download_snapshot():
    # Three customers on 2026-11-01; T1's page downloaded again three days later (1 of 3 customers), sold 12.
    third = deployment(T3, customerName="Northwind Traders")
    again = deployment(T1, processedDateTime="2026-11-04T00:00:00", licensesSold=12)
    third_usage = usage(T3, "EXO", customerName="Northwind Traders")
    return {"usage.json": page([*book_usage(), third_usage]), "deployment.json": page([*book_deployment(), third]),
            "deployment-again.json": page([again])}


@case
def licence_alias_mixed_in_one_file():
    records = [usage(T1, "EXO"), usage(T1, "SPO"), usage(T2, "EXO")]
    records[1] = {("licenseActive" if k == "licensesActive" else k): v for k, v in records[1].items()}
    return {**valid_deployment(), "usage.json": page(records)}


@case
def per_customer_endpoint_customer_id():
    def older(record: dict) -> dict:
        return {("customerId" if k == "customerTenantId" else k): v for k, v in record.items()}
    return {"deployment.json": page([older(r) for r in book_deployment()], "items"),
            "usage.json": page([older(r) for r in book_usage()], "items")}


def per_customer_records(records: list[dict]) -> list[dict]:
    """The per-customer endpoints' documented examples: no tenant id, no productId, no workloadCode."""
    return [{k: v for k, v in r.items() if k not in ("customerTenantId", "productId", "workloadCode")}
            for r in records]


@case
def per_customer_endpoint_tenant_folder():
    return {f"{T1}/deployment.json": page(per_customer_records([deployment(T1)]), "items"),
            f"{T1}/usage.json": page(per_customer_records([usage(T1, "EXO"), usage(T1, "SPO")]), "items")}


@case
def per_customer_endpoint_without_tenant():
    return {**valid_usage(), "deployment.json": page(per_customer_records([deployment(T1)]), "items")}


@case
def partner_level_aggregates():
    deployment_total = [{"proratedDeploymentPercent": 0.8, "licensesSold": 15, "serviceName": "Microsoft Office 365",
                         "channel": "reseller", "processedDateTime": PROCESSED}]
    usage_total = [{"proratedLicensesUsagePercent": 0.7, "workloadName": "Exchange",
                    "serviceName": "Microsoft Office 365", "channel": "reseller", "processedDateTime": PROCESSED}]
    return {"partner-deployment.json": page(deployment_total, "items"),
            "partner-usage.json": page(usage_total, "items")}


@case
def activity_row_wider_than_header():
    # Row 2 has one field more than the header, at its end: every cell still parses, so a reader that
    # selects the columns it wants took the row silently (published samples have such rows).
    good = table([activity_user(1), activity_user(2), activity_user(3)], ACTIVITY_FIELDS).splitlines(keepends=True)
    good[2] = good[2].rstrip("\r\n") + ",2026-10-29\r\n"
    return {**valid_book(), activity_path(): b"\xef\xbb\xbf" + utf8("".join(good))}


@case
def activity_graph_json_assigned_products():
    def camel(name: str) -> str:
        words = name.split(" ")
        return words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:])
    records = []
    for n, products in ((1, ["OFFICE 365 E3", "ENTERPRISE MOBILITY + SECURITY E5"]), (2, [])):
        user = activity_user(n)
        record = {camel(k): (None if v == "" else v) for k, v in user.items() if k != "Assigned Products"}
        record["assignedProducts"] = products
        records.append(record)
    document = {"@odata.context": "https://graph.microsoft.com/beta/$metadata#reports", "value": records,
                "@odata.nextLink": None}
    return {**valid_book(), f"activity/{T1}/activity.json": json.dumps(document, indent=1).encode("utf-8")}


@case
def other_graph_report_in_tenant_folder():
    fields = ("Report Refresh Date", "User Principal Name", "Last Activity Date", "Is Deleted", "Deleted Date",
              "Assigned Products", "Team Chat Message Count", "Private Chat Message Count", "Call Count",
              "Meeting Count", "Has Other Action", "Report Period")
    row = dict(zip(fields, ("2026-11-01", "user001@contoso.onmicrosoft.com", "2026-10-30", "False", "",
                            "OFFICE 365 E3", "4", "12", "2", "3", "No", "28"), strict=True))
    return {**valid_book(), f"activity/{T1}/TeamsUserActivityUserDetail.csv": activity([row], fields)}
# --- issue 17: hardening, round two ------------------------------------------------------------------
def _deployment_text(old: str, new: str) -> dict[str, bytes]:
    text = page(book_deployment()).decode("utf-8")
    assert old in text
    return {**valid_usage(), "deployment.json": text.replace(old, new, 1).encode("utf-8")}


@case
def json_value_and_value_lists():
    document = {"Value": book_deployment(), "value": [deployment(T1, licensesSold=99)], "TotalCount": 2}
    return {**valid_usage(), "deployment.json": json.dumps(document).encode("utf-8")}


@case
def json_value_and_items_lists():
    document = {"Value": book_deployment(), "items": [], "totalCount": 2}
    return {**valid_usage(), "deployment.json": json.dumps(document).encode("utf-8")}


@case
def json_repeated_key_whitespace_before_colon():
    return _deployment_text('"licensesSold": 10', '"licensesSold"  : 10, "licensesSold"\t: 99')


@case
def count_seventeen_nines_json():
    return _deployment_text('"licensesSold": 10', '"licensesSold": 9.99999999999999999')


@case
def count_underflowing_exponent_json():
    return _deployment_text('"licensesSold": 10', '"licensesSold": 1e-400')


@case
def count_full_width_digits():
    rows = [deployment(T1, licensesSold="\uff11\uff10"), deployment(T2)]
    return {**valid_usage(), "deployment.csv": utf8(table(rows, DEPLOYMENT_FIELDS))}


@case
def json_many_keys_of_their_own():
    # 600 undocumented keys in one record: more than any export has, so only the documented fields are kept.
    first = deployment(T1, **{f"custom{i:03d}": i for i in range(600)})
    return {**valid_usage(), "deployment.json": page([first, deployment(T2)])}


@case
def compressed_exports_named():
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(zipfile.ZipInfo("usage-2.json", date_time=(2026, 11, 1, 0, 0, 0)), page(book_usage()))
    return {**valid_book(), "usage-2.json.gz": gzip.compress(page(book_usage()), mtime=0),
            "download.zip": archive.getvalue()}


HOSTILE_CSV_NAMES = {T1: "Acme;=cmd|' /C calc'!A0", T2: "Fabrikam,=1+1;@SUM(1)"}


@case
def formula_after_a_separator_in_names():
    return {"deployment.json": page([deployment(t, customerName=n) for t, n in HOSTILE_CSV_NAMES.items()]),
            "usage.json": page([usage(T1, "EXO", customerName=HOSTILE_CSV_NAMES[T1]),
                                usage(T1, "SPO", customerName=HOSTILE_CSV_NAMES[T1]),
                                usage(T2, "EXO", customerName=HOSTILE_CSV_NAMES[T2])])}


@case
def line_separators_in_names():
    names = {T1: "Contoso\u2028Ltd", T2: "Fabrikam\u2029GmbH"}
    return {"deployment.json": page([deployment(t, customerName=n) for t, n in names.items()]),
            "usage.json": page([usage(T1, "EXO", customerName=names[T1]), usage(T1, "SPO", customerName=names[T1]),
                                usage(T2, "EXO", customerName=names[T2])])}


@case
def double_bom_csv():
    return _encoded_deployment("utf-8", bom=b"\xef\xbb\xbf" * 2)


@case
def utf32_le_bom():
    return _encoded_deployment("utf-32-le", bom=b"\xff\xfe\x00\x00")
# --- missing is not zero; subscriptions named differently (issue 13) ----------------------------------------
@case
def no_deployment_export():
    return valid_usage()


@case
def usage_without_deployment_row():
    return {"deployment.json": page([deployment(T2)]), **valid_usage()}


def offer(tenant: str, offer_name: str, sub_id: str, **overrides) -> dict:
    """A subscription as the resource names it: offerName (the marketing name), no productName."""
    row = {key: value if value != "" else None   # JSON gives null, not "", for an empty date
           for key, value in subscription(tenant, id=sub_id, **overrides).items() if key != "productName"}
    row["offerName"] = offer_name
    return row


def inflated_book() -> dict[str, bytes]:
    """The valid book with T1's Exchange at 9 active of 8 qualified (usage 112.5%)."""
    return {**valid_deployment(),
            "usage.json": page([usage(T1, "EXO", licensesActive=9), usage(T1, "SPO"), usage(T2, "EXO")])}


@case
def subscription_offer_names_differ():
    subs = [offer(T1, "Office 365 E3", "5F6CC7C7-69A8-4A95-8E81-D63C178E3510"),
            offer(T1, "Office 365 E3", "5F6CC7C7-69A8-4A95-8E81-D63C178E3511", status="SUSPENDED"),
            offer(T2, "Microsoft 365 Apps for business", "5F6CC7C7-69A8-4A95-8E81-D63C178E3512"),
            offer(T2, "Office 365 E1 Trial", "5F6CC7C7-69A8-4A95-8E81-D63C178E3513"),
            offer("9A9A9A9A-0000-4000-8000-000000000003", "Office 365 E3", "5F6CC7C7-69A8-4A95-8E81-D63C178E3514")]
    return {**inflated_book(), "subscriptions.json": page(subs)}


@case
def subscription_matches_nothing_over_100():
    subs = [offer(T1, "Contoso Unknown Offer", "5F6CC7C7-69A8-4A95-8E81-D63C178E3520")]
    return {**inflated_book(), "subscriptions.json": page(subs)}


NEW_SKU = "0F0F0F0F-0000-4000-8000-00000000C0DE"   # a SKU newer than the packaged catalog


@case
def sku_catalog_csv_in_folder():
    """Microsoft's licensing CSV dropped in the folder (Windows-1252, `String_ Id` drift, a quoted comma) names a
    SKU the packaged catalog does not know; its subscription offerName ends in " Trial"."""
    dep = [deployment(T1, productId=NEW_SKU, productName="CONTOSO COPILOT PLUS")]
    use = [usage(T1, "EXO", productId=NEW_SKU, productName="CONTOSO COPILOT PLUS", licensesActive=9)]
    subs = [offer(T1, "Contoso Copilot, Café Edition Trial", "5F6CC7C7-69A8-4A95-8E81-D63C178E3530")]
    catalog = ('Product_Display_Name,String_ Id,GUID,Service_Plan_Name,Service_Plan_Id,'
               'Service_Plans_Included_Friendly_Names\r\n'
               f'"Contoso Copilot, Café Edition",CONTOSO_COPILOT_PLUS,{NEW_SKU.lower()},EXCHANGE_S_STANDARD,'
               '9aaf7827-d63c-4b61-89c3-182f06f82e5c,"Exchange Online (Plan 1)"\r\n')
    return {"deployment.json": page(dep), "usage.json": page(use), "subscriptions.json": page(subs),
            "Product names and service plan identifiers for licensing.csv": catalog.encode("cp1252")}


def write(root: Path = HERE) -> list[Path]:
    """Write every case folder under `root` (replacing the case folders there); returns the files written."""
    written = []
    for name, build in CASES.items():
        folder = root / name
        if folder.exists():
            shutil.rmtree(folder)
        for relative, data in build().items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
    return written


if __name__ == "__main__":
    files = write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"wrote {len(files)} file(s) for {len(CASES)} case(s)")
