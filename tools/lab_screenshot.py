"""Evidence that the kit's charts are live in JupyterLab, offline: start `jupyter lab` headless on a free localhost
port, open notebooks/explore.ipynb in headless Chromium (Playwright, the installed /usr/bin/chromium, DNS mapped
away but for 127.0.0.1), run every cell, hover a point of the quadrant and save docs/screenshots/lab-hover.png.

Usage (from the project folder): PYTHONPATH=$PWD .venv/bin/python tools/lab_screenshot.py [OUT.png]
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(out: Path) -> int:
    from playwright.sync_api import sync_playwright

    port, token = _free_port(), secrets.token_hex(16)
    log = (out.parent / ".lab-server.log").open("w") if out.parent.is_dir() else subprocess.DEVNULL
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_PREFER_ENV_PATH": "1"}
    lab = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            outside = []
            page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url))
            page.goto(f"{base}/lab/tree/notebooks/explore.ipynb?token={token}", timeout=180_000)
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=180_000)
            # the kernel first (a command issued before it is ready waits on a dialog), then run all, not awaited
            page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
                const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                return k && k.status === 'idle'; }""", timeout=180_000)
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            chart = page.locator(".ak-lab-chart.ak-ready").first
            try:
                chart.wait_for(state="attached", timeout=300_000)
            except Exception:
                page.screenshot(path=str(out.with_name(".lab-failed.png")))
                raise
            chart.scroll_into_view_if_needed()
            point = chart.locator('svg path[aria-label*="Customer: "]').first
            point.hover(force=True)
            page.locator("#vg-tooltip-element").wait_for(state="visible", timeout=30_000)
            box = chart.bounding_box()
            tip = page.locator("#vg-tooltip-element").bounding_box()
            assert box and tip
            x0, y0 = min(box["x"], tip["x"]), min(box["y"], tip["y"])
            x1 = max(box["x"] + box["width"], tip["x"] + tip["width"])
            y1 = max(box["y"] + box["height"], tip["y"] + tip["height"])
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), clip={"x": max(x0 - 8, 0), "y": max(y0 - 8, 0),
                                                 "width": min(x1 - x0 + 16, 1200), "height": min(y1 - y0 + 16, 900)})
            print(f"tooltip: {page.locator('#vg-tooltip-element').inner_text()!r}")
            print(f"requests outside the Lab server: {outside or 'none'}")
            browser.close()
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots" / "lab-hover.png"))
