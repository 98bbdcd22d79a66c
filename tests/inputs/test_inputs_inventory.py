"""The inputs inventory and the input-side checks of issue 13: files read and skipped, missing kinds, paged-feed
completeness, partial snapshots, aliases per record, older feeds, activity report shapes, missing-column hints.

Every file is written here in a documented shape (shared/reference/exports.md); expectations are worked out by
hand from the records written.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from adoption_kit.cli import main
from adoption_kit.errors import InputFileError
from adoption_kit.inputs import load_exports

T1 = "0112A436-B14E-4888-967B-CA4BB2CF1234"
T2 = "5D8C9E21-3F4A-4B6C-8D7E-9F0A1B2C3D4E"
T3 = "9A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D"
T4 = "1B2C3D4E-5F6A-4B7C-9D8E-1F2A3B4C5D6E"
E3 = "6FD2C87F-B296-42F0-B197-1E91E994B900"
BASE = "https://api.partnercenter.microsoft.com/partner/v1/analytics/commercial/deployment/license"


def deployment(tenant: str = T1, processed: str = "2026-11-01T00:00:00", **overrides) -> dict:
    record = {"processedDateTime": processed, "serviceCode": "o365", "serviceName": "Microsoft Office 365",
              "channel": "reseller", "customerTenantId": tenant, "customerName": f"Customer {tenant[:4]}",
              "productId": E3, "productName": "OFFICE 365 ENTERPRISE E3", "licensesDeployed": 8,
              "licensesSold": 10}
    record.update(overrides)
    return record


def usage(tenant: str = T1, processed: str = "2026-11-01T00:00:00", **overrides) -> dict:
    record = {k: v for k, v in deployment(tenant, processed).items() if not k.startswith("licenses")}
    record.update(workloadCode="EXO", workloadName="Exchange", licensesActive=6, licensesQualified=8)
    record.update(overrides)
    return record


def page(path: Path, records: list[dict], *, total: int | None = None, next_link: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"Value": records, "@nextLink": next_link,
                "TotalCount": len(records) if total is None else total}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def items_page(path: Path, records: list[dict], total: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"totalCount": len(records) if total is None else total, "items": records,
                "attributes": {"objectType": "Collection"}}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def csv_file(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def problems_of(paths) -> list[str]:
    with pytest.raises(InputFileError) as caught:
        load_exports(paths)
    return [str(p) for p in caught.value.problems]


def book(folder: Path) -> Path:
    page(folder / "deployment.json", [deployment(T1), deployment(T2)])
    page(folder / "usage.json", [usage(T1), usage(T2)])
    return folder


# --- item 1: files read, files skipped, missing kinds ------------------------------------------------------


def test_a_complete_book_has_an_inventory_and_no_finding(tmp_path):
    exports = load_exports(book(tmp_path))
    inventory = exports.inventory
    assert [(f.path.name, f.kind, f.rows) for f in inventory.read] == [("deployment.json", "deployment", 2),
                                                                       ("usage.json", "usage", 2)]
    assert inventory.skipped == () and inventory.missing == () and inventory.partial_snapshots == ()
    assert [(p.feed, p.rows, p.total_count, p.complete) for p in inventory.pages] == [
        ("deployment", 2, 2, True), ("usage", 2, 2, True)]
    assert exports.warnings == ()
    assert inventory.as_dict()["read"][0] == {"path": str(tmp_path / "deployment.json"), "kind": "deployment",
                                              "rows": 2}


def test_a_workbook_is_skipped_and_the_missing_deployment_named(tmp_path):
    page(tmp_path / "usage.json", [usage(T1)])
    (tmp_path / "deployment.xlsx").write_bytes(b"PK\x03\x04 a zip archive")
    exports = load_exports(tmp_path)
    [skipped] = exports.inventory.skipped
    assert skipped.path.name == "deployment.xlsx" and "Excel workbook" in skipped.reason
    assert [m.kind for m in exports.inventory.missing] == ["deployment"]
    workbook, missing = exports.warnings
    assert workbook.startswith(f"{tmp_path / 'deployment.xlsx'}: skipped, is an Excel workbook")
    assert "save it as CSV UTF-8" in workbook
    assert missing.startswith("deployment: no licenses deployment export") and "deployment % unknown, not 0" in missing


def test_a_missing_usage_export_is_named_with_its_consequence(tmp_path):
    page(tmp_path / "deployment.json", [deployment(T1)])
    [line] = load_exports(tmp_path).warnings
    assert line.startswith("usage: no licenses usage export") and "usage % unknown" in line


def test_the_kits_own_outputs_are_skipped_not_refused(tmp_path):
    # Written outside the data folder (`metrics` refuses an --out inside it), then copied in, as a user might.
    book(tmp_path / "data")
    for level in ("customer", "product", "workload", "portfolio"):
        assert main(["metrics", str(tmp_path / "data"), "--level", level,
                     "--out", str(tmp_path / "out" / f"{level}.csv")]) == 0
        (tmp_path / "data" / f"{level}.csv").write_bytes((tmp_path / "out" / f"{level}.csv").read_bytes())
    exports = load_exports(tmp_path / "data")
    assert sorted(s.path.name for s in exports.inventory.skipped) == ["customer.csv", "portfolio.csv", "product.csv",
                                                                      "workload.csv"]
    assert all(s.reason == "is an adoption-kit output, not an export" for s in exports.inventory.skipped)
    assert len(exports.warnings) == 4 and exports.deployment.height == 2


def test_an_unknown_csv_is_skipped_with_its_first_columns(tmp_path, capsys):
    book(tmp_path)
    csv_file(tmp_path / "notes.csv", ["Customer", "Comment"], [["Contoso", "call back"]])
    assert main(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "files:" in out
    assert f"read    deployment             2 row(s)  {tmp_path / 'deployment.json'}" in out
    assert "skipped" in out and f"{tmp_path / 'notes.csv'} (is not a recognised Partner Center export" in out
    assert (f"warning: {tmp_path / 'notes.csv'}: skipped, is not a recognised Partner Center export "
            f"(columns: Customer, Comment)") in out


def test_a_file_that_looks_like_an_export_but_cannot_be_read_stays_an_error(tmp_path):
    book(tmp_path)
    (tmp_path / "usage-2.json").write_text('{"Value": [{"processedDateTime": "2026-11-01T00:00:00", ')
    [line] = problems_of(tmp_path)
    assert "usage-2.json: not valid JSON" in line


def test_nothing_usable_names_every_skipped_file(tmp_path):
    (tmp_path / "deployment.xlsx").write_bytes(b"PK\x03\x04")
    csv_file(tmp_path / "notes.csv", ["a", "b"], [["1", "2"]])
    workbook, notes, nothing = problems_of(tmp_path)
    assert "deployment.xlsx: skipped, is an Excel workbook" in workbook
    assert "notes.csv: skipped, is not a recognised Partner Center export (columns: a, b)" in notes
    assert "no license deployment or usage rows found" in nothing


# --- item 2: paged feeds ----------------------------------------------------------------------------------


def test_fewer_rows_than_total_count_is_a_partial_download(tmp_path):
    page(tmp_path / "deployment-page-1.json", [deployment(T1), deployment(T2)], total=3)
    page(tmp_path / "usage.json", [usage(T1), usage(T2)])
    exports = load_exports(tmp_path)
    [partial] = exports.inventory.incomplete_pages
    assert (partial.feed, partial.rows, partial.total_count, partial.dangling) == ("deployment", 2, 3, ())
    [line] = exports.warnings
    assert line.startswith(f"{tmp_path / 'deployment-page-1.json'}: the deployment feed of 2026-11-01 00:00 UTC "
                           f"is a partial download: 2 of 3 row(s) (TotalCount) read over 1 page(s)")


def test_a_dangling_next_link_names_the_page_to_download_again(tmp_path):
    # Two pages of a 5-record query (top=2): pages 1 and 2 are saved, page 3 (skip=4) is not.
    tenants = [T1, T2, T3, T4]
    page(tmp_path / "deployment-page-1.json", [deployment(t) for t in tenants[:2]], total=5,
         next_link=f"{BASE}?top=2&skip=2")
    page(tmp_path / "deployment-page-2.json", [deployment(t) for t in tenants[2:]], total=5,
         next_link=f"{BASE}?top=2&skip=4")
    page(tmp_path / "usage.json", [usage(t) for t in tenants])
    exports = load_exports(tmp_path)
    [partial] = exports.inventory.incomplete_pages
    assert partial.rows == 4 and partial.total_count == 5
    assert partial.dangling == ((str(tmp_path / "deployment-page-2.json"), f"{BASE}?top=2&skip=4"),)
    [line] = exports.warnings
    assert line.startswith(f"{tmp_path / 'deployment-page-2.json'}: the deployment feed of 2026-11-01 00:00 UTC is "
                           f"a partial download: 4 of 5 row(s) (TotalCount) read over 2 page(s); this page's "
                           f"@nextLink is not null")
    assert f"download the next page again ({BASE}?top=2&skip=4)" in line


def test_a_complete_chain_of_pages_and_the_items_envelope_are_complete(tmp_path):
    page(tmp_path / "deployment-page-1.json", [deployment(T1), deployment(T2)], total=3,
         next_link=f"{BASE}?top=2&skip=2")
    page(tmp_path / "deployment-page-2.json", [deployment(T3)], total=3)
    items_page(tmp_path / "usage.json", [usage(T1), usage(T2), usage(T3)], total=3)
    exports = load_exports(tmp_path)
    assert exports.warnings == ()
    assert sorted((p.feed, p.rows, p.total_count) for p in exports.inventory.pages) == [("deployment", 3, 3),
                                                                                       ("usage", 3, 3)]


def test_identical_copies_of_a_page_count_once_against_total_count(tmp_path):
    page(tmp_path / "deployment-page-1.json", [deployment(T1), deployment(T2)], total=3)
    page(tmp_path / "deployment-page-1 (1).json", [deployment(T1), deployment(T2)], total=3)
    page(tmp_path / "usage.json", [usage(T1), usage(T2)])
    exports = load_exports(tmp_path)
    [partial] = exports.inventory.incomplete_pages
    assert (partial.rows, partial.total_count) == (2, 3)
    duplicates = next(w for w in exports.warnings if "duplicated row(s)" in w)
    assert duplicates == (f"deployment: 2 duplicated row(s) ignored (identical repeats, e.g. the same page saved "
                          f"twice), in {tmp_path / 'deployment-page-1 (1).json'}, "
                          f"{tmp_path / 'deployment-page-1.json'}")


# --- item 3: snapshot coverage ----------------------------------------------------------------------------


def _rebook(folder: Path) -> Path:
    """Four customers on 2026-11-01; one of them re-downloaded on 2026-11-04 (1 of 4 = 25%)."""
    tenants = [T1, T2, T3, T4]
    page(folder / "deployment.json", [deployment(t) for t in tenants])
    page(folder / "usage.json", [usage(t) for t in tenants])
    page(folder / "deployment-again.json", [deployment(T2, "2026-11-04T00:00:00", licensesSold=12)])
    return folder


def test_a_snapshot_of_a_few_customers_is_a_partial_re_download(tmp_path):
    exports = load_exports(_rebook(tmp_path))
    [partial] = exports.inventory.partial_snapshots
    assert (partial.feed, partial.customers, partial.previous_customers) == ("deployment", 1, 4)
    assert partial.files == (str(tmp_path / "deployment-again.json"),)
    [line] = exports.warnings
    assert line.startswith("deployment: the snapshot of 2026-11-04 00:00 UTC holds 1 of the 4 customer(s) (25%) of "
                           "the previous one (2026-11-01 00:00 UTC), from ")
    assert str(tmp_path / "deployment-again.json") in line and "a partial re-download" in line


def test_the_partial_snapshot_share_is_a_parameter(tmp_path):
    exports = load_exports(_rebook(tmp_path), partial_snapshot_share=0.25)   # 1 of 4 is not under 25%
    assert exports.inventory.partial_snapshots == () and exports.warnings == ()


def test_monthly_snapshots_of_the_whole_book_are_not_partial(tmp_path):
    for month in ("09", "10", "11"):
        page(tmp_path / f"deployment-{month}.json", [deployment(t, f"2026-{month}-01T00:00:00") for t in (T1, T2)])
        page(tmp_path / f"usage-{month}.json", [usage(t, f"2026-{month}-01T00:00:00") for t in (T1, T2)])
    assert load_exports(tmp_path).warnings == ()


# --- item 6: aliases per record, older feeds ---------------------------------------------------------------


def test_documented_spellings_mixed_in_one_file_are_one_field(tmp_path):
    page(tmp_path / "deployment.json", [deployment(T1)])
    mixed = [usage(T1), {k if k != "licensesActive" else "licenseActive": v
                         for k, v in usage(T1, workloadCode="SPO", workloadName="SharePoint",
                                           licensesActive=4).items()}]
    page(tmp_path / "usage.json", mixed)
    exports = load_exports(tmp_path)
    assert sorted(exports.usage.get_column("licenses_active").to_list()) == [4, 6]


def test_two_spellings_with_different_values_in_one_record_are_refused(tmp_path):
    page(tmp_path / "deployment.json", [deployment(T1)])
    page(tmp_path / "usage.json", [usage(T1, licenseActive=5)])
    [line] = problems_of(tmp_path)
    assert "usage.json, row 1, column 'licensesActive': 1 record(s) give 'licensesActive' and 'licenseActive'" in line


def test_customer_id_is_the_tenant_id_of_the_older_per_customer_endpoints(tmp_path):
    older = [{"customerId": T1, **{k: v for k, v in deployment(T1).items() if k != "customerTenantId"}}]
    items_page(tmp_path / "deployment.json", older)
    page(tmp_path / "usage.json", [usage(T1)])
    exports = load_exports(tmp_path)
    assert exports.deployment.get_column("customer_id").to_list() == [T1.lower()]
    assert exports.warnings == ()


def _per_customer(**drop) -> dict:
    """The per-customer deployment example's fields: no customerId, no productId (exports.md 1.4)."""
    return {"customerName": "TEST COMPANY", "productName": "OFFICE 365 BUSINESS", "serviceCode": "o365",
            "serviceName": "Microsoft Office 365", "channel": "reseller", "processedDateTime": "2026-11-01T00:00:00",
            "licensesDeployed": 3, "licensesSold": 4, "deploymentPercent": 0.75}


def test_a_per_customer_file_takes_its_tenant_from_a_tenant_folder(tmp_path):
    items_page(tmp_path / T1 / "deployment.json", [_per_customer()])
    per_customer_usage = {k: v for k, v in usage(T1).items() if k not in ("customerTenantId", "workloadCode",
                                                                           "productId")}
    items_page(tmp_path / T1 / "usage.json", [per_customer_usage])
    exports = load_exports(tmp_path)
    assert exports.deployment.select("customer_id", "licenses_sold").rows() == [(T1.lower(), 4)]
    assert exports.usage.select("customer_id", "workload", "licenses_active").rows() == [(T1.lower(), "Exchange", 6)]
    folder_lines = [w for w in exports.warnings if "taken from its folder" in w]
    assert len(folder_lines) == 2


def test_a_per_customer_file_outside_a_tenant_folder_is_one_line(tmp_path):
    items_page(tmp_path / "deployment.json", [_per_customer()])
    page(tmp_path / "usage.json", [usage(T1)])
    [line] = problems_of(tmp_path)
    assert "deployment.json, column 'customerTenantId': has no tenant id column (customerTenantId or customerId): " \
           "it is the older per-customer endpoint /v1/customers/{id}/analytics/licenses/deployment" in line
    assert "save it in a folder named after the customer's tenant id" in line


def test_partner_level_aggregates_are_named_in_one_line(tmp_path):
    book(tmp_path)
    items_page(tmp_path / "partner-deployment.json", [{"proratedDeploymentPercent": 0.8, "licensesSold": 120,
                                                       "serviceName": "Microsoft Office 365", "channel": "reseller",
                                                       "processedDateTime": "2026-11-01T00:00:00"}])
    items_page(tmp_path / "partner-usage.json", [{"proratedLicensesUsagePercent": 0.6, "workloadName": "Exchange",
                                                  "serviceName": "Microsoft Office 365", "channel": "reseller",
                                                  "processedDateTime": "2026-11-01T00:00:00"}])
    exports = load_exports(tmp_path)
    assert len(exports.inventory.skipped) == 2
    [line] = exports.warnings
    assert line.startswith(f"{tmp_path / 'partner-deployment.json'}, {tmp_path / 'partner-usage.json'}: skipped, "
                           f"partner-level aggregate feeds")
    assert "GET /v1/analytics/commercial/deployment/license" in line and "usage/license" in line


# --- item 7: activity reports -----------------------------------------------------------------------------
ACTIVITY_WORKLOADS = ("Exchange", "OneDrive", "SharePoint", "Skype For Business", "Yammer", "Teams")
ACTIVITY_HEADER = ["Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
                   *[f"Has {w} License" for w in ACTIVITY_WORKLOADS],
                   *[f"{w} Last Activity Date" for w in ACTIVITY_WORKLOADS],
                   *[f"{w} License Assign Date" for w in ACTIVITY_WORKLOADS], "Assigned Products"]


def activity_row(n: int) -> list[str]:
    return (["2026-11-01", f"user{n}@contoso.com", f"User {n}", "False", ""] + ["True"] * 6
            + ["2026-10-30", "", "", "", "", "2026-10-30"] + ["2025-03-11"] * 6 + ["OFFICE 365 E3"])


def test_an_activity_row_wider_than_its_header_is_named(tmp_path):
    book(tmp_path)
    csv_file(tmp_path / "activity" / T1 / "ActiveUserDetail.csv", ACTIVITY_HEADER,
             [activity_row(1), activity_row(2)[:5] + ["2026-10-29"] + activity_row(2)[5:], activity_row(3)])
    [line] = problems_of(tmp_path)
    assert "ActiveUserDetail.csv, row 2: has 25 comma-separated fields where the header has 24" in line


def test_graph_json_gives_assigned_products_as_a_list(tmp_path):
    book(tmp_path)
    records = []
    for n in (1, 2):
        keys = (h[0].lower() + h.title().replace(" ", "")[1:] for h in ACTIVITY_HEADER)   # camelCase
        record = dict(zip(keys, activity_row(n), strict=True))
        records.append(record)
    records[0]["assignedProducts"] = ["OFFICE 365 E3", "ENTERPRISE MOBILITY + SECURITY E5"]
    records[1]["assignedProducts"] = []
    folder = tmp_path / "activity" / T1
    folder.mkdir(parents=True)
    (folder / "activity.json").write_text(json.dumps({"value": records, "@odata.nextLink": None}), encoding="utf-8")
    exports = load_exports(tmp_path)
    products = exports.activity.sort("user_key").get_column("assigned_products").to_list()
    assert products == [["OFFICE 365 E3", "ENTERPRISE MOBILITY + SECURITY E5"], []]


def test_another_graph_report_is_named_in_one_line(tmp_path):
    book(tmp_path)
    csv_file(tmp_path / "activity" / T1 / "TeamsUserActivity.csv",
             ["Report Refresh Date", "User Principal Name", "Last Activity Date", "Is Deleted", "Deleted Date",
              "Assigned Products", "Team Chat Message Count", "Private Chat Message Count", "Call Count",
              "Meeting Count", "Report Period"], [["2026-11-01", "u@contoso.com", "2026-10-30", "False", "", "", "1",
                                                  "2", "0", "1", "28"]])
    csv_file(tmp_path / "activity" / T1 / "ServicesUserCounts.csv",
             ["Report Refresh Date", "Exchange Active", "Exchange Inactive", "Report Period"],
             [["2026-11-01", "3", "1", "30"]])
    exports = load_exports(tmp_path)
    counts, teams = exports.warnings   # in the order of the paths
    assert "TeamsUserActivity.csv: skipped, is the Microsoft Graph Teams user activity detail report" in teams
    assert "ServicesUserCounts.csv: skipped, is the Microsoft Graph services user counts report" in counts


# --- item 8: a missing column names what was found ---------------------------------------------------------


def test_a_missing_column_names_the_closest_header_found(tmp_path):
    records = [{k if k != "licensesDeployed" else "licencesDeployed": v for k, v in deployment(T1).items()}]
    page(tmp_path / "deployment.json", records)
    page(tmp_path / "usage.json", [usage(T1)])
    [line] = problems_of(tmp_path)
    assert ("deployment.json, column 'licensesDeployed': the required column 'licensesDeployed' is missing "
            "(found 'licencesDeployed', the closest match)") in line


def test_a_missing_column_without_a_close_header_lists_the_unknown_ones(tmp_path):
    records = [{k if k != "licensesDeployed" else "assigned": v for k, v in deployment(T1).items()}]
    page(tmp_path / "deployment.json", records)
    page(tmp_path / "usage.json", [usage(T1)])
    [line] = problems_of(tmp_path)
    assert "is missing (headers found that are no documented field: 'assigned')" in line


def test_an_activity_report_missing_a_column_names_the_closest_header(tmp_path):
    book(tmp_path)
    header = [("Has Teams Licence" if h == "Has Teams License" else h) for h in ACTIVITY_HEADER]
    csv_file(tmp_path / "activity" / T1 / "ActiveUserDetail.csv", header, [activity_row(1)])
    [line] = problems_of(tmp_path)
    assert ("column 'Has Teams License': the required column 'Has Teams License' is missing "
            "(found 'Has Teams Licence', the closest match)") in line


@pytest.mark.parametrize("snapshots", [5, 70])   # one bit per snapshot (<= 62), and the set fallback
def test_partial_snapshots_agree_with_a_plain_count_of_shared_customers(snapshots):
    import random
    from datetime import datetime, timedelta, timezone

    from adoption_kit.inputs.inventory import partial_snapshots

    rng = random.Random(snapshots)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(snapshots):   # some snapshots hold every customer, some a few (re-downloads), some others
        if i % 4 == 2:   # a re-download of three customers
            pool = [f"c{n}" for n in rng.sample(range(40), 3)]
        else:
            numbers = range(40) if rng.random() < 0.6 else rng.sample(range(60), rng.choice([2, 5, 45]))
            pool = [f"c{n}" for n in numbers]
        rows += [{"processed_at": start + timedelta(days=i), "customer_id": c, "source_file": f"f{i}.json"}
                 for c in pool]
    frame = pl.DataFrame(rows)
    expected, base = [], None
    by_day = {}
    for r in rows:
        by_day.setdefault(r["processed_at"], set()).add(r["customer_id"])
    for day in sorted(by_day):
        if base is not None:
            shared = len(by_day[day] & by_day[base])
            if shared and shared < 0.5 * len(by_day[base]):
                expected.append((day, base, shared, len(by_day[base])))
                continue
            if not shared:
                continue
        base = day
    got = [(p.snapshot, p.previous, p.customers, p.previous_customers) for p in partial_snapshots(frame, "usage")]
    assert got == expected and expected   # the random book has re-downloads to find
