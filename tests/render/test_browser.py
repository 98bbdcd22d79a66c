"""Rendered reports in a real headless browser with networking disabled: charts load, data never runs as script.

Needs Debian's `chromium` (`.ci/run` installs it); skipped with the reason when it is not installed.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from render_support import ASHSTEAD_ID, HOSTILE_ID, HOSTILE_NAME, TITLE_PAYLOAD, real_run, without_kit_scripts

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does it): "
                             "the offline/escaping browser test of the HTML reports cannot run")]
BROWSER_TIMEOUT = 90   # seconds per page; a hung browser fails the test instead of hanging CI

# A test-only script appended to a *copy* of a report: after load it records each image's decoded size.
MEASURE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({src: i.src.slice(0, 30), w: i.naturalWidth, h: i.naturalHeight,
                                                 shown: i.getBoundingClientRect().width, ok: i.complete,
                                                 live: !!i.closest(".ak-chart.ak-ready")}));
  document.body.setAttribute("data-test-images", JSON.stringify(images));
});
</script>"""


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
               "--virtual-time-budget=5000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False)


def _dump_dom(page: Path, profile: Path) -> str:
    done = _chromium(profile, "--dump-dom", page.as_uri())
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def _measured_images(page: Path, profile: Path) -> list[dict]:
    copy = page.with_name(f".measure-{page.name}")
    # The page's content policy would (rightly) refuse the measuring script: the copy goes without it.
    markup = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text(encoding="utf-8"))
    copy.write_text(markup.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    try:
        dom = _dump_dom(copy, profile)
    finally:
        copy.unlink()
    found = re.search(r'data-test-images="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _event_handlers(dom: str) -> list[tuple[str, str]]:
    """Every on* attribute of every element of `dom`, as (tag, attribute)."""
    from html.parser import HTMLParser

    found: list[tuple[str, str]] = []

    class Handlers(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend((tag, name) for name, _ in attrs if name.lower().startswith("on"))

        handle_startendtag = handle_starttag

    parser = Handlers(convert_charrefs=True)
    parser.feed(dom)
    parser.close()
    return found


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    result = real_run(tmp_path_factory)
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    names = {r.job.customer_id: r.job.html for r in result.reports if r.job.customer_id}
    return {
        "hostile": result.run_dir / names[HOSTILE_ID],
        "payload": result.run_dir / names[ASHSTEAD_ID],
        "portfolio": result.run_dir / "portfolio-overview.html",
        "index": result.index_path,
    }


@pytest.mark.parametrize("which", ["hostile", "payload", "portfolio", "index"])
def test_no_script_from_the_data_runs(pages, which, tmp_path):
    dom = _dump_dom(pages[which], tmp_path / "profile")
    title = re.search(r"<title>(.*?)</title>", dom, re.DOTALL)
    assert title and title.group(1).strip() != "PWNED", title      # the payload would set exactly this
    assert _event_handlers(dom) == []     # attributes as the browser parsed them (a chart's data URL holds text)
    # the pages carry no script but the kit's own (allowed by hash under their content policy)
    # (and the run folder's bundle, which the kit's chart loader adds as a script element)
    rest = re.sub(r'<script src="(\.\./)*_assets/vega-bundle\.js"></script>', "", without_kit_scripts(dom))
    assert not re.search(r"<script", rest, re.IGNORECASE)
    if which in ("hostile", "index"):
        assert "&lt;img src=x onerror=alert(1)&gt;" in dom          # the name is there, as text
    if which in ("payload", "index"):
        assert "document.title='PWNED'" in dom and "&lt;script&gt;" in dom


@pytest.mark.parametrize("which", ["hostile", "portfolio"])
def test_charts_render_offline(pages, which, tmp_path):
    images = _measured_images(pages[which], tmp_path / "profile")
    charts = [i for i in images if i["src"].startswith("data:image/svg+xml")]
    assert len(charts) >= 2, images
    for chart in charts:
        # a static picture is shown, or hidden because the live chart drew over it
        assert chart["ok"] and chart["w"] > 100 and chart["h"] > 50 and (chart["shown"] > 100 or chart["live"]), chart
    assert all(i["src"].startswith("data:") for i in images), images      # nothing to fetch


def test_screenshot_is_not_blank(pages, tmp_path):
    shot = tmp_path / "hostile.png"
    done = _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2400",
                     pages["hostile"].as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    # A blank page compresses to a few kB; text, tables and charts do not.
    assert shot.stat().st_size > 40_000, shot.stat().st_size


def test_hostile_names_are_in_the_pages(pages):
    # Sanity for the DOM checks above: the pages really contain the hostile names (escaped).
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages["hostile"].read_text(encoding="utf-8")
    assert HOSTILE_NAME not in pages["hostile"].read_text(encoding="utf-8")
    assert TITLE_PAYLOAD not in pages["payload"].read_text(encoding="utf-8")
