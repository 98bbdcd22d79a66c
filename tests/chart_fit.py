"""Measure every chart's text in a rendered page in headless Chromium (Playwright): shared by the label-fit
test (tests/render/test_chart_fit_browser.py) and usable by hand on a run folder:

    PYTHONPATH=$PWD:tests .venv/bin/python tests/chart_fit.py REPORTS/2026-11-01/customers/x.html ...

Both pictures of a chart are measured: the live SVG Vega draws in the page (internal audience) and the static
SVG vl-convert wrote (shown in print, in PDFs and for the customer audience), the latter parsed from its data
URI into the page so that Chromium lays out its text with the fonts a reader has.

A problem is one of:
  - `outside`: a text element's box reaches past its SVG's bounds (the browser cuts it off);
  - `truncated`: a text Vega shortened to its label limit (ends in an ellipsis);
  - `overlap`: an axis title's box crosses one of the same axis's tick labels.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
REPORT_WIDTH = 1280   # the viewport the reports are read at (and the screenshots taken at)
# The sample customer with the most product x workload lines (15): the trend folds all but the top into "Other".
SUMMITMERE = ("2e727d3a-a288-42ed-b5b1-f3ff4b", "Summitmere Pharma A/S")
JAPANESE_NAME = "株式会社サミットメア製薬 東京本社"
LONG_NAME = "Internationale Handels- und Verwaltungsgesellschaft Müller-Lüdenscheidt GmbH & Co. KG"
TOLERANCE = 1.0   # px: anti-aliasing and rounding of Chromium's boxes

MEASURE_JS = r"""
async (tolerance) => {
  const problems = [];
  let charts = 0;
  const box = el => el.getBoundingClientRect();
  const cross = (a, b) => a.left < b.right - tolerance && b.left < a.right - tolerance &&
                          a.top < b.bottom - tolerance && b.top < a.bottom - tolerance;
  const titleOf = svg => {
    const t = svg.querySelector('.role-title-text');
    return t ? t.textContent.slice(0, 60) : '(untitled)';
  };
  function measure(svg, picture) {
    charts += 1;
    const frame = box(svg);
    const chart = titleOf(svg);
    for (const text of svg.querySelectorAll('text')) {
      const content = text.textContent;
      if (!content.trim()) continue;
      const b = box(text);
      if (b.width === 0 && b.height === 0) continue;
      if (b.left < frame.left - tolerance || b.right > frame.right + tolerance ||
          b.top < frame.top - tolerance || b.bottom > frame.bottom + tolerance) {
        problems.push({kind: 'outside', picture, chart, text: content,
                       box: [b.left - frame.left, b.top - frame.top, b.right - frame.left, b.bottom - frame.top]
                            .map(v => Math.round(v)),
                       frame: [Math.round(frame.width), Math.round(frame.height)]});
      }
      if (content.endsWith('\u2026')) problems.push({kind: 'truncated', picture, chart, text: content});
    }
    for (const axis of svg.querySelectorAll('g.role-axis')) {
      const labels = [...axis.querySelectorAll('.role-axis-label text')].filter(t => t.textContent.trim());
      for (const title of axis.querySelectorAll('.role-axis-title text')) {
        const tb = box(title);
        for (const label of labels) {
          if (cross(tb, box(label))) {
            problems.push({kind: 'overlap', picture, chart, text: title.textContent, with: label.textContent});
            break;
          }
        }
      }
    }
  }
  for (const svg of document.querySelectorAll('.ak-chart.ak-ready .ak-live svg, .ak-chart.ak-ready svg.marks')) {
    if (!svg.closest('.ak-static')) measure(svg, 'live');
  }
  const holder = document.createElement('div');
  holder.style.cssText = 'position:absolute;left:0;top:0;visibility:hidden';
  document.body.appendChild(holder);
  const seen = new Set();
  for (const img of document.querySelectorAll('img')) {
    const src = img.getAttribute('src') || '';
    if (!src.startsWith('data:image/svg+xml')) continue;
    if (seen.has(src)) continue;
    seen.add(src);
    const comma = src.indexOf(',');
    const meta = src.slice(0, comma);
    const payload = src.slice(comma + 1);
    const markup = meta.endsWith(';base64')
      ? new TextDecoder().decode(Uint8Array.from(atob(payload), c => c.charCodeAt(0)))
      : decodeURIComponent(payload);
    const doc = new DOMParser().parseFromString(markup, 'image/svg+xml');
    const svg = document.importNode(doc.documentElement, true);
    holder.appendChild(svg);
    measure(svg, 'static');
    svg.remove();
  }
  holder.remove();
  return {charts, problems};
}
"""


def _long_names_book(folder: Path) -> Path:
    """The hostile sample (Ashstead renamed to a long markup payload) with Summitmere renamed to a Japanese
    name and Smith, Jones & Partners to a long German one."""
    from render_support import hostile_sample

    data = hostile_sample(folder)
    for file in data.iterdir():
        if file.is_file():
            text = file.read_text(encoding="utf-8")
            text = text.replace(SUMMITMERE[1], JAPANESE_NAME).replace("Smith, Jones & Partners", LONG_NAME)
            file.write_text(text, encoding="utf-8")
    return data


def _full_id(data: Path, prefix: str) -> str:
    import json

    for file in data.glob("license-deployment-page-*.json"):
        for row in json.loads(file.read_text(encoding="utf-8"))["Value"]:
            if row["customerTenantId"].lower().startswith(prefix):
                return row["customerTenantId"].lower()
    raise AssertionError(f"no tenant id starting {prefix} in the sample")


_RUNS: dict[str, Any] = {}


def long_names_runs(tmp_path_factory: Any) -> dict[str, Any]:
    """The real templates on the long-names book, for 4 customers (hostile, payload, long German, Japanese):
    {'internal': RunResult, 'customer': RunResult (with PDFs), 'japanese': its tenant id}; once per session."""
    if not _RUNS:
        from render_support import ASHSTEAD_ID, HOSTILE_ID, SMITH_ID

        from adoption_kit.config import REPORT_TEMPLATES_DIR
        from adoption_kit.render import render_reports

        root = tmp_path_factory.mktemp("long-names")
        data = _long_names_book(root / "data")
        japanese = _full_id(data, SUMMITMERE[0])
        chosen = [HOSTILE_ID, ASHSTEAD_ID, SMITH_ID, japanese]
        for audience in ("internal", "customer"):
            result = render_reports(data, root / audience, customers=chosen, workers=2,
                                    templates_dir=REPORT_TEMPLATES_DIR, today="2026-11-20", progress=False,
                                    audience=audience, pdf=audience == "customer")
            assert result.exit_code == 0, [r.describe_error() for r in result.failures]
            _RUNS[audience] = result
        _RUNS["japanese"] = japanese
    return _RUNS


def open_browser(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND"])


def measure_page(browser: Any, path: Path, *, width: int = 1280, timeout_ms: int = 60_000) -> dict[str, Any]:
    """{'charts': how many SVGs were measured, 'problems': [...]} for the page at `path` (live charts awaited)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        total = page.locator("div.ak-chart").count()
        page.wait_for_function(
            "n => document.querySelectorAll('div.ak-chart.ak-ready, div.ak-chart[data-ak-error]').length >= n",
            arg=total, timeout=timeout_ms)
        page.evaluate("document.fonts.ready.then(() => true)")
        return page.evaluate(MEASURE_JS, TOLERANCE)
    finally:
        context.close()


def main(paths: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    bad = 0
    with sync_playwright() as p:
        browser = open_browser(p)
        for name in paths:
            found = measure_page(browser, Path(name).resolve())
            print(f"{name}: {found['charts']} chart pictures, {len(found['problems'])} problems")
            for problem in found["problems"]:
                print("   ", problem)
            bad += len(found["problems"])
        browser.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
