"""The content policy, live charts and sortable tables of the rendered pages, in headless Chromium driven by
Playwright (PyPI) through `executable_path`, with DNS mapped away: every request a page makes is recorded and
must be a local file of the run folder.

Skipped with the reason when Chromium or Playwright is missing.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from render_support import _REAL_RUN, ASHSTEAD_ID, HOSTILE_ID, HOSTILE_NAME, real_run

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt)")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
              pytest.mark.browser, pytest.mark.kernel]
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    result = real_run(tmp_path_factory)
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    return result


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND"])
        yield chromium
        chromium.close()


class Visit:
    """A page opened in a fresh context; requests and console messages recorded."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.console: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append(m.text))
        self.page.goto(path.as_uri())

    def charts_ready(self) -> int:
        total = self.page.locator("div.ak-chart").count()
        self.page.wait_for_function(
            "n => document.querySelectorAll('div.ak-chart.ak-ready, div.ak-chart[data-ak-error]').length >= n",
            arg=total, timeout=WAIT_MS)
        errors = self.page.eval_on_selector_all("div.ak-chart[data-ak-error]",
                                                "els => els.map(e => e.getAttribute('data-ak-error'))")
        assert errors == [], errors
        return total

    def close(self) -> None:
        self.context.close()


def _local_only(visit: Visit, run_dir: Path) -> None:
    for url in visit.requests:
        assert url.startswith("data:") or url.startswith(run_dir.resolve().as_uri() + "/"), url


def _html_pages(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*.html") if not p.name.startswith("."))


def test_every_page_declares_the_strict_policy(run):
    from adoption_kit.render import csp

    pages = _html_pages(run.run_dir)
    assert run.index_path in pages and len(pages) >= 5
    for path in pages:
        page = path.read_text(encoding="utf-8")
        policy = csp.page_policy(page)
        assert policy is not None, path
        assert policy.startswith("default-src 'none'; "), policy
        assert "unsafe-eval" not in policy and "http" not in policy
        # 'self' only for the run folder's shared stylesheet, on the pages that link it (all but index.html)
        linked = re.search(r'<link rel="stylesheet" href="(\.\./)*_assets/report-[0-9a-f]{16}\.css">', page)
        assert bool(linked) == (path != run.index_path), path
        styles = "style-src 'self' 'unsafe-inline'; " if linked else "style-src 'unsafe-inline'; "
        assert styles in policy and policy.count("'self'") == (1 if linked else 0), policy
        # the policy comes first in <head>: nothing before it could run or load
        assert re.search(r"<head[^>]*>\s*<meta http-equiv=\"Content-Security-Policy\"", page), path
        # every inline script of the page is allowed by hash, and nothing else is a script
        scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
        assert len(scripts) == len(re.findall(r"<script\b", page, re.IGNORECASE)), path
        allowed = set(re.findall(r"'(sha256-[A-Za-z0-9+/=]+)'", policy))
        assert {csp.script_hash(s) for s in scripts} == allowed, path


def test_the_shared_stylesheet_applies_offline_under_the_policy(run, browser):
    customer = next(r for r in run.reports if r.job.kind == "customer")
    for path in (run.run_dir / customer.job.html, run.run_dir / "portfolio-overview.html"):
        visit = Visit(browser, path)
        try:
            visit.page.wait_for_load_state("load")
            assert visit.page.evaluate("getComputedStyle(document.body).maxWidth") == "1100px"   # from the sheet
            sheets = [u for u in visit.requests if re.search(r"/_assets/report-[0-9a-f]{16}\.css$", u)]
            assert len(sheets) == 1, visit.requests
            assert not [m for m in visit.console if "Content Security Policy" in m], visit.console
            _local_only(visit, run.run_dir)
        finally:
            visit.close()


def test_quadrant_tooltip_shows_the_customer_and_rates_offline(run, browser):
    from adoption_kit.analysis import prepare

    customers = prepare(_REAL_RUN["data"], today="2026-11-20").customers
    row = customers.filter(pl.col("customer_id") == ASHSTEAD_ID).row(0, named=True)
    visit = Visit(browser, run.run_dir / "portfolio-overview.html")
    try:
        assert visit.charts_ready() >= 5
        point = visit.page.locator(
            f'div.ak-chart.ak-ready .ak-live svg path[aria-label*="Customer: {row["customer_name"]};"]')
        assert point.count() >= 1
        point.first.hover(force=True)
        tooltip = visit.page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=WAIT_MS)
        text = tooltip.inner_text()
        assert row["customer_name"] in text
        assert f"{row['deployment_rate'] * 100:.1f}%" in text and f"{row['usage_rate'] * 100:.1f}%" in text, text
        # the point under the pointer is ringed (hover highlighting): its stroke turns black
        assert point.first.get_attribute("stroke") in ("black", "#000", "#000000")
        visit.page.screenshot(path=str(run.run_dir / ".hover.png"))
        _local_only(visit, run.run_dir)
        assert any(u.endswith("/_assets/vega-bundle.js") for u in visit.requests)
    finally:
        visit.close()


def test_hostile_name_in_a_tooltip_stays_text(run, browser):
    visit = Visit(browser, run.run_dir / "portfolio-overview.html")
    try:
        visit.charts_ready()
        point = visit.page.locator('div.ak-chart.ak-ready .ak-live svg path[aria-label*="Customer: <img"]')
        assert point.count() >= 1
        point.first.hover(force=True)
        tooltip = visit.page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=WAIT_MS)
        assert HOSTILE_NAME in tooltip.inner_text()            # shown as text ...
        assert tooltip.locator("img").count() == 0              # ... never as markup
        assert visit.page.title() != "PWNED"
    finally:
        visit.close()


PLANTED = ("<script>document.title='PWNED'</script>"
           "<script src=\"_assets/vega-bundle.js\"></script>"
           "<img src=x onerror=\"document.title='PWNED'\">")


def test_the_policy_blocks_a_planted_script(run, browser):
    source = run.run_dir / "portfolio-overview.html"
    copy = source.with_name(".planted-portfolio-overview.html")
    copy.write_text(source.read_text(encoding="utf-8").replace("<body", PLANTED.replace("<img", "<i") + "<body", 1)
                    .replace("</body>", PLANTED + "</body>"), encoding="utf-8")
    try:
        visit = Visit(browser, copy)
        try:
            assert visit.charts_ready() >= 5                # the kit's own scripts still run ...
            assert visit.page.title() != "PWNED"              # ... the planted ones do not
            assert any("Content Security Policy" in m for m in visit.console), visit.console
            _local_only(visit, run.run_dir)
        finally:
            visit.close()
    finally:
        copy.unlink()


def _column(visit: Visit, table: str, index: int) -> list[str]:
    return visit.page.eval_on_selector(
        table, f"t => [...t.tBodies[0].rows].filter(r => !r.hidden).map(r => r.cells[{index}].textContent.trim())")


def _number(text: str) -> float | None:
    bare = re.sub(r"[\s,%]|^[A-Z]{3}", "", text)
    return float(bare) if re.fullmatch(r"[-+]?\d+(\.\d+)?", bare) else None


def test_index_table_sorts_numbers_as_numbers_and_filters(run, browser):
    visit = Visit(browser, run.index_path)
    try:
        table = "table.ak-sortable >> nth=-1"          # the customers table is the page's last table
        visit.page.wait_for_selector("table.ak-sortable", timeout=WAIT_MS)
        headers = visit.page.locator(f"{table} >> thead th")
        names = [h.strip() for h in headers.all_inner_texts()]
        assert names[0] == "Customer"
        numeric = next(i for i, n in enumerate(names) if n in ("Licences sold", "Idle licences"))
        headers.nth(numeric).click()
        values = [_number(v) for v in _column(visit, table, numeric)]
        present = [v for v in values if v is not None]
        assert present == sorted(present) and len(present) >= 2
        assert values == present + [None] * (len(values) - len(present))     # n/a last
        headers.nth(numeric).click()
        descending = [v for v in (_number(v) for v in _column(visit, table, numeric)) if v is not None]
        assert descending == sorted(present, reverse=True)
        assert headers.nth(numeric).get_attribute("aria-sort") == "descending"
        visit.page.locator("input.ak-filter").last.fill("alert(1)")      # one of the two customers' names
        shown = _column(visit, table, 0)
        assert shown == [HOSTILE_NAME]
        visit.page.locator("input.ak-filter").last.fill("")
        assert len(_column(visit, table, 0)) == 2
        _local_only(visit, run.run_dir)
    finally:
        visit.close()


def test_report_tables_sort_by_a_click(run, browser):
    visit = Visit(browser, run.run_dir / "low-adoption-accounts.html")
    try:
        visit.page.wait_for_selector("table.ak-sortable", timeout=WAIT_MS)
        assert visit.page.locator("table.ak-sortable").count() >= 1
        first = visit.page.locator("table.ak-sortable >> nth=0")
        header = first.locator("thead tr").last.locator("th").first
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
    finally:
        visit.close()


def test_customer_pages_draw_their_charts(run, browser):
    names = {r.job.customer_id: r.job.html for r in run.reports if r.job.customer_id}
    visit = Visit(browser, run.run_dir / names[HOSTILE_ID])
    try:
        assert visit.charts_ready() >= 2
        assert any(u.endswith("/_assets/vega-bundle.js") for u in visit.requests)   # ../_assets from customers/
        _local_only(visit, run.run_dir)
        assert visit.page.title() != "PWNED"
    finally:
        visit.close()
