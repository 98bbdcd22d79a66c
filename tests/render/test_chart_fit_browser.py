"""Charts that fit: every text of every chart of every template is inside its picture, not cut short by a label
limit, and no axis title lies over its tick labels, in headless Chromium (Playwright, /usr/bin/chromium) at the
report's width, on the sample with long, hostile and Japanese customer names. Both pictures of a chart are
measured: the live SVG (internal audience) and the static SVG (print, PDF, customer audience).

Also: a Japanese customer name is drawn with real glyphs (a CJK font is installed and used), not tofu boxes.
Skipped with the reason when Chromium or Playwright is missing.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from chart_fit import CHROMIUM, JAPANESE_NAME, REPORT_WIDTH, long_names_runs, measure_page, open_browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")
pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (apt-get install "
                                                                       "chromium; .ci/run does it)"),
              pytest.mark.browser, pytest.mark.kernel]

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return long_names_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = open_browser(p)
        yield chromium
        chromium.close()


def _pages(result) -> list[Path]:
    return sorted(p for p in result.run_dir.rglob("*.html") if not p.name.startswith(".") and p.name != "index.html")


@pytest.mark.parametrize("audience", ["internal", "customer"])
def test_every_chart_text_fits(runs, browser, audience):
    pages = _pages(runs[audience])
    assert len(pages) == (6 if audience == "internal" else 4), pages
    measured, problems = 0, {}
    for page in pages:
        found = measure_page(browser, page, width=REPORT_WIDTH)
        measured += found["charts"]
        if found["problems"]:
            problems[page.name] = found["problems"]
    # every customer report has 4+ charts, the portfolio more; internal pages draw each twice (live + static)
    assert measured >= (30 if audience == "internal" else 12), measured
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)[:6000]


def test_the_measure_sees_a_clipped_label(browser, tmp_path):
    """The measure itself: a chart whose label runs out of its picture, or was cut by a label limit, is caught."""
    import base64

    cut = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
           '<g class="role-title"><text class="role-title-text" x="5" y="20" font-size="13">Chart</text></g>'
           '<text x="60" y="30" font-size="12">below deploy threshold</text>'
           '<text x="5" y="38" font-size="9">Product…</text></svg>')
    page = tmp_path / "cut.html"
    page.write_text('<html><body><img src="data:image/svg+xml;base64,'
                    f'{base64.b64encode(cut.encode()).decode()}"></body></html>', encoding="utf-8")
    found = measure_page(browser, page)
    assert found["charts"] == 1
    assert {(p["kind"], p["text"]) for p in found["problems"]} == {("outside", "below deploy threshold"),
                                                                    ("truncated", "Product…")}


def test_many_trend_lines_fold_into_other(runs):
    import re

    result = runs["internal"]
    html = next(p for p in (result.run_dir / "customers").glob("*.html")
                if runs["japanese"][:8] in p.name).read_text(encoding="utf-8")
    assert "Other 8 lines" in html       # 15 lines: the top 7 drawn one by one, 8 summed into one grey line
    assert re.search(r"grey: the 8 others together", html)


@contextlib.contextmanager
def _japanese_report(runs, browser):
    """The Japanese customer's report open in a tab, its fonts loaded: (context, tab)."""
    result = runs["customer"]
    page = next(p for p in result.run_dir.rglob("*.html") if runs["japanese"][:8] in p.name)
    context = browser.new_context(viewport={"width": REPORT_WIDTH, "height": 900})
    try:
        tab = context.new_page()
        tab.goto(page.as_uri())
        tab.evaluate("document.fonts.ready.then(() => true)")
        yield context, tab
    finally:
        context.close()


def test_japanese_name_has_real_glyphs(runs, browser):
    """The name is drawn in a CJK font: each of its glyphs is as wide as the CJK font's own (a full em) and the
    text is wider than the same count of a code point no font has (the tofu box)."""
    with _japanese_report(runs, browser) as (_, tab):
        assert JAPANESE_NAME in tab.inner_text("h1")
        widths = tab.evaluate("""(name) => {
            const h1 = document.querySelector('h1');
            const probe = document.createElement('span');
            h1.appendChild(probe);
            const width = text => { probe.textContent = text; return probe.getBoundingClientRect().width; };
            const kanji = '\u793e';                         // one CJK glyph of the name
            const result = {kanji: width(kanji), tofu: width('\\u{10FFFD}'), latin: width('x'),
                            fontSize: parseFloat(getComputedStyle(probe).fontSize)};
            probe.remove();
            return result;
        }""", JAPANESE_NAME)
    # a CJK glyph is one em wide; the missing-glyph box of the fallback font is narrower (about 0.6 em)
    assert abs(widths["kanji"] - widths["fontSize"]) <= 1.0, widths
    assert widths["kanji"] > widths["tofu"] + 2, widths


def test_japanese_name_is_drawn_from_a_cjk_font(runs, browser):
    """Chromium's own account of the fonts it drew the title with (DevTools CSS.getPlatformFontsForNode): every
    Japanese glyph of the name comes from Noto Sans CJK, none from a font without them."""
    with _japanese_report(runs, browser) as (context, tab):
        cdp = context.new_cdp_session(tab)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        heading = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "h1"})["nodeId"]
        text = cdp.send("DOM.describeNode", {"nodeId": heading, "depth": 1})["node"]["children"][0]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": text.get("nodeId") or heading})["fonts"]
    cjk = sum(1 for ch in JAPANESE_NAME if ord(ch) > 0x2E80)
    from_cjk = sum(f["glyphCount"] for f in fonts if "CJK" in f["familyName"])
    assert from_cjk >= cjk, fonts
