"""Insights downloads (OfficeUsage, DynamicsUsage, seats report): reading, merging, and the figures they give.

Golden numbers are worked by hand from the rows written in each test and the definitions in README.md
("Insights downloads"), never copied from the kit's output.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from adoption_kit import schema
from adoption_kit.analysis import build_book
from adoption_kit.cli import main
from adoption_kit.compute.insights import monthly_customers
from adoption_kit.compute.metrics import compute, load_exclusions
from adoption_kit.errors import InputFileError
from adoption_kit.inputs import load_exports
from adoption_kit.inputs.convert import parse_month
from adoption_kit.inputs.insights import OFFICE_PRODUCT_ID
from adoption_kit.sample.insights import PLANTED_NAMES, insights_frames, months, write_insights_sample

T1 = "0112A436-B14E-4888-967B-CA4BB2CF1234"
T2 = "5D8C9E21-3F4A-4B6C-8D7E-9F0A1B2C3D4E"
SALES = "1E1A282C-9C54-43A2-9310-98EF728FAACE"
OFFICE_HEADER = ("CustomerTenantId\tCustomerTpid\tWorkloadName\tMonth\tPaidAvailableUnits\tMonthlyActiveUsers\t"
                 "CustomerName\tCustomerMarket\tCustomerSegment\tMPNId\tPartnerName\tPartnerLocation\t"
                 "PartnerAttributionType")
DYN_HEADER = ("SubscriptionId,SubscriptionStartDate,SubscriptionEndDate,SubscriptionStatus,Month,SKU,SKUId,"
              "FreeVsPaidSKU,CustomerName,CustomerTenantId,AvailableSeats,AssignedSeats,ActiveSeats,"
              "ActiveUsagePercent")
SEATS_HEADER = ("CustomerTenantId,CustomerName,Month,SKU,ProductPartNumber,SubscriptionState,TotalSoldSeats,"
                "TotalAssignedSeats")
SALES_ROW = f"Dynamics 365 Sales Enterprise,{SALES},Paid,Fabrikam GmbH,{T2}"


def utc(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


def office_line(tenant: str, workload: str, month: str, pau: int, mau: int, name: str = "Contoso Ltd") -> str:
    return f"{tenant}\t1001\t{workload}\t{month}\t{pau}\t{mau}\t{name}\tGB\tSMB\t1234567\tPartner\tGB\tTransacting"


def write(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text("\r\n".join([header, *lines]) + "\r\n", encoding="utf-8")
    return path


def office_book(tmp_path: Path) -> Path:
    # T1, 2026-09: Exchange 40/50, SharePoint 20/50, OneDrive 30/48 (-> SharePoint 30/50), Yammer 70/50;
    # 2026-10: Exchange 45/50 (month as a date-time). T2, 2026-10: Teams 12/10 (over 100%).
    write(tmp_path / "OfficeUsage.tsv", OFFICE_HEADER, [
        office_line(T1, "Exchange Online", "2026-09", 50, 40), office_line(T1, "SharePoint", "2026-09-01", 50, 20),
        office_line(T1, "OneDrive", "2026-09", 48, 30), office_line(T1, "Viva Engage", "2026-09", 50, 70),
        office_line(T1, "Exchange Online", "2026-10-01T00:00:00", 50, 45),
        office_line(T2, "Teams", "2026-10", 10, 12, "Fabrikam GmbH")])
    return tmp_path


# ---------------------------------------------------------------------------
# Month values
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("2026-05", utc(2026, 5)), ("2026-05-31", utc(2026, 5)), ("2026-05-01T00:00:00", utc(2026, 5)),
    ("2026-05-01 00:00:00", utc(2026, 5)), ("2026-05-01T00:00:00Z", utc(2026, 5)),
    ("2026-06-01T00:00:00+02:00", utc(2026, 6)),    # the month written, not moved into May by the offset
    ("2026-13", None), ("2026-02-30", None), ("May 2026", None), ("2026-05-01Tnoon", None), ("", None),
])
def test_month_formats(text, expected):
    got = pl.DataFrame({"m": [text]}).select(parse_month(pl.col("m"))).item()
    assert got == expected


# ---------------------------------------------------------------------------
# OfficeUsage
# ---------------------------------------------------------------------------
def test_office_usage_mapped_onto_monthly_usage_rows(tmp_path):
    exports = load_exports(office_book(tmp_path))
    assert [f.kind for f in exports.files] == ["insights_office"]
    assert exports.deployment.is_empty()          # no seats report: no deployment row, deployment unknown
    usage = exports.usage.sort("customer_id", "processed_at", "workload")
    t1_sep = usage.filter((pl.col("customer_id") == T1.lower()) & (pl.col("processed_at") == utc(2026, 9)))
    assert t1_sep.select("workload", "licenses_qualified", "licenses_active").rows() == [
        ("Exchange", 50, 40), ("SharePoint", 50, 30), ("Yammer", 50, 70)]   # OneDrive merged: max 30 over max 50
    assert set(usage.get_column("product_id")) == {OFFICE_PRODUCT_ID}
    assert sorted(set(usage.get_column("processed_at"))) == [utc(2026, 9), utc(2026, 10)]
    assert any("1 tenant-month(s) list OneDrive and SharePoint" in w for w in exports.warnings)


def test_office_customer_usage_is_the_largest_non_yammer_mau_over_pau(tmp_path):
    exports = load_exports(office_book(tmp_path))
    monthly = monthly_customers(exports).filter(pl.col("customer_id") == T1.lower())
    # September: Exchange 40 is the largest non-Yammer MAU, 50 the largest PAU: 0.8 (Yammer's 70 not used)
    assert monthly.select("month", "usage_rate").rows() == [(utc(2026, 9), 0.8), (utc(2026, 10), 0.9)]
    assert set(monthly.get_column("basis")) == {"monthly active users (calendar month)"}
    metrics = compute(exports.latest(), exclusions=load_exclusions())
    t1 = metrics.customers.filter(pl.col("customer_id") == T1.lower()).row(0, named=True)
    assert (t1["licenses_active"], t1["licenses_qualified"], t1["usage_rate"]) == (45, 50, 0.9)
    assert t1["deployment_rate"] is None
    t2 = metrics.workloads.filter(pl.col("customer_id") == T2.lower()).row(0, named=True)
    assert (t2["usage_rate"], t2["inflated"], t2["inflation_causes"]) == (1.2, True, "unexplained")  # never capped


def test_yammer_over_pau_is_flagged_yammer_not_capped(tmp_path):
    exports = load_exports(office_book(tmp_path))
    september = exports.usage.filter(pl.col("processed_at") == utc(2026, 9))
    metrics = compute(type(exports)(exports.deployment, september, exports.subscriptions))
    yammer = metrics.workloads.filter(pl.col("workload") == "Yammer").row(0, named=True)
    assert (yammer["usage_rate"], yammer["inflation_causes"]) == (1.4, "yammer")
    assert metrics.products.row(0, named=True)["usage_rate"] == 0.8


SUBS_HEADER = "customerTenantId,customerName,id,offerName,status,isTrial,licenseCount"


@pytest.mark.parametrize(("subs", "cause"), [
    ([f"{T2},Fabrikam GmbH,S1,Microsoft 365 Business Basic,active,true,25"], "trial"),
    ([f"{T2},Fabrikam GmbH,S1,Microsoft 365 Business Basic,active,false,10",
      f"{T2},Fabrikam GmbH,S2,Microsoft 365 Business Basic,suspended,false,10"], "duplicate_subscription"),
    ([f"{T2},Fabrikam GmbH,S1,Microsoft 365 Business Basic,active,false,10"], "unexplained"),
    # a Dynamics subscription never speaks for the Office figure: it matches no product, so it is unchecked
    ([f"{T2},Fabrikam GmbH,S1,Dynamics 365 Sales Enterprise,active,true,5"], "unchecked_no_subscription_match"),
])
def test_office_over_100_names_the_cause_the_subscriptions_show(tmp_path, subs, cause):
    # T2, 2026-10: Teams MAU 12 over PAU 10 (1.2). The Office figure covers all the tenant's Office products,
    # so any of its non-Dynamics subscriptions (here Business Basic) can explain it.
    office_book(tmp_path)
    write(tmp_path / "subscriptions.csv", SUBS_HEADER, subs)
    metrics = compute(load_exports(tmp_path).latest(), exclusions=load_exclusions())
    t2 = metrics.products.filter(pl.col("customer_id") == T2.lower()).row(0, named=True)
    assert (t2["usage_rate"], t2["inflated"]) == (1.2, True)      # kept, never capped
    assert t2["inflation_causes"] == cause


def test_partner_columns_are_documented_but_never_read(tmp_path):
    # PartnerName and CustomerMarket are not used by any figure: a control character in them is not checked
    # (no warning), while the same in CustomerName, which reports show, is cleaned and warned about.
    line = office_line(T1, "Exchange Online", "2026-10", 50, 40).replace("\tPartner\t", "\tPart\x07ner\t")
    write(tmp_path / "OfficeUsage.tsv", OFFICE_HEADER, [line.replace("\tGB\tSMB", "\tG\x07B\tSMB")])
    exports = load_exports(tmp_path)
    assert not any("control characters" in w for w in exports.warnings)
    assert exports.usage.select("licenses_qualified", "licenses_active").rows() == [(50, 40)]
    write(tmp_path / "OfficeUsage.tsv", OFFICE_HEADER, [office_line(T1, "Exchange Online", "2026-10", 50, 40,
                                                                    name="Con\x07toso")])
    assert any("control characters" in w for w in load_exports(tmp_path).warnings)


def test_pga_duplicates_counted_once_and_csv_api_form(tmp_path):
    header = OFFICE_HEADER.replace("\t", ",") + ",IsDuplicateRowForPGA"
    lines = [office_line(T1, "Exchange Online", "2026-10", 50, 40).replace("\t", ",") + ",False",
             office_line(T1, "Exchange Online", "2026-10", 50, 40).replace("\t", ",").replace(",GB,Trans", ",US,Trans")
             + ",True",
             office_line(T1, "Teams", "2026-10", 50, 10).replace("\t", ",") + ",false"]
    exports = load_exports(write(tmp_path / "office-api.csv", header, lines))
    assert exports.usage.height == 2 and exports.insights_office.height == 2
    assert any("1 row(s) marked IsDuplicateRowForPGA" in w for w in exports.warnings)


def test_every_problem_at_once_one_line_each(tmp_path, capsys):
    write(tmp_path / "OfficeUsage.tsv", OFFICE_HEADER, [
        office_line(T1, "Exchange Online", "Oct 2026", 50, 40),
        office_line("not-a-guid", "Teams", "2026-10", 50, -3)])
    code = main(["validate", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 3, err
    assert any("column 'Month'" in line and "row 1" in line and "not a month" in line for line in err)
    assert any("column 'CustomerTenantId'" in line and "not a GUID" in line for line in err)
    assert any("column 'MonthlyActiveUsers'" in line and "negative" in line for line in err)
    assert all("fix: " in line for line in err)


def _office_counts(tmp_path: Path, pau: str, mau: str) -> list[tuple[int | None, int | None]]:
    line = office_line(T1, "Exchange Online", "2026-10", 0, 0).split("\t")
    line[4], line[5] = pau, mau
    write(tmp_path / "OfficeUsage.tsv", OFFICE_HEADER, ["\t".join(line)])
    return load_exports(tmp_path).usage.select("licenses_qualified", "licenses_active").rows()


# Counts are parsed as numbers while reading (the fast path) and, where that does not take a cell as it is
# written, as text: either way a count means the same. Hand-written: each cell's count as a person reads it.
@pytest.mark.parametrize(("pau", "mau", "expected"), [
    ("50", "40", (50, 40)),
    (" 50", "40", (50, 40)), ("50 ", "40 ", (50, 40)),       # spaces around a count: trimmed
    ("+50", "007", (50, 7)), ("50.0", "40.00", (50, 40)),     # a sign, leading zeros, a spreadsheet's .0
    ("-0", "0", (0, 0)), ("-0", "0.0", (0, 0)),               # minus zero is zero, typed or as text
])
def test_counts_mean_the_same_typed_or_as_text(tmp_path, pau, mau, expected):
    assert _office_counts(tmp_path, pau, mau) == [expected]


@pytest.mark.parametrize(("mau", "typed"), [("40", True), (" 40", True), ("40 ", False), ("40.0", False)])
def test_counts_parse_as_numbers_while_reading_where_they_can(mau, typed):
    from adoption_kit.inputs.decode import _read_utf8_delimited
    from adoption_kit.inputs.load import _read_columns

    data = "\r\n".join([OFFICE_HEADER, office_line(T1, "Teams", "2026-10", 50, 0).replace("\t0\t", f"\t{mau}\t")])
    frame = _read_utf8_delimited(data.encode(), "OfficeUsage.tsv", _read_columns)
    assert frame is not None and "MPNId" not in frame.columns          # partner columns never parsed
    assert (frame.schema["MonthlyActiveUsers"] == pl.Int64) is typed


@pytest.mark.parametrize(("mau", "problem"), [
    ("-3", "negative"), ("12000000", "larger than any real licence count"), ("4.5", "not a whole number"),
    ("1,000", "not a whole number"), ("\uff11\uff12", "digits other than 0-9"),
    ("", "empty"), (" ", "empty"),                            # missing is never read as 0
])
def test_bad_counts_worded_as_for_text(tmp_path, mau, problem):
    with pytest.raises(InputFileError) as raised:
        _office_counts(tmp_path, "50", mau)
    (only,) = raised.value.problems
    assert problem in only.problem and only.row == 1 and only.column == "MonthlyActiveUsers"


def test_a_typed_download_and_a_text_one_merge(tmp_path):
    # the first file's counts parse as numbers; the second's "45.0" sends it down the text path
    office_book(tmp_path)
    write(tmp_path / "OfficeUsage-later.tsv", OFFICE_HEADER,
          [office_line(T1, "Exchange Online", "2026-10", 50, 45).replace("\t45\t", "\t45.0\t"),
           office_line(T1, "Exchange Online", "2026-11", 52, 47)])
    usage = load_exports(tmp_path).usage.filter(pl.col("workload") == "Exchange").sort("processed_at")
    assert usage.select("processed_at", "licenses_qualified", "licenses_active").rows() == [
        (utc(2026, 9), 50, 40), (utc(2026, 10), 50, 45), (utc(2026, 11), 52, 47)]


def test_overlapping_downloads_merge_identical_rows_and_refuse_conflicts(tmp_path):
    office_book(tmp_path)
    write(tmp_path / "OfficeUsage-later.tsv", OFFICE_HEADER, [office_line(T1, "Exchange Online", "2026-10", 50, 45),
                                                             office_line(T1, "Exchange Online", "2026-11", 52, 47)])
    exports = load_exports(tmp_path)
    assert sorted(set(exports.usage.get_column("processed_at"))) == [utc(2026, 9), utc(2026, 10), utc(2026, 11)]
    write(tmp_path / "OfficeUsage-later.tsv", OFFICE_HEADER, [office_line(T1, "Exchange Online", "2026-10", 50, 44)])
    with pytest.raises(InputFileError) as raised:
        load_exports(tmp_path)
    assert "monthly_active_users: 45 vs 44" in str(raised.value)


# ---------------------------------------------------------------------------
# Seats report and DynamicsUsage
# ---------------------------------------------------------------------------
def test_seats_report_gives_the_office_deployment(tmp_path):
    office_book(tmp_path)
    write(tmp_path / "seats.csv", SEATS_HEADER, [
        f"{T1},Contoso Ltd,2026-10,Microsoft 365 Business Standard,O365_BUSINESS_PREMIUM,Active,40,36",
        f"{T1},Contoso Ltd,2026-10,Microsoft 365 E3,SPE_E3,Active,10,4",
        f"{T1},Contoso Ltd,2026-10,Microsoft 365 E3,SPE_E3,Churned,25,0",          # churned: not counted
        f"{T1},Contoso Ltd,2026-10,Dynamics 365 Sales Enterprise,D365_SALES,Active,9,9"])   # Dynamics: not Office
    exports = load_exports(tmp_path)
    metrics = compute(exports, exclusions=load_exclusions())
    t1 = metrics.products.filter(pl.col("customer_id") == T1.lower()).row(0, named=True)
    assert (t1["licenses_sold"], t1["licenses_assigned"], t1["deployment_rate"]) == (50, 40, 0.8)
    assert (t1["licenses_active"], t1["licenses_qualified"]) == (45, 50)


def dynamics_book(tmp_path: Path) -> Path:
    write(tmp_path / "DynamicsUsage.csv", DYN_HEADER, [
        f"S1,2025-01-01,2027-01-01,Active,2026-10,{SALES_ROW},10,8,12,1.2",
        f"S2,2025-01-01,2026-11-15,In Grace Period,2026-10,{SALES_ROW},5,1,4,80",
        f"S3,2025-01-01,2027-01-01,Active,2026-10,Dynamics 365 Marketing Free,{'8F0C5670-4E56-4892-B06D-91C085D7004F'},"
        f"Free,Fabrikam GmbH,{T2},100,20,5,5"])
    return tmp_path


def test_dynamics_summed_over_subscriptions_with_partner_center_definitions(tmp_path):
    exports = load_exports(dynamics_book(tmp_path))
    metrics = compute(exports, exclusions=load_exclusions())
    sales = metrics.products.filter(pl.col("product_id") == SALES.lower()).row(0, named=True)
    # sold = available 10 + 5, assigned 8 + 1, active 12 + 4: deployment 9/15 = 0.6, usage 16/15 (kept, over 1)
    assert (sales["licenses_sold"], sales["licenses_assigned"], sales["licenses_active"]) == (15, 9, 16)
    assert sales["deployment_rate"] == pytest.approx(0.6) and sales["usage_rate"] == pytest.approx(16 / 15)
    assert sales["inflation_causes"] == "duplicate_subscription"       # In Grace Period beside Active
    free = metrics.products.filter(pl.col("product_name") == "Dynamics 365 Marketing Free").row(0, named=True)
    assert free["excluded"] and "free SKU" in free["exclusion_reason"]
    customer = metrics.customers.row(0, named=True)
    assert (customer["licenses_sold"], customer["licenses_active"]) == (15, 16)   # the free SKU is left out
    assert set(exports.subscriptions.get_column("status")) == {"active", "grace_period"}


# ---------------------------------------------------------------------------
# Both sources, history
# ---------------------------------------------------------------------------
REST_DEP = ("processedDateTime,customerTenantId,customerName,productId,productName,licensesDeployed,licensesSold\r\n"
            f"2026-10-14T00:00:00,{T1},Contoso Ltd,6FD2C87F-B296-42F0-B197-1E91E994B900,OFFICE 365 ENTERPRISE E3,"
            "8,10\r\n")
REST_USE = ("processedDateTime,customerTenantId,customerName,productId,productName,workloadCode,workloadName,"
            "licensesActive,licensesQualified\r\n"
            f"2026-10-14T00:00:00,{T1},Contoso Ltd,6FD2C87F-B296-42F0-B197-1E91E994B900,OFFICE 365 ENTERPRISE E3,"
            "EXO,Exchange,6,8\r\n")


def test_mixed_folder_rest_is_current_and_insights_the_history_before(tmp_path):
    office_book(tmp_path)
    (tmp_path / "deployment.csv").write_text(REST_DEP, encoding="utf-8")
    (tmp_path / "usage.csv").write_text(REST_USE, encoding="utf-8")
    exports = load_exports(tmp_path)
    t1 = exports.usage.filter(pl.col("customer_id") == T1.lower())
    # Insights October is the REST snapshot's month: dropped; September stays as history
    assert sorted(set(t1.get_column("processed_at"))) == [utc(2026, 9), datetime(2026, 10, 14, tzinfo=timezone.utc)]
    assert any("REST feeds give those customers' current figures" in w for w in exports.warnings)
    metrics = compute(exports, exclusions=load_exclusions())
    row = metrics.customers.filter(pl.col("customer_id") == T1.lower()).row(0, named=True)
    assert (row["usage_rate"], row["deployment_rate"]) == (0.75, 0.8)
    book = build_book(exports, metrics)
    history = book.history_customers.filter(pl.col("customer_id") == T1.lower()).sort("processed_at")
    assert history.get_column("usage_rate").to_list() == [0.8, 0.75]


def test_data_section_names_source_and_basis(tmp_path):
    from adoption_kit import analysis
    from adoption_kit.report import sources
    result = analysis.prepare(str(office_book(tmp_path)))
    text = sources.data_summary(result).text
    assert "Source: Office 365 usage: Insights OfficeUsage download: monthly active users (calendar month)" in text
    assert "Source: Office 365 deployment: unknown" in text


# ---------------------------------------------------------------------------
# The Insights sample
# ---------------------------------------------------------------------------
def test_insights_sample_is_deterministic_and_has_13_months(tmp_path):
    first, second = insights_frames(30, 3), insights_frames(30, 3)
    assert all(first[k].equals(second[k]) for k in first)
    assert months() == [f"2025-{m:02d}" for m in range(10, 13)] + [f"2026-{m:02d}" for m in range(1, 11)]
    write_insights_sample(tmp_path, customers=30, seed=3)
    exports = load_exports(tmp_path)
    assert len(exports.snapshots) == 13


def test_insights_sample_planted_cases(tmp_path):
    assert main(["sample", str(tmp_path), "--format", "insights", "--customers", "40"]) == 0
    exports = load_exports(tmp_path)
    metrics = compute(exports, exclusions=load_exclusions())
    names = dict(metrics.customers.select("customer_name", "customer_id").iter_rows())
    assert set(PLANTED_NAMES) <= set(names)
    workloads = metrics.workloads.filter(pl.col("customer_id") == names["Planted Yammer Beyond Seats"])
    assert workloads.filter(pl.col("workload") == "Yammer").get_column("inflation_causes").to_list() == ["yammer"]
    over = metrics.workloads.filter((pl.col("customer_id") == names["Planted Unexplained Over 100"])
                                    & (pl.col("workload") == "Exchange")).row(0, named=True)
    assert over["licenses_active"] == over["licenses_qualified"] + 5 and over["inflation_causes"] == "unexplained"
    assert any("row(s) marked IsDuplicateRowForPGA" in w for w in exports.warnings)
    grace = metrics.products.filter(pl.col("customer_id") == names["Planted Dynamics Grace"]).filter(
        pl.col("product_name").str.contains("Dynamics"))
    assert grace.get_column("inflation_causes").to_list() == ["duplicate_subscription"]
    book = build_book(exports, metrics)
    drop = book.history_workloads.filter((pl.col("customer_id") == names["Planted Teams Drop"])
                                         & (pl.col("trend_flag") == "drop"))
    assert drop.get_column("workload").to_list() == ["Teams"]
    assert schema.INSIGHTS_OFFICE.name in {f.kind for f in exports.files}


# Cells are trimmed as for any CSV or TSV, also where a column repeats enough to be checked on its distinct
# values (8 rows or more per value): 24 rows, 2 tenants x 12 months of Exchange, every other one padded.
def _padded_office(tmp_path: Path, blank: tuple[int, int] | None = None) -> Path:
    lines = []
    for index in range(24):
        tenant, name = (T1, "Contoso Ltd") if index < 12 else (T2, "Fabrikam GmbH")
        cells = office_line(tenant, "Exchange Online", f"2025-{index % 12 + 1:02d}", 10, 5, name).split("\t")
        if index % 2:   # spaces around the tenant, the workload, the month and the name; a tab, quoted
            for column in (0, 2, 3, 6):
                cells[column] = f'"  {cells[column]}\t"' if column == 6 else f"  {cells[column]} "
        if blank is not None and blank[0] == index:
            cells[blank[1]] = "   "
        lines.append("\t".join(cells))
    return write(tmp_path / "OfficeUsage.tsv", OFFICE_HEADER, lines)


def test_padded_cells_of_repetitive_columns_are_trimmed(tmp_path):
    usage = load_exports(_padded_office(tmp_path)).usage
    assert usage.height == 24
    assert sorted(usage.get_column("customer_id").unique()) == sorted([T1.lower(), T2.lower()])
    assert sorted(usage.get_column("customer_name").unique()) == ["Contoso Ltd", "Fabrikam GmbH"]
    assert usage.get_column("workload_code").unique().to_list() == ["Exchange"]
    assert usage.get_column("processed_at").n_unique() == 12
    assert sorted(usage.group_by("customer_id").len().get_column("len")) == [12, 12]


@pytest.mark.parametrize(("column", "header"), [(3, "Month"), (2, "WorkloadName"), (0, "CustomerTenantId")])
def test_a_blank_cell_of_a_repetitive_column_is_empty_not_a_value(tmp_path, column, header):
    # file row 6 (index 5) holds only spaces in a required column: "is empty", never a value "   "
    with pytest.raises(InputFileError) as raised:
        load_exports(_padded_office(tmp_path, (5, column)))
    (only,) = raised.value.problems
    assert only.row == 6 and only.column == header and "empty" in only.problem
