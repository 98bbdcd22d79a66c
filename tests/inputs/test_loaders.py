"""Loader rules: one valid and one invalid fixture per rule, written by the tests in the real export shapes."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from adoption_kit.cli import main
from adoption_kit.errors import InputFileError
from adoption_kit.inputs import load_exports, read_export_file

TENANT = "0112A436-B14E-4888-967B-CA4BB2CF1234"
PRODUCT = "CDD28E44-67E3-425E-BE4C-737FAB2899D3"
E3 = "6FD2C87F-B296-42F0-B197-1E91E994B900"


def deployment_record(**overrides) -> dict:
    record = {"processedDateTime": "2026-11-01T00:00:00", "serviceCode": "o365",
              "serviceName": "Microsoft Office 365", "channel": "reseller", "customerTenantId": TENANT,
              "customerName": "TEST COMPANY", "productId": PRODUCT, "productName": "OFFICE 365 BUSINESS",
              "licensesDeployed": 7, "licensesSold": 9}
    record.update(overrides)
    return record


def usage_record(**overrides) -> dict:
    record = deployment_record()
    del record["licensesDeployed"], record["licensesSold"]
    record.update({"workloadCode": "EXO", "workloadName": "Exchange", "licensesActive": 5,
                   "licensesQualified": 7})
    record.update(overrides)
    return record


def write_json(path: Path, records: list[dict], envelope: str = "Value") -> Path:
    if envelope == "items":
        document = {"totalCount": len(records), "items": records, "attributes": {"objectType": "Collection"}}
    elif envelope == "bare":
        document = records
    else:
        document = {envelope: records, "@nextLink": None, "TotalCount": len(records)}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_delimited(path: Path, records: list[dict], *, delimiter: str = ",", encoding: str = "utf-8",
                    quote_all: bool = False, prefix: str = "", header_map=None) -> Path:
    buffer = io.StringIO()
    header = list(records[0])
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n",
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow([header_map(h) if header_map else h for h in header])
    for record in records:
        writer.writerow([record[h] for h in header])
    path.write_bytes((prefix + buffer.getvalue()).encode(encoding))
    return path


def problems_of(paths) -> list[str]:
    with pytest.raises(InputFileError) as caught:
        load_exports(paths)
    return [str(p) for p in caught.value.problems]


# --- envelopes and pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("envelope", ["Value", "value", "VALUE", "items", "bare"])
def test_json_envelopes_are_all_read(tmp_path, envelope):
    write_json(tmp_path / "deployment.json", [deployment_record()], envelope)
    exports = load_exports(tmp_path)
    assert exports.deployment.select("licenses_sold", "licenses_assigned").row(0) == (9, 7)


def test_json_without_a_record_list_is_rejected(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"data": [deployment_record()]}))
    [line] = problems_of(tmp_path)
    assert "x.json" in line and "'Value' or 'items'" in line and "fix:" in line


def test_truncated_json_names_the_file_and_position(tmp_path):
    text = json.dumps({"Value": [deployment_record()]})
    (tmp_path / "page.json").write_text(text[: len(text) // 2])
    [line] = problems_of(tmp_path)
    assert "page.json" in line and "not valid JSON" in line and "truncated" in line


def test_several_pages_of_one_feed_are_concatenated(tmp_path):
    second = deployment_record(customerTenantId=TENANT.replace("0112", "9999"), customerName="OTHER")
    write_json(tmp_path / "page-1.json", [deployment_record()])
    write_json(tmp_path / "page-2.json", [second])
    write_json(tmp_path / "page-3.json", [])  # a last, empty page is legal
    exports = load_exports(tmp_path)
    assert exports.deployment.height == 2
    assert any("no records" in w for w in exports.warnings)


# --- delimited text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_delimiters_are_sniffed(tmp_path, delimiter):
    write_delimited(tmp_path / "deployment.txt", [deployment_record(customerName="Smith, Jones; Partners")],
                    delimiter=delimiter)
    exports = load_exports(tmp_path)
    assert exports.deployment.get_column("customer_name").to_list() == ["Smith, Jones; Partners"]


def test_powershell_export_csv_with_type_line_pascal_case_and_quotes(tmp_path):
    write_delimited(tmp_path / "usage.csv", [usage_record(), usage_record(workloadCode="SPO",
                                                                         workloadName="SharePoint")],
                    quote_all=True, prefix="#TYPE Selected.System.Management.Automation.PSCustomObject\r\n",
                    header_map=lambda h: h[0].upper() + h[1:])
    usage = load_exports(tmp_path).usage
    assert usage.get_column("workload").to_list() == ["Exchange", "SharePoint"]
    assert usage.get_column("licenses_active").to_list() == [5, 5]


def test_ragged_csv_row_is_an_error_not_a_guess(tmp_path):
    path = write_delimited(tmp_path / "deployment.csv", [deployment_record()])
    path.write_text(path.read_text() + "2026-11-01T00:00:00,o365,x,reseller,too,many,fields,here,1,2,3,4\n")
    [line] = problems_of(tmp_path)
    assert "deployment.csv" in line and "fix:" in line


def test_headers_match_ignoring_case_and_spaces_and_the_licenseActive_alias(tmp_path):
    record = usage_record()
    record["licenseActive"] = record.pop("licensesActive")
    write_delimited(tmp_path / "usage.csv", [record],
                    header_map=lambda h: {"customerTenantId": "Customer Tenant Id",
                                          "licensesQualified": "LICENSES_QUALIFIED"}.get(h, h))
    usage = load_exports(tmp_path).usage
    assert usage.select("licenses_active", "licenses_qualified").row(0) == (5, 7)


# --- encodings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_encodings(tmp_path, encoding):
    write_delimited(tmp_path / "deployment.csv", [deployment_record(customerName="Société Générale d'Études")],
                    encoding=encoding)
    exports = load_exports(tmp_path)
    assert exports.deployment.get_column("customer_name").to_list() == ["Société Générale d'Études"]
    assert exports.deployment.columns[0] == "processed_at"  # the BOM did not stick to the first header


# A UTF-8 CSV or TSV is parsed by polars from its path, checked through a map of the file: its bytes are never
# read into memory. Any other file still takes the bytes path, with the same figures and warnings.
@pytest.mark.parametrize(("encoding", "in_place"), [("utf-8", True), ("utf-8-sig", True), ("cp1252", False),
                                                    ("utf-16", False)])
def test_utf8_files_are_parsed_in_place_and_others_from_their_bytes(tmp_path, monkeypatch, encoding, in_place):
    write_delimited(tmp_path / "deployment.csv", [deployment_record(customerName="Société Générale")],
                    encoding=encoding)
    read_whole: list[Path] = []
    real_read_bytes = Path.read_bytes

    def recording_read_bytes(self: Path) -> bytes:
        if self.parent == tmp_path:   # the export, not the kit's own files (the packaged catalog)
            read_whole.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", recording_read_bytes)
    exports = load_exports(tmp_path)
    assert exports.deployment.get_column("customer_name").to_list() == ["Société Générale"]
    assert exports.deployment.get_column("licenses_sold").to_list() == [9]
    assert (read_whole == []) is in_place
    assert any("Windows-1252" in w for w in exports.warnings) is (encoding == "cp1252")


def test_binary_junk_is_rejected(tmp_path):
    (tmp_path / "junk.csv").write_bytes(bytes(range(256)) * 4)
    [line] = problems_of(tmp_path)
    assert "junk.csv" in line and "binary" in line


def test_empty_file_is_rejected(tmp_path):
    (tmp_path / "empty.csv").write_text("  \n")
    [line] = problems_of(tmp_path)
    assert "empty.csv" in line and "empty" in line


def test_header_only_file_warns_and_no_data_at_all_is_an_error(tmp_path):
    path = write_delimited(tmp_path / "deployment.csv", [deployment_record()])
    path.write_text(path.read_text().splitlines()[0] + "\n")
    lines = problems_of(tmp_path)
    assert any("no license deployment or usage rows" in line for line in lines)
    write_json(tmp_path / "usage.json", [usage_record()])
    exports = load_exports(tmp_path)
    assert any("header with no rows" in w for w in exports.warnings)


# --- normalisation ---------------------------------------------------------------------------------


def test_guids_are_lower_cased_and_invalid_ones_named(tmp_path):
    write_json(tmp_path / "ok.json", [deployment_record()])
    exports = load_exports(tmp_path)
    assert exports.deployment.select("customer_id", "product_id").row(0) == (TENANT.lower(), PRODUCT.lower())
    write_json(tmp_path / "bad.json", [deployment_record(customerTenantId="contoso")])
    [line] = problems_of(tmp_path / "bad.json")
    assert "bad.json, row 1, column 'customerTenantId'" in line and "'contoso'" in line and "GUID" in line


@pytest.mark.parametrize("text, expected", [
    ("2018-10-14T00:00:00", datetime(2018, 10, 14, tzinfo=timezone.utc)),               # naive = UTC
    ("2017-03-14T03:25:16.36+00:00", datetime(2017, 3, 14, 3, 25, 16, 360000, tzinfo=timezone.utc)),
    ("2021-10-25T00:00:00Z", datetime(2021, 10, 25, tzinfo=timezone.utc)),
    ("2026-11-01T02:00:00+02:00", datetime(2026, 11, 1, tzinfo=timezone.utc)),           # offset converted
    ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
])
def test_timestamps_with_and_without_offset(tmp_path, text, expected):
    write_json(tmp_path / "d.json", [deployment_record(processedDateTime=text)])
    assert load_exports(tmp_path).deployment.get_column("processed_at").to_list() == [expected]


def test_unparseable_timestamp_is_named(tmp_path):
    write_json(tmp_path / "d.json", [deployment_record(processedDateTime="14/10/2018 00:00")])
    [line] = problems_of(tmp_path)
    assert "column 'processedDateTime'" in line and "ISO 8601" in line


def test_missing_product_id_falls_back_to_the_name_with_a_warning(tmp_path):
    record = deployment_record()
    del record["productId"]
    write_delimited(tmp_path / "old.csv", [record])
    exports = load_exports(tmp_path)
    assert exports.deployment.get_column("product_id").to_list() == ["name:OFFICE 365 BUSINESS"]
    assert any("without productId" in w for w in exports.warnings)


@pytest.mark.parametrize("code, name, expected", [
    ("EXO", "Exchange", "Exchange"), ("SPO", "SharePoint", "SharePoint"),
    ("ODB", "OneDrive for Business", "SharePoint"), ("SFB", "Skype For Business", "Skype For Business"),
    ("TEAMS", "Microsoft Teams", "Teams"), ("YAM", "Viva Engage", "Yammer"),
    ("PPL", "Planner", "Planner"),  # unknown codes are carried through as labels
    ("XYZ", None, "XYZ"),
])
def test_workloads_are_canonical(tmp_path, code, name, expected):
    write_json(tmp_path / "u.json", [usage_record(workloadCode=code, workloadName=name)])
    usage = load_exports(tmp_path).usage
    assert usage.select("workload_code", "workload").row(0) == (code, expected)


# --- schema checks, all problems at once -------------------------------------------------------------


def test_every_missing_column_is_reported_at_once(tmp_path):
    record = deployment_record()
    del record["licensesSold"], record["customerName"]
    write_delimited(tmp_path / "deployment.csv", [record] * 1)
    record = usage_record()
    del record["licensesQualified"]
    record["licensesQualifed"] = 3  # a renamed column counts as missing
    write_json(tmp_path / "usage.json", [record])
    lines = problems_of(tmp_path)
    assert any("column 'customerName' is missing" in line for line in lines)
    # licensesSold missing makes the file look like no known kind: it must say so, with the columns found
    joined = "\n".join(lines)
    assert "deployment.csv" in joined and "usage.json" in joined
    assert any("'licensesQualified' is missing" in line or "licensesQualified" in line for line in lines)


def test_bad_counts_each_get_their_own_line(tmp_path):
    records = [usage_record(licensesActive=-1), usage_record(workloadCode="SPO", licensesQualified="7.5"),
               usage_record(workloadCode="SFB", licensesActive="seven"),
               usage_record(workloadCode="TEAMS", licensesActive="99999999999"),
               usage_record(workloadCode="YAM", licensesQualified="7.0")]  # 7.0 is the whole number 7
    write_delimited(tmp_path / "usage.csv", records)
    lines = problems_of(tmp_path)
    assert len(lines) == 4, lines
    assert any("row 1" in line and "negative" in line for line in lines)
    assert any("row 2" in line and "'7.5'" in line and "whole number" in line for line in lines)
    assert any("row 3" in line and "'seven'" in line for line in lines)
    assert any("row 4" in line and "larger than any real licence count" in line for line in lines)
    assert all("usage.csv" in line and "fix:" in line for line in lines)


def test_many_bad_rows_are_summarised_in_one_line(tmp_path):
    records = [usage_record(workloadCode=f"W{i}", licensesActive=-i) for i in range(1, 9)]
    write_json(tmp_path / "usage.json", records)
    [line] = problems_of(tmp_path)
    assert "8 values" in line and "rows 1, 2, 3, 4, 5 and 3 more" in line


def test_empty_required_value_is_named(tmp_path):
    write_json(tmp_path / "d.json", [deployment_record(customerTenantId=None)])
    [line] = problems_of(tmp_path)
    assert "row 1, column 'customerTenantId'" in line and "is empty" in line


def test_unknown_file_kind_lists_its_columns(tmp_path):
    """Skipped (not an export), and named with its columns in the error when nothing else is usable."""
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    line, nothing = problems_of(tmp_path)
    assert "notes.csv: skipped" in line and "not a recognised Partner Center export" in line and "a, b" in line
    assert "no license deployment or usage rows found" in nothing


def test_duplicate_header_is_rejected(tmp_path):
    (tmp_path / "d.csv").write_text("customerName,CustomerName\nx,y\n")
    [line] = problems_of(tmp_path)
    assert "more than once" in line


# --- duplicates and conflicts ------------------------------------------------------------------------


def test_identical_duplicate_rows_are_dropped_with_a_warning(tmp_path):
    write_json(tmp_path / "page-1.json", [deployment_record()])
    write_json(tmp_path / "page-1 (1).json", [deployment_record()])  # the same page saved twice
    exports = load_exports(tmp_path)
    assert exports.deployment.height == 1
    assert any("1 duplicated row(s) ignored" in w for w in exports.warnings)


def test_conflicting_rows_are_an_error_naming_both_places(tmp_path):
    write_json(tmp_path / "a.json", [deployment_record()])
    write_json(tmp_path / "b.json", [deployment_record(licensesSold=12)])
    [line] = problems_of(tmp_path)
    assert "a.json row 1" in line and "b.json row 1" in line and "9 vs 12" in line


def test_same_customer_under_two_names_warns(tmp_path):
    write_json(tmp_path / "d.json", [deployment_record(), deployment_record(productId=E3,
                                                                            customerName="Test Company Ltd")])
    exports = load_exports(tmp_path)
    assert any("more than one name" in w for w in exports.warnings)


def test_latest_keeps_each_customers_newest_snapshot(tmp_path):
    write_json(tmp_path / "old.json", [deployment_record(processedDateTime="2026-10-01T00:00:00",
                                                         licensesDeployed=1)])
    write_json(tmp_path / "new.json", [deployment_record()])
    exports = load_exports(tmp_path)
    assert exports.deployment.height == 2 and len(exports.snapshots) == 2
    assert exports.latest().deployment.get_column("licenses_assigned").to_list() == [7]


# --- subscriptions -----------------------------------------------------------------------------------


def subscription_record(**overrides) -> dict:
    record = {"customerTenantId": TENANT, "customerName": "TEST COMPANY", "customerMarket": "US",
              "id": "a1b2c3d4-0000-0000-0000-000000000001", "status": "ACTIVE",
              "productName": "OFFICE 365 BUSINESS", "subscriptionType": "Office", "autoRenewEnabled": "true",
              "partnerId": "1234567", "friendlyName": "O365 Business", "creationDate": "2025-01-01T00:00:00",
              "effectiveStartDate": "2025-01-01T00:00:00", "commitmentEndDate": "2026-12-31T00:00:00",
              "trialStartDate": "", "trialEndDate": "", "trialToPaidConversionDate": "",
              "deprovisionedDate": "", "licenseCount": "9"}
    record.update(overrides)
    return record


def test_subscriptions_analytics_shape(tmp_path):
    write_json(tmp_path / "d.json", [deployment_record()])
    write_delimited(tmp_path / "subscriptions.csv", [
        subscription_record(),
        subscription_record(id="2", status="SUSPENDED", commitmentEndDate="9999-12-31T00:00:00"),
        subscription_record(id="3", status="In Grace Period", trialStartDate="2026-10-01T00:00:00"),
        subscription_record(id="4", status="DEPROVISIONED", trialStartDate="2026-01-01T00:00:00",
                            trialToPaidConversionDate="2026-02-01T00:00:00"),
    ])
    subs = load_exports(tmp_path).subscriptions.sort("subscription_id")
    # sorted ids: "2", "3", "4", "a1b2..."
    assert subs.get_column("status").to_list() == ["suspended", "grace_period", "deprovisioned", "active"]
    assert subs.get_column("status_raw").to_list() == ["SUSPENDED", "In Grace Period", "DEPROVISIONED", "ACTIVE"]
    # a trial start with no conversion is a trial; a converted trial is not
    assert subs.get_column("is_trial").to_list() == [False, True, False, False]
    assert subs.get_column("quantity").to_list() == [9, 9, 9, 9]  # licenseCount alias
    assert subs.get_column("product_key").unique().to_list() == ["OFFICE 365 BUSINESS"]
    # 9999-12-31 means "no commitment end": null, not a date
    assert subs.filter(pl.col("subscription_id") == "2").get_column("commitment_end_at").to_list() == [None]


def test_subscriptions_resource_shape_takes_the_customer_from_its_self_link(tmp_path):
    write_json(tmp_path / "d.json", [deployment_record()])
    resource = {"id": "sub-1", "offerId": "CFQ7TTC0LF8Q:0001", "offerName": "Office 365 Business",
                "quantity": 4, "unitType": "Licenses", "status": "suspended", "isTrial": True,
                "billingCycle": "monthly", "termDuration": "P1Y", "autoRenewEnabled": False,
                "commitmentEndDate": "2027-01-31T00:00:00Z",
                "links": {"self": {"uri": f"/customers/{TENANT}/subscriptions/sub-1", "method": "GET"}}}
    (tmp_path / "subs.json").write_text(json.dumps({"totalCount": 1, "items": [resource]}))
    subs = load_exports(tmp_path).subscriptions
    assert subs.select("customer_id", "quantity", "status", "is_trial", "auto_renew").row(0) == (
        TENANT.lower(), 4, "suspended", True, False)


def test_subscription_with_a_bad_boolean_is_named(tmp_path):
    write_json(tmp_path / "d.json", [deployment_record()])
    write_delimited(tmp_path / "subscriptions.csv", [subscription_record(autoRenewEnabled="maybe")])
    [line] = problems_of(tmp_path)
    assert "column 'autoRenewEnabled'" in line and "'maybe'" in line


# --- CLI -----------------------------------------------------------------------------------------------


def test_cli_validate_prints_a_summary(tmp_path, capsys):
    write_json(tmp_path / "d.json", [deployment_record()])
    assert main(["validate", str(tmp_path)]) == 0
    assert "deployment: 1 file(s), 1 row(s), 1 customer(s)" in capsys.readouterr().out


def test_cli_bad_input_exits_2_with_one_line_per_problem_and_no_traceback(tmp_path, capsys):
    write_json(tmp_path / "d.json", [deployment_record(licensesSold=-3, customerTenantId="nope")])
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") and "d.json, row 1" in line for line in lines)
    assert "Traceback" not in err


def test_read_export_file_reports_the_kind(tmp_path):
    kind, frame, _ = read_export_file(write_json(tmp_path / "u.json", [usage_record()]))
    assert kind.name == "usage" and frame.height == 1


# ---------------------------------------------------------------------------
# Large books: files of a kind are checked together, in batches; pages are scanned while polars parses
# ---------------------------------------------------------------------------
def test_batches_of_files_give_the_same_frames_as_one_file_at_a_time(monkeypatch):
    from adoption_kit.config import SAMPLE_DIR
    from adoption_kit.inputs import load

    together = load_exports(SAMPLE_DIR)
    monkeypatch.setattr(load, "_BATCH_ROWS", 1)   # every file normalised on its own
    alone = load_exports(SAMPLE_DIR)
    for feed in ("deployment", "usage", "subscriptions", "prices", "tickets", "activity"):
        assert getattr(together, feed).equals(getattr(alone, feed)), feed
    assert sorted(together.warnings) == sorted(alone.warnings)
    assert [(f.path, f.kind, f.rows) for f in together.files] == [(f.path, f.kind, f.rows) for f in alone.files]


def test_problems_in_several_files_of_a_kind_each_name_their_file_row_and_header(tmp_path):
    write_json(tmp_path / "usage-1.json", [usage_record(), usage_record(workloadCode="SPO", licensesActive=-3)])
    spelled = {k[0].upper() + k[1:]: v for k, v in usage_record(customerTenantId="not-a-guid").items()}
    write_json(tmp_path / "usage-2.json", [spelled])
    write_json(tmp_path / "deployment.json", [deployment_record()])
    with pytest.raises(InputFileError) as raised:
        load_exports(tmp_path)
    lines = str(raised.value).splitlines()
    negative = [line for line in lines if "negative" in line]
    guid = [line for line in lines if "not a GUID" in line]
    assert len(negative) == 1 and "usage-1.json" in negative[0] and "row 2" in negative[0] \
        and "licensesActive" in negative[0]
    assert len(guid) == 1 and "usage-2.json" in guid[0] and "row 1" in guid[0] and "CustomerTenantId" in guid[0]


def test_a_repeated_key_written_with_a_space_before_its_colon_is_still_refused(tmp_path):
    record = json.dumps(deployment_record())[:-1] + ', "licensesSold" : 99}'
    (tmp_path / "deployment.json").write_text('{"Value": [' + record + ']}', encoding="utf-8")
    write_json(tmp_path / "usage.json", [usage_record()])
    with pytest.raises(InputFileError, match="licensesSold"):
        load_exports(tmp_path)


@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":")], ids=["spaced", "compact"])
def test_a_true_among_counts_is_not_read_as_one(tmp_path, separators):
    records = [deployment_record(), deployment_record(productId=E3, productName="OFFICE 365 E3", licensesSold=True)]
    (tmp_path / "deployment.json").write_text(json.dumps({"Value": records}, separators=separators), encoding="utf-8")
    write_json(tmp_path / "usage.json", [usage_record()])
    with pytest.raises(InputFileError, match="licensesSold"):
        load_exports(tmp_path)


# ---------------------------------------------------------------------------
# The parsed-input cache
# ---------------------------------------------------------------------------
def _exports_equal(a, b) -> None:
    for feed in ("deployment", "usage", "subscriptions", "prices", "tickets", "activity"):
        assert getattr(a, feed).equals(getattr(b, feed)), feed
    assert sorted(a.warnings) == sorted(b.warnings)
    assert [(f.path, f.kind, f.rows, f.sha256) for f in a.files] == \
        [(f.path, f.kind, f.rows, f.sha256) for f in b.files]


def test_a_rerun_reads_the_cache_and_gives_exactly_the_first_runs_exports(tmp_path, monkeypatch):
    from adoption_kit.config import SAMPLE_DIR
    from adoption_kit.inputs import json_pages

    monkeypatch.setenv("ADOPTION_KIT_CACHE", str(tmp_path / "cache"))
    first = load_exports(SAMPLE_DIR)
    entries = sorted((tmp_path / "cache").rglob("*.parquet"))
    json_and_csv = [f for f in first.files if f.kind not in ("activity", "empty")]
    assert len(entries) == len(json_and_csv)
    with monkeypatch.context() as guard:
        guard.setattr(json_pages, "_read_json_records_with_polars",
                      lambda *a, **k: pytest.fail("a cached page was parsed again"))
        _exports_equal(first, load_exports(SAMPLE_DIR))
    monkeypatch.setenv("ADOPTION_KIT_CACHE", "off")
    _exports_equal(first, load_exports(SAMPLE_DIR))
    assert len(sorted((tmp_path / "cache").rglob("*.parquet"))) == len(entries)


def test_the_cache_keeps_read_warnings_and_follows_the_files_content_and_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ADOPTION_KIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "book"
    folder.mkdir()
    # Windows-1252 text (a warning when read) and a blank line (a warning when checked)
    write_delimited(folder / "deployment.csv", [deployment_record(customerName="Café Müller")], encoding="cp1252")
    with (folder / "deployment.csv").open("ab") as handle:
        handle.write(b",,,,,,,,,\r\n")
    write_json(folder / "usage.json", [usage_record()])
    first = load_exports(folder)
    assert any("Windows-1252" in w for w in first.warnings) and any("empty row" in w for w in first.warnings)
    _exports_equal(first, load_exports(folder))

    # Same content under another name: the cached rows and warnings name the new file.
    (folder / "deployment.csv").rename(folder / "licences.csv")
    renamed = load_exports(folder)
    assert set(renamed.deployment.get_column("source_file")) == {str(folder / "licences.csv")}
    assert all("deployment.csv" not in w for w in renamed.warnings)
    assert any(w.startswith(str(folder / "licences.csv") + ":") and "Windows-1252" in w for w in renamed.warnings)

    # Changed content: read again, never the stale rows.
    write_json(folder / "usage.json", [usage_record(licensesActive=6)])
    assert load_exports(folder).usage.get_column("licenses_active").to_list() == [6]


def test_an_unreadable_cache_entry_is_a_miss_and_an_unwritable_cache_no_error(tmp_path, monkeypatch):
    from adoption_kit.config import SAMPLE_DIR

    cache = tmp_path / "cache"
    monkeypatch.setenv("ADOPTION_KIT_CACHE", str(cache))
    first = load_exports(SAMPLE_DIR)
    entries = list(cache.rglob("*.parquet"))
    for entry in entries:
        entry.write_bytes(b"PAR1 truncated")
    damaged = load_exports(SAMPLE_DIR)
    notes = [w for w in damaged.warnings if "parsed-cache entry was damaged (checksum mismatch)" in w]
    assert len(notes) == len(entries) > 0                   # each damaged entry named once...
    assert sorted(set(damaged.warnings) - set(notes)) == sorted(first.warnings)
    _exports_equal(first, load_exports(SAMPLE_DIR))         # ...and rewritten: the next run is silent again
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("ADOPTION_KIT_CACHE", str(blocked))
    _exports_equal(first, load_exports(SAMPLE_DIR))


def test_a_file_with_dates_after_today_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ADOPTION_KIT_CACHE", str(tmp_path / "cache"))
    write_json(tmp_path / "deployment.json", [deployment_record(processedDateTime="2999-01-01T00:00:00")])
    write_json(tmp_path / "usage.json", [usage_record()])
    exports = load_exports(tmp_path)
    assert any("after today" in w for w in exports.warnings)
    assert len(list((tmp_path / "cache").rglob("*.parquet"))) == 1   # usage.json only
