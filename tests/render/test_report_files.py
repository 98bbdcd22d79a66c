"""Small report files (issue 18, item 3): compact chart SVGs that rasterise to the same pixels, SVG data URLs without
base64, the shared CSS linked once per run folder (inline where a page must stand alone), `--html-only`, and PNG
copies of the charts only in the notebooks meant for JupyterLab.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc
from hypothesis import given
from hypothesis import strategies as st

from adoption_kit.config import NOTEBOOK_PNG_ENV, SAMPLE_DIR
from adoption_kit.render import csp, render_reports
from adoption_kit.render.styles import inline_stylesheets, split_head_styles, stylesheet_href, write_stylesheet
from adoption_kit.render.svg_uri import svg_data_uri, svg_data_uris
from adoption_kit.report import charts
from adoption_kit.report.charts.common import report_style
from adoption_kit.report.charts.compact_svg import compact_svg

NAMES = ["O'Brien & \"Sons\" <Ltd>", "Zürich Café AG", "株式会社テスト", "plain 3.14159 Ltd"]
SAMPLE_CUSTOMER = "Copperport Accounting GmbH"


def _chart_spec() -> dict:
    frame = pl.DataFrame({"name": NAMES, "rate": [0.25, 0.5, 0.75, 1.0]}).to_pandas()
    chart = alt.Chart(frame, title=f"Usage of {NAMES[0]}").mark_bar().encode(
        x=alt.X("rate:Q", title="Usage (%)"), y=alt.Y("name:N", title=None), tooltip=["name", "rate"])
    return report_style(chart.to_dict())


# ---------------------------------------------------------------------------
# Compact SVG and its data URL
# ---------------------------------------------------------------------------
def test_compact_svg_draws_the_same_pixels_keeps_the_texts_and_is_much_smaller():
    raw = vlc.vegalite_to_svg(_chart_spec())
    compact = compact_svg(raw)
    for scale in (1.0, 2.0):
        assert vlc.svg_to_png(compact, scale=scale) == vlc.svg_to_png(raw, scale=scale)
    assert len(compact) < 0.7 * len(raw)
    assert not re.search(r' (class|role|aria-[a-z]+|pointer-events)=', compact)
    assert ' opacity="1"' not in compact and " opacity='1'" not in compact
    texts = re.findall(r">([^<]+)</text>", compact)
    assert texts == re.findall(r">([^<]+)</text>", raw)            # every label as vl-convert wrote it
    assert "O&apos;Brien" in compact or "O'Brien" in compact
    assert "株式会社テスト" in compact and "plain 3.14159 Ltd" in compact
    assert compact.count("font-family=") == 1                       # the common font list, on the root only
    assert compact_svg(compact) == compact                          # idempotent
    assert compact_svg("<not svg>") == "<not svg>"


def test_the_offline_renderer_writes_compact_svg_and_a_png_only_when_asked():
    spec = _chart_spec()
    with_png, meta = charts.offline_renderer(spec, png_scale=1.0)
    without_png, meta_without = charts.offline_renderer(spec, png_scale=1.0, png=False)
    assert with_png["image/svg+xml"] == without_png["image/svg+xml"] == compact_svg(vlc.vegalite_to_svg(spec))
    assert with_png["image/png"][:8] == b"\x89PNG\r\n\x1a\n" and "image/png" in meta
    assert "image/png" not in without_png and meta_without == {}
    assert without_png["text/plain"].startswith("<chart: ")


def test_notebook_png_follows_the_environment_variable(monkeypatch):
    seen = {}

    def fake_enable(name, **options):
        seen.update(options)

    monkeypatch.setattr(alt.renderers, "enable", fake_enable)
    for value, expected in ((None, True), ("1", True), ("0", False), ("off", False), ("False", False)):
        if value is None:
            monkeypatch.delenv(NOTEBOOK_PNG_ENV, raising=False)
        else:
            monkeypatch.setenv(NOTEBOOK_PNG_ENV, value)
        charts.configure_offline_rendering(png_scale=1.0)
        assert seen["png"] is expected, value
    monkeypatch.setenv(NOTEBOOK_PNG_ENV, "0")
    charts.configure_offline_rendering(png_scale=1.0, png=True)      # an explicit argument wins
    assert seen["png"] is True


@given(st.text(alphabet=st.sampled_from(list("<>&\"'%#= \n\tabcé字/;,:()")), max_size=200))
def test_svg_data_url_holds_no_character_the_attribute_or_url_cannot_carry_and_decodes_back(text):
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" a="{text.replace(chr(34), "")}"><text>{text}</text></svg>'
    uri = svg_data_uri(svg)
    assert uri.startswith("data:image/svg+xml,")
    assert not set('"&<>\n\r\t#') & set(uri)
    (decoded,) = svg_data_uris(f'<img src="{uri}">')
    # the same document: only the attribute quotes of the tags may have become single quotes
    assert decoded.replace("'", '"') == svg.replace("'", '"')
    assert re.sub(r"<[^>]*>", "", decoded) == re.sub(r"<[^>]*>", "", svg)   # texts exactly as they were


def test_svg_data_urls_are_found_in_both_encodings():
    import base64

    svg = "<svg xmlns='http://www.w3.org/2000/svg'><text>a &amp; b</text></svg>"
    page = (f'<img src="{svg_data_uri(svg)}"><img src="data:image/svg+xml;base64,'
            f'{base64.b64encode(svg.encode()).decode()}">')
    assert svg_data_uris(page) == [svg, svg]


# ---------------------------------------------------------------------------
# The shared stylesheet
# ---------------------------------------------------------------------------
PAGE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>x</title><style>body { color: red; }</style>"
        "<style type='text/css'>p { margin: 0; }</style></head><body><style>#T_x td { top: 0; }</style>"
        "<p>text</p></body></html>")


def test_head_styles_move_to_one_sheet_linked_from_the_run_folder_and_back_inline(tmp_path):
    page, css = split_head_styles(PAGE)
    assert css == "body { color: red; }\np { margin: 0; }"
    assert "<style>#T_x td { top: 0; }</style>" in page             # a table's own styles stay with it
    assert "color: red" not in page and "margin: 0" not in page
    name = write_stylesheet(tmp_path, css)
    assert re.fullmatch(r"report-[0-9a-f]{16}\.css", name)
    assert (tmp_path / "_assets" / name).read_text(encoding="utf-8") == css
    assert write_stylesheet(tmp_path, css) == name                  # the same CSS, the same file
    assert write_stylesheet(tmp_path, css + " ") != name
    finished = csp.finish_page(page, depth=1, stylesheet=stylesheet_href(name, 1))
    assert f'<link rel="stylesheet" href="../_assets/{name}">' in finished
    assert "style-src 'self' 'unsafe-inline'" in csp.page_policy(finished)
    assert csp.page_css() not in finished                             # the kit's CSS is in the sheet (caller)
    (tmp_path / "customers").mkdir()
    standalone = inline_stylesheets(finished, tmp_path / "customers")
    assert "<link" not in standalone and f"<style>{css}</style>" in standalone
    inline = csp.finish_page(PAGE)
    assert "<link" not in inline and csp.page_css() in inline and "'self'" not in csp.page_policy(inline)


def test_a_stylesheet_path_that_is_not_the_run_folders_is_refused():
    for bad in ("http://example.com/x.css", "../_assets/report-../x.css", "/etc/x.css", "_assets/vega-bundle.js"):
        with pytest.raises(ValueError):
            csp.finish_page(PAGE, stylesheet=bad)


# ---------------------------------------------------------------------------
# Runs on the sample (real templates)
# ---------------------------------------------------------------------------
def _chart_outputs(notebook: Path) -> list[dict]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [o["data"] for c in cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("files") / "reports"
    result = render_reports(SAMPLE_DIR, out, customers=[SAMPLE_CUSTOMER], workers=2, today="2026-11-20",
                            progress=False)
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    return result


@pytest.mark.kernel
def test_every_internal_page_links_the_one_shared_sheet_and_carries_compact_charts(default_run):
    run_dir = default_run.run_dir
    sheets = sorted(p.name for p in (run_dir / "_assets").glob("report-*.css"))
    assert len(sheets) == 1, sheets
    css = (run_dir / "_assets" / sheets[0]).read_text(encoding="utf-8")
    assert "--jp-" in css and csp.page_css() in css                  # nbconvert's theme and the kit's CSS
    assert SAMPLE_CUSTOMER not in css and "Copperport" not in css
    for report in default_run.reports:
        page = (run_dir / report.job.html).read_text(encoding="utf-8")
        depth = report.job.name.count("/")
        assert f'<link rel="stylesheet" href="{"../" * depth}_assets/{sheets[0]}">' in page, report.job.html
        assert "--jp-" not in page                                  # no inline copy of the theme
        assert ";base64," not in page                               # SVG charts as compact data URLs
        if report.job.kind != "low_adoption":
            assert svg_data_uris(page), report.job.html
        for svg in svg_data_uris(page):
            assert "aria-roledescription" not in svg and " class=" not in svg


@pytest.mark.kernel
def test_png_copies_only_in_the_notebooks_meant_for_jupyterlab(default_run):
    run_dir = default_run.run_dir
    by_kind = {r.job.kind: run_dir / r.job.notebook for r in default_run.reports}
    for kind, notebook in by_kind.items():
        outputs = _chart_outputs(notebook)
        if kind == "low_adoption" and not outputs:
            continue
        assert outputs, kind
        has_png = ["image/png" in o for o in outputs]
        assert all(has_png) if kind != "customer" else not any(has_png), kind
    manifest = json.loads(default_run.manifest_path.read_text(encoding="utf-8"))
    assert manifest["command"]["html_only"] is False and manifest["command"]["notebook_png"] is None


@pytest.mark.kernel
def test_html_only_then_notebook_png_runs(tmp_path):
    out = tmp_path / "reports"
    first = render_reports(SAMPLE_DIR, out, customers=[SAMPLE_CUSTOMER], workers=1, today="2026-11-20",
                           progress=False, html_only=True)
    assert first.exit_code == 0, [r.describe_error() for r in first.failures]
    run_dir = first.run_dir
    assert not list(run_dir.glob("**/*.ipynb")) or all(".state" in p.parts for p in run_dir.glob("**/*.ipynb"))
    entries = json.loads(first.manifest_path.read_text(encoding="utf-8"))["reports"]
    assert entries and all(e["notebook"] is None and e["html"].endswith(".html") for e in entries)
    again = render_reports(SAMPLE_DIR, out, customers=[SAMPLE_CUSTOMER], workers=1, today="2026-11-20",
                           progress=False, html_only=True)
    assert again.count("current") == len(again.reports)                 # nothing missing: nothing rendered
    # Notebooks wanted now (with PNGs in the customer's too): the reports without one are rendered again.
    full = render_reports(SAMPLE_DIR, out, customers=[SAMPLE_CUSTOMER], workers=1, today="2026-11-20",
                          progress=False, notebook_png=True)
    assert full.count("rendered") == len(full.reports)
    customer = next(r for r in full.reports if r.job.kind == "customer")
    outputs = _chart_outputs(run_dir / customer.job.notebook)
    assert outputs and all("image/png" in o for o in outputs)


@pytest.mark.kernel
def test_the_customer_audience_page_stands_alone(tmp_path):
    result = render_reports(SAMPLE_DIR, tmp_path / "reports", customers=[SAMPLE_CUSTOMER], workers=1,
                            today="2026-11-20", progress=False, audience="customer", pdf=False)
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    (report,) = result.reports
    page = (result.run_dir / report.job.html).read_text(encoding="utf-8")
    assert "<link" not in page and "--jp-" in page and csp.page_css() in page
    assert "'self'" not in csp.page_policy(page)
    assert not list((result.run_dir / "_assets").glob("report-*.css"))
