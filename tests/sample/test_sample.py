"""Raw-shape tests of the synthetic sample generator (adoption_kit.sample.generator); no loaders or metrics involved."""
from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from raw_pages import raw_records

from adoption_kit import schema
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.sample.generator import (
    DEPLOYMENT_FIELDS,
    PLANTED_CASES,
    PRICE_FIELDS,
    PRICES_FILE,
    SUBSCRIPTION_FIELDS,
    TICKET_FIELDS,
    TICKETS_FILE,
    USAGE_FIELDS,
    generate_sample,
    write_sample,
)

GUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
ISO_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")
FLOW_FREE = "f30db892-07e9-47e9-837c-80727f46fd3d"
ENVELOPE_KEYS = {"Value", "@nextLink", "TotalCount"}
INACTIVE = {"SUSPENDED", "DEPROVISIONED"}
INFLATED_CASES = ("inflated_yammer", "inflated_trial", "inflated_duplicate_subscription", "inflated_unexplained",
                  "inflated_turnover")


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample(out, customers=50, seed=7)
    return out


@pytest.fixture(scope="module")
def data():
    return generate_sample(50, 7)


def read_feed(folder: Path, feed: str) -> tuple[list[dict], list[dict]]:
    """Follow a feed's @nextLink chain from page 1; returns (envelopes in chain order, all records)."""
    envelopes, records = [], []
    page = 1
    while True:
        path = folder / f"license-{feed}-page-{page}.json"
        envelope = json.loads(path.read_text(encoding="utf-8"))
        envelopes.append(envelope)
        records.extend(envelope["Value"])
        if envelope["@nextLink"] is None:
            break
        page += 1
    return envelopes, records


def read_subscriptions(folder: Path) -> list[dict]:
    with (folder / "subscriptions.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def by_customer(records: list[dict], tenant_id: str) -> list[dict]:
    return [r for r in records if r["customerTenantId"] == tenant_id]


def workloads_of(usage: list[dict], tenant_id: str, product_name: str) -> dict[str, dict]:
    return {r["workloadCode"]: r for r in usage
            if r["customerTenantId"] == tenant_id and r["productName"] == product_name}


@pytest.fixture(scope="module")
def feeds(sample_dir):
    _, deployment = read_feed(sample_dir, "deployment")
    _, usage = read_feed(sample_dir, "usage")
    return deployment, usage, read_subscriptions(sample_dir)


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------
def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under folder (activity reports sit in activity/<TENANT-ID>/), by POSIX relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_arguments_give_identical_bytes(tmp_path, sample_dir):
    files = write_sample(tmp_path / "again", customers=50, seed=7)
    assert files == sorted(files)
    assert [f.relative_to(tmp_path / "again").as_posix() for f in files] == sorted(tree_bytes(sample_dir))
    assert tree_bytes(tmp_path / "again") == tree_bytes(sample_dir)


def test_different_seed_gives_different_bytes(tmp_path, sample_dir):
    write_sample(tmp_path / "other", customers=50, seed=8)
    other, base = tree_bytes(tmp_path / "other"), tree_bytes(sample_dir)
    for name in set(other) & set(base) - {PRICES_FILE}:
        assert other[name] != base[name], name
    assert other[PRICES_FILE] == base[PRICES_FILE]     # the catalogue's price list: the same for every book


def test_committed_sample_is_the_generator_output(tmp_path):
    """data/sample must be exactly `write_sample(data/sample, customers=50, seed=7)`: regenerate it after changes."""
    if not SAMPLE_DIR.is_dir() or not any(SAMPLE_DIR.iterdir()):
        pytest.skip("no committed sample")
    write_sample(tmp_path, customers=50, seed=7)
    committed = {k: v for k, v in tree_bytes(SAMPLE_DIR).items() if k.endswith((".json", ".csv"))}
    assert committed == tree_bytes(tmp_path)
    assert sum(len(v) for v in committed.values()) < 1_000_000


def test_a_larger_book_extends_a_smaller_one():
    small, large = generate_sample(50, 7), generate_sample(200, 7)
    assert large.planted == {case: ids for case, ids in small.planted.items()}
    assert all(small.planted[case] for case in PLANTED_CASES)
    first = set(small.customers["customerTenantId"])
    for frame in ("deployment", "usage", "subscriptions", "tickets"):
        big = getattr(large, frame).filter(getattr(large, frame)["customerTenantId"].is_in(list(first)))
        assert big.equals(getattr(small, frame)), frame
    for (at_small, *frames_small), (at_large, *frames_large) in zip(small.history, large.history, strict=True):
        assert at_small == at_large
        for a, b in zip(frames_small, frames_large):
            assert b.filter(b["customerTenantId"].is_in(list(first))).equals(a)
    assert small.prices.equals(large.prices)


def test_processed_at_is_written_as_naive_utc():
    local = timezone(timedelta(hours=2))
    data = generate_sample(5, 1, datetime(2026, 3, 1, 2, 0, tzinfo=local))
    assert set(data.deployment["processedDateTime"]) == {"2026-03-01T00:00:00"}
    assert set(data.usage["processedDateTime"]) == {"2026-03-01T00:00:00"}


# ---------------------------------------------------------------------------
# Real shapes
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("feed, fields", [("deployment", DEPLOYMENT_FIELDS), ("usage", USAGE_FIELDS)])
def test_pages_have_the_analytics_api_shape(sample_dir, data, feed, fields):
    envelopes, records = read_feed(sample_dir, feed)
    pages = sorted(sample_dir.glob(f"license-{feed}-page-*.json"))
    assert len(envelopes) == len(pages)
    page_size = len(envelopes[0]["Value"])
    for number, envelope in enumerate(envelopes, start=1):
        assert set(envelope) == ENVELOPE_KEYS
        assert envelope["TotalCount"] == len(envelope["Value"])
        assert 0 < len(envelope["Value"]) <= page_size
        if number < len(envelopes):
            assert envelope["@nextLink"].startswith("https://")
            assert f"license?top={page_size}&skip={number * page_size}" in envelope["@nextLink"]
            assert f"/{feed}/license" in envelope["@nextLink"]
        else:
            assert envelope["@nextLink"] is None
    for record in records:
        assert list(record) == list(fields)
    assert len(records) == getattr(data, feed).height
    assert records == getattr(data, feed).to_dicts()


def test_usage_spans_several_pages_and_deployment_fits_one(sample_dir):
    assert len(read_feed(sample_dir, "usage")[0]) >= 2
    assert len(read_feed(sample_dir, "deployment")[0]) == 1


def test_page_size_controls_paging(tmp_path):
    write_sample(tmp_path, customers=50, seed=7, page_size=30)
    envelopes, records = read_feed(tmp_path, "deployment")
    assert len(envelopes) == -(-len(records) // 30) and len(envelopes) >= 2
    assert all(e["TotalCount"] == 30 for e in envelopes[:-1])


def test_rewriting_a_folder_removes_stale_pages(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    write_sample(tmp_path, customers=50, seed=7, page_size=20)
    files = write_sample(tmp_path, customers=50, seed=7)
    top_level = {f.relative_to(tmp_path).parts[0] for f in files}   # activity reports sit in activity/<id>/
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(top_level | {"notes.txt"})


def test_fields_are_documented_raw_fields():
    """No invented columns: every written field is a documented raw name (or alias) in schema.py."""
    def names(kind: schema.ExportKind) -> set[str]:
        return {schema.header_key(n) for f in kind.fields for n in (f.name, *f.aliases)}

    assert {schema.header_key(f) for f in DEPLOYMENT_FIELDS} == \
        {schema.header_key(f.name) for f in schema.DEPLOYMENT.fields}
    assert {schema.header_key(f) for f in USAGE_FIELDS} == {schema.header_key(f.name) for f in schema.USAGE.fields}
    assert {schema.header_key(f) for f in SUBSCRIPTION_FIELDS} <= names(schema.SUBSCRIPTIONS)


def test_license_values_look_like_partner_center(feeds):
    deployment, usage, _ = feeds
    for r in deployment + usage:
        assert r["processedDateTime"] == "2026-11-01T00:00:00"
        assert GUID_UPPER.match(r["customerTenantId"]) and GUID_UPPER.match(r["productId"])
        assert r["channel"] == "reseller"
        assert (r["serviceCode"], r["serviceName"]) in {("o365", "Microsoft Office 365"), ("crm", "Microsoft Dynamics")}
        assert r["productName"] == r["productName"].upper()
        counts = [r[k] for k in ("licensesDeployed", "licensesSold", "licensesActive", "licensesQualified") if k in r]
        assert all(type(c) is int and c >= 0 for c in counts)
    assert {r["serviceCode"] for r in deployment} == {"o365", "crm"}
    codes = {(r["workloadCode"], r["workloadName"]) for r in usage}
    assert codes == {("EXO", "Exchange"), ("SPO", "SharePoint"), ("SFB", "Skype For Business"),
                     ("TEAMS", "Teams"), ("YAM", "Yammer"), ("CRM", "Dynamics 365")}
    assert all(r["serviceCode"] == "crm" for r in usage if r["workloadCode"] == "CRM")


def test_usage_rows_follow_the_documented_rules(feeds, data):
    deployment, usage, _ = feeds
    keys = {(r["customerTenantId"], r["productId"]) for r in deployment}
    qualified = defaultdict(set)
    seen = defaultdict(list)
    for r in usage:
        key = (r["customerTenantId"], r["productId"])
        assert key in keys
        qualified[key].add(r["licensesQualified"])
        seen[key].append(r["workloadCode"])
    assert all(len(v) == 1 for v in qualified.values()), "one licensesQualified per product across workloads"
    assert all(len(v) == len(set(v)) for v in seen.values()), "one row per workload"
    assert "ODB" not in {r["workloadCode"] for r in usage}    # OneDrive is counted inside SPO
    for r in deployment:
        key = (r["customerTenantId"], r["productId"])
        if r["productId"].lower() == FLOW_FREE:
            assert key not in seen
        else:
            assert key in seen
            if r["licensesSold"] > 0:
                assert r["licensesDeployed"] <= r["licensesSold"]
            assert abs(next(iter(qualified[key])) - r["licensesDeployed"]) <= max(1, 0.05 * r["licensesDeployed"])
    inflated_ok = {i for case in INFLATED_CASES for i in data.planted[case]}
    over = {r["customerTenantId"] for r in usage if r["licensesActive"] > r["licensesQualified"]}
    assert over == inflated_ok


def test_subscriptions_csv_shape_and_values(sample_dir, feeds, data):
    deployment, usage, subs = feeds
    text = (sample_dir / "subscriptions.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].split(",") == list(SUBSCRIPTION_FIELDS)
    license_names = {r["productName"] for r in deployment}
    tenants = {r["customerTenantId"] for r in deployment}
    assert len({s["id"] for s in subs}) == len(subs)
    assert len({s["partnerId"] for s in subs}) == 1
    for s in subs:
        assert list(s) == list(SUBSCRIPTION_FIELDS)
        assert GUID_UPPER.match(s["customerTenantId"]) and GUID_UPPER.match(s["id"])
        assert GUID_UPPER.match(s["partnerId"])
        assert s["customerTenantId"] in tenants
        assert s["status"] in {"ACTIVE", "SUSPENDED", "DEPROVISIONED"}
        assert s["subscriptionType"] in {"Office", "Microsoft365", "Dynamics"}
        assert s["autoRenewEnabled"] in {"true", "false"}
        assert re.fullmatch(r"[A-Z]{2}", s["customerMarket"])
        assert s["licenseCount"].isdigit() and int(s["licenseCount"]) > 0
        assert ISO_MILLIS.match(s["creationDate"]) and ISO_SECONDS.match(s["effectiveStartDate"])
        assert ISO_SECONDS.match(s["commitmentEndDate"])
        for k in ("trialStartDate", "trialEndDate", "trialToPaidConversionDate", "deprovisionedDate"):
            assert s[k] == "" or ISO_SECONDS.match(s[k])
        assert (s["deprovisionedDate"] != "") == (s["status"] == "DEPROVISIONED")
        if s["status"] == "ACTIVE":
            assert s["productName"] in license_names
            assert s["commitmentEndDate"] > "2026-11-01"
        assert s["effectiveStartDate"] <= s["commitmentEndDate"]
    assert any(s["commitmentEndDate"] == "9999-12-31T00:00:00" for s in subs)
    # The partner's own subscriptions cover what it sold (ACTIVE paid counts sum to licensesSold), except
    # where the planted case says that part of the seats were bought elsewhere.
    active = defaultdict(int)
    for s in subs:
        if s["status"] == "ACTIVE" and not (s["trialStartDate"] and not s["trialToPaidConversionDate"]):
            active[(s["customerTenantId"], s["productName"])] += int(s["licenseCount"])
    partial = set(data.planted["own_seats_partial"])
    for r in deployment:
        if r["productId"].lower() != FLOW_FREE:
            own = active.get((r["customerTenantId"], r["productName"]), 0)
            if r["customerTenantId"] in partial and r["licensesSold"] >= 100:
                assert 0 < own < r["licensesSold"]
            else:
                assert own == r["licensesSold"]


def test_subscriptions_csv_round_trips_awkward_names(sample_dir, data):
    subs = read_subscriptions(sample_dir)
    expected = [{k: ("" if v is None else str(v)) for k, v in row.items()} for row in data.subscriptions.to_dicts()]
    assert subs == expected
    names = {s["customerName"] for s in subs}
    for name in ("Smith, Jones & Partners", '"Best" Widgets Ltd', "Müller Bäckerei GmbH",
                 "Société Générale d'Études", "株式会社サンプル", "<img src=x onerror=alert(1)>",
                 '=HYPERLINK("http://example.invalid","x")'):
        assert name in names
    raw = (sample_dir / "subscriptions.csv").read_bytes()
    assert b'"""Best"" Widgets Ltd"' in raw and b'"Smith, Jones & Partners"' in raw
    assert not raw.startswith(b"\xef\xbb\xbf")


# ---------------------------------------------------------------------------
# Planted cases, each checked against the raw records
# ---------------------------------------------------------------------------
def test_every_planted_case_is_present(data):
    assert set(data.planted) == set(PLANTED_CASES)
    ids = set(data.customers["customerTenantId"])
    for case, tenants in data.planted.items():
        assert tenants and set(tenants) <= ids, case
    index = {t: i for i, t in enumerate(data.customers["customerTenantId"])}
    assert max(index[t] for ts in data.planted.values() for t in ts) < 40


def inflated_products(usage, tenant):
    return {r["productName"] for r in by_customer(usage, tenant) if r["licensesActive"] > r["licensesQualified"]}


def subs_for(subs, tenant, product):
    return [s for s in subs if s["customerTenantId"] == tenant and s["productName"] == product]


def is_open_trial(s):
    return s["trialStartDate"] != "" and s["trialToPaidConversionDate"] == ""


def test_inflated_yammer(feeds, data):
    _, usage, _ = feeds
    for tenant in data.planted["inflated_yammer"]:
        rows = [r for r in by_customer(usage, tenant) if r["licensesActive"] > r["licensesQualified"]]
        assert rows and all(r["workloadName"] == "Yammer" for r in rows)


def test_inflated_trial(feeds, data):
    _, usage, subs = feeds
    for tenant in data.planted["inflated_trial"]:
        products = [p for p in inflated_products(usage, tenant)
                    if (w := workloads_of(usage, tenant, p)["EXO"])["licensesActive"] > w["licensesQualified"]]
        assert products
        trials = [s for s in subs_for(subs, tenant, products[0]) if is_open_trial(s)]
        assert len(trials) == 1 and trials[0]["licenseCount"] == "25" and trials[0]["trialEndDate"]


def test_inflated_duplicate_subscription(feeds, data):
    _, usage, subs = feeds
    for tenant in data.planted["inflated_duplicate_subscription"]:
        (product,) = inflated_products(usage, tenant)
        rows = subs_for(subs, tenant, product)
        assert len(rows) >= 2 and not any(is_open_trial(s) for s in rows)
        assert any(s["status"] == "ACTIVE" for s in rows)
        assert any(s["status"] == "SUSPENDED" or (s["status"] == "DEPROVISIONED" and s["deprovisionedDate"])
                   for s in rows)


def test_inflated_unexplained(feeds, data):
    _, usage, subs = feeds
    for tenant in data.planted["inflated_unexplained"]:
        (product,) = inflated_products(usage, tenant)
        assert not any(w["workloadName"] == "Yammer" and w["licensesActive"] > w["licensesQualified"]
                       for w in workloads_of(usage, tenant, product).values())
        rows = subs_for(subs, tenant, product)
        assert len(rows) <= 1 and all(s["status"] == "ACTIVE" and not is_open_trial(s) for s in rows)


def test_sold_zero(feeds, data):
    deployment, usage, subs = feeds
    for tenant in data.planted["sold_zero"]:
        rows = [r for r in by_customer(deployment, tenant) if r["licensesSold"] == 0]
        assert rows and all(r["licensesDeployed"] > 0 for r in rows)
        for r in rows:
            assert workloads_of(usage, tenant, r["productName"])
            assert not subs_for(subs, tenant, r["productName"])


def test_free_sku(feeds, data):
    deployment, usage, subs = feeds
    for tenant in data.planted["free_sku"]:
        (row,) = [r for r in by_customer(deployment, tenant) if r["productId"].lower() == FLOW_FREE]
        assert row["licensesSold"] == 0 or row["licensesSold"] >= 1000
        assert row["licensesDeployed"] < 0.01 * max(row["licensesSold"], 1000)
        assert not subs_for(subs, tenant, row["productName"])


def test_low_deployment(feeds, data):
    deployment, _, _ = feeds
    for tenant in data.planted["low_deployment"]:
        assert any(r["licensesSold"] >= 100 and r["licensesDeployed"] / r["licensesSold"] < 0.5
                   for r in by_customer(deployment, tenant))


def test_low_usage(feeds, data):
    deployment, usage, _ = feeds
    for tenant in data.planted["low_usage"]:
        hits = [r for r in by_customer(deployment, tenant)
                if r["licensesSold"] and r["licensesDeployed"] / r["licensesSold"] >= 0.9
                and all(w["licensesActive"] / w["licensesQualified"] < 0.4
                        for w in workloads_of(usage, tenant, r["productName"]).values())]
        assert hits


def test_upsell_ready(feeds, data):
    deployment, usage, _ = feeds
    for tenant in data.planted["upsell_ready"]:
        rows = by_customer(deployment, tenant)
        assert rows
        for r in rows:
            assert r["licensesDeployed"] / r["licensesSold"] >= 0.95
            wl = workloads_of(usage, tenant, r["productName"])
            assert wl and all(w["licensesActive"] / w["licensesQualified"] >= 0.95
                              for code, w in wl.items() if w["workloadName"] != "Yammer")


def test_tiny_accounts(feeds, data):
    deployment, usage, _ = feeds
    tenants = data.planted["tiny_account"]
    assert len(tenants) >= 2
    for tenant in tenants:
        assert 1 <= sum(r["licensesSold"] for r in by_customer(deployment, tenant)) <= 2
    idle = [t for t in tenants if all(r["licensesActive"] == 0 for r in by_customer(usage, t))]
    assert idle and all(by_customer(usage, t) for t in idle)


def test_awkward_names(data):
    names = dict(zip(data.customers["customerTenantId"], data.customers["customerName"]))
    assert all("," in names[t] for t in data.planted["name_comma"])
    assert all('"' in names[t] for t in data.planted["name_quote"])
    assert len(data.planted["name_non_ascii"]) >= 3
    assert all(any(ord(c) > 127 for c in names[t]) for t in data.planted["name_non_ascii"])
    hostile = {names[t] for t in data.planted["name_hostile"]}
    assert "<img src=x onerror=alert(1)>" in hostile
    assert any(n.startswith("=") for n in hostile)


# ---------------------------------------------------------------------------
# Realism and scale
# ---------------------------------------------------------------------------
def test_book_is_varied_and_names_unique():
    data = generate_sample(2000, 7)
    assert data.customers["customerName"].n_unique() == 2000
    assert data.customers["customerTenantId"].n_unique() == 2000
    dep = data.deployment.filter(data.deployment["productId"].str.to_lowercase() != FLOW_FREE)
    per_customer = dep.group_by("customerTenantId").agg(products=pl.len(), seats=pl.col("licensesSold").max())
    assert per_customer["products"].min() >= 1 and per_customer["products"].max() <= 3
    small = (per_customer["seats"] <= 25).mean()
    large = (per_customer["seats"] >= 100).sum()
    assert small > 0.5 and large >= 20
    usage = data.usage.filter(data.usage["licensesQualified"] > 0)
    rate = {code: (g["licensesActive"].sum() / g["licensesQualified"].sum())
            for (code,), g in usage.group_by("workloadCode")}
    assert rate["EXO"] > rate["SPO"] > rate["SFB"] and rate["EXO"] > rate["YAM"]
    assert rate["SFB"] < 0.2


def test_twenty_thousand_customers(tmp_path):
    data = generate_sample(20_000, 11)
    assert data.customers.height == 20_000
    assert data.customers["customerName"].n_unique() == 20_000
    assert data.usage.height > 100_000
    assert all(data.planted[case] for case in PLANTED_CASES)
    files = write_sample(tmp_path, customers=20_000, seed=11, page_size=10_000)
    assert len([f for f in files if f.name.startswith("license-usage-page-")]) == -(-data.usage.height // 10_000)
    assert len([f for f in files if f.name.startswith("license-usage-2026-09-page-")]) == \
        -(-data.usage.height // 10_000)


@pytest.mark.parametrize("kwargs", [{"customers": 0}, {"customers": -3}, {"customers": 2.5},
                                    {"seed": -1}, {"page_size": 0}, {"page_size": 10_001},
                                    {"snapshots": 0}, {"snapshots": 13}, {"snapshots": True}])
def test_bad_parameters_are_refused(tmp_path, kwargs):
    with pytest.raises(ParameterError):
        write_sample(tmp_path, **kwargs)


# ---------------------------------------------------------------------------
# The book over time: monthly snapshots, prices.csv, support-tickets.csv
# ---------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def months(sample_dir):
    return {m: {feed: raw_records(sample_dir, feed, m) for feed in ("deployment", "usage")}
            for m in ("2026-09", "2026-10")}


def usage_row(records: list[dict], tenant: str, code: str) -> dict:
    (row,) = [r for r in records if r["customerTenantId"] == tenant and r["workloadCode"] == code]
    return row


def test_older_snapshots_are_the_same_rows_a_month_apart(sample_dir, feeds, months, data):
    deployment, usage, _ = feeds
    assert [at.strftime("%Y-%m-%d") for at, _, _ in data.history] == ["2026-09-01", "2026-10-01"]
    for month, feed in months.items():
        assert {r["processedDateTime"] for r in feed["deployment"] + feed["usage"]} == {f"{month}-01T00:00:00"}
        # Deployment rows: the same customers, products and counts; only the timestamp differs.
        assert [{**r, "processedDateTime": None} for r in feed["deployment"]] == \
            [{**r, "processedDateTime": None} for r in deployment]
        # Usage rows: the same keys and qualified counts; licensesActive moves, never below 0 or (bulk) above qualified.
        key = lambda r: (r["customerTenantId"], r["productId"], r["workloadCode"], r["licensesQualified"])
        assert [key(r) for r in feed["usage"]] == [key(r) for r in usage]
        inflated = {i for case in INFLATED_CASES for i in data.planted[case]}
        for r in feed["usage"]:
            assert r["licensesActive"] >= 0
            assert r["customerTenantId"] in inflated or r["licensesActive"] <= r["licensesQualified"]
    moved = sum(a["licensesActive"] != b["licensesActive"] for a, b in zip(months["2026-10"]["usage"], usage))
    assert moved > len(usage) // 4                     # the bulk walks; the book is not frozen
    assert {tuple(sorted(set(r) - {"processedDateTime"})) for r in months["2026-09"]["usage"]} == \
        {tuple(sorted(set(USAGE_FIELDS) - {"processedDateTime"}))}


def test_one_snapshot_writes_only_the_newest_and_it_does_not_change(tmp_path, sample_dir):
    files = write_sample(tmp_path, customers=50, seed=7, snapshots=1)
    names = {f.relative_to(tmp_path).as_posix() for f in files}
    assert not [n for n in names if re.search(r"-\d{4}-\d{2}-page-", n)]
    base = tree_bytes(sample_dir)
    assert {n: b for n, b in tree_bytes(tmp_path).items()} == {n: base[n] for n in names}


def test_trend_spike_drop_segment_change_and_guard_are_in_the_raw_rows(feeds, months, data):
    _, usage, _ = feeds
    october = months["2026-10"]["usage"]
    september = months["2026-09"]["usage"]
    # (case, workload, active before, active now, qualified): the hand-planted values
    for case, code, before, now, qualified in (("trend_spike", "TEAMS", 59, 116, 118),
                                               ("trend_drop", "SPO", 27, 20, 28),
                                               ("segment_change", "EXO", 40, 20, 57),
                                               ("trend_guarded", "EXO", 2, 0, 2)):
        (tenant,) = data.planted[case]
        for month in (september, october):
            assert usage_row(month, tenant, code)["licensesActive"] == before, case
        assert usage_row(usage, tenant, code)["licensesActive"] == now, case
        assert usage_row(usage, tenant, code)["licensesQualified"] == qualified, case
    # segment_change: Exchange is the product's busiest workload in October (40 of 57 = 70.2%, healthy), and in
    # November (20 of 57 = 35.1%: adopt)
    (tenant,) = data.planted["segment_change"]
    assert max(r["licensesActive"] for r in october
               if r["customerTenantId"] == tenant and r["workloadCode"] != "YAM") == 40


def test_renewal_soon_low_usage_subscription(feeds, data):
    deployment, usage, subs = feeds
    (tenant,) = data.planted["renewal_soon_low_usage"]
    (sub,) = [s for s in subs if s["customerTenantId"] == tenant]
    assert (sub["status"], sub["commitmentEndDate"], sub["autoRenewEnabled"]) == \
        ("ACTIVE", "2026-12-17T00:00:00", "true")
    assert (datetime(2026, 12, 17) - datetime(2026, 11, 1)).days == 46 <= 60
    assert all(r["licensesActive"] / r["licensesQualified"] < 0.6 for r in by_customer(usage, tenant))


def test_prices_csv(sample_dir, feeds, data):
    deployment, _, _ = feeds
    text = (sample_dir / PRICES_FILE).read_text(encoding="utf-8")
    assert text.splitlines()[0].split(",") == list(PRICE_FIELDS)
    rows = read_csv(sample_dir / PRICES_FILE)
    assert rows == [{k: ("" if v is None else v) for k, v in r.items()} for r in data.prices.to_dicts()]
    assert {r["currency"] for r in rows} == {"USD"}
    assert all(GUID_UPPER.match(r["productId"]) and re.fullmatch(r"\d+\.\d{2}", r["unitPricePerMonth"]) for r in rows)
    priced = {r["productId"] for r in rows}
    assert FLOW_FREE.upper() not in priced
    held = {r["productId"] for r in deployment if r["productId"].lower() != FLOW_FREE}
    unpriced = held - priced
    assert unpriced == {"BE9F9771-1C64-4618-9907-244325141096"}    # Dynamics 365 Sales Professional
    for tenant in data.planted["unpriced_product"]:
        assert any(r["productId"] in unpriced for r in by_customer(deployment, tenant))


def test_support_tickets_csv(sample_dir, feeds, data):
    deployment, _, _ = feeds
    rows = read_csv(sample_dir / TICKETS_FILE)
    assert list(rows[0]) == list(TICKET_FIELDS)
    assert rows == [{k: ("" if v is None else v) for k, v in r.items()} for r in data.tickets.to_dicts()]
    tenants = {r["customerTenantId"] for r in deployment}
    assert all(r["customerTenantId"] in tenants for r in rows)
    assert len({(r["customerTenantId"], r["ticketId"]) for r in rows}) == len(rows)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:00Z)?", r["openedDate"]) for r in rows)
    (heavy,) = data.planted["support_heavy"]
    mine = [r for r in rows if r["customerTenantId"] == heavy]
    assert [(r["openedDate"], r["category"]) for r in mine] == [
        ("2026-10-29", "How-to"), ("2026-10-27", "Break/fix"), ("2026-10-22", "how to"), ("2026-10-17", "Billing"),
        ("2026-10-07", "Question - how to share a calendar"), ("2026-09-22", "Incident"),
        ("2026-09-02", "Training request"), ("2026-08-04", "HowTo"), ("2026-08-03", "How-to")]
    (few,) = data.planted["support_few_tickets"]
    assert len([r for r in rows if r["customerTenantId"] == few]) == 2
    # No other customer has three tickets, so none but the planted one can reach the support-heavy minimum.
    counts = defaultdict(int)
    for r in rows:
        counts[r["customerTenantId"]] += 1
    assert [t for t, n in counts.items() if n >= 3] == [heavy]


def test_kit_defined_fields_match_the_schema():
    for fields, kind in ((PRICE_FIELDS, schema.PRICE_LIST), (TICKET_FIELDS, schema.SUPPORT_TICKETS)):
        assert [schema.header_key(f) for f in fields] == [schema.header_key(f.name) for f in kind.fields]
