"""Screenshots of the rendered reports for docs/screenshots/ (headless Chromium via Playwright, /usr/bin/chromium,
DNS mapped away): the first screen of each page as a reader opens it, at 1200 px wide.

Usage (from the project folder):
    PYTHONPATH=$PWD .venv/bin/python tools/report_screenshots.py INTERNAL_RUN_DIR CUSTOMER_RUN_DIR CUSTOMER_ID [OUT_DIR]

INTERNAL_RUN_DIR / CUSTOMER_RUN_DIR: run folders of `adoption-kit report` (REPORTS/<data date>/) for the internal and
the customer audience; CUSTOMER_ID: the tenant id whose report is shown (its first 8 characters name its files).
Writes customer-internal.png, customer-facing.png, portfolio.png, low-adoption.png, index.png and
customer-trend.png (the trend chart of the customer with the most lines, if SECOND_ID is given as a 5th argument).
"""
from __future__ import annotations

import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1200, 1000


def _one(folder: Path, prefix: str) -> Path:
    found = sorted(p for p in folder.glob(f"*-{prefix}.html"))
    if not found:
        raise SystemExit(f"no report *-{prefix}.html in {folder}")
    return found[0]


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    internal, customer, customer_id = Path(argv[0]), Path(argv[1]), argv[2][:8]
    out = Path(argv[3]) if len(argv) > 3 else Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    second = argv[4][:8] if len(argv) > 4 else None
    pages = {
        "customer-internal.png": _one(internal / "customers", customer_id),
        "customer-facing.png": _one(customer / "for-customer", customer_id),
        "portfolio.png": internal / "portfolio-overview.html",
        "low-adoption.png": internal / "low-adoption-accounts.html",
        "index.png": internal / "index.html",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"])
        for name, page_path in pages.items():
            tab = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            tab.goto(page_path.as_uri())
            tab.wait_for_timeout(1500)        # live charts draw
            tab.screenshot(path=str(out / name))
            tab.close()
            print(out / name)
        if second:
            tab = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            tab.goto(_one(internal / "customers", second).as_uri())
            tab.wait_for_timeout(1500)
            chart = tab.locator(".ak-chart.ak-ready", has_text="over time").first
            if chart.count():
                chart.screenshot(path=str(out / "customer-trend.png"))
                print(out / "customer-trend.png")
            tab.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
