"""Hostile text stays inert in every file a report run writes; no data value reaches a notebook as code.

One real-template run of the committed sample restricted to the hostile-named customers
(`<img src=x onerror=alert(1)>`, `=HYPERLINK("http://example.invalid","x")`) and Smith, Jones & Partners
(whose activity report carries user names), then every written file is checked by type.
"""
from __future__ import annotations

import base64
import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from render_support import HOSTILE_ID, HOSTILE_NAME, SMITH_ID, stand_in_templates, without_kit_scripts

from adoption_kit import cli, render
from adoption_kit.analysis import prepare
from adoption_kit.config import SAMPLE_DIR, Thresholds
from adoption_kit.render.svg_uri import svg_data_uris

FORMULA_ID = "259535c5-5a5b-4929-808c-c3377092b296"
FORMULA_NAME = '=HYPERLINK("http://example.invalid","x")'
RUN_DATE = "2026-11-01"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")



@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "reports"
    code = cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--workers", "2", "--today", "2026-11-20",
                     "--customer", HOSTILE_ID, "--customer", FORMULA_ID, "--customer", SMITH_ID])
    assert code == 0
    run_dir = out / RUN_DATE
    return run_dir, sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != render.LOCK)


class _Elements(HTMLParser):
    """Every element with its attributes, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def _elements(markup: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(markup)
    parser.close()
    return parser.elements


def _assert_inert_html(markup: str, where: str) -> None:
    markup = without_kit_scripts(markup)      # the kit's own scripts, allowed by hash under the page's policy
    for tag, attrs in _elements(markup):
        assert tag not in ("script", "iframe", "object", "embed"), (where, tag)
        handlers = [a for a in attrs if a.lower().startswith("on")]
        assert not handlers, (where, tag, handlers)
        assert not (tag == "img" and "onerror" in attrs), where
    assert HOSTILE_NAME not in markup and "<img src=x" not in markup, where
    for svg in svg_data_uris(markup):                    # the charts, as the browser will decode them
        _assert_inert_svg(svg, where)


def _assert_inert_svg(svg: str, where: str) -> None:
    assert "<img" not in svg and "<script" not in svg.lower(), where
    for tag, attrs in _elements(svg):
        assert tag not in ("script", "foreignobject"), (where, tag)
        assert not [a for a in attrs if a.lower().startswith("on")], (where, tag)


def test_the_checks_catch_live_markup():
    for live in (f"<p>{HOSTILE_NAME}</p>", '<div onclick="x()">a</div>', "<script>alert(1)</script>"):
        with pytest.raises(AssertionError):
            _assert_inert_html(live, "self-test")
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>' + HOSTILE_NAME + "</text></svg>"
    with pytest.raises(AssertionError):
        _assert_inert_html(f'<img src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">', "x")


def test_every_html_page_is_inert_and_shows_the_names_as_text(hostile_run):
    run_dir, files = hostile_run
    pages = [p for p in files if p.suffix == ".html"]
    assert {p.relative_to(run_dir).as_posix() for p in pages} >= {
        "index.html", "portfolio-overview.html", "low-adoption-accounts.html",
        "customers/img-src-x-onerror-alert-1-e0063480.html"}
    for page in pages:
        markup = page.read_text(encoding="utf-8")
        _assert_inert_html(markup, page.name)
        assert render.find_unsafe_html(markup) == [], page
    hostile = (run_dir / "customers/img-src-x-onerror-alert-1-e0063480.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in hostile
    # Its chart titles carry the name: escaped inside the SVG too.
    svgs = svg_data_uris(hostile)
    assert svgs and any("&lt;img src=x onerror=alert(1)&gt;" in svg for svg in svgs)
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in index
    assert "=HYPERLINK(&#34;http://example.invalid&#34;" in index or "=HYPERLINK(&quot;http://example.invalid" in index


def test_executed_notebooks_hold_only_escaped_html_and_inert_svg(hostile_run):
    _run_dir, files = hostile_run
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    assert len(notebooks) >= 5
    for path in notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "text/html" in data:
                    _assert_inert_html("".join(data["text/html"]), f"{path.name} text/html")
                if "image/svg+xml" in data:
                    _assert_inert_svg("".join(data["image/svg+xml"]), f"{path.name} svg")


def test_every_csv_cell_is_formula_safe(hostile_run):
    _run_dir, files = hostile_run
    tables = [p for p in files if p.suffix == ".csv"]
    assert tables
    seen_formula_name = False
    for path in tables:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert not cell.startswith(FORMULA_START), (path.name, cell)
                    seen_formula_name |= cell == "'" + FORMULA_NAME
    assert seen_formula_name                          # the name is there, readable, with its apostrophe


def test_json_outputs_keep_names_as_data(hostile_run):
    run_dir, files = hostile_run
    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    names = {r["customer_id"]: r["customer_name"] for r in manifest["reports"] if r["customer_id"]}
    assert names[HOSTILE_ID] == HOSTILE_NAME and names[FORMULA_ID] == FORMULA_NAME   # data, not markup


def _activity_user_names() -> set[str]:
    names = set()
    for report in (SAMPLE_DIR / "activity").rglob("*.csv"):
        for row in csv.DictReader(report.open(encoding="utf-8-sig", newline="")):
            names.update({row["User Principal Name"], row["Display Name"]})
    return {n for n in names if n}


def test_user_level_names_never_reach_any_output(hostile_run):
    """UPNs and display names of the sample's activity reports (Smith's are plain, =HYPERLINK's concealed)."""
    _run_dir, files = hostile_run
    names = _activity_user_names()
    assert len(names) > 100 and "user001@customer3.onmicrosoft.com" in names
    for path in files:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            texts = [v for c, d in frame.schema.items() if d == pl.String
                     for v in frame.get_column(c).drop_nulls().unique().to_list()]
            found = names & set(texts)
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
            found = {n for n in names if n in text}
        assert not found, (path, sorted(found)[:3])
    assert not any("onmicrosoft.com" in p.read_text(encoding="utf-8", errors="replace")
                   for p in files if p.suffix != ".parquet")


# ---------------------------------------------------------------------------
# Parameters from data never run as code
# ---------------------------------------------------------------------------
def test_a_customer_id_carrying_code_is_refused_before_papermill(tmp_path, capsys):
    marker = tmp_path / "pwned"
    payload = f'x"; import os; os.system("touch {marker}"); "'
    out = tmp_path / "reports"
    code = cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--customer", payload])
    err = capsys.readouterr().err
    assert code == 2 and "not a tenant id" in err and "Traceback" not in err
    assert not out.exists() and not marker.exists()


def test_every_papermill_parameter_is_a_checked_value(tmp_path):
    """Each parameter the renderer builds is a validated GUID, a number, a fixed literal, a checked date or an
    absolute path the kit made; papermill writes strings as escaped literals on top of that."""
    analysis = prepare(SAMPLE_DIR)
    exclusions = tmp_path / "exclusions.csv"
    exclusions.write_text("product_id,product_name,reason\n", encoding="utf-8")
    run_dir = (tmp_path / "reports" / RUN_DATE).resolve()
    jobs = render.plan_reports(analysis, run_dir, data_path=SAMPLE_DIR, thresholds=Thresholds(adopt=0.5),
                               as_of="2026-11-01", exclusions_path=exclusions, top_n=10, stale_after_days=30,
                               today="2026-11-20", customers=[HOSTILE_ID.upper(), "{" + FORMULA_ID + "}"])
    guid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    seen = set()
    for job in jobs:
        for name, value in job.parameters.items():
            seen.add(name)
            if name == "customer_id":
                assert guid.match(value) and value in analysis.customers.get_column("customer_id").to_list()
            elif name in ("data_path", "metrics_bundle", "exclusions_path", "action_csv"):
                assert Path(value).is_absolute() and Path(value) == Path(value).resolve(), (name, value)
            elif name in ("as_of", "today"):
                assert value == "latest" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), (name, value)
            else:
                assert isinstance(value, (int, float)) and not isinstance(value, bool), (name, value)
    assert seen == {"data_path", "metrics_bundle", "as_of", "deploy_threshold", "adopt_threshold",
                    "upsell_threshold", "exclusions_path", "today", "top_n", "stale_after_days", "action_csv",
                    "customer_id"}


@pytest.mark.kernel
def test_a_data_folder_whose_name_is_code_is_passed_as_text(tmp_path):
    """The data path is the one free text papermill receives: a folder named like code stays a string."""
    import shutil

    marker = tmp_path / "pwned"
    folder = tmp_path / f'x"; import os; os.system("touch {marker.name}"); "\\'
    shutil.copytree(SAMPLE_DIR, folder)
    templates = stand_in_templates(tmp_path / "templates")
    result = render.render_reports(folder, tmp_path / "reports", customers=[HOSTILE_ID], workers=1,
                                   templates_dir=templates, progress=False, today="2026-11-20")
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    notebook = json.loads((result.run_dir / "portfolio-overview.ipynb").read_text(encoding="utf-8"))
    assert notebook["metadata"]["papermill"]["parameters"]["data_path"] == str(folder.resolve())
    assert not marker.exists() and not (result.run_dir / marker.name).exists()
