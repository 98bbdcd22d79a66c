"""Tests for adoption_kit.report.charts (the package): chart specs inspected through to_dict(),
plus the offline renderer."""
from __future__ import annotations

import json
import random
import re

import altair as alt
import polars as pl
import pytest

from adoption_kit import analysis
from adoption_kit.config import Thresholds
from adoption_kit.errors import ParameterError, UnknownCustomerError
from adoption_kit.report import charts
from adoption_kit.report.charts import (
    SEGMENT_COLORS,
    SEGMENT_ORDER,
    STATUS_ABOVE_100,
    STATUS_COLORS,
    adoption_quadrant,
    configure_offline_rendering,
    product_bars,
    rate_distribution,
    segment_counts,
    select_for_display,
    workload_heatmap,
    workload_usage_bars,
)
from adoption_kit.report.charts.offline import _png_size, _vl_version

CUSTOM = Thresholds(deploy=0.7, adopt=0.45, upsell=0.85)
XSS = "<img src=x onerror=alert(1)>"


# ---------------------------------------------------------------------------
# Frame builders (column names from docs/contracts.md; metrics.py is not imported on purpose)
# ---------------------------------------------------------------------------
def cid(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-000000000000"


def customer_row(i: int, *, name: str | None = None, sold: int = 100, assigned: int | None = None,
                 qualified: int | None = None, active: int | None = None, segment: str | None = None) -> dict:
    assigned = sold if assigned is None else assigned
    qualified = assigned if qualified is None else qualified
    active = qualified if active is None else active
    dep = assigned / sold if sold else None
    use = active / qualified if qualified else None
    if segment is None:
        if (use or 0) > 1 or sold == 0:
            segment = "data_check"
        elif dep < 0.8:
            segment = "deploy"
        elif use is not None and use < 0.6:
            segment = "adopt"
        elif dep >= 0.9 and (use or 0) >= 0.9:
            segment = "upsell"
        else:
            segment = "healthy"
    return dict(
        customer_id=cid(i), customer_name=name or f"Customer {i}", products=1,
        licenses_sold=sold, licenses_assigned=assigned, licenses_qualified=qualified, licenses_active=active,
        deployment_rate=dep, usage_rate=use, licenses_unassigned=max(sold - assigned, 0),
        licenses_inactive=max(qualified - active, 0),
        licenses_idle=max(sold - assigned, 0) + max(qualified - active, 0),
        inflated=(use or 0) > 1, inflation_causes="unexplained" if (use or 0) > 1 else None,
        segment=segment, next_step="-",
    )


CUSTOMER_SCHEMA = {
    "customer_id": pl.String, "customer_name": pl.String, "products": pl.Int64,
    "licenses_sold": pl.Int64, "licenses_assigned": pl.Int64, "licenses_qualified": pl.Int64,
    "licenses_active": pl.Int64, "deployment_rate": pl.Float64, "usage_rate": pl.Float64,
    "licenses_unassigned": pl.Int64, "licenses_inactive": pl.Int64, "licenses_idle": pl.Int64,
    "inflated": pl.Boolean, "inflation_causes": pl.String, "segment": pl.String, "next_step": pl.String,
}


def customers_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CUSTOMER_SCHEMA)


def random_customers(n: int, seed: int = 7) -> pl.DataFrame:
    r = random.Random(seed)
    rows = []
    for i in range(n):
        sold = r.randint(1, 3000)
        assigned = r.randint(0, sold)
        active = r.randint(0, int(assigned * 1.05) + 1) if assigned else 0
        rows.append(customer_row(i, sold=sold, assigned=assigned, active=active))
    return customers_frame(rows)


def workload_rows(customer: int, product: str, rates: dict[str, tuple[int, int]], *,
                  name: str | None = None, excluded: bool = False) -> list[dict]:
    rows = []
    for workload, (qualified, active) in rates.items():
        rate = active / qualified if qualified else None
        rows.append(dict(
            customer_id=cid(customer), customer_name=name or f"Customer {customer}",
            product_id=f"prod-{product.lower().replace(' ', '-')}", product_name=product,
            workload=workload, workload_code=workload[:3].upper(),
            licenses_qualified=qualified, licenses_active=active, usage_rate=rate,
            licenses_inactive=max(qualified - active, 0), inflated=(rate or 0) > 1,
            inflation_causes="yammer" if (rate or 0) > 1 else None, excluded=excluded,
        ))
    return rows


WORKLOAD_SCHEMA = {
    "customer_id": pl.String, "customer_name": pl.String, "product_id": pl.String, "product_name": pl.String,
    "workload": pl.String, "workload_code": pl.String, "licenses_qualified": pl.Int64,
    "licenses_active": pl.Int64, "usage_rate": pl.Float64, "licenses_inactive": pl.Int64,
    "inflated": pl.Boolean, "inflation_causes": pl.String, "excluded": pl.Boolean,
}


def workloads_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=WORKLOAD_SCHEMA)


def product_row(customer: int, product: str, *, sold: int, assigned: int, qualified: int, active: int,
                name: str | None = None, excluded: bool = False) -> dict:
    dep = assigned / sold if sold else None
    use = active / qualified if qualified else None
    return dict(
        customer_id=cid(customer), customer_name=name or f"Customer {customer}",
        product_id=f"prod-{product.lower().replace(' ', '-')}", product_name=product,
        licenses_sold=sold, licenses_assigned=assigned, licenses_qualified=qualified, qualified_conflict=False,
        licenses_active=active, deployment_rate=dep, usage_rate=use,
        licenses_unassigned=max(sold - assigned, 0), licenses_inactive=max(qualified - active, 0),
        licenses_idle=max(sold - assigned, 0) + max(qualified - active, 0),
        inflated=(use or 0) > 1, inflation_causes=None, segment="adopt", next_step="-",
        excluded=excluded, exclusion_reason="free SKU" if excluded else None,
    )


def products_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


# ---------------------------------------------------------------------------
# Spec helpers
# ---------------------------------------------------------------------------
def units(spec: dict, inherited: dict | None = None):
    """Every unit (single-mark) spec inside a layered / concatenated spec, with its (inherited) data."""
    data = spec.get("data", inherited)
    if "mark" in spec:
        yield {**spec, "data": data} if data is not None else spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            yield from units(child, data)


def mark(unit: dict) -> str:
    m = unit["mark"]
    return m["type"] if isinstance(m, dict) else m


def rows(spec: dict, unit: dict) -> list[dict]:
    data = unit["data"]
    if "name" in data:
        return spec["datasets"][data["name"]]
    return data["values"]


def find(spec: dict, mark_type: str, **encoding_fields: str) -> list[dict]:
    found = []
    for u in units(spec):
        if mark(u) != mark_type:
            continue
        enc = u.get("encoding", {})
        if all(enc.get(ch, {}).get("field") == f for ch, f in encoding_fields.items()):
            found.append(u)
    return found


def tooltip_fields(unit: dict) -> list[str]:
    tips = unit["encoding"]["tooltip"]
    return [t["field"] for t in (tips if isinstance(tips, list) else [tips])]


def rule_values(spec: dict, channel: str, field: str) -> list[float]:
    values = []
    for u in find(spec, "rule", **{channel: field}):
        values += [r[field] for r in rows(spec, u)]
    return sorted(values)


def subtitle(spec: dict) -> str:
    sub = spec["title"].get("subtitle", [])
    return " ".join(sub) if isinstance(sub, list) else sub


def total_rows(spec: dict) -> int:
    return sum(len(v) for v in spec.get("datasets", {}).values())


# ---------------------------------------------------------------------------
# Palette
# ---------------------------------------------------------------------------
def test_segment_palette_is_fixed_and_okabe_ito():
    assert SEGMENT_ORDER == ("data_check", "deploy", "adopt", "upsell", "healthy")
    assert list(SEGMENT_COLORS) == list(SEGMENT_ORDER)
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert set(SEGMENT_COLORS.values()) <= okabe_ito
    assert len(set(SEGMENT_COLORS.values())) == len(SEGMENT_ORDER)
    with pytest.raises(TypeError):
        SEGMENT_COLORS["healthy"] = "#FF0000"  # read-only: a colour means the same everywhere


def assert_segment_scale(color: dict) -> None:
    assert color["field"] == "segment"
    assert color["scale"]["domain"] == list(SEGMENT_ORDER)
    assert color["scale"]["range"] == [SEGMENT_COLORS[s] for s in SEGMENT_ORDER]


# ---------------------------------------------------------------------------
# 1. Quadrant
# ---------------------------------------------------------------------------
def small_portfolio() -> pl.DataFrame:
    return customers_frame([
        customer_row(1, sold=500, assigned=300, active=100),      # deploy
        customer_row(2, sold=200, assigned=190, active=50),       # adopt
        customer_row(3, sold=50, assigned=50, active=50),         # upsell
        customer_row(4, sold=80, assigned=70, qualified=70, active=50),  # healthy
        customer_row(5, sold=40, assigned=40, active=55),         # data_check, usage 137.5 %
    ])


def test_quadrant_encodings_tooltips_and_colours():
    spec = adoption_quadrant(small_portfolio()).to_dict()
    (points,) = find(spec, "circle")
    enc = points["encoding"]
    assert (enc["x"]["field"], enc["x"]["type"]) == ("deployment_rate", "quantitative")
    assert (enc["y"]["field"], enc["y"]["type"]) == ("usage_rate", "quantitative")
    assert enc["x"]["axis"]["format"] == enc["y"]["axis"]["format"] == ".0%"
    assert "%" in enc["x"]["title"] and "%" in enc["y"]["title"]
    assert enc["size"]["field"] == "licenses_sold"
    assert_segment_scale(enc["color"])
    tips = {t["field"]: t for t in enc["tooltip"]}
    assert {"customer_name", "deployment_rate", "usage_rate", "licenses_sold", "licenses_assigned",
            "licenses_active", "segment"} <= set(tips)
    assert tips["deployment_rate"]["format"] == tips["usage_rate"]["format"] == ".1%"
    assert len(rows(spec, points)) == 5
    assert spec["title"]["text"]


def test_quadrant_threshold_rules_follow_the_thresholds_passed():
    spec = adoption_quadrant(small_portfolio(), CUSTOM).to_dict()
    assert rule_values(spec, "x", "deployment_rate") == [0.7]       # no 100 % x line: max deployment is 100 %
    assert rule_values(spec, "y", "usage_rate") == [0.45, 1.0]      # adopt + the 100 % line
    (corner,) = find(spec, "rect")
    (row,) = rows(spec, corner)
    assert row["deployment_rate"] == row["usage_rate"] == 0.85
    default = adoption_quadrant(small_portfolio()).to_dict()
    assert rule_values(default, "x", "deployment_rate") == [0.8]
    assert rule_values(default, "y", "usage_rate") == [0.6, 1.0]


def test_quadrant_axis_extends_past_100_percent_and_keeps_the_point():
    spec = adoption_quadrant(small_portfolio()).to_dict()
    (points,) = find(spec, "circle")
    y_domain = points["encoding"]["y"]["scale"]["domain"]
    assert y_domain[0] == 0 and y_domain[1] >= 1.375
    assert max(r["usage_rate"] for r in rows(spec, points)) == pytest.approx(1.375)
    assert points["encoding"]["x"]["scale"]["domain"] == [0, 1.0]
    # No data above 100 %: the axis stops at 100 %.
    tidy = small_portfolio().filter(pl.col("segment") != "data_check")
    tidy_spec = adoption_quadrant(tidy).to_dict()
    assert find(tidy_spec, "circle")[0]["encoding"]["y"]["scale"]["domain"] == [0, 1.0]


def test_quadrant_20000_customers_is_subsampled_and_says_so():
    big = random_customers(20_000)
    chart = adoption_quadrant(big, max_points=4000)
    spec = chart.to_dict()  # no MaxRowsError
    (points,) = find(spec, "circle")
    assert len(rows(spec, points)) <= 4000
    assert total_rows(spec) <= 5000
    assert re.search(r"showing 4,000 of [\d,]+ customers", subtitle(spec), re.I)
    assert "flagged" in subtitle(spec)
    assert "20,000" in spec["title"]["text"]


def test_quadrant_svg_for_a_big_portfolio_is_small_enough():
    import vl_convert as vlc

    spec = adoption_quadrant(random_customers(20_000), max_points=4000).to_dict()
    svg = vlc.vegalite_to_svg(spec, vl_version=_vl_version())
    assert len(svg) < 1_500_000


def test_quadrant_rejects_more_points_than_altair_allows():
    with pytest.raises(ParameterError):
        adoption_quadrant(small_portfolio(), max_points=10_000)


def test_quadrant_counts_customers_without_rates_instead_of_plotting_them():
    frame = customers_frame([customer_row(1), customer_row(2, sold=0, assigned=0, qualified=0, active=0)])
    spec = adoption_quadrant(frame).to_dict()
    (points,) = find(spec, "circle")
    assert [r["customer_id"] for r in rows(spec, points)] == [cid(1)]
    assert "1 customer without a deployment or usage rate" in subtitle(spec)


def test_quadrant_highlight_is_drawn_even_when_sampling_would_drop_it():
    big = random_customers(6000)
    smallest = big.sort("licenses_sold").filter(pl.col("segment") == "healthy").get_column("customer_id")[0]
    spec = adoption_quadrant(big, max_points=1000, highlight=smallest.upper()).to_dict()
    (points,) = find(spec, "circle")
    assert smallest in {r["customer_id"] for r in rows(spec, points)}
    (ring,) = find(spec, "point")
    assert [r["customer_id"] for r in rows(spec, ring)] == [smallest]
    assert "customer_name" in tooltip_fields(ring)
    with pytest.raises(UnknownCustomerError):
        adoption_quadrant(big, highlight="not-a-customer")


def test_density_cells_count_every_placed_customer_on_the_10_point_grid():
    from adoption_kit.report.charts.quadrant import density_cells, density_step

    assert density_step(1.0) == pytest.approx(0.1) and density_step(2.0) == pytest.approx(0.1)
    assert density_step(2.3) == pytest.approx(0.2) and density_step(4.0) == pytest.approx(0.2)
    # by hand: 0.05 and 0.09 share [0, 0.1); 0.3 (stored as 0.29999...) is [0.3, 0.4); 1.2 = the axis end
    # goes in the last cell [1.1, 1.2); usage 0.61 and 0.69 share [0.6, 0.7)
    frame = pl.DataFrame({"deployment_rate": [0.05, 0.09, 0.1 * 3, 1.2, None],
                          "usage_rate": [0.61, 0.69, 0.0, 1.0, 0.5]})
    cells = density_cells(frame, 1.2, 1.0).with_columns(pl.col(pl.Float64).round(6))
    assert cells.rows() == [(0.0, 0.1, 0.6, 0.7, 2), (0.3, 0.4, 0.0, 0.1, 1), (1.1, 1.2, 0.9, 1.0, 1)]


def test_a_crowded_quadrant_as_density_counts_everyone_and_names_only_the_highlighted_customer():
    big = random_customers(3000)
    chosen = big.get_column("customer_id")[17]
    name = big.get_column("customer_name")[17]
    spec = adoption_quadrant(big, max_points=200, highlight=chosen, crowded="density").to_dict()
    assert not find(spec, "circle")                                  # no point per customer
    (cells,) = [u for u in find(spec, "rect") if "customers" in json.dumps(u.get("encoding", {}))]
    counted = rows(spec, cells)
    placed = big.filter(pl.col("deployment_rate").is_not_null() & pl.col("usage_rate").is_not_null()).height
    assert sum(c["customers"] for c in counted) == placed and len(counted) <= 20 * 20
    (ring,) = find(spec, "point")
    assert [r["customer_id"] for r in rows(spec, ring)] == [chosen]
    text = json.dumps(spec)
    others = [n for n in big.get_column("customer_name").to_list() if n != name]
    assert not [n for n in others if f'"{n}"' in text]               # nobody else named, in data or text
    assert f"{placed:,} placed customers" in subtitle(spec) and "dashed box: upsell" in subtitle(spec)
    assert "showing" not in subtitle(spec).lower()
    # a book within max_points keeps its points; a bad choice is refused
    small = adoption_quadrant(big.head(150), max_points=200, highlight=chosen, crowded="density").to_dict()
    assert len(rows(small, find(small, "circle")[0])) == 150
    with pytest.raises(ParameterError):
        adoption_quadrant(big, crowded="heat")


def test_quadrant_accepts_pandas_and_gives_the_same_spec():
    frame = small_portfolio()
    assert adoption_quadrant(frame.to_pandas()).to_dict() == adoption_quadrant(frame).to_dict()


def test_quadrant_reports_missing_columns():
    with pytest.raises(ParameterError, match="usage_rate"):
        adoption_quadrant(small_portfolio().drop("usage_rate"))


# ---------------------------------------------------------------------------
# select_for_display
# ---------------------------------------------------------------------------
def sized(n_flagged: int, n_healthy: int, *, flagged_big: bool) -> pl.DataFrame:
    """Flagged accounts sized 1..n_flagged (or +10,000 when flagged_big), healthy 1,001.. upwards."""
    rows_ = []
    for i in range(n_flagged):
        rows_.append(customer_row(i, sold=(10_000 if flagged_big else 0) + i + 1, segment="deploy"))
    for j in range(n_healthy):
        rows_.append(customer_row(1000 + j, sold=1001 + j, segment="healthy"))
    return customers_frame(rows_)


def test_select_keeps_everything_when_under_budget():
    frame = sized(3, 3, flagged_big=False)
    out, note = select_for_display(frame, 10)
    assert out.height == 6 and note == ""


def test_select_keeps_every_flagged_account_when_they_fit():
    frame = sized(30, 70, flagged_big=False)   # flagged are the SMALLEST accounts
    out, note = select_for_display(frame, 50)
    assert out.height == 50
    assert out.filter(pl.col("segment") == "deploy").height == 30
    healthy_kept = out.filter(pl.col("segment") == "healthy").get_column("licenses_sold").sort().to_list()
    assert healthy_kept == list(range(1001 + 70 - 20, 1001 + 70))  # the 20 largest healthy ones
    assert note.startswith("showing 50 of 100 customers: the largest and every flagged account")
    assert out.get_column("licenses_sold").to_list() == sorted(out.get_column("licenses_sold"), reverse=True)


def test_select_when_flagged_do_not_fit_keeps_largest_overall_and_largest_flagged():
    frame = sized(80, 20, flagged_big=False)
    out, note = select_for_display(frame, 50, largest_share=0.1)
    assert out.height == 50
    # the 5 largest accounts overall are healthy (1,001..1,020 > 1..80) ...
    assert out.filter(pl.col("segment") == "healthy").get_column("licenses_sold").sort().to_list() == \
        list(range(1016, 1021))
    # ... and the rest of the budget goes to the largest flagged accounts.
    assert out.filter(pl.col("segment") == "deploy").get_column("licenses_sold").sort().to_list() == \
        list(range(36, 81))
    assert "45 of 80 flagged accounts shown" in note


def test_select_priority_and_must_keep():
    frame = sized(10, 10, flagged_big=False)
    out, _ = select_for_display(frame, 5, priority=("healthy",), must_keep=[cid(0)])
    assert cid(0) in out.get_column("customer_id").to_list()
    assert out.filter(pl.col("segment") == "healthy").height == 4
    out2, note2 = select_for_display(frame, 5, priority=("healthy",), must_keep=[cid(0)])
    assert out.equals(out2) and "highlighted" in note2


def test_select_rejects_bad_budget():
    with pytest.raises(ParameterError):
        select_for_display(sized(2, 2, flagged_big=False), 0)


# ---------------------------------------------------------------------------
# 2. Distribution
# ---------------------------------------------------------------------------
def test_distribution_rows_are_bounded_for_big_and_extreme_portfolios():
    big = random_customers(20_000)
    spec = rate_distribution(big).to_dict()
    (bars,) = find(spec, "bar")
    data = rows(spec, bars)
    assert len(data) <= 50
    assert sum(r["customers"] for r in data) == big.get_column("usage_rate").drop_nulls().len()
    extreme = customers_frame([customer_row(1, sold=10, active=400), customer_row(2)])  # usage 4,000 %
    spec = rate_distribution(extreme).to_dict()
    data = rows(spec, find(spec, "bar")[0])
    assert len(data) <= 50 and max(r["bin_end"] for r in data) >= 40
    assert total_rows(spec) <= 60


def test_distribution_bins_edges_and_encodings():
    frame = customers_frame([
        customer_row(1, sold=100, active=60),    # exactly 60 %: in [60, 65)
        customer_row(2, sold=100, active=100),   # exactly 100 %: in [95, 100]
        customer_row(3, sold=100, active=101),   # 101 %: in [100, 105)
        customer_row(4, sold=0, assigned=0, qualified=0, active=0),  # no rate: not counted
    ])
    spec = rate_distribution(frame, "usage_rate").to_dict()
    (bars,) = find(spec, "bar")
    counts = {(r["bin_start"], r["bin_end"]): r["customers"] for r in rows(spec, bars)}
    assert counts[(0.6, 0.65)] == 1 and counts[(0.95, 1.0)] == 1 and counts[(1.0, 1.05)] == 1
    assert sum(counts.values()) == 3
    enc = bars["encoding"]
    assert enc["x"]["axis"]["format"] == ".0%" and "%" in enc["x"]["title"]
    assert enc["y"]["field"] == "customers"
    assert "1 customer without a usage rate" in subtitle(spec)


def test_distribution_rule_uses_the_threshold_of_that_rate():
    frame = random_customers(200)
    usage = rate_distribution(frame, "usage_rate", CUSTOM).to_dict()
    assert rule_values(usage, "x", "bin_start") == [0.45, 0.85]
    deployment = rate_distribution(frame, "deployment_rate", CUSTOM).to_dict()
    assert rule_values(deployment, "x", "bin_start") == [0.7, 0.85]
    with pytest.raises(ParameterError):
        rate_distribution(frame, "idle_rate")


# ---------------------------------------------------------------------------
# 3. Heat map
# ---------------------------------------------------------------------------
def heatmap_inputs():
    # licenses_sold order: C3 (900) > C1 (500) > C4 (300, 'Alpha') = C2 (300, 'Beta') > C0 (10)
    sold = {0: 10, 1: 500, 2: 300, 3: 900, 4: 300}
    names = {4: "Alpha", 2: "Beta"}
    customers = customers_frame([customer_row(i, sold=s, name=names.get(i)) for i, s in sold.items()])
    wl = []
    for i in sold:
        wl += workload_rows(i, "Microsoft 365 E3", {"Exchange": (100, 50), "Teams": (100, 80),
                                                    "Yammer": (10, 15)}, name=names.get(i))
    wl += workload_rows(3, "Office 365 E1", {"Exchange": (100, 100)})             # summed with E3 Exchange
    wl += workload_rows(3, "Free SKU", {"SharePoint": (5, 5)}, excluded=True)      # excluded: no cell
    wl += workload_rows(1, "Microsoft 365 E3", {"SharePoint": (0, 0)})             # no qualified users
    return wl, customers


def test_heatmap_keeps_top_n_customers_by_licenses_sold():
    wl, customers = heatmap_inputs()
    spec = workload_heatmap(workloads_frame(wl), customers, top_n=3).to_dict()
    (text,) = find(spec, "text")
    assert text["encoding"]["y"]["scale"]["domain"] == ["Customer 3", "Customer 1", "Alpha"]
    cells = rows(spec, text)
    assert {c["customer_name"] for c in cells} == {"Customer 3", "Customer 1", "Alpha"}
    assert all(c["workload"] != "SharePoint" or c["customer_name"] != "Customer 3" for c in cells)
    assert text["encoding"]["y"]["title"] is None         # the subtitle says what the rows are
    assert "the 3 largest of" in " ".join(spec["title"]["subtitle"])


def test_heatmap_cells_labels_inflation_and_tooltips():
    wl, customers = heatmap_inputs()
    spec = workload_heatmap(workloads_frame(wl), customers, top_n=5).to_dict()
    (text,) = find(spec, "text")
    cells = {(c["customer_name"], c["workload"]): c for c in rows(spec, text)}
    exchange = cells[("Customer 3", "Exchange")]
    assert (exchange["licenses_qualified"], exchange["licenses_active"]) == (200, 150)
    assert exchange["label"] == "75%"
    assert cells[("Customer 3", "Yammer")]["label"] == "150% !"
    assert cells[("Customer 3", "Yammer")]["inflated"] is True
    assert cells[("Customer 1", "SharePoint")]["label"] == "n/a"
    assert text["encoding"]["x"]["scale"]["domain"] == ["Exchange", "SharePoint", "Teams", "Yammer"]
    rated = [u for u in find(spec, "rect") if u["encoding"].get("color", {}).get("field") == "usage_rate"]
    (rated,) = rated
    assert rated["encoding"]["color"]["scale"]["scheme"] == charts.HEATMAP_SCHEME
    assert rated["encoding"]["color"]["scale"]["domain"] == [0, 1]
    assert {"customer_name", "licenses_qualified", "licenses_active"} <= set(tooltip_fields(rated))
    outline = [u for u in find(spec, "rect") if u.get("transform") == [{"filter": "datum.inflated"}]]
    assert len(outline) == 1 and outline[0]["mark"]["stroke"] == STATUS_COLORS[STATUS_ABOVE_100]


def test_heatmap_disambiguates_customers_sharing_a_name():
    customers = customers_frame([customer_row(1, name="Contoso", sold=20), customer_row(2, name="Contoso")])
    wl = workloads_frame(workload_rows(1, "E3", {"Exchange": (10, 5)}, name="Contoso")
                         + workload_rows(2, "E3", {"Exchange": (10, 5)}, name="Contoso"))
    spec = workload_heatmap(wl, customers).to_dict()
    domain = find(spec, "text")[0]["encoding"]["y"]["scale"]["domain"]
    assert len(set(domain)) == 2 and all(d.startswith("Contoso (") for d in domain)


# ---------------------------------------------------------------------------
# 4. Segment counts
# ---------------------------------------------------------------------------
def test_segment_counts_order_colours_and_zero_filled():
    frame = small_portfolio().filter(pl.col("segment") != "upsell")
    spec = segment_counts(frame).to_dict()
    (bars,) = find(spec, "bar")
    assert [r["segment"] for r in rows(spec, bars)] == list(SEGMENT_ORDER)
    assert {r["segment"]: r["customers"] for r in rows(spec, bars)}["upsell"] == 0
    assert bars["encoding"]["x"]["sort"] == list(SEGMENT_ORDER)
    assert_segment_scale(bars["encoding"]["color"])
    assert "licenses_sold" in tooltip_fields(bars)


def test_unknown_segment_values_are_refused():
    frame = small_portfolio().with_columns(pl.lit("mystery").alias("segment"))
    with pytest.raises(ParameterError, match="mystery"):
        segment_counts(frame)


# ---------------------------------------------------------------------------
# 5. / 6. One customer
# ---------------------------------------------------------------------------
def one_customer_products(name: str = "Fabrikam") -> pl.DataFrame:
    return products_frame([
        product_row(1, "Microsoft 365 E3", sold=100, assigned=90, qualified=90, active=40, name=name),
        product_row(1, "Visio Plan 2", sold=10, assigned=5, qualified=5, active=6, name=name),
        product_row(1, "Power BI Free", sold=0, assigned=20, qualified=20, active=10, name=name, excluded=True),
        product_row(2, "Microsoft 365 E3", sold=5, assigned=5, qualified=5, active=5),
    ])


def test_product_bars_rules_status_and_title():
    spec = product_bars(one_customer_products(), cid(1), CUSTOM).to_dict()
    assert spec["title"]["text"] == "Fabrikam: deployment and usage by product"
    deploy_panel, usage_panel = spec["hconcat"]
    assert rule_values(deploy_panel | {"datasets": spec["datasets"]}, "x", "rate") == [0.7, 0.85, 1.0]
    assert rule_values(usage_panel | {"datasets": spec["datasets"]}, "x", "rate") == [0.45, 0.85, 1.0]
    (bars,) = find(usage_panel, "bar")
    data = {r["product_name"]: r for r in rows(spec, bars)}
    assert set(data) == {"Microsoft 365 E3", "Visio Plan 2"}            # excluded product left out
    assert data["Visio Plan 2"]["status"] == STATUS_ABOVE_100
    assert data["Microsoft 365 E3"]["status"] == charts.STATUS_BELOW_ADOPT
    assert data["Microsoft 365 E3"]["label"] == "44.4%"
    assert bars["encoding"]["x"]["axis"]["format"] == ".0%"
    scale = bars["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == {k: STATUS_COLORS[k] for k in scale["domain"]}
    assert "excluded" in subtitle(spec)
    with pytest.raises(UnknownCustomerError):
        product_bars(one_customer_products(), "no-such-id")


def test_workload_usage_bars_rules_and_inflated_colour():
    wl = workloads_frame(
        workload_rows(1, "Microsoft 365 E3", {"Exchange": (100, 70), "Teams": (100, 30), "Yammer": (10, 15)})
        + workload_rows(2, "Microsoft 365 E3", {"Exchange": (10, 10)})
    )
    spec = workload_usage_bars(wl, cid(1), CUSTOM).to_dict()
    assert rule_values(spec, "x", "usage_rate") == [0.45, 1.0]
    (bars,) = find(spec, "bar")
    data = {r["workload"]: r for r in rows(spec, bars)}
    assert set(data) == {"Exchange", "Teams", "Yammer"}
    assert data["Yammer"]["status"] == STATUS_ABOVE_100
    assert data["Teams"]["status"] == charts.STATUS_BELOW_ADOPT
    assert data["Exchange"]["status"] == charts.STATUS_OK
    scale = bars["encoding"]["color"]["scale"]
    assert scale["range"][scale["domain"].index(STATUS_ABOVE_100)] == SEGMENT_COLORS["data_check"]
    assert {"licenses_qualified", "licenses_active"} <= set(tooltip_fields(bars))
    assert bars["encoding"]["x"]["scale"]["domain"][1] >= 1.5


# ---------------------------------------------------------------------------
# Offline renderer
# ---------------------------------------------------------------------------
@pytest.fixture
def offline():
    previous_renderer = alt.renderers.active
    previous_transformer = alt.data_transformers.active
    name = configure_offline_rendering()
    yield name
    alt.renderers.enable(previous_renderer)
    alt.data_transformers.enable(previous_transformer)


def render(chart) -> tuple[dict, dict]:
    out = chart._repr_mimebundle_()
    assert isinstance(out, tuple), out
    return out


def test_renderer_emits_svg_and_png(offline):
    assert offline == charts.RENDERER_NAME == alt.renderers.active
    bundle, metadata = render(segment_counts(small_portfolio()))
    assert bundle["image/svg+xml"].lstrip().startswith("<svg")
    assert bundle["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert metadata["image/png"]["width"] > 100 and metadata["image/png"]["height"] > 100
    assert "Customers per segment" in bundle["text/plain"]


def test_every_chart_a_template_draws_is_a_valid_vega_lite_spec(sample):
    """Report kernels display charts without the schema check (offline.display_unvalidated): the check is here,
    on the sample, for each chart the report templates draw."""
    from adoption_kit.compute import history
    from adoption_kit.report import first_page

    tenant = sample.customers.get_column("customer_id")[0]
    view = analysis.customer_view(sample, tenant)
    drawn = [
        charts.product_bars(sample.metrics.products, tenant, sample.thresholds),
        charts.workload_usage_bars(sample.metrics.workloads, tenant, sample.thresholds),
        charts.customer_trend(sample.book.history_workloads, tenant, sample.thresholds),
        charts.adoption_quadrant(sample.customers, sample.thresholds, highlight=tenant, max_points=200,
                                 crowded="density"),
        charts.peer_distribution(first_page.peer_bands(sample, view)),
        charts.adoption_quadrant(sample.customers, sample.thresholds,
                                 movement=history.latest_period(sample.book.history_customers)),
        charts.rate_distribution(sample.customers, "deployment_rate", sample.thresholds),
        charts.rate_distribution(sample.customers, "usage_rate", sample.thresholds),
        charts.workload_heatmap(sample.metrics.workloads, sample.customers, top_n=25),
        charts.segment_counts(sample.customers),
        charts.portfolio_trend(sample.book.history_portfolio, sample.thresholds),
    ]
    for chart in drawn:
        assert chart.to_dict(validate=True)["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


def test_a_report_kernel_displays_charts_as_altair_does_but_without_the_schema_check(offline, monkeypatch):
    """In an IPython kernel the kit's formatter replaces altair's display: the same bundle, no jsonschema."""
    from altair.utils import schemapi
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        configure_offline_rendering()
        chart = adoption_quadrant(small_portfolio(), highlight=cid(3))
        expected = render(chart)   # altair's own path, the spec checked against the schema
        checked: list = []
        real_check = schemapi.validate_jsonschema
        monkeypatch.setattr(schemapi, "validate_jsonschema",
                            lambda spec, *a, **k: (checked.append(spec), real_check(spec, *a, **k))[1])
        render(chart)
        assert any("$schema" in spec for spec in checked if isinstance(spec, dict))  # altair checks the whole spec
        checked.clear()
        shown = shell.display_formatter.format(chart)
        assert shown == expected
        # altair still checks a layer's small parameter objects when it copies the chart; never the whole spec
        assert not any("$schema" in spec for spec in checked if isinstance(spec, dict))
        assert shown[0]["image/svg+xml"].lstrip().startswith("<svg")
    finally:
        InteractiveShell.clear_instance()


def test_renderer_is_deterministic(offline):
    chart = adoption_quadrant(small_portfolio(), highlight=cid(3))
    first, _ = render(chart)
    second, _ = render(adoption_quadrant(small_portfolio(), highlight=cid(3)))
    assert first["image/svg+xml"] == second["image/svg+xml"]
    assert first["image/png"] == second["image/png"]


def test_renderer_png_is_the_chart_as_vega_lite_rasterises_it(offline):
    """The PNG comes from the SVG (one Vega pass, not two): the same bytes as vl-convert's own PNG path."""
    import vl_convert as vlc

    from adoption_kit.report.charts.common import report_style

    chart = product_bars(one_customer_products(name=XSS), cid(1))
    spec = chart.to_dict()
    styled = report_style(spec)       # the renderer draws every chart in the kit's font stack
    for scale in (1.0, 2.0):
        bundle, metadata = charts.offline_renderer(spec, png_scale=scale)
        assert bundle["image/png"] == vlc.vegalite_to_png(styled, vl_version=_vl_version(), scale=scale, ppi=72)
        width, height = _png_size(bundle["image/png"])
        assert metadata["image/png"] == {"width": round(width / scale), "height": round(height / scale)}


def test_renderer_resets_data_transformer(offline):
    alt.data_transformers.enable("json")
    configure_offline_rendering()
    assert alt.data_transformers.active == "default"
    assert alt.data_transformers.options.get("max_rows", 5000) == 5000


def test_customer_names_are_text_not_markup_in_the_svg(offline):
    frame = customers_frame([customer_row(1, name=XSS), customer_row(2)])
    bundle, _ = render(adoption_quadrant(frame, highlight=cid(1)))
    svg = bundle["image/svg+xml"]
    assert "<img" not in svg and "&lt;img" in svg
    products = one_customer_products(name=XSS)
    chart = product_bars(products, cid(1))
    text = chart.to_dict()["title"]["text"]      # plain strings (one, or the lines of a wrapped title)
    assert " ".join([text] if isinstance(text, str) else text) == f"{XSS}: deployment and usage by product"
    svg = render(chart)[0]["image/svg+xml"]
    assert "<img" not in svg and "&lt;img" in svg


def test_no_chart_exceeds_altair_row_limit():
    big = random_customers(20_000)
    wl = workloads_frame([r for i in range(300) for r in workload_rows(i, "E3", {"Exchange": (10, 5)})])
    for chart in (adoption_quadrant(big), rate_distribution(big), rate_distribution(big, "deployment_rate"),
                  segment_counts(big), workload_heatmap(wl, big)):
        spec = chart.to_dict()
        assert all(len(v) <= 5000 for v in spec["datasets"].values())
        json.dumps(spec)  # serialisable
