"""The run's index.html as an account manager reads it: labelled headline tiles in a fixed order, a customer table
narrowed to what one acts on, every customer name a link to its report (real templates, long and hostile names).
Its layout is checked in headless Chromium: no clipped cell, no very tall row."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from chart_fit import CHROMIUM, JAPANESE_NAME, LONG_NAME, REPORT_WIDTH, long_names_runs, open_browser

from adoption_kit.report.headline import CUSTOMER_COLUMNS, LOW_ADOPTION_TILES, PORTFOLIO_TILES

pytestmark = [pytest.mark.kernel]   # (the layout test is also a browser test: marked below)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return long_names_runs(tmp_path_factory)


def _tiles(page: str, report: str) -> list[str]:
    card = page.split(f'href="{report}"', 1)[1].split('<div class="card">', 1)[0]
    return re.findall(r'<div class="k">(.*?)</div>', card)


def test_headline_tiles_are_labelled_in_a_fixed_order(runs):
    page = runs["internal"].index_path.read_text(encoding="utf-8")
    portfolio = _tiles(page, "portfolio-overview.html")
    assert portfolio == [label for _, label, _ in PORTFOLIO_TILES]   # every tile, in the reader's order
    assert portfolio[:3] == ["Customers", "Deployment", "Usage"]
    listed = _tiles(page, "low-adoption-accounts.html")
    assert listed == [label for _, label, _ in LOW_ADOPTION_TILES]
    for raw in ("csv rows", "top customer id", "median customer", "upsell threshold", ">currency<"):
        assert raw not in page, raw
    assert re.search(r'<div class="k">Idle cost</div><div class="v long">USD \d{1,3}(,\d{3})*</div>', page)
    assert re.search(r'<div class="k">Deployment</div><div class="v">\d+\.\d%</div>', page)


def test_the_customer_table_is_narrow_and_every_name_links(runs):
    result = runs["internal"]
    page = result.index_path.read_text(encoding="utf-8")
    table = page.split("<h2>Customers (4)</h2>", 1)[1]
    headings = re.findall(r"<th>(.*?)</th>", table.split("</thead>")[0])
    assert headings == ["Customer", "Segment", *[h for _, h in CUSTOMER_COLUMNS]]
    assert len(headings) <= 10
    links = re.findall(r'<td class="name"><a href="([^"]+)">([^<]+)</a>', table)
    assert len(links) == 4
    for href, _name in links:
        assert not href.startswith(("/", "http")) and (result.run_dir / href).is_file(), href
    names = {name for _, name in links}
    assert JAPANESE_NAME in names and LONG_NAME.replace("&", "&amp;") in names
    # the first account of the low-adoption tiles links to its report when it was rendered
    first = re.search(r'<div class="k">First on the list</div><div class="v text">(.*?)</div>', page).group(1)
    assert first.startswith("<a href=") or "<" not in first


def test_customer_audience_outputs_hold_no_link_to_other_reports(runs):
    for page in runs["customer"].run_dir.rglob("*.html"):
        if page.name == "index.html":
            continue
        assert not re.search(r'href="(\.\./)?customers/', page.read_text(encoding="utf-8")), page


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_index_and_lists_read_without_clipping_or_tall_rows(runs):
    playwright_api = pytest.importorskip("playwright.sync_api")
    result = runs["internal"]
    with playwright_api.sync_playwright() as p:
        browser = open_browser(p)
        try:
            for path in (result.index_path, result.run_dir / "low-adoption-accounts.html"):
                tab = browser.new_page(viewport={"width": REPORT_WIDTH, "height": 900})
                tab.goto(path.as_uri())
                found = tab.evaluate("""() => {
                    const out = {wide: [], tall: [], cut: []};
                    for (const table of document.querySelectorAll('table')) {
                      const box = table.getBoundingClientRect();
                      if (box.right > document.documentElement.clientWidth + 1) out.wide.push(table.id || 'table');
                      // wider than the box it sits in (which would cut it off or make it scroll sideways)
                      for (let up = table.parentElement; up && up !== document.body; up = up.parentElement) {
                        if (up.scrollWidth > up.clientWidth + 1 && getComputedStyle(up).overflowX !== 'visible') {
                          out.wide.push((table.id || 'table') + ' in ' + up.className);
                          break;
                        }
                      }
                      for (const row of table.querySelectorAll('tbody tr')) {
                        const h = row.getBoundingClientRect().height;
                        if (h > 120) out.tall.push([table.id, Math.round(h), row.textContent.slice(0, 40)]);
                      }
                      for (const tile of document.querySelectorAll('.tile .v')) {
                        if (tile.getBoundingClientRect().right > tile.parentElement.getBoundingClientRect().right + 1)
                          out.cut.push('tile ' + tile.textContent.slice(0, 30));
                      }
                      for (const cell of table.querySelectorAll('td, th')) {
                        if (cell.scrollWidth > cell.clientWidth + 1) out.cut.push(cell.textContent.slice(0, 40));
                      }
                    }
                    const step = [...document.querySelectorAll('th')].find(th => th.textContent.trim() === 'Next step');
                    out.nextStep = step ? step.getBoundingClientRect().width : null;
                    return out;
                }""")
                tab.close()
                assert found["wide"] == [] and found["tall"] == [] and found["cut"] == [], (path.name, found)
                if path.name == "low-adoption-accounts.html":
                    assert found["nextStep"] is not None and found["nextStep"] >= 300, found
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_first_page_tiles_hold_their_values(runs):
    """Every KPI tile of every report (both audiences) shows its whole value: none runs out of its tile."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    pages = [p for audience in ("internal", "customer") for p in runs[audience].run_dir.rglob("*.html")
             if p.name != "index.html" and not p.name.startswith(".")]
    with playwright_api.sync_playwright() as p:
        browser = open_browser(p)
        try:
            seen = 0
            for path in pages:
                tab = browser.new_page(viewport={"width": REPORT_WIDTH, "height": 900})
                tab.goto(path.as_uri())
                found = tab.evaluate("""() => [...document.querySelectorAll('.ak-tile')].map(tile => {
                    const value = tile.querySelector('.ak-tile-value');
                    return [value.textContent, value.scrollWidth <= value.clientWidth + 1 &&
                            value.getBoundingClientRect().right <= tile.getBoundingClientRect().right + 1];
                })""")
                tab.close()
                seen += len(found)
                assert all(fits for _, fits in found), (path.name, found)
        finally:
            browser.close()
    assert seen >= 4 * 5 * 2 + 6, seen     # customer reports (5+ tiles each, both audiences) and the portfolio
