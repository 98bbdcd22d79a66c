"""Exact 28-day usage from Microsoft 365 active-user detail: a hand-written fixture with hand-computed figures,
the loader's rules for the report (one line per problem), the metrics integration, the bundle and the sample."""
from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from adoption_kit import schema
from adoption_kit.analysis import customer_view, prepare, read_bundle, write_bundle
from adoption_kit.compute import activity, metrics
from adoption_kit.compute.activity import (
    EXACT_BASIS,
    LOWER_BOUND_BASIS,
    activity_customers,
    activity_products,
    activity_tables,
    activity_workloads,
    concealment_note,
)
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.errors import InputFileError
from adoption_kit.inputs import activity as input_activity
from adoption_kit.inputs import load_exports, read_export_file, split_assigned_products
from adoption_kit.report import exact_usage
from adoption_kit.sample.generator import ACTIVITY_FIELDS, generate_sample

TENANT = "0112A436-B14E-4888-967B-CA4BB2CF1234"
OTHER = "5B0E6D2C-1F3A-4B5C-8D9E-0A1B2C3D4E5F"
E3 = "6FD2C87F-B296-42F0-B197-1E91E994B900"

# The report's columns, exactly as shared/reference/exports.md section 3 lists them (written out here on
# purpose: the schema is checked against the reference, not against itself).
HEADER = ("Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Has Exchange License,"
          "Has OneDrive License,Has SharePoint License,Has Skype For Business License,Has Yammer License,"
          "Has Teams License,Exchange Last Activity Date,OneDrive Last Activity Date,SharePoint Last Activity Date,"
          "Skype For Business Last Activity Date,Yammer Last Activity Date,Teams Last Activity Date,"
          "Exchange License Assign Date,OneDrive License Assign Date,SharePoint License Assign Date,"
          "Skype For Business License Assign Date,Yammer License Assign Date,Teams License Assign Date,"
          "Assigned Products")
REFRESH = "2026-03-31"   # window: 2026-03-04 (refresh - 27, in) .. 2026-03-31; 2026-03-03 (refresh - 28) is out
T, F = "True", "False"

# name, deleted (date), licences [Exchange, OneDrive, SharePoint, Skype, Yammer, Teams],
# last activity [same order], licence assign date (every licensed workload), Assigned Products
USERS = [
    ("alice", None, [T, T, T, T, T, T], ["2026-03-31", "2026-03-20", "", "", "", "2026-03-04"], "2024-05-01",
     "OFFICE 365 E3+ENTERPRISE MOBILITY + SECURITY E5"),
    ("bob", None, [T, T, T, T, T, T], ["2026-03-03", "", "", "", "", "2026-02-01"], "2024-05-01", "OFFICE 365 E3"),
    ("carol", None, [T, T, F, F, F, T], ["2026-03-15", "", "2026-03-10", "", "", ""], "2025-01-15",
     "MICROSOFT 365 E3+POWER BI PRO+CONTOSO WIDGET PLAN"),
    ("dave", "2026-03-20", [T, T, T, T, T, T], ["2026-03-18", "", "", "", "", ""], "2023-06-01", "OFFICE 365 E3"),
    ("erin", "2026-01-10", [T, T, T, T, T, T], ["2026-01-09", "", "", "", "", ""], "2023-06-01", "OFFICE 365 E3"),
    ("frank", None, [F, F, F, F, F, F], ["", "", "", "", "2026-03-25", ""], "", ""),
    ("grace", None, [T, T, T, T, F, T], ["2026-03-30", "", "", "", "2026-03-30", ""], "2024-09-09",
     "OFFICE 365 E3"),
    ("heidi", None, [T, T, T, T, T, T], ["2026-03-12", "", "", "", "", "2026-04-02"], "2026-03-10",
     "OFFICE 365 E3"),
    ("ivan", None, [T, T, T, T, T, T], ["", "", "", "2026-03-05", "", ""], "2026-03-03", "OFFICE 365 E3"),
    ("judy", None, [T, T, T, T, T, T], ["", "", "", "", "", ""], "2026-03-04", "OFFICE 365 E3"),
]

# Hand-computed from USERS (entitled = licence True and not deleted; SharePoint = SharePoint or OneDrive
# licence / date; active = last activity in 2026-03-04 .. 2026-03-31):
# Exchange   entitled: alice bob carol grace heidi ivan judy = 7; active: alice (03-31, refresh day) carol
#            grace heidi = 4 (bob 03-03 is refresh - 28: out); any licence incl. deleted: + dave = 5;
#            deleted active: dave (03-18) = 1 (erin 01-09: out); assigned in window: heidi (03-10),
#            judy (03-04, refresh - 27) = 2 (ivan 03-03: out)
# SharePoint entitled: 7 (carol via OneDrive only); active: alice (OneDrive 03-20), carol (SharePoint
#            03-10) = 2; assigned in window 2
# Skype      entitled: alice bob grace heidi ivan judy = 6 (carol unlicensed); active: ivan = 1; assigned 2
# Yammer     entitled: alice bob heidi ivan judy = 5; active entitled: 0; active without a Yammer licence:
#            frank (no licence at all), grace = 2; assigned 2
# Teams      entitled: 7; active: alice (03-04 = refresh - 27: in) = 1 (bob 02-01 out; heidi 04-02 is
#            after the refresh date: invalid, warned, not counted); assigned 2
EXPECTED_WORKLOADS = {
    #                     entitled, active entitled, any licence, unlicensed, deleted active, assigned
    "Exchange":           (7, 4, 5, 0, 1, 2),
    "SharePoint":         (7, 2, 2, 0, 0, 2),
    "Skype For Business": (6, 1, 1, 0, 0, 2),
    "Yammer":             (5, 0, 2, 2, 0, 2),
    "Teams":              (7, 1, 1, 0, 0, 2),
}
# Customer: 10 users, 2 deleted; licensed (not deleted, entitled somewhere) = 7 (frank has no licence);
# active on an entitled workload: alice carol grace heidi ivan = 5 (grace's Yammer use is unlicensed but
# her Exchange counts; bob and judy: nothing in the window) -> 5 / 7; deleted active: dave = 1;
# assigned in window: heidi judy = 2; unlicensed active: frank = 1; Yammer unlicensed: frank grace = 2.
EXPECTED_CUSTOMER = {"users": 10, "deleted_users": 2, "licensed_users": 7, "active_users_any_workload": 5,
                     "deleted_active_users": 1, "assigned_in_window_users": 2, "unlicensed_active_users": 1,
                     "yammer_unlicensed_active_users": 2, "concealed_names": False}


def activity_csv(users=USERS, *, refresh: str = REFRESH, date_format: str = "plain", bom: bool = True,
                 header: str = HEADER, upn=None) -> bytes:
    """The fixture as Microsoft writes it: UTF-8 with BOM, True/False, empty cells for null."""
    def d(value: str) -> str:
        return f"{value}T00:00:00Z" if value and date_format == "iso" else value

    lines = [header]
    for name, deleted, licences, last, assigned, products in users:
        assign = [d(assigned) if lic == T else "" for lic in licences]
        principal = upn(name) if upn else f"{name}@contoso.example"
        cells = [d(refresh), principal, name.title(), T if deleted else F, d(deleted or ""), *licences,
                 *[d(x) for x in last], *assign, products]
        lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def pc_record(tenant: str = TENANT, **overrides) -> dict:
    record = {"processedDateTime": f"{REFRESH}T00:00:00", "serviceCode": "o365", "serviceName": "Microsoft Office 365",
              "channel": "reseller", "customerTenantId": tenant, "customerName": "Contoso Ltd", "productId": E3,
              "productName": "OFFICE 365 ENTERPRISE E3"}
    record.update(overrides)
    return record


def write_book(folder: Path, activity_files: dict[str, bytes], *, usage: list[dict] | None = None) -> Path:
    """A book: one deployment and one usage page (customers TENANT and OTHER) plus activity files by relative path."""
    folder.mkdir(parents=True, exist_ok=True)
    deployment = [pc_record(licensesDeployed=7, licensesSold=8),
                  pc_record(OTHER, customerName="Fabrikam GmbH", licensesDeployed=10, licensesSold=10)]
    if usage is None:
        usage = [pc_record(workloadCode=code, workloadName=name, licensesActive=active, licensesQualified=7)
                 for code, name, active in (("EXO", "Exchange", 8), ("SPO", "SharePoint", 3),
                                            ("SFB", "Skype For Business", 1), ("YAM", "Yammer", 8),
                                            ("TEAMS", "Teams", 2))]
        usage.append(pc_record(OTHER, customerName="Fabrikam GmbH", workloadCode="EXO", workloadName="Exchange",
                               licensesActive=12, licensesQualified=10))
    for name, records in (("deployment.json", deployment), ("usage.json", usage)):
        (folder / name).write_text(json.dumps({"Value": records, "@nextLink": None, "TotalCount": len(records)}),
                                   encoding="utf-8")
    for relative, data in activity_files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


@pytest.fixture
def book(tmp_path) -> Path:
    return write_book(tmp_path / "book", {f"activity/{TENANT}/ActiveUserDetail.csv": activity_csv()})


def as_dict(frame: pl.DataFrame) -> dict[str, tuple]:
    return {r["workload"]: (r["entitled_users"], r["active_entitled_users"], r["active_users_any_licence"],
                            r["active_unlicensed_users"], r["deleted_active_users"], r["assigned_in_window_users"])
            for r in frame.to_dicts()}


# ---------------------------------------------------------------------------
# Hand-computed figures
# ---------------------------------------------------------------------------
def test_the_schema_holds_exactly_the_documented_columns_in_order():
    assert [f.name for f in schema.ACTIVITY.fields] == HEADER.split(",")
    assert list(ACTIVITY_FIELDS) == HEADER.split(",")


def test_hand_computed_workload_figures(book):
    exports = load_exports(book)
    figures = activity_workloads(exports.activity)
    assert as_dict(figures) == EXPECTED_WORKLOADS
    assert figures.get_column("workload").to_list() == list(EXPECTED_WORKLOADS)   # Partner Center's order
    rates = dict(zip(figures.get_column("workload"), figures.get_column("usage_rate")))
    assert rates == pytest.approx({"Exchange": 4 / 7, "SharePoint": 2 / 7, "Skype For Business": 1 / 6,
                                   "Yammer": 0.0, "Teams": 1 / 7})
    assert set(figures.get_column("report_refresh_date")) == {date(2026, 3, 31)}
    assert set(figures.get_column("window_start")) == {date(2026, 3, 4)}   # refresh - 27 days
    assert set(figures.get_column("customer_id")) == {TENANT.lower()}


def test_hand_computed_customer_figures(book):
    customer = activity_customers(load_exports(book).activity).row(0, named=True)
    assert {k: customer[k] for k in EXPECTED_CUSTOMER} == EXPECTED_CUSTOMER
    assert customer["usage_rate_exact"] == pytest.approx(5 / 7)
    assert activity_tables(load_exports(book).activity)[1].row(0, named=True) == customer


@pytest.mark.parametrize("last, counted", [
    ("2026-03-31", True),    # the refresh day itself
    ("2026-03-04", True),    # refresh - 27: the first day of the window
    ("2026-03-03", False),   # refresh - 28: the day before
    ("2026-04-01", False),   # after the refresh date: invalid data, warned about, never counted
])
def test_window_boundaries(tmp_path, last, counted):
    users = [("zoe", None, [T] * 6, [last, "", "", "", "", ""], "2024-01-01", "OFFICE 365 E3")]
    exports = load_exports(write_book(tmp_path, {f"activity/{TENANT}/a.csv": activity_csv(users)}))
    exchange = activity_workloads(exports.activity).row(0, named=True)
    assert exchange["workload"] == "Exchange" and exchange["active_entitled_users"] == int(counted)
    assert any("after the Report Refresh Date" in w for w in exports.warnings) == (last > REFRESH)


def test_a_date_after_the_refresh_date_is_warned_about_with_its_column(book):
    warnings = [w for w in load_exports(book).warnings if "after the Report Refresh Date" in w]
    assert len(warnings) == 1
    assert "1 date(s)" in warnings[0] and "'Teams Last Activity Date' 1" in warnings[0]


def test_both_date_formats_and_no_bom_give_the_same_figures(tmp_path):
    plain = load_exports(write_book(tmp_path / "a", {f"activity/{TENANT}/r.csv": activity_csv()}))
    iso = load_exports(write_book(tmp_path / "b", {f"activity/{TENANT}/r.csv": activity_csv(date_format="iso")}))
    no_bom = load_exports(write_book(tmp_path / "c", {f"activity/{TENANT}/r.csv": activity_csv(bom=False)}))
    columns = [c for c in schema.ACTIVITY_COLUMNS if c != "source_file"]
    assert iso.activity.select(columns).equals(plain.activity.select(columns))
    assert no_bom.activity.select(columns).equals(plain.activity.select(columns))
    assert as_dict(activity_workloads(iso.activity)) == EXPECTED_WORKLOADS


def test_the_fast_typed_read_and_the_text_read_agree(tmp_path, monkeypatch):
    path = tmp_path / TENANT / "r.csv"
    path.parent.mkdir()
    path.write_bytes(activity_csv())
    assert input_activity._read_activity_typed(path, str(path)) is not None          # the fast path applies
    kind, fast, _ = read_export_file(path)
    monkeypatch.setattr(input_activity, "_read_activity_typed", lambda *_: None)
    kind_text, text, _ = read_export_file(path)
    assert kind is kind_text is schema.ACTIVITY
    assert fast.equals(text)
    assert fast.schema == {"_row": pl.UInt32, **schema.ACTIVITY_COLUMNS}


def test_user_names_stay_in_the_loaded_rows_and_never_reach_metric_frames(book, tmp_path):
    exports = load_exports(book)
    assert "alice@contoso.example" in exports.activity.get_column("user_key").to_list()
    assert "display_name" not in exports.activity.columns
    analysis = prepare(book)
    bundle = write_bundle(analysis, tmp_path / "bundle")
    for frame in (analysis.activity_workloads, analysis.activity_customers, analysis.metrics.workloads,
                  analysis.metrics.customers):
        text = frame.write_csv()
        assert "contoso.example" not in text and "Alice" not in text
    for file in bundle.iterdir():
        assert b"contoso.example" not in file.read_bytes() and b"Alice" not in file.read_bytes()


# ---------------------------------------------------------------------------
# Assigned Products and SKUs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("cell, parts", [
    ("OFFICE 365 E3", ["OFFICE 365 E3"]),
    ("OFFICE 365 E3+MICROSOFT 365 E5", ["OFFICE 365 E3", "MICROSOFT 365 E5"]),
    ("ENTERPRISE MOBILITY + SECURITY E5", ["ENTERPRISE MOBILITY + SECURITY E5"]),
    ("MICROSOFT 365 E3+ENTERPRISE MOBILITY + SECURITY E5+POWER BI PRO",
     ["MICROSOFT 365 E3", "ENTERPRISE MOBILITY + SECURITY E5", "POWER BI PRO"]),
    ("A +B", ["A +B"]),              # a '+' with a space beside it does not separate
    ("A+ B", ["A+ B"]),
    ("A++B", ["A", "B"]),            # an empty part is dropped
    (None, []),
    ("", []),
])
def test_split_assigned_products(cell, parts):
    out = pl.select(split_assigned_products(pl.lit(cell, dtype=pl.String))).to_series()
    assert out.to_list() == [parts]


def test_assigned_products_are_mapped_to_skus_where_the_name_is_known(book):
    products = activity_products(load_exports(book).activity)
    rows = {r["assigned_product"]: r for r in products.to_dicts()}
    # not deleted holders: alice bob grace heidi ivan judy (E3), carol (M365 E3, PBI, unknown), alice (EMS E5)
    assert rows["OFFICE 365 E3"]["users"] == 6 and rows["OFFICE 365 E3"]["sku_string_id"] == "ENTERPRISEPACK"
    assert rows["OFFICE 365 E3"]["product_id"] == E3.lower()
    assert rows["OFFICE 365 E3"]["active_users"] == 4                 # alice grace heidi ivan
    ems = rows["ENTERPRISE MOBILITY + SECURITY E5"]
    assert (ems["users"], ems["sku_string_id"], ems["product_id"]) == (1, "EMSPREMIUM",
                                                                       "b05e124f-c7cc-45a0-a6aa-8cf78c946968")
    assert rows["POWER BI PRO"]["sku_string_id"] == "POWER_BI_PRO"
    unknown = rows["CONTOSO WIDGET PLAN"]
    assert unknown["users"] == 1 and unknown["sku_string_id"] is None and unknown["product_id"] is None


# ---------------------------------------------------------------------------
# Concealed names
# ---------------------------------------------------------------------------
def hex_token(name: str) -> str:
    return (name.encode().hex().upper() * 8)[:32]


@pytest.mark.parametrize("tokens, concealed", [(10, True), (9, True), (8, False), (0, False)])
def test_concealed_names_are_detected_for_nearly_all_rows(tmp_path, tokens, concealed):
    names = [u[0] for u in USERS]
    upn = {n: hex_token(n) if i < tokens else f"{n}@contoso.example" for i, n in enumerate(names)}
    exports = load_exports(write_book(tmp_path, {f"activity/{TENANT}/r.csv": activity_csv(upn=upn.get)}))
    customer = activity_customers(exports.activity).row(0, named=True)
    assert customer["concealed_names"] is concealed
    assert {k: customer[k] for k in EXPECTED_CUSTOMER if k != "concealed_names"} == \
        {k: v for k, v in EXPECTED_CUSTOMER.items() if k != "concealed_names"}    # counts still work
    note = concealment_note(customer)
    assert (note is not None) is concealed
    if concealed:
        assert "cannot be named" in note and "joined by name" in note


def test_lower_case_hex_is_not_a_concealed_token():
    frame = pl.DataFrame({"customer_id": ["c"], "user_key": ["ab" * 16]})
    assert not frame.select(pl.col("user_key").str.contains(activity._CONCEALED_TOKEN)).item()


# ---------------------------------------------------------------------------
# The loader's rules: one line per problem, all at once
# ---------------------------------------------------------------------------
def problems_of(tmp_path: Path, files: dict[str, bytes]) -> list[str]:
    with pytest.raises(InputFileError) as error:
        load_exports(write_book(tmp_path, files))
    return str(error.value).splitlines()


def test_a_file_in_no_tenant_folder_is_refused_with_the_fix(tmp_path):
    lines = problems_of(tmp_path, {"activity/ActiveUserDetail.csv": activity_csv()})
    assert len(lines) == 1
    assert "ActiveUserDetail.csv" in lines[0] and "no folder around it is named after one" in lines[0]
    assert "move it into a folder named after the customer's tenant id" in lines[0]


def test_a_tenant_folder_of_an_unknown_customer_names_the_id_and_close_matches(tmp_path):
    typo = TENANT[:-1] + "5"   # one digit off
    lines = problems_of(tmp_path, {f"activity/{typo.lower()}/r.csv": activity_csv()})
    assert len(lines) == 1
    assert typo.lower() in lines[0] and "no customer with that tenant id" in lines[0]
    assert f"closest: {TENANT} (Contoso Ltd)" in lines[0]


def test_the_tenant_folder_may_be_at_any_depth_and_in_any_case(tmp_path):
    exports = load_exports(write_book(tmp_path, {f"x/{{{TENANT.lower()}}}/y/z/r.csv": activity_csv()}))
    assert set(exports.activity.get_column("customer_id")) == {TENANT.lower()}


def test_bad_boolean_is_one_line_naming_row_and_column(tmp_path):
    data = activity_csv().replace(b",bob@contoso.example,Bob,False,", b",bob@contoso.example,Bob,maybe,")
    lines = problems_of(tmp_path, {f"activity/{TENANT}/r.csv": data})
    assert lines == [f"{tmp_path / 'activity' / TENANT / 'r.csv'}, row 2, column 'Is Deleted': value 'maybe' is "
                     f"not True or False; fix: write True or False, as the report does"]


def test_bad_date_is_one_line(tmp_path):
    data = activity_csv().replace(b"2026-03-15", b"15/03/2026")
    lines = problems_of(tmp_path, {f"activity/{TENANT}/r.csv": data})
    assert len(lines) == 1
    assert "row 3, column 'Exchange Last Activity Date': value '15/03/2026' is not a date" in lines[0]


def test_every_missing_column_is_its_own_line(tmp_path):
    header = HEADER.replace("Is Deleted,", "").replace(",Teams Last Activity Date", "")
    rows = activity_csv().decode("utf-8-sig").split("\r\n")[1:]
    body = [",".join(c for i, c in enumerate(r.split(",")) if i not in (3, 16)) for r in rows if r]
    data = "\r\n".join([header, *body]).encode()
    lines = problems_of(tmp_path, {f"activity/{TENANT}/r.csv": data})
    assert len(lines) == 2
    assert "the required column 'Is Deleted' is missing" in lines[0]
    assert "the required column 'Teams Last Activity Date' is missing" in lines[1]


def test_empty_required_values_and_two_refresh_dates_are_reported_together(tmp_path):
    text = activity_csv().decode("utf-8-sig")
    text = text.replace("\r\n2026-03-31,bob@contoso.example,Bob,False", "\r\n2026-03-30,bob@contoso.example,Bob,")
    lines = problems_of(tmp_path, {f"activity/{TENANT}/r.csv": text.encode()})
    assert len(lines) == 2
    assert "row 2, column 'Is Deleted': the value is empty" in lines[0]
    assert "2 different Report Refresh Dates (2026-03-30 .. 2026-03-31)" in lines[1]


def test_several_reports_for_one_customer_keep_the_newest_with_a_warning(tmp_path):
    older = activity_csv(refresh="2026-02-28")
    exports = load_exports(write_book(tmp_path, {f"activity/{TENANT}/march.csv": activity_csv(),
                                                 f"activity/{TENANT}/february.csv": older,
                                                 f"copy/{TENANT}/march.csv": activity_csv()}))
    assert set(exports.activity.get_column("report_refresh_date")) == {date(2026, 3, 31)}
    assert exports.activity.height == len(USERS)
    assert any("an older active-user detail report (Report Refresh Date 2026-02-28)" in w for w in exports.warnings)
    assert any("the same active-user detail report as" in w for w in exports.warnings)
    assert "activity (Microsoft 365 active-user detail): 3 file(s), 10 user row(s) used" in exports.summary()


def test_two_different_reports_with_one_refresh_date_are_an_error(tmp_path):
    other = activity_csv(USERS[:3])
    lines = problems_of(tmp_path, {f"activity/{TENANT}/a.csv": activity_csv(), f"activity/{TENANT}/b.csv": other})
    assert len(lines) == 1 and "a second, different active-user detail report" in lines[0]


# ---------------------------------------------------------------------------
# Metrics: exact figures beside Partner Center's, and the turnover cause
# ---------------------------------------------------------------------------
def test_turnover_and_exact_figures_reach_compute(book):
    m = metrics.compute(load_exports(book))
    wl = {r["workload"]: r for r in m.workloads.filter(pl.col("customer_id") == TENANT.lower()).to_dicts()}
    # Partner Center: Exchange 8 active of 7 qualified -> inflated; the activity shows dave (deleted, active)
    # and heidi + judy (licences assigned inside the window) -> turnover
    assert wl["Exchange"]["usage_rate"] == pytest.approx(8 / 7) and wl["Exchange"]["inflation_causes"] == "turnover"
    assert wl["Yammer"]["inflation_causes"] == "turnover;yammer"      # 8 of 7, and licences assigned in the window
    assert (wl["Exchange"]["entitled_users_exact"], wl["Exchange"]["active_users_exact"]) == (7, 4)
    assert wl["Exchange"]["usage_rate_exact"] == pytest.approx(4 / 7)
    assert all(w["usage_basis"] == EXACT_BASIS for w in wl.values())
    product = m.products.filter(pl.col("customer_id") == TENANT.lower()).row(0, named=True)
    assert product["inflation_causes"] == "turnover" and product["segment"] == "data_check"
    assert "turnover in the same 28 days" in product["next_step"]
    customers = {r["customer_id"]: r for r in m.customers.to_dicts()}
    mine = customers[TENANT.lower()]
    assert mine["inflation_causes"] == "turnover"
    assert mine["usage_rate"] == pytest.approx(8 / 7)                 # Partner Center's figure, kept
    assert mine["usage_rate_exact"] == pytest.approx(5 / 7) and mine["usage_basis"] == EXACT_BASIS
    # a customer without activity keeps the lower bound and its old cause
    other = customers[OTHER.lower()]
    assert other["usage_rate_exact"] is None and other["usage_basis"] == LOWER_BOUND_BASIS
    assert other["inflation_causes"] == "unexplained"
    assert m.activity_customers.height == 1 and m.activity_workloads.height == 5


def test_turnover_needs_evidence_on_the_inflated_workload(tmp_path):
    # no deleted users, no licence assigned in the window: an inflated Exchange row stays unexplained
    quiet = [u for u in USERS if u[0] not in ("dave", "heidi", "judy")]
    m = metrics.compute(load_exports(write_book(tmp_path, {f"activity/{TENANT}/r.csv": activity_csv(quiet)})))
    exchange = m.workloads.filter((pl.col("customer_id") == TENANT.lower()) & (pl.col("workload") == "Exchange"))
    assert exchange.get_column("inflation_causes").to_list() == ["unexplained"]
    assert "turnover" in metrics.CAUSES and list(metrics.CAUSES) == sorted(metrics.CAUSES)
    assert "data_check:turnover" in metrics.NEXT_STEPS


def test_without_activity_the_frames_are_unchanged(book, tmp_path):
    plain = write_book(tmp_path / "plain", {})
    m = metrics.compute(load_exports(plain))
    assert "usage_basis" not in m.workloads.columns and "usage_rate_exact" not in m.customers.columns
    assert m.activity_workloads.is_empty() and m.activity_customers.is_empty()
    assert m.activity_workloads.schema == activity.ACTIVITY_WORKLOAD_COLUMNS


# ---------------------------------------------------------------------------
# Bundle, customer view, narrative
# ---------------------------------------------------------------------------
def test_bundle_keeps_the_activity_tables_and_slices_them_by_customer(book, tmp_path):
    analysis = prepare(book)
    folder = write_bundle(analysis, tmp_path / "bundle")
    assert (folder / "activity_workloads.parquet").is_file() and (folder / "activity_customers.parquet").is_file()
    whole = read_bundle(folder)
    assert whole.activity_workloads.equals(analysis.activity_workloads)
    assert whole.activity_customers.equals(analysis.activity_customers)
    other = read_bundle(folder, customer_id=OTHER)
    assert other.activity_workloads.is_empty() and other.activity_customers.is_empty()
    view = customer_view(read_bundle(folder, customer_id=TENANT), TENANT)
    assert view.activity_customer["usage_rate_exact"] == pytest.approx(5 / 7)
    assert view.activity_workloads.height == 5
    assert customer_view(whole, OTHER).activity_customer is None


def test_old_bundles_without_activity_tables_still_read(book, tmp_path):
    folder = write_bundle(prepare(book), tmp_path / "bundle")
    for name in ("activity_workloads", "activity_customers"):
        (folder / f"{name}.parquet").unlink()
    analysis = read_bundle(folder)
    assert analysis.activity_customers.is_empty()
    assert customer_view(analysis, TENANT).activity_customer is None


def test_exact_usage_narrative_shows_both_bases_escaped(book):
    analysis = prepare(book)
    fragment = exact_usage.exact_usage(customer_view(analysis, TENANT), analysis)
    assert "Exact usage: 71.4% (5 of 7 licensed users" in fragment.text
    assert EXACT_BASIS in fragment.text and LOWER_BOUND_BASIS in fragment.text
    assert "Partner Center: 114.3% (8 active of 7 qualified)" in fragment.text
    assert "the same period" in fragment.text
    assert "1 deleted user still active" in fragment.html and "2 users active without its licence" in fragment.html
    assert "alice" not in fragment.html.lower()
    bare = exact_usage.exact_usage(customer_view(analysis, OTHER), analysis)
    assert f"Usage basis: {LOWER_BOUND_BASIS} only" in bare.text
    assert exact_usage.exact_usage_figures(customer_view(analysis, OTHER))["usage_rate_exact"] is None


def test_exact_usage_narrative_escapes_markup(book):
    analysis = prepare(book)
    view = customer_view(analysis, TENANT)
    hostile = view.activity_workloads.with_columns(pl.lit("<script>x</script>").alias("workload"))
    from dataclasses import replace
    fragment = exact_usage.exact_usage(replace(view, activity_workloads=hostile), analysis)
    assert "<script>" not in fragment.html and "&lt;script&gt;" in fragment.html


# ---------------------------------------------------------------------------
# The committed sample
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_metrics():
    return metrics.compute(load_exports(SAMPLE_DIR))


def test_sample_activity_files_have_the_real_shape():
    data = generate_sample(50, 7)
    for tenant in data.planted["activity_exact"]:
        raw = (SAMPLE_DIR / "activity" / tenant / "ActiveUserDetail.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
        frame = pl.read_csv(io.BytesIO(raw), infer_schema=False)
        for column in [c for c in frame.columns if c.startswith(("Has ", "Is "))]:
            assert set(frame.get_column(column)) <= {"True", "False"}
        assert set(frame.get_column("Report Refresh Date")) == {"2026-11-01"}


def test_sample_planted_activity_cases(sample_metrics):
    data = generate_sample(50, 7)
    [turnover] = data.planted["inflated_turnover"]
    aw = {(r["customer_id"], r["workload"]): r for r in sample_metrics.activity_workloads.to_dicts()}
    ac = {r["customer_id"]: r for r in sample_metrics.activity_customers.to_dicts()}
    t = turnover.lower()
    # 20 current users: Exchange 18 active (24 in Partner Center = 18 + 6 deleted users active in the window)
    assert (aw[t, "Exchange"]["entitled_users"], aw[t, "Exchange"]["active_entitled_users"]) == (20, 18)
    assert aw[t, "Exchange"]["deleted_active_users"] == 6 and aw[t, "Exchange"]["active_users_any_licence"] == 24
    assert ac[t]["assigned_in_window_users"] == 5 and ac[t]["deleted_users"] == 7
    assert ac[t]["usage_rate_exact"] == pytest.approx(18 / 20)
    row = sample_metrics.workloads.filter((pl.col("customer_id") == t) & (pl.col("workload") == "Exchange")).row(
        0, named=True)
    assert row["inflation_causes"] == "turnover" and row["usage_rate"] == pytest.approx(24 / 20)
    [concealed] = data.planted["activity_concealed_names"]
    assert ac[concealed.lower()]["concealed_names"] is True
    assert ac[concealed.lower()]["usage_rate_exact"] == pytest.approx(22 / 57)   # Partner Center: 20 / 57
    [smith] = data.planted["activity_yammer_unlicensed"]
    assert aw[smith.lower(), "Yammer"]["active_unlicensed_users"] == 12
    assert aw[smith.lower(), "Yammer"]["active_users_any_licence"] == 34          # Partner Center's Yammer count
    for tenant in data.planted["activity_window_boundaries"]:
        rows = data.activity[tenant]
        exchange = rows.get_column("Exchange Last Activity Date")
        assert "2026-10-05" in exchange.to_list() and "2026-10-04" in exchange.to_list()
    exact = sample_metrics.customers.filter(pl.col("usage_basis") == EXACT_BASIS)
    assert sorted(exact.get_column("customer_id")) == sorted(t.lower() for t in data.planted["activity_exact"])


def test_row_order_and_interleaved_customers_do_not_change_the_figures(book):
    rows = load_exports(book).activity
    other = rows.with_columns(pl.lit(OTHER.lower()).alias("customer_id"))
    stacked = pl.concat([rows, other])
    expected = activity_tables(stacked)                       # two runs, one per customer
    interleaved = pl.concat([rows.head(4), other.head(3), rows.slice(4), other.slice(3)])   # four runs
    for got, want in zip(activity_tables(interleaved), expected):
        assert got.equals(want)
    assert as_dict(expected[0].filter(pl.col("customer_id") == OTHER.lower())) == EXPECTED_WORKLOADS
    # many short runs (the group_by path): ten copies of each customer, alternating row by row, shuffled
    many = pl.concat([stacked] * 10)
    shuffled = many.sample(fraction=1.0, shuffle=True, seed=1)
    assert shuffled.get_column("customer_id").rle().len() > 64
    tens = activity_tables(many)
    for got, want in zip(activity_tables(shuffled), tens):
        assert got.equals(want)
    assert tens[0].get_column("entitled_users").to_list() == [10 * e[0] for e in EXPECTED_WORKLOADS.values()] * 2


def test_a_frame_with_two_reports_of_one_customer_uses_the_newest(book):
    rows = load_exports(book).activity
    older = rows.with_columns(pl.col("report_refresh_date") - pl.duration(days=30)).head(3)
    for got, want in zip(activity_tables(pl.concat([older, rows])), activity_tables(rows)):
        assert got.equals(want)
