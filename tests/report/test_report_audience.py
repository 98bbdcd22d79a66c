"""The customer audience: one customer's data in every byte of its outputs, editor notes never rendered, PDFs.

The leak test renders the customer-facing report of one customer of the sample and of the hostile book (see
render_support.hostile_sample) and searches every output file of that customer (.html with its SVG images decoded,
.ipynb, the text of the .pdf) for any other customer's name, tenant id or exact seat count.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from render_support import HOSTILE_ID, SMITH_ID, hostile_sample

from adoption_kit import analysis as analysis_module
from adoption_kit.config import REPORT_TEMPLATES_DIR, SAMPLE_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.render.audience import CUSTOMER_BUNDLES_DIR, cells_for
from adoption_kit.render.pdf import css_string, find_chromium
from adoption_kit.render.svg_uri import svg_data_uris
from adoption_kit.report.audience import EDITOR_NOTE_TAG, check_audience, customer_slice, peer_position

CHROMIUM = shutil.which("chromium")
PDFTOTEXT = shutil.which("pdftotext")
TODAY = "2026-11-20"


@pytest.fixture(scope="module")
def sample():
    return analysis_module.prepare(SAMPLE_DIR, today=TODAY)


# ---------------------------------------------------------------------------
# The slice
# ---------------------------------------------------------------------------
def test_slice_holds_one_customer_in_every_table(sample):
    sliced = customer_slice(sample, SMITH_ID)
    frames = {"workloads": sliced.metrics.workloads, "products": sliced.metrics.products,
              "customers": sliced.metrics.customers, "activity_workloads": sliced.metrics.activity_workloads,
              "activity_customers": sliced.metrics.activity_customers, "ranking": sliced.ranking,
              **{f"book.{name}": getattr(sliced.book, name) for name in analysis_module.BOOK_TABLES}}
    for name, frame in frames.items():
        if "customer_id" in frame.columns:
            assert set(frame.get_column("customer_id").to_list()) <= {SMITH_ID}, name
    assert sliced.metrics.customers.height == 1
    assert sliced.metrics.portfolio.height == 0 and sliced.ranking.height == 0
    # Partner-internal tables are empty: own share, idle cost, renewal queue, support load.
    for name in ("own_seats", "own_seats_customers", "idle_cost", "idle_cost_customers", "customer_renewals",
                 "support", "history_portfolio", "unpriced"):
        assert getattr(sliced.book, name).height == 0, name
    assert sliced.sources == () and sliced.warnings == () and sliced.book.settings == {}


def test_percentiles_survive_the_slice_as_computed_among_all_customers(sample):
    full = analysis_module.customer_view(sample, SMITH_ID)
    sliced = analysis_module.customer_view(customer_slice(sample, SMITH_ID), SMITH_ID)
    assert sliced.usage_percentile == round(full.usage_percentile)
    assert sliced.deployment_percentile == round(full.deployment_percentile)
    assert customer_slice(customer_slice(sample, SMITH_ID), SMITH_ID).meta["peer"] == \
        customer_slice(sample, SMITH_ID).meta["peer"]


def test_peer_bands_are_whole_percent_shares_by_hand():
    # 4 customers: usage 5%, 15%, 15%, 120% -> bands 0 (25%), 1 (50%), 9 (25%, over 100% in the last band).
    ids = [f"{n}0000000-0000-4000-8000-000000000000" for n in "abcd"]
    customers = pl.DataFrame({"customer_id": ids, "customer_name": list("ABCD"),
                              "deployment_rate": [0.5, 0.5, 0.5, 0.5], "usage_rate": [0.05, 0.15, 0.15, 1.2]})

    class _A:
        pass
    fake = _A()
    fake.customers = customers  # type: ignore[attr-defined]
    position = peer_position(fake, ids[1])  # type: ignore[arg-type]
    assert position["usage_bands"] == [25, 50, 0, 0, 0, 0, 0, 0, 0, 25]
    assert position["deployment_bands"][5] == 100
    assert position["usage_percentile"] == 50   # one lower (25%) + half of two ties (25%)


def test_audience_values():
    assert check_audience(" Customer ") == "customer"
    with pytest.raises(ParameterError, match="internal .* or customer"):
        check_audience("partner")


# ---------------------------------------------------------------------------
# Cells by audience, editor notes
# ---------------------------------------------------------------------------
def _cell(tags):
    return {"cell_type": "markdown", "metadata": {"tags": tags}, "source": ""}


def test_cells_for_each_audience():
    notebook = {"cells": [_cell([]), _cell([EDITOR_NOTE_TAG]), _cell(["audience-internal"]),
                          _cell(["audience-customer"])]}
    assert [c["metadata"]["tags"] for c in cells_for(notebook, "internal")["cells"]] == [[], ["audience-internal"]]
    assert [c["metadata"]["tags"] for c in cells_for(notebook, "customer")["cells"]] == [[], ["audience-customer"]]
    assert len(notebook["cells"]) == 4   # not changed in place


def test_every_template_keeps_its_editor_notes_tagged():
    for template in sorted(REPORT_TEMPLATES_DIR.glob("*.ipynb")):
        cells = json.loads(template.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and re.search(r"papermill|A template|headline figures", text):
                assert EDITOR_NOTE_TAG in cell["metadata"].get("tags", []), (template.name, text[:80])


def test_the_exporter_removes_editor_notes():
    import nbformat

    from adoption_kit.render.execute import _export_html

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("NOTE-FOR-EDITORS", metadata={"tags": [EDITOR_NOTE_TAG]}),
                      nbformat.v4.new_markdown_cell("# For the reader")]
    page = _export_html(notebook, "t")
    assert "NOTE-FOR-EDITORS" not in page and "For the reader" in page


def test_css_string_escapes_everything_that_could_end_the_style():
    text = css_string('a"b\\c</style><script>\n')
    assert "<" not in text and ">" not in text and "\n" not in text and text.count('"') == 2


def test_missing_chromium_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("ADOPTION_KIT_CHROMIUM", raising=False)
    with pytest.raises(ParameterError, match="apt-get install chromium") as error:
        find_chromium()
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------------------
# The leak test: render, then search every byte
# ---------------------------------------------------------------------------
def _render(data: Path, out: Path, customer_id: str, pdf: bool):
    from adoption_kit.render import render_reports

    return render_reports(data, out, customers=[customer_id], workers=1, today=TODAY, progress=False,
                          audience="customer", pdf=pdf)


@pytest.fixture(scope="module")
def customer_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("audience")
    pdf = CHROMIUM is not None
    sample_run = _render(SAMPLE_DIR, root / "sample-reports", SMITH_ID, pdf)
    hostile = hostile_sample(root / "hostile")
    hostile_run = _render(hostile, root / "hostile-reports", HOSTILE_ID, pdf)
    return {"sample": (SAMPLE_DIR, SMITH_ID, sample_run), "hostile": (hostile, HOSTILE_ID, hostile_run)}


def _texts(path: Path) -> list[str]:
    """Every text of one output file: the file itself, its decoded SVG images, the PDF's extracted text."""
    if path.suffix == ".pdf":
        return [subprocess.run([PDFTOTEXT, str(path), "-"], capture_output=True, check=True).stdout.decode()]
    text = path.read_text(encoding="utf-8")
    texts = [text, html.unescape(text)]
    for svg in svg_data_uris(text):      # percent-encoded or base64, as the browser decodes them
        texts += [svg, html.unescape(svg)]
    if path.suffix == ".ipynb":
        texts.append(json.dumps(json.loads(text), ensure_ascii=False))
    return texts


def _visible(text: str) -> str:
    """Words and numbers a reader sees: no styles, no path coordinates or other markup attributes."""
    text = re.sub(r"<style\b.*?</style>", " ", text, flags=re.S | re.I)
    text = re.sub(r"[A-Za-z0-9+/=]{40,}", " ", text)   # base64 images (their SVG is searched decoded)
    keep = " ".join(re.findall(r'(?:aria-label|aria-description|title|alt)="([^"]*)"', text))
    return re.sub(r"<[^>]*>", " ", text) + " " + keep


def _own_numbers(customer: dict, book: analysis_module.Analysis) -> set[int]:
    own = set()
    for frame in (book.metrics.products, book.metrics.workloads, book.book.history_workloads,
                  book.book.history_customers, book.metrics.customers, book.book.renewals):
        rows = frame.filter(pl.col("customer_id") == customer["customer_id"])
        for column, dtype in rows.schema.items():
            if dtype.is_integer():
                own.update(v for v in rows.get_column(column).to_list() if v is not None)
    return own


@pytest.mark.kernel
@pytest.mark.parametrize("book", ["sample", "hostile"])
def test_no_other_customer_in_any_byte(customer_runs, book):
    data, customer_id, result = customer_runs[book]
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    full = analysis_module.prepare(data, today=TODAY)
    customers = full.customers.to_dicts()
    me = next(c for c in customers if c["customer_id"] == customer_id)
    others = [c for c in customers if c["customer_id"] != customer_id]
    own = _own_numbers(me, full)
    seat_counts = {value for c in others for value in (c["licenses_sold"], c["licenses_assigned"], c["licenses_active"])
                   if value is not None and value >= 100 and value not in own and value % 100}
    assert seat_counts, "the test needs distinctive seat counts to look for"
    stem = next(r.job.name for r in result.reports if r.job.customer_id == customer_id)
    files = sorted(result.run_dir.glob(f"{stem}.*")) + sorted((result.run_dir / CUSTOMER_BUNDLES_DIR).rglob("*.json"))
    assert {f.suffix for f in files} >= ({".html", ".ipynb", ".pdf"} if CHROMIUM else {".html", ".ipynb"})
    for file in files:
        texts = _texts(file)
        if file.suffix != ".json":   # the search finds names: the customer's own is there
            assert any(me["customer_name"] in text for text in texts), file.name
        for text in texts:
            for other in others:
                assert other["customer_id"] not in text, (file.name, other["customer_id"])
                assert other["customer_id"][:8] not in text, (file.name, other["customer_id"])
                for form in {other["customer_name"], html.escape(other["customer_name"]),
                             json.dumps(other["customer_name"])[1:-1]}:
                    assert form not in text, (file.name, other["customer_name"])
            visible = _visible(text)
            for count in seat_counts:
                # A whole number on its own (not part of a decimal, a longer number or a percentage).
                pattern = rf"(?<![\d.,])(?:{count:,}|{count})(?![\d,%]|\.\d| %)"
                assert re.search(pattern, visible) is None, (file.name, count)
    # The bundle the kernel read holds one customer.
    bundle = result.run_dir / CUSTOMER_BUNDLES_DIR / customer_id
    ids = pl.read_parquet(bundle / "workloads.parquet").get_column("customer_id").unique().to_list()
    assert ids == [customer_id] or ids == []
    assert pl.read_parquet(bundle / "customers.parquet").height == 1


@pytest.mark.kernel
def test_customer_report_has_no_partner_internal_figures(customer_runs):
    _data, customer_id, result = customer_runs["sample"]
    stem = next(r.job.name for r in result.reports if r.job.customer_id == customer_id)
    page = (result.run_dir / f"{stem}.html").read_text(encoding="utf-8")
    notebook = (result.run_dir / f"{stem}.ipynb").read_text(encoding="utf-8")
    for text in (page, notebook):
        for internal in ("Idle cost", "your share", "own_share", "Low-adoption ranking", "low_adoption_rank",
                         "renewal_queue_rank", "Export files", "idle_cost"):
            assert internal not in text, internal
    assert "queue" not in page
    for developer_text in ("papermill", "A template", "headline figures", "application/json"):
        assert developer_text not in page, developer_text
    assert "Where the customer stands" in page and "Recommended next steps" in page


@pytest.mark.kernel
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or PDFTOTEXT is None, reason="needs chromium and pdftotext (poppler-utils)")
def test_pdf_text_has_title_and_kpis(customer_runs, sample):
    _data, customer_id, result = customer_runs["sample"]
    stem = next(r.job.name for r in result.reports if r.job.customer_id == customer_id)
    text = _texts(result.run_dir / f"{stem}.pdf")[0]
    me = sample.customers.filter(pl.col("customer_id") == customer_id).row(0, named=True)
    first_page = text.split("\f")[0]
    assert me["customer_name"] in first_page
    # The KPI tiles, by hand from the customer's row: deployment and usage to one decimal, idle licences.
    assert f"{100 * me['deployment_rate']:.1f}%" in first_page
    assert f"{100 * me['usage_rate']:.1f}%" in first_page
    assert "Recommended next steps" in first_page and "Page 1 of" in first_page
    assert "data of 2026-11-01" in first_page
