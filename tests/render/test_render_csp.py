"""The content policy (render.csp), the kit-script allowance of find_unsafe_html, and the live-chart markup."""
from __future__ import annotations

import base64
import json
import re

import altair as alt
import pytest

from adoption_kit import render
from adoption_kit.render import csp
from adoption_kit.render.execute import _for_html
from adoption_kit.render.interactive_html import live_chart_html
from adoption_kit.render.svg_uri import svg_data_uris
from adoption_kit.report import charts
from adoption_kit.report.charts.common import report_style
from adoption_kit.report.charts.interactive import INTERACTIVE_MIME, interactive_allowed, static_only

PAGE = "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title></head><body>{}</body></html>"
HOSTILE = "<img src=x onerror=alert(1)>"


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", page, re.DOTALL)


def test_policy_is_first_in_head_and_lists_exactly_the_added_scripts():
    page = csp.finish_page(PAGE.format('<div class="ak-chart" data-ak-spec="{}"></div>'), depth=1)
    policy = csp.page_policy(page)
    assert page.index("Content-Security-Policy") < page.index("<meta charset")
    assert policy.startswith("default-src 'none'; script-src 'strict-dynamic' ")
    assert "img-src data:" in policy and "style-src 'unsafe-inline'" in policy and "unsafe-eval" not in policy
    scripts = _scripts(page)
    assert len(scripts) == 2 and '"../_assets/vega-bundle.js"' in scripts[1]
    assert set(re.findall(r"'(sha256-[^']+)'", policy)) == {csp.script_hash(s) for s in scripts}
    assert render.find_unsafe_html(page) == []


def test_pages_without_charts_get_the_table_script_only():
    page = csp.finish_page(PAGE.format("<table></table>"))
    assert len(_scripts(page)) == 1 and "vega" not in _scripts(page)[0]


def test_standalone_page_carries_the_bundle_inline():
    bundle = "window.vegaEmbed = function () {};"
    page = csp.finish_page(PAGE.format('<div class="ak-chart" data-ak-spec="{}"></div>'), inline_bundle=bundle)
    scripts = _scripts(page)
    assert scripts[1] == bundle and 'AK_BUNDLE = ""' in scripts[2]
    assert f"'{csp.script_hash(bundle)}'" in csp.page_policy(page)


def test_a_page_with_its_own_policy_is_refused():
    with pytest.raises(ValueError):
        csp.finish_page(csp.finish_page(PAGE.format("")))


def test_the_loader_only_takes_the_run_folders_bundle():
    with pytest.raises(ValueError):
        csp.charts_script("https://cdn.example/vega.js")


def test_find_unsafe_html_allows_only_the_kits_scripts():
    page = csp.finish_page(PAGE.format(""))
    assert render.find_unsafe_html(page) == []
    tampered = page.replace("Filter rows", "Filter  rows")
    assert render.find_unsafe_html(tampered) == ["a <script> element"]
    with_src = PAGE.format('<script src="_assets/vega-bundle.js"></script>')
    assert render.find_unsafe_html(with_src) == ["a <script> element"]


def _chart() -> alt.Chart:
    data = alt.Data(values=[{"customer_name": HOSTILE, "usage_rate": 0.5}])
    return alt.Chart(data).mark_point().encode(x="usage_rate:Q", tooltip=["customer_name:N"]).properties(title=HOSTILE)


def test_renderer_adds_the_spec_only_when_interactive_and_not_opted_out():
    spec = _chart().to_dict()
    static, _ = charts.offline_renderer(spec, png_scale=1.0)
    live, _ = charts.offline_renderer(spec, png_scale=1.0, interactive=True)
    opted_out, _ = charts.offline_renderer(static_only(_chart()).to_dict(), png_scale=1.0, interactive=True)
    assert INTERACTIVE_MIME not in static and INTERACTIVE_MIME not in opted_out
    # the live spec is the chart in the kit's font stack, as the static SVG is drawn (charts.common.report_style)
    assert live[INTERACTIVE_MIME] == report_style(spec) and live["image/svg+xml"] == static["image/svg+xml"]


def test_customer_audience_gets_static_charts():
    assert interactive_allowed("internal") and interactive_allowed(None)
    assert not interactive_allowed("customer")


def test_live_chart_markup_escapes_the_spec_and_keeps_the_svg():
    spec = _chart().to_dict()
    bundle, _ = charts.offline_renderer(spec, png_scale=1.0, interactive=True)
    markup = live_chart_html(bundle)
    assert HOSTILE not in markup and "&lt;img src=x onerror=alert(1)&gt;" in markup
    attribute = re.search(r"data-ak-spec='([^']*)'", markup).group(1)   # single-quoted, no quote inside
    import html

    assert json.loads(html.unescape(attribute)) == json.loads(json.dumps(report_style(spec)))
    assert svg_data_uris(markup) == [bundle["image/svg+xml"]]
    assert 'src="data:image/svg+xml,%3Csvg ' in markup and ";base64," not in markup
    assert render.find_unsafe_html(PAGE.format(markup)) == []
    assert live_chart_html({"image/svg+xml": "<svg/>"}) is None


def test_html_copy_turns_chart_outputs_into_live_charts():
    import nbformat

    bundle, _ = charts.offline_renderer(_chart().to_dict(), png_scale=1.0, interactive=True)
    bundle["image/png"] = base64.b64encode(bundle["image/png"]).decode("ascii")     # as IPython stores it
    cell = nbformat.v4.new_code_cell("chart", outputs=[nbformat.v4.new_output("display_data", data=bundle)])
    notebook = nbformat.v4.new_notebook(cells=[cell])
    page = _for_html(notebook)
    data = page.cells[0].outputs[0]["data"]
    assert list(data) == ["text/html"] and data["text/html"].startswith('<div class="ak-chart"')
    assert INTERACTIVE_MIME in notebook.cells[0].outputs[0]["data"]    # the .ipynb keeps its outputs
