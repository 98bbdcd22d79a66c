"""The notebooks' entry points: prepare(), the Parquet bundle, customer slices, as-of selection and staleness."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import polars as pl
import pytest

from adoption_kit import analysis
from adoption_kit.config import PROJECT_ROOT, SAMPLE_DIR, Thresholds
from adoption_kit.errors import ParameterError, UnknownCustomerError

MULLER = "f19782e8-6e78-46cc-a86b-5d8963b75840"


def test_relative_paths_resolve_against_the_project_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert analysis.resolve_path("data/sample") == SAMPLE_DIR
    assert analysis.resolve_path(str(tmp_path)) == tmp_path
    assert analysis.prepare("data/sample").portfolio["customers"] == 50


def test_bundle_round_trip_and_customer_slice(sample, tmp_path):
    analysis.write_bundle(sample, tmp_path / "bundle")
    assert not list((tmp_path / "bundle").glob("*.part"))
    whole = analysis.read_bundle(tmp_path / "bundle")
    for name in ("workloads", "products", "customers", "portfolio"):
        expected = getattr(sample.metrics, name).sort(pl.all())
        assert getattr(whole.metrics, name).sort(pl.all()).equals(expected), name
    assert whole.thresholds == sample.thresholds
    assert whole.processed_at_max == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert len(whole.sources) == len(sample.sources) and all(s["sha256"] for s in whole.sources)

    one = analysis.prepare(metrics_bundle=str(tmp_path / "bundle"), customer_id=MULLER.upper())
    assert set(one.metrics.workloads["customer_id"]) == {MULLER}
    assert set(one.metrics.products["customer_id"]) == {MULLER}
    assert one.customers.height == 50  # the whole customer table stays, for percentiles


def test_reading_a_folder_that_is_not_a_bundle_says_what_is_missing(tmp_path):
    with pytest.raises(ParameterError, match="not a metrics bundle.*meta.json"):
        analysis.read_bundle(tmp_path)


def test_thresholds_reach_the_segments():
    default = analysis.prepare("data/sample")
    strict = analysis.prepare("data/sample", thresholds=analysis.make_thresholds(0.99, 0.99, 1.0))
    assert strict.thresholds == Thresholds(0.99, 0.99, 1.0)
    upsell = strict.customers.filter(pl.col("segment") == "upsell")
    # only accounts at exactly 100% deployed and 100% used can be upsell at an upsell threshold of 1.0
    assert upsell.height > 0
    assert (upsell["deployment_rate"] == 1.0).all() and (upsell["usage_rate"] == 1.0).all()
    assert upsell.height < default.customers.filter(pl.col("segment") == "upsell").height
    with pytest.raises(ParameterError, match="adopt=1.5"):
        analysis.make_thresholds(0.8, 1.5, 0.9)


def test_customer_view(sample):
    view = analysis.customer_view(sample, MULLER)
    assert view.customer["customer_name"] == "Müller Bäckerei GmbH"
    assert view.products["product_name"].to_list() == ["MICROSOFT 365 E3"]
    assert set(view.workloads["workload"]) == {"Exchange", "SharePoint", "Skype For Business", "Teams", "Yammer"}
    assert view.usage_percentile == pytest.approx(
        analysis.percentile_of(sample.customers, "usage_rate", 1.9))
    assert view.rank is None  # data_check accounts are not in the low-adoption ranking


def test_percentile_counts_ties_half():
    customers = pl.DataFrame({"usage_rate": [0.1, 0.5, 0.5, 0.9, None]})
    # below 0.5: one (0.1); ties: two -> (1 + 0.5 * 2) / 4 rated customers = 50%
    assert analysis.percentile_of(customers, "usage_rate", 0.5) == 50.0
    assert analysis.percentile_of(customers, "usage_rate", 0.05) == 0.0
    assert analysis.percentile_of(customers, "usage_rate", None) is None


def test_unknown_customer_names_close_matches(sample):
    near = MULLER[:-1] + "1"  # one digit off
    with pytest.raises(UnknownCustomerError, match=f"closest: {MULLER} \\(Müller Bäckerei GmbH\\)"):
        analysis.customer_view(sample, near)


@pytest.mark.parametrize("bad", ["'; import os; os.system('x') #", "Müller", "", "1234"])
def test_customer_id_must_be_a_guid(bad):
    with pytest.raises(ParameterError, match="is not a tenant id"):
        analysis.validate_customer_id(bad)


def test_as_of_selects_an_older_snapshot(tmp_path):
    page = json.loads(next(SAMPLE_DIR.glob("license-deployment-page-1.json")).read_text(encoding="utf-8"))
    old = dict(page, Value=[dict(r, processedDateTime="2026-10-01T00:00:00", licensesDeployed=0)
                            for r in page["Value"]])
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    (tmp_path / "new.json").write_text(json.dumps(page), encoding="utf-8")
    latest = analysis.select_snapshot(analysis.load_exports(tmp_path), "latest")
    october = analysis.select_snapshot(analysis.load_exports(tmp_path), "2026-10-15")
    assert latest.deployment["licenses_assigned"].sum() > 0
    assert october.deployment["licenses_assigned"].sum() == 0  # the October copy had nothing deployed
    with pytest.raises(ParameterError, match="oldest processedDateTime is 2026-10-01"):
        analysis.select_snapshot(analysis.load_exports(tmp_path), "2020-01-01")
    with pytest.raises(ParameterError, match="not a date"):
        analysis.select_snapshot(analysis.load_exports(tmp_path), "last month")


def test_staleness_warning():
    processed = datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert analysis.staleness_warning(processed, now=datetime(2026, 12, 1, tzinfo=timezone.utc)) is None
    text = analysis.staleness_warning(processed, now=datetime(2026, 12, 31, tzinfo=timezone.utc),
                                      stale_after_days=45)
    assert "60 days ago" in text and "download fresh exports" in text  # Nov 1 -> Dec 31 = 60 days
    assert "unknown" in analysis.staleness_warning(None)


def test_project_root_is_the_repository():
    assert (PROJECT_ROOT / "pyproject.toml").is_file()
