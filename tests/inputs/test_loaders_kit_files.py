"""Loader rules for the kit-defined inputs (price list, support tickets): detection, checks, one line per problem."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from adoption_kit import schema
from adoption_kit.errors import InputFileError
from adoption_kit.inputs import load_exports, ticket_category

TENANT = "0112A436-B14E-4888-967B-CA4BB2CF1234"
PRODUCT = "CDD28E44-67E3-425E-BE4C-737FAB2899D3"
E3 = "6FD2C87F-B296-42F0-B197-1E91E994B900"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A minimal deployment export, so that the folder is a valid data set."""
    record = {"processedDateTime": "2026-11-01T00:00:00", "customerTenantId": TENANT, "customerName": "TEST",
              "productId": PRODUCT, "productName": "OFFICE 365 BUSINESS", "licensesDeployed": 7, "licensesSold": 9}
    (tmp_path / "deployment.json").write_text(json.dumps({"Value": [record], "@nextLink": None}), encoding="utf-8")
    return tmp_path


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(InputFileError) as error:
        load_exports(folder)
    return [str(p).replace(f"{folder}/", "") for p in error.value.problems]   # file names without the folder


def test_price_list_is_detected_and_normalised(folder):
    # Header in another case and order, a BOM, semicolons: detected by its unitPricePerMonth column.
    (folder / "my prices.csv").write_bytes("\ufeffCURRENCY;unit price per month;ProductId;productName\r\n"
                                           f"eur;12.50;{PRODUCT};Apps for business\r\n"
                                           f"EUR;0;{{{E3}}};\r\n".encode())
    exports = load_exports(folder)
    assert exports.prices.select("product_id", "product_name", "unit_price_per_month", "currency").rows() == [
        (PRODUCT.lower(), "Apps for business", 12.5, "EUR"), (E3.lower(), None, 0.0, "EUR")]
    assert [f.kind for f in exports.files if f.path.name == "my prices.csv"] == ["price_list"]
    assert "price list (kit-defined CSV): 1 file(s), 2 price(s)" in exports.summary()
    assert exports.latest().prices.equals(exports.prices)      # the current snapshot keeps the optional inputs


def test_price_list_problems_are_one_line_each(folder):
    (folder / "prices.csv").write_text("productId,unitPricePerMonth,currency\n"
                                       f"{PRODUCT},\"8,25\",USD\n"
                                       f"{E3},-1,USD\n"
                                       "not-a-guid,1.00,USD\n", encoding="utf-8")
    lines = problems_of(folder)
    assert "prices.csv, row 1, column 'unitPricePerMonth': value '8,25' is not a price (expected a number such as " \
           "12.50); fix: write digits with a dot for decimals: no currency sign, no thousands separator, no comma" \
        in lines
    assert "prices.csv, row 2, column 'unitPricePerMonth': value '-1' is negative; a price never is; fix: write the " \
           "price per licence and month, 0 or more" in lines
    assert any(line.startswith("prices.csv, row 3, column 'productId': value 'not-a-guid' is not a GUID")
               for line in lines)
    assert len(lines) == 3
    (folder / "prices.csv").write_text(f"productId,unitPricePerMonth,currency\n{PRODUCT},$5,US\n", encoding="utf-8")
    lines = problems_of(folder)
    assert any(line.startswith("prices.csv, row 1, column 'currency': value 'US' is not an ISO 4217 currency code")
               for line in lines)
    assert any("row 1, column 'unitPricePerMonth': value '$5' is not a price" in line for line in lines)


def test_one_currency_per_price_list_and_per_run(folder):
    (folder / "prices.csv").write_text(f"productId,unitPricePerMonth,currency\n{PRODUCT},8.25,USD\n{E3},20,EUR\n",
                                       encoding="utf-8")
    (line,) = problems_of(folder)
    assert line == ("prices.csv, column 'currency': holds 2 currencies (EUR, USD); a price list has one; fix: keep "
                    "one price list per currency, and give the one your customers are billed in")
    (folder / "prices.csv").write_text(f"productId,unitPricePerMonth,currency\n{PRODUCT},8.25,USD\n", encoding="utf-8")
    (folder / "prices-eu.csv").write_text(f"productId,unitPricePerMonth,currency\n{E3},20,EUR\n", encoding="utf-8")
    (line,) = problems_of(folder)
    assert "the price lists use 2 currencies (EUR in " in line and "fix: give price lists in one currency only" in line


def test_a_product_priced_twice(folder):
    (folder / "a.csv").write_text(f"productId,unitPricePerMonth,currency\n{PRODUCT},8.25,USD\n", encoding="utf-8")
    (folder / "b.csv").write_text(f"productId,unitPricePerMonth,currency\n{PRODUCT.lower()},8.25,USD\n",
                                  encoding="utf-8")
    exports = load_exports(folder)
    assert exports.prices.height == 1
    assert any("1 repeated row(s) with the same productId and price ignored" in w for w in exports.warnings)
    (folder / "b.csv").write_text(f"productId,unitPricePerMonth,currency\n{PRODUCT},9.00,USD\n", encoding="utf-8")
    (line,) = problems_of(folder)
    assert f"productId {PRODUCT.lower()} has 2 different prices (8.25 vs 9)" in line
    assert "a.csv row 1, " in line and "b.csv row 1" in line and line.endswith("fix: keep one price per product")


@pytest.mark.parametrize("raw, category", [
    ("How-to", "how-to"), ("how to", "how-to"), ("HowTo", "how-to"), ("Question - how to share a calendar", "how-to"),
    ("Training request", "how-to"), ("Usage question", "how-to"), ("How to fix Outlook", "how-to"),
    ("Break/fix", "break-fix"), ("BREAK-FIX", "break-fix"), ("Incident", "break-fix"), ("Outage", "break-fix"),
    ("Error in Teams", "break-fix"), ("Billing", "other"), ("Licence change", "other"), ("prefix", "other"),
    ("Howtos", "other"), (None, "other"),
])
def test_ticket_categories_fold_by_documented_keywords(raw, category):
    frame = pl.DataFrame({"raw": [raw]}, schema={"raw": pl.String})
    assert frame.select(ticket_category(pl.col("raw"))).item() == category


def test_support_tickets_are_detected_checked_and_kept_raw(folder):
    (folder / "tickets.csv").write_text("customerTenantId,ticketId,openedDate,category\n"
                                        f"{TENANT},T1,2026-10-03,How-to\n"
                                        f"{TENANT},T2,2026-10-04T10:00:00Z,Break/fix\n"
                                        f"{TENANT},T3,2026-10-05T10:00:00+02:00,\n"
                                        f"{TENANT},T1,2026-10-03,How-to\n", encoding="utf-8")
    exports = load_exports(folder)
    assert exports.tickets.select("ticket_id", "category", "category_raw").rows() == [
        ("T1", "how-to", "How-to"), ("T2", "break-fix", "Break/fix"), ("T3", "other", None)]
    assert str(exports.tickets.get_column("opened_at")[2]) == "2026-10-05 08:00:00+00:00"     # UTC
    assert exports.tickets.get_column("customer_id").to_list() == [TENANT.lower()] * 3
    assert any("1 repeated ticket row(s) ignored" in w for w in exports.warnings)
    assert "support tickets (kit-defined CSV): 1 file(s), 3 ticket(s)" in exports.summary()
    assert exports.tickets.schema == pl.Schema(schema.TICKET_COLUMNS)


def test_ticket_problems(folder):
    (folder / "tickets.csv").write_text("customerTenantId,ticketId,openedDate,category\n"
                                        f"{TENANT},T1,03/10/2026,How-to\n"
                                        f"{TENANT},,2026-10-04,How-to\n"
                                        f"{TENANT},T2,2026-10-04,How-to\n"
                                        f"{TENANT},T2,2026-10-05,How-to\n", encoding="utf-8")
    lines = problems_of(folder)
    assert any(line.startswith("tickets.csv, row 1, column 'openedDate': value '03/10/2026' is not a date-time")
               for line in lines)
    assert any(line.startswith("tickets.csv, row 2, column 'ticketId': ") and "empty" in line for line in lines)
    (folder / "tickets.csv").write_text("customerTenantId,ticketId,openedDate,category\n"
                                        f"{TENANT},T2,2026-10-04,How-to\n"
                                        f"{TENANT},T2,2026-10-05,How-to\n", encoding="utf-8")
    (line,) = problems_of(folder)
    assert line.startswith(f"tickets.csv: ticket 'T2' of customer {TENANT.lower()} appears with different dates or "
                           f"categories at tickets.csv row 1, tickets.csv row 2")
    (folder / "tickets.csv").write_text("customerTenantId,ticketId,openedDate\n", encoding="utf-8")
    (line,) = problems_of(folder)
    assert line == ("tickets.csv, column 'category': the required column 'category' is missing; fix: add the "
                    "'category' column (headers are matched ignoring case and spaces)")


def test_tickets_of_unknown_tenants_are_kept_with_a_warning(folder):
    other = "9999A436-B14E-4888-967B-CA4BB2CF1234"
    (folder / "tickets.csv").write_text("customerTenantId,ticketId,openedDate,category\n"
                                        f"{other},T1,2026-10-03,How-to\n", encoding="utf-8")
    exports = load_exports(folder)
    assert exports.tickets.height == 1
    assert any(w.startswith("support tickets: 1 ticket(s) of 1 tenant id(s) that are in no licenses export")
               and other in w for w in exports.warnings)
