"""The product catalog crosswalk (adoption_kit.inputs.catalog, tools/build_sku_catalog.py) and subscription matching."""
from __future__ import annotations

import importlib.util
import json

import polars as pl

from adoption_kit import config
from adoption_kit.inputs.catalog import derived_names, match_subscriptions, packaged_catalog, subscription_warnings

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
E1 = "18181a46-0d4e-45cd-891e-60aabd171b4e"
BASIC = "3b555118-da6a-4418-894f-7df1e2096870"
T1, T2 = "0112a436-b14e-4888-967b-ca4bb2cf1234", "5d8c9e21-3f4a-4b6c-8d7e-9f0a1b2c3d4e"


def _tool():
    script = config.PROJECT_ROOT / "tools" / "build_sku_catalog.py"
    spec = importlib.util.spec_from_file_location("build_sku_catalog", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tool_reads_microsofts_csv_with_header_drift_and_windows_1252(tmp_path):
    csv = tmp_path / "licensing.csv"
    csv.write_bytes(("Product_Display_Name,String_ Id,GUID,Service_Plan_Name,Service_Plan_Id,"
                     "Service_Plans_Included_Friendly_Names\r\n"
                     f'Office 365 E3,ENTERPRISEPACK,{E3.upper()},EXCHANGE_S_ENTERPRISE,'
                     'efb87545-963c-4e0d-99df-69c6916d9eb0,'
                     '"Exchange Online (Plan 2)"\r\n'
                     f'Office 365 E3,ENTERPRISEPACK,{E3.upper()},SHAREPOINTENTERPRISE,'
                     '5dbe027f-2339-4123-9542-606e4d348a72,'
                     '"SharePoint Online (Plan 2)"\r\n'
                     f'"Microsoft 365 Business Basic",O365_BUSINESS_ESSENTIALS,{BASIC},EXCHANGE_S_STANDARD,'
                     '9aaf7827-d63c-4b61-89c3-182f06f82e5c,"Exchange Online (Plan 1), Café"\r\n').encode("cp1252"))
    out = tmp_path / "sku_catalog.json"
    assert _tool().main([str(csv), "--date", "2023-10-01", "--output", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["source_date"] == "2023-10-01" and "Product names and service plan identifiers" in data["source"]
    assert [e["guid"] for e in data["skus"]] == sorted([E3, BASIC])      # one entry per SKU, lower case
    by_guid = {e["guid"]: e for e in data["skus"]}
    assert by_guid[E3]["names"] == ["Office 365 E3", "ENTERPRISEPACK", "OFFICE 365 ENTERPRISE E3"]
    assert by_guid[BASIC]["names"] == ["Microsoft 365 Business Basic", "O365_BUSINESS_ESSENTIALS",
                                       "OFFICE 365 BUSINESS ESSENTIALS", "Office 365 Business Essentials"]


def test_names_derived_from_the_string_id():
    assert derived_names("O365_BUSINESS_PREMIUM") == ["O365_BUSINESS_PREMIUM", "OFFICE 365 BUSINESS PREMIUM"]
    assert derived_names("SPB") == ["SPB"]


def test_the_packaged_catalog_records_its_source_and_knows_the_documented_skus():
    data = json.loads((config.PACKAGE_DATA_DIR / "sku_catalog.json").read_text(encoding="utf-8"))
    assert data["source_date"] and "Product names and service plan identifiers" in data["source"]
    catalog = packaged_catalog()
    assert catalog.skus.height == 402                                  # the October 2023 copy: 402 products
    assert catalog.skus.filter(pl.col("guid") == E3).row(0, named=True)["string_id"] == "ENTERPRISEPACK"
    assert (catalog.skus.get_column("guid") == catalog.skus.get_column("guid").str.to_lowercase()).all()


def _subs(*rows):
    return pl.DataFrame([{"customer_id": c, "subscription_id": s, "product_name": n, "is_trial": False}
                         for c, s, n in rows])


PRODUCTS = pl.DataFrame({"customer_id": [T1, T1, T1, T2],
                         "product_id": [E3, E1, BASIC, E3],
                         "product_name": ["OFFICE 365 ENTERPRISE E3", "OFFICE 365 ENTERPRISE E1",
                                          "OFFICE 365 BUSINESS ESSENTIALS", "OFFICE 365 ENTERPRISE E3"]})


def test_subscriptions_match_by_known_names_trials_and_folded_names():
    subs = _subs((T1, "s1", "Office 365 E3"), (T1, "s2", "Office 365 E1 Trial"),
                 (T1, "s3", "Microsoft 365 Business Basic"), (T1, "s4", "office 365  ENTERPRISE e1"),
                 (T1, "s5", "Contoso Unknown"), (T2, "s6", "Office 365 E1"))
    m = {r["subscription_id"]: r for r in match_subscriptions(subs, PRODUCTS).iter_rows(named=True)}
    assert (m["s1"]["matched_product_id"], m["s1"]["product_key"], m["s1"]["is_trial"]) == (
        E3, "OFFICE 365 ENTERPRISE E3", False)
    assert (m["s2"]["matched_product_id"], m["s2"]["is_trial"]) == (E1, True)       # " Trial" = a trial of E1
    assert m["s3"]["matched_product_id"] == BASIC                                    # renamed in April 2020
    assert m["s4"]["matched_product_id"] == E1                                       # folded name
    assert m["s5"]["matched_product_id"] is None                                     # nothing fits
    assert m["s6"]["matched_product_id"] is None                                     # T2 has no E1
    again = match_subscriptions(match_subscriptions(subs, PRODUCTS).drop("matched_product_id"), PRODUCTS)
    assert again.get_column("matched_product_id").to_list() == [E3, E1, BASIC, E1, None, None]


def test_one_warning_for_unmatched_and_one_for_absent_tenants():
    absent = "9a9a9a9a-0000-4000-8000-000000000003"
    subs = _subs((T1, "s1", "Contoso Unknown"), (T2, "s2", "Office 365 E1"), (absent, "s3", "Office 365 E3"),
                 (absent, "s4", "Office 365 E1"))
    warnings = subscription_warnings(match_subscriptions(subs, PRODUCTS), PRODUCTS.get_column("customer_id"))
    assert len(warnings) == 2
    assert warnings[0].startswith("2 subscription(s) that have not ended match no licence product of their customer")
    assert "'Contoso Unknown' (tenant " + T1 + ")" in warnings[0]
    assert warnings[1].startswith(f"2 subscription(s) of 1 tenant(s) absent from the licence deployment and "
                                  f"usage feeds: {absent}")
