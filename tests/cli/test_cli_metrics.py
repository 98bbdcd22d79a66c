"""`adoption-kit metrics` on the committed sample: figures worked out by hand from the raw JSON records."""
from __future__ import annotations

import csv

import polars as pl
import pytest

from adoption_kit.cli import main
from adoption_kit.config import SAMPLE_DIR

MULLER = "f19782e8-6e78-46cc-a86b-5d8963b75840"      # trial-inflated
SOCIETE = "0cce44d0-f77d-4d94-8b93-a6e714f36bd0"     # a product with licensesSold 0
SMITH = "ce7fc445-2608-405a-a82d-d712c7cb1cdf"       # Yammer over its entitlement
HOSTILE = "e0063480-4b98-4e30-990b-cee86e8083aa"     # named <img src=x onerror=alert(1)>
FORMULA = "259535c5-5a5b-4929-808c-c3377092b296"     # named =HYPERLINK(...)
RIVERFIELD = "cdfe6c3b-fe43-43fd-9eb4-1aa7f5b5e8b6"  # holds the free FLOW_FREE SKU


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    out = tmp_path_factory.mktemp("metrics")
    frames = {}
    for level in ("workload", "product", "customer", "portfolio"):
        path = out / f"{level}.csv"
        assert main(["metrics", str(SAMPLE_DIR), "--level", level, "--out", str(path)]) == 0
        frames[level] = pl.read_csv(path, infer_schema_length=None)
        frames[f"{level}_path"] = path
    return frames


def row(frame: pl.DataFrame, **keys) -> dict:
    match = frame.filter(*[pl.col(k) == v for k, v in keys.items()])
    assert match.height == 1, (keys, match)
    return match.row(0, named=True)


def test_required_columns_at_each_level(levels):
    common = ["customer_id", "customer_name", "licenses_sold", "licenses_assigned", "licenses_qualified",
              "licenses_active", "deployment_rate", "usage_rate", "inflated", "inflation_causes", "segment"]
    assert set(common) <= set(levels["customer"].columns)
    assert set(common + ["product_id", "product_name"]) <= set(levels["product"].columns)
    assert {"customer_id", "customer_name", "product_id", "product_name", "workload", "licenses_qualified",
            "licenses_active", "usage_rate", "inflated", "inflation_causes"} <= set(levels["workload"].columns)


def test_trial_inflated_customer(levels):
    # MICROSOFT 365 E3: sold 20, deployed 20; qualified 20 on every workload;
    # active EXO 38, SPO 27, SFB 4, TEAMS 33 (YAM 6 ignored) -> product active = max = 38
    c = row(levels["customer"], customer_id=MULLER)
    assert (c["licenses_sold"], c["licenses_assigned"], c["licenses_qualified"], c["licenses_active"]) == (
        20, 20, 20, 38)
    assert c["deployment_rate"] == pytest.approx(1.0)        # 20 / 20
    assert c["usage_rate"] == pytest.approx(1.9)             # 38 / 20, kept raw, never capped
    assert c["inflated"] is True and c["inflation_causes"] == "trial"  # 25-seat trial, not converted
    assert c["segment"] == "data_check"
    w = row(levels["workload"], customer_id=MULLER, workload="Exchange")
    assert w["usage_rate"] == pytest.approx(1.9)             # 38 / 20


def test_licences_sold_elsewhere(levels):
    p = row(levels["product"], customer_id=SOCIETE, product_name="OFFICE 365 ENTERPRISE E3")
    assert p["licenses_sold"] == 0 and p["deployment_rate"] is None  # 12 deployed / 0 sold: undefined
    assert p["usage_rate"] == pytest.approx(11 / 12)          # max(11, 7, 0, 10) = 11 active of 12
    assert p["segment"] == "data_check"
    c = row(levels["customer"], customer_id=SOCIETE)
    # products: M365 BUSINESS 25 sold / 24 deployed, 24 qualified / max(22, 15, 1, 20) = 22 active;
    #           O365 E3 0 sold / 12 deployed, 12 qualified / 11 active
    assert (c["licenses_sold"], c["licenses_assigned"], c["licenses_qualified"], c["licenses_active"]) == (
        25, 36, 36, 33)
    assert c["deployment_rate"] == pytest.approx(1.44)        # 36 / 25: more assigned than sold here
    assert c["usage_rate"] == pytest.approx(33 / 36)
    assert c["licenses_idle"] == 4                            # unassigned 1 + 0, inactive 2 + 1
    assert c["segment"] == "data_check"


def test_yammer_over_entitlement_flags_the_workload_only(levels):
    w = row(levels["workload"], customer_id=SMITH, workload="Yammer")
    assert w["usage_rate"] == pytest.approx(34 / 28) and w["inflation_causes"] == "yammer"
    p = row(levels["product"], customer_id=SMITH)
    # product active = max(26, 20, 3, 24) = 26 of 28 (Yammer's 34 does not count); deployed 28 of 30
    assert p["usage_rate"] == pytest.approx(26 / 28) and p["inflated"] is False
    assert p["deployment_rate"] == pytest.approx(28 / 30)
    assert p["segment"] == "upsell"                           # 0.933 >= 0.9 and 0.929 >= 0.9


def test_low_deployment_customer_and_escaped_name_round_trip(levels):
    c = row(levels["customer"], customer_id=HOSTILE)
    # M365 E3 250 sold / 95 deployed; Dynamics 20 / 18 -> 113 / 270
    assert c["deployment_rate"] == pytest.approx(113 / 270)
    # active: max(88, 70, 5, 80) = 88 of 95, CRM 15 of 18 -> 103 / 113
    assert c["usage_rate"] == pytest.approx(103 / 113)
    assert c["licenses_idle"] == (250 - 95) + (20 - 18) + (95 - 88) + (18 - 15)  # 167
    assert c["segment"] == "deploy"
    assert c["customer_name"] == "<img src=x onerror=alert(1)>"


def test_free_sku_is_reported_not_counted(levels):
    p = row(levels["product"], customer_id=RIVERFIELD, product_name="MICROSOFT FLOW FREE")
    assert p["excluded"] is True and "free" in p["exclusion_reason"]
    c = row(levels["customer"], customer_id=RIVERFIELD)
    assert c["licenses_sold"] == 15 and c["licenses_assigned"] == 14  # only OFFICE 365 BUSINESS PREMIUM


def test_portfolio_is_one_weighted_row(levels):
    portfolio, customers = levels["portfolio"], levels["customer"]
    assert portfolio.height == 1 and portfolio["customers"][0] == 50
    sold, assigned = customers["licenses_sold"].sum(), customers["licenses_assigned"].sum()
    assert portfolio["deployment_rate"][0] == pytest.approx(assigned / sold)


def test_csv_cells_cannot_run_as_formulas(levels):
    with open(levels["customer_path"], encoding="utf-8", newline="") as handle:
        names = [r["customer_name"] for r in csv.DictReader(handle)]
    assert "'=HYPERLINK(\"http://example.invalid\",\"x\")" in names
    assert not any(n.startswith(("=", "+", "-", "@")) for n in names)


def test_parquet_output_keeps_types(tmp_path):
    out = tmp_path / "products.parquet"
    assert main(["metrics", str(SAMPLE_DIR), "--level", "product", "--out", str(out)]) == 0
    frame = pl.read_parquet(out)
    assert frame.schema["usage_rate"] == pl.Float64 and frame.schema["licenses_sold"] == pl.Int64
    assert row(frame, customer_id=FORMULA)["customer_name"].startswith("=HYPERLINK")  # raw value in Parquet


def test_unsupported_output_type_exits_2_and_writes_nothing(tmp_path, capsys):
    assert main(["metrics", str(SAMPLE_DIR), "--out", str(tmp_path / "x.xlsx")]) == 2
    assert "use a .csv or .parquet" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bad_threshold_exits_2(tmp_path, capsys):
    assert main(["metrics", str(SAMPLE_DIR), "--out", str(tmp_path / "x.csv"), "--adopt-threshold", "60"]) == 2
    assert "adopt=60" in capsys.readouterr().err


def test_help_shows_percent_signs_once(capsys):
    from adoption_kit.cli import main as cli_main

    for command in ("metrics", "report"):
        with pytest.raises(SystemExit):
            cli_main([command, "--help"])
        text = capsys.readouterr().out
        assert "80%" in text and "%%" not in text, command


def test_metrics_lists_the_files_it_read_and_the_ones_it_skipped(tmp_path, capsys):
    # Like `validate`: a workbook beside the exports is named as skipped, never passed over in silence.
    data = tmp_path / "data"
    data.mkdir()
    for source in SAMPLE_DIR.iterdir():
        if source.is_file():
            (data / source.name).write_bytes(source.read_bytes())
    (data / "deployment.xlsx").write_bytes(b"PK\x03\x04" + bytes(60))
    assert main(["metrics", str(data), "--level", "customer", "--out", str(tmp_path / "out.csv")]) == 0
    err = capsys.readouterr().err
    assert "files:" in err
    assert any(line.startswith("  read    deployment") for line in err.splitlines())
    skipped = [line for line in err.splitlines() if line.startswith("  skipped")]
    assert len(skipped) == 1 and "deployment.xlsx" in skipped[0] and "Excel workbook" in skipped[0]
