"""The --xlsx workbook, opened by a reader (openpyxl): both sheets, rates as real percentages, frozen header, filter,
hyperlinks to the reports, hostile text kept as text (never a formula)."""
from __future__ import annotations

import pytest
from openpyxl import load_workbook

from adoption_kit import analysis
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.report.links import report_links
from adoption_kit.report.workbook import PERCENT_FORMAT, SHEET_ACTIONS, SHEET_CUSTOMERS, write_workbook

FORMULA_NAME = '=HYPERLINK("http://example.invalid","x")'


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    result = analysis.prepare(SAMPLE_DIR)     # the sample has a customer named like a formula (FORMULA_NAME)
    links = report_links(result.customers)
    target = write_workbook(result, tmp_path_factory.mktemp("xlsx") / "adoption-lists.xlsx", links)
    return result, links, load_workbook(target)


def _rows(sheet):
    header = [c.value for c in sheet[1]]
    return header, [dict(zip(header, row)) for row in sheet.iter_rows(min_row=2)]


def test_sheets_and_frozen_header(book):
    result, _links, workbook = book
    assert workbook.sheetnames == [SHEET_ACTIONS, SHEET_CUSTOMERS]
    actions, customers = workbook[SHEET_ACTIONS], workbook[SHEET_CUSTOMERS]
    assert actions.max_row == result.ranking.height + 1 and customers.max_row == result.customers.height + 1
    for sheet in (actions, customers):
        header, _ = _rows(sheet)
        assert sheet.freeze_panes == f"{chr(ord('A') + header.index('customer_name') + 1)}2"   # header + names
        assert sheet.auto_filter.ref.startswith("A1:")
        assert all(c.font.bold for c in sheet[1])


def test_rates_are_percentages_a_spreadsheet_computes_with(book):
    result, _links, workbook = book
    header, rows = _rows(workbook[SHEET_ACTIONS])
    assert "deployment_rate" in header and "deployment_pct" not in header
    first = rows[0]
    top = result.ranking.sort("rank").row(0, named=True)
    # the CSV's one-decimal percentage as a fraction: 61.2 -> 0.612, shown as 61.2%
    assert first["deployment_rate"].value == pytest.approx(round(top["deployment_rate"] * 100, 1) / 100)
    assert first["deployment_rate"].number_format == PERCENT_FORMAT
    assert first["licenses_sold"].number_format == "#,##0"
    _, customers = _rows(workbook[SHEET_CUSTOMERS])
    some = next(r for r in customers if r["usage_rate"].value is not None)
    assert some["usage_rate"].number_format == PERCENT_FORMAT and 0 <= some["usage_rate"].value <= 2


def test_names_link_to_their_reports_and_text_stays_text(book):
    _result, links, workbook = book
    for title in (SHEET_ACTIONS, SHEET_CUSTOMERS):
        _, rows = _rows(workbook[title])
        for row in rows:
            cell = row["customer_name"]
            assert cell.hyperlink is not None and cell.hyperlink.target == links[row["customer_id"].value]
            assert cell.hyperlink.target.startswith("customers/") and cell.hyperlink.target.endswith(".html")
    _, customers = _rows(workbook[SHEET_CUSTOMERS])
    formula = next(r for r in customers if r["customer_name"].value == FORMULA_NAME)
    assert formula["customer_name"].data_type == "s"      # a string, not a formula Excel would run


def test_only_linked_names_get_a_link(tmp_path):
    result = analysis.prepare(SAMPLE_DIR)
    some = dict(list(report_links(result.customers).items())[:2])
    workbook = load_workbook(write_workbook(result, tmp_path / "w.xlsx", some))
    _, rows = _rows(workbook[SHEET_CUSTOMERS])
    assert sum(1 for r in rows if r["customer_name"].hyperlink is not None) == 2


def test_customer_audience_refuses_xlsx(tmp_path):
    from adoption_kit.render import render_reports

    with pytest.raises(ParameterError, match="internal audience only"):
        render_reports(SAMPLE_DIR, tmp_path, audience="customer", xlsx=True, pdf=False, dry_run=True)
