"""How the book over time is shown: chart specs (to_dict), escaped narrative, headline figures, the run index."""
from __future__ import annotations

import json

import polars as pl
import pytest
from render_support import HOSTILE_ID, SMITH_ID, stand_in_templates

from adoption_kit import analysis, render
from adoption_kit.compute.history import latest_period
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.errors import ParameterError, UnknownCustomerError
from adoption_kit.report import actions, book, charts

SPIKE_ID = "00ca2d71-7224-4239-a117-2a633dbe2f22"      # Goldencrest Builders B.V. (trend_spike)
SEGMENT_CHANGE_ID = "259535c5-5a5b-4929-808c-c3377092b296"
HOSTILE = "<img src=x onerror=alert(1)>"


def layers(chart) -> list[dict]:
    return chart.to_dict()["layer"]


def data_of(spec: dict, chart_dict: dict) -> list[dict]:
    data = spec.get("data", {})
    if "values" in data:
        return data["values"]
    return chart_dict["datasets"][data["name"]]


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------
def cid(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-000000000000"


def test_select_moves_puts_segment_changes_first_then_the_largest_moves():
    shown = pl.DataFrame({"customer_id": [cid(i) for i in range(5)], "deployment_rate": [0.9, 0.9, 0.5, 0.8, 0.7],
                          "usage_rate": [0.5, 0.9, 0.5, 0.8, 0.7]})
    movement = pl.DataFrame({"customer_id": [cid(i) for i in range(5)],
                             "previous_deployment_rate": [0.9, 0.9, 0.5, 0.8, None],
                             "previous_usage_rate": [0.7, 0.95, 0.1, 0.8, None],
                             "segment_changed": [True, False, False, False, False]})
    moves = charts.select_moves(movement, shown, max_moves=2)
    # customer 0 changed segment (moved 0.2); customer 2 moved most (0.4); 1 moved 0.05; 3 not at all; 4 no past
    assert moves.get_column("customer_id").to_list() == [cid(0), cid(2)]
    assert moves.get_column("distance").to_list() == pytest.approx([0.2, 0.4])
    assert charts.select_moves(movement, shown, max_moves=10).height == 3
    with pytest.raises(ParameterError):
        charts.select_moves(movement, shown, max_moves=charts.MAX_MOVES + 1)


def test_quadrant_draws_where_customers_were(sample):
    movement = latest_period(sample.book.history_customers)
    chart = charts.adoption_quadrant(sample.customers, sample.thresholds, movement=movement, max_moves=5)
    spec = chart.to_dict()
    trails = [layer for layer in spec["layer"] if layer.get("mark", {}).get("type") == "rule"
              and "x2" in layer.get("encoding", {}) and "previous_deployment_rate" == layer["encoding"]["x"]["field"]]
    assert len(trails) == 1
    rows = data_of(trails[0], spec)
    assert len(rows) == 5
    # The three segment changes come first: the planted healthy -> adopt one among them.
    assert [r["segment_changed"] for r in rows[:3]] == [True, True, True]
    planted = [r for r in rows if r["customer_name"] == '=HYPERLINK("http://example.invalid","x")']
    assert planted and planted[0]["previous_usage_rate"] == pytest.approx(40 / 57)
    assert planted[0]["usage_rate"] == pytest.approx(20 / 57) and planted[0]["previous_segment"] == "healthy"
    heads = [layer for layer in spec["layer"] if layer.get("mark", {}).get("shape") == "triangle-up"]
    assert heads and heads[0]["encoding"]["angle"]["field"] == "angle"
    assert ("Arrows: where 5 customers moved since the previous export (2026-10-01); 3 changed segment"
            in " ".join(spec["title"]["subtitle"]))         # (the subtitle is wrapped to the chart's width)
    # Without movement the chart is as before.
    plain = charts.adoption_quadrant(sample.customers, sample.thresholds).to_dict()
    assert not any("Arrows" in line for line in plain["title"]["subtitle"])


def test_quadrant_movement_stays_small_for_a_big_book():
    n = 6000
    customers = pl.DataFrame({"customer_id": [cid(i) for i in range(n)], "customer_name": [f"C{i}" for i in range(n)],
                              "deployment_rate": [0.5 + (i % 50) / 100 for i in range(n)],
                              "usage_rate": [0.4 + (i % 60) / 100 for i in range(n)],
                              "licenses_sold": [10 + i for i in range(n)], "licenses_assigned": [5] * n,
                              "licenses_qualified": [5] * n, "licenses_active": [3] * n, "segment": ["adopt"] * n})
    movement = customers.select("customer_id", (pl.col("deployment_rate") - 0.1).alias("previous_deployment_rate"),
                                (pl.col("usage_rate") + 0.1).alias("previous_usage_rate"),
                                pl.lit(False).alias("segment_changed"))
    spec = charts.adoption_quadrant(customers, max_points=4000, movement=movement, max_moves=200).to_dict()
    sizes = [len(data_of(layer, spec)) for layer in spec["layer"] if "data" in layer]
    assert max(sizes) <= 4000 and sorted(sizes)[-2] <= 4000
    assert [len(data_of(layer, spec)) for layer in spec["layer"]
            if layer.get("mark", {}).get("shape") == "triangle-up"] == [200]


def test_portfolio_trend(sample):
    chart = charts.portfolio_trend(sample.book.history_portfolio, sample.thresholds)
    spec = chart.to_dict()
    line = spec["layer"][0]
    rows = data_of(line, spec)
    assert line["mark"]["type"] == "line" and line["encoding"]["x"]["type"] == "temporal"
    assert len(rows) == 6                                        # 3 snapshots x (deployment, usage)
    usage = [r["rate"] for r in rows if r["measure"].startswith("Usage")]
    # September portfolio usage: the same seats, the bulk's older active counts (computed, not hand-planted)
    assert usage[-1] == pytest.approx(sample.portfolio["usage_rate"])
    rules = [layer for layer in spec["layer"][1:]]
    assert [data_of(r, spec)[0]["rate"] for r in rules] == [0.8, 0.6]
    single = charts.portfolio_trend(sample.book.history_portfolio.head(1)).to_dict()
    assert any("One snapshot only" in s for s in single["title"]["subtitle"])


def test_customer_trend_marks_the_flagged_points(sample):
    spec = charts.customer_trend(sample.book.history_workloads, SPIKE_ID, sample.thresholds).to_dict()
    lines, marks = spec["layer"][0], spec["layer"][1]
    assert len(data_of(lines, spec)) == 18              # 2 products: 5 + 1 workloads x 3 snapshots
    flagged = data_of(marks, spec)
    assert [(r["series"], r["trend_flag"]) for r in flagged] == [("MICROSOFT 365 BUSINESS · Teams", "spike")]
    assert flagged[0]["usage_rate"] == pytest.approx(116 / 118)
    assert " ".join(spec["title"]["text"]) == "Goldencrest Builders B.V.: usage by product and workload over time"
    with pytest.raises(UnknownCustomerError):
        charts.customer_trend(sample.book.history_workloads, "00000000-0000-4000-8000-000000000000")


# ---------------------------------------------------------------------------
# Narrative
# ---------------------------------------------------------------------------
def test_narrative_shows_every_planted_case_escaped(sample):
    trends = book.trends_summary(sample, top_n=25)
    assert "2 sudden drops and 1 spike" in trends.text
    assert "| Teams      | spike | 50.0%        | 98.3%     | +48.3 pts | 59 -> 116 of 118" in trends.text
    assert "| SharePoint | drop  | 96.4%        | 71.4%     | -25.0 pts | 27 -> 20 of 28" in trends.text
    changes = book.segment_changes_table(sample, top_n=25)
    assert "| healthy        | adopt       | 95.0% -> 95.0%   | 70.2% -> 35.1%" in changes.text
    queue = book.renewal_queue_table(sample, top_n=25)
    assert "| 2026-12-17       | 46      |" in queue.text
    assert "=HYPERLINK(&quot;http://example.invalid&quot;,&quot;x&quot;)" in queue.html
    cost = book.idle_cost_summary(sample, top_n=25)
    assert "&lt;img src=x onerror=alert(1)&gt;" in cost.html and HOSTILE not in cost.html
    assert "USD 5,832.00" in cost.text and "DYNAMICS 365 FOR SALES PROFESSIONAL" in cost.text
    support = book.support_signal(sample, top_n=25)
    assert "Riverfield Print LLC | upsell           | 5              | 13           | 38.5" in support.text
    assert "training (in person or online) plus self-service options" in support.text
    for fragment in (trends, changes, queue, cost, support, book.own_seats_summary(sample, top_n=25)):
        assert "<script" not in fragment.html


def test_book_headline_figures(sample):
    figures = book.book_figures(sample)
    assert {k: figures[k] for k in ("snapshots", "trend_drops", "trend_spikes", "segment_changes", "unpriced_products",
                                    "support_heavy_accounts", "currency")} == {
        "snapshots": 3, "trend_drops": 2, "trend_spikes": 1, "segment_changes": 3, "unpriced_products": 1,
        "support_heavy_accounts": 1, "currency": "USD"}
    assert figures["idle_cost_per_month"] == \
        pytest.approx(float(sample.book.idle_cost.get_column("idle_cost_per_month").sum()))
    view = analysis.customer_view(sample, SEGMENT_CHANGE_ID)
    customer = book.customer_book_figures(view)
    # usage 40/57 -> 20/57: -35.09 points; idle 40 x 12.50 = 500.00; renewal in 46 days
    assert customer == {"segment_before": "healthy", "usage_change_points": -35.1, "trend_flags": 1,
                        "days_to_renewal": 46, "renewal_queue_rank": customer["renewal_queue_rank"],
                        "own_share": 1.0, "idle_cost_per_month": 500.0, "support_heavy": False}
    assert "Drop on Exchange (OFFICE 365 BUSINESS PREMIUM): 70.2% -> 35.1% (-35.1 pts" in \
        book.customer_trend_text(view).text


def test_index_figure_formats():
    assert render.format_figure(92256.5, "idle_cost_per_month") == "92,256.50"
    assert render.format_figure(0.6, "own_share") == "60.0%"


# ---------------------------------------------------------------------------
# The run: bundle, index, CRM list
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("book-run")
    templates = stand_in_templates(root / "templates")
    return render.render_reports(SAMPLE_DIR, root / "reports", customers=[HOSTILE_ID, SMITH_ID, SEGMENT_CHANGE_ID],
                                 workers=2, templates_dir=templates, progress=False, today="2026-11-20")


def test_index_has_this_weeks_queue_with_links_and_escaping(run):
    page = run.index_path.read_text(encoding="utf-8")
    assert "This week&#39;s work queue" in page or "This week's work queue" in page
    # today=2026-11-20: the planted renewal (2026-12-17) is 27 days away; its report is linked.
    assert '<a href="customers/hyperlink-http-example-invalid-x-259535c5.html">' \
           '=HYPERLINK(&#34;http://example.invalid&#34;,&#34;x&#34;)</a>' in page
    assert "<td>2026-12-17</td><td class=\"num\">27</td>" in page
    # 90 days ending 2026-11-20 start on 2026-08-23: 4 of Riverfield's how-to tickets; 100 x 4 / 13 = 30.8
    assert "Support-heavy accounts" in page and "Riverfield Print LLC (upsell, 30.8 per 100)" in page
    assert HOSTILE not in page and render.find_unsafe_html(page) == []


def test_bundle_keeps_the_book_and_its_day(run):
    bundle = run.run_dir / render.BUNDLE_DIR
    meta = json.loads((bundle / "meta.json").read_text(encoding="utf-8"))
    assert meta["book"]["today"] == "2026-11-20" and meta["book"]["settings"]["prices_loaded"] is True
    whole = analysis.read_bundle(bundle)
    assert whole.book.today.isoformat() == "2026-11-20"
    assert whole.book.history_portfolio.height == 3
    one = analysis.read_bundle(bundle, customer_id=SEGMENT_CHANGE_ID)
    assert set(one.book.history_workloads.get_column("customer_id")) == {SEGMENT_CHANGE_ID}
    assert set(one.book.renewals.get_column("customer_id")) == {SEGMENT_CHANGE_ID}
    assert one.book.history_customers.get_column("customer_id").n_unique() == 50     # customer-level: whole
    row = one.book.renewals.row(0, named=True)
    assert (row["days_to_change"], str(row["change_at"])) == (27, "2026-12-17")       # 2026-11-20 + 27 days


def test_crm_list_from_the_run_bundle_has_the_new_columns(run, tmp_path):
    # The real low-adoption template writes actions.action_list of the bundle it reads (the stand-in does not).
    written = actions.write_action_list(analysis.read_bundle(run.run_dir / render.BUNDLE_DIR),
                                        str(tmp_path / "crm.csv"))
    csv = pl.read_csv(written.path, infer_schema=False)
    row = csv.filter(pl.col("customer_id") == SEGMENT_CHANGE_ID).row(0, named=True)
    assert (row["days_to_renewal"], row["renewal_date"], row["idle_cost_per_month"], row["support_heavy"]) == (
        "27", "2026-12-17", "500.0", "false")


def test_old_bundles_read_as_an_empty_book(tmp_path, sample):
    folder = analysis.write_bundle(sample, tmp_path / "bundle")
    for path in folder.glob("book_*.parquet"):
        path.unlink()
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    del meta["book"]
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    old = analysis.read_bundle(folder)
    assert old.book.renewals.is_empty() and old.book.today is None and old.book.settings == {}
    assert "No subscriptions export" in book.renewal_queue_table(old, top_n=5).text
    assert book.book_figures(old)["snapshots"] == 1
