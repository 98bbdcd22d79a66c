"""`adoption-kit report`: planning, names, safety of the HTML, failure isolation, atomic writes, skip-when-current,
manifest.

Machinery tests use the fast stand-in templates in tests/fixtures/templates/; one end-to-end test runs the
real templates on two hostile-named customers of the sample.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from render_support import (
    ASHSTEAD_ID,
    HOSTILE_ID,
    HOSTILE_NAME,
    SMITH_ID,
    TITLE_PAYLOAD,
    real_run,
    stand_in_templates,
    without_kit_scripts,
)

from adoption_kit import __version__, cli, render
from adoption_kit.analysis import BOOK_TABLES, prepare
from adoption_kit.config import SAMPLE_DIR, Thresholds
from adoption_kit.errors import ParameterError, UnknownCustomerError
from adoption_kit.render import plan as render_plan
from adoption_kit.render.svg_uri import svg_data_uris

RUN_DATE = "2026-11-01"          # newest processedDateTime of the sample
SAFE_NAME = re.compile(r"^customers/[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{8}$")
ESCAPED_HOSTILE = "&lt;img src=x onerror=alert(1)&gt;"


def _files(run_dir: Path) -> set[str]:
    """Report files of a run folder (the user-visible outputs), relative POSIX paths."""
    return {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")
            if p.is_file() and p.suffix in (".html", ".ipynb", ".csv", ".json")
            and not p.relative_to(run_dir).as_posix().startswith((".state", "_bundle"))}


def _part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.part")]


# ---------------------------------------------------------------------------
# Names and plans (nothing executed)
# ---------------------------------------------------------------------------
def test_slugs_are_ascii_short_and_never_empty():
    assert render.slugify("Müller Bäckerei GmbH") == "muller-backerei-gmbh"
    assert render.slugify("Société Générale d'Études") == "societe-generale-d-etudes"
    assert render.slugify(HOSTILE_NAME) == "img-src-x-onerror-alert-1"
    assert render.slugify("株式会社サンプル") == "customer"
    assert render.slugify("../../etc/passwd") == "etc-passwd"
    assert render.slugify(None) == "customer"
    assert render.slugify("  --  ") == "customer"
    long = render.slugify("A" * 100 + " Ltd")
    assert len(long) <= render_plan.SLUG_MAX and not long.endswith("-")
    assert render.output_name("Acme", "0112a436-b14e-4888-967b-ca4bb2cf1234") == "customers/acme-0112a436"


def test_plan_names_every_sample_customer_once_safely_and_deterministically(sample, tmp_path):
    jobs = render.plan_reports(sample, tmp_path / RUN_DATE, data_path=SAMPLE_DIR)
    again = render.plan_reports(sample, tmp_path / RUN_DATE, data_path=SAMPLE_DIR)
    assert [j.name for j in jobs] == [j.name for j in again]
    assert [j.fingerprint for j in jobs] == [j.fingerprint for j in again]
    assert [j.kind for j in jobs[:2]] == ["portfolio", "low_adoption"]
    assert jobs[0].html == "portfolio-overview.html" and jobs[1].html == "low-adoption-accounts.html"
    customers = jobs[2:]
    assert len(customers) == 50 and len({j.name for j in customers}) == 50
    assert all(SAFE_NAME.match(j.name) for j in customers), [j.name for j in customers if not SAFE_NAME.match(j.name)]
    names = {j.customer_id: j.name for j in customers}
    assert names[HOSTILE_ID] == "customers/img-src-x-onerror-alert-1-e0063480"
    assert names["acdbb560-7292-49b6-9ad1-d2f17e1ec1c7"] == "customers/customer-acdbb560"
    # Every notebook gets absolute paths and the run's bundle.
    for job in jobs:
        assert Path(job.parameters["metrics_bundle"]) == (tmp_path / RUN_DATE / "_bundle").resolve()
        assert Path(job.parameters["data_path"]).is_absolute()
    assert customers[0].parameters["customer_id"] == customers[0].customer_id
    assert Path(jobs[1].parameters["action_csv"]) == (tmp_path / RUN_DATE / "low-adoption-accounts.csv").resolve()


def test_name_clashes_fall_back_to_the_whole_id():
    rows = [{"customer_id": "0112a436-b14e-4888-967b-ca4bb2cf1234", "customer_name": "Acme"},
            {"customer_id": "0112a436-0000-4888-967b-ca4bb2cf1234", "customer_name": "ACME!"}]
    names = render_plan._customer_names(rows)
    assert len(set(names.values())) == 2
    assert names[rows[0]["customer_id"]] == f"customers/acme-{rows[0]['customer_id']}"


def test_plan_filters_by_customer_and_segment(sample, tmp_path):
    run_dir = tmp_path / RUN_DATE
    only = render.plan_reports(sample, run_dir, data_path=SAMPLE_DIR, customers=[HOSTILE_ID.upper(), SMITH_ID])
    assert {j.customer_id for j in only[2:]} == {HOSTILE_ID, SMITH_ID}
    adopt = render.plan_reports(sample, run_dir, data_path=SAMPLE_DIR, segments=["adopt,deploy"])
    expected = sample.customers.filter(pl.col("segment").is_in(["adopt", "deploy"])).height
    assert len(adopt) - 2 == expected and {j.segment for j in adopt[2:]} == {"adopt", "deploy"}
    both = render.plan_reports(sample, run_dir, data_path=SAMPLE_DIR, customers=[HOSTILE_ID, SMITH_ID],
                               segments=["deploy"])
    assert [j.customer_id for j in both[2:]] == [HOSTILE_ID]          # customers AND segments
    with pytest.raises(ParameterError, match="not a tenant id"):
        render.plan_reports(sample, run_dir, data_path=SAMPLE_DIR, customers=["'; rm -rf /"])
    with pytest.raises(UnknownCustomerError):
        render.plan_reports(sample, run_dir, data_path=SAMPLE_DIR,
                            customers=["00000000-0000-4000-8000-000000000000"])
    with pytest.raises(ParameterError, match="unknown segment"):
        render.plan_reports(sample, run_dir, data_path=SAMPLE_DIR, segments=["adoptt"])


def test_fingerprint_follows_thresholds_parameters_and_templates(sample, tmp_path):
    templates = stand_in_templates(tmp_path / "templates")
    run_dir = tmp_path / RUN_DATE

    def prints(**kwargs):
        return [j.fingerprint for j in render.plan_reports(sample, run_dir, data_path=SAMPLE_DIR,
                                                           templates_dir=templates, **kwargs)]

    base = prints()
    assert prints() == base
    assert not set(prints(thresholds=Thresholds(adopt=0.5))) & set(base)
    assert not set(prints(top_n=10)) & set(base)
    # Where the run folder is does not matter; what the customer template says does.
    moved = [j.fingerprint for j in render.plan_reports(sample, tmp_path / "elsewhere", data_path=SAMPLE_DIR,
                                                        templates_dir=templates)]
    assert moved == base
    customer = templates / "20-customer-insights.ipynb"
    customer.write_text(customer.read_text(encoding="utf-8").replace("Segment:", "Segment -"), encoding="utf-8")
    changed = prints()
    assert changed[:2] == base[:2] and not set(changed[2:]) & set(base[2:])


def test_bad_options_are_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "reports"
    assert cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--customer", "not-a-guid"]) == 2
    assert "not a tenant id" in capsys.readouterr().err
    assert cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--segment", "upsel"]) == 2
    assert cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--workers", "0"]) == 2
    assert cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--timeout", "-1"]) == 2
    assert not out.exists()


def test_unknown_template_parameter_is_an_input_error(tmp_path, capsys):
    templates = stand_in_templates(tmp_path / "templates")
    portfolio = templates / "10-portfolio-overview.ipynb"
    portfolio.write_text(portfolio.read_text(encoding="utf-8").replace("top_n: int = 25", "top_k: int = 25"),
                         encoding="utf-8")
    out = tmp_path / "reports"
    code = cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--templates", str(templates),
                     "--customer", SMITH_ID, "--top-n", "5", "--dry-run"])
    assert code == 2 and "top_n" in capsys.readouterr().err
    assert not out.exists()


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    templates = stand_in_templates(tmp_path / "templates")
    out = tmp_path / "reports"
    code = cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--templates", str(templates),
                     "--segment", "adopt", "--dry-run"])
    printed = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert "nothing is executed" in printed
    assert "20-customer-insights.ipynb -> customers/" in printed
    assert "10-portfolio-overview.ipynb -> portfolio-overview.html" in printed
    assert "adopt_threshold = 0.6" in printed and "metrics_bundle = " in printed
    assert "customer_id='acdbb560-7292-49b6-9ad1-d2f17e1ec1c7'" in printed     # an adopt customer
    assert HOSTILE_ID not in printed                                             # a deploy customer


# ---------------------------------------------------------------------------
# HTML safety
# ---------------------------------------------------------------------------
def test_output_html_is_sanitized_but_keeps_tables_and_styler_css():
    hostile = ('<style type="text/css">#T_x td { text-align: right } .a > .b { color: red }</style>'
               '<style>body { background: url(https://tracker.example/x.png) }</style>'
               '<table id="T_x"><thead><tr><th colspan="2">Name</th></tr></thead>'
               '<tbody><tr><td class="c" style="background-color: rgba(1,2,3,0.2)">'
               '<img src=x onerror=alert(1)>&lt;b&gt;</td>'
               '<td style="background: url(http://x)" onclick="alert(2)">ok</td></tr></tbody></table>'
               '<script>alert(3)</script><a href="javascript:alert(4)">j</a><a href="https://learn.microsoft.com">doc</a>'
               '<img src="data:image/png;base64,iVBORw0KGgo=">')
    clean = render.sanitize_output_html(hostile)
    assert "onerror" not in clean and "onclick" not in clean and "<script" not in clean
    assert "alert(3)" not in clean and "javascript:" not in clean and "tracker.example" not in clean
    assert "#T_x td { text-align: right } .a > .b { color: red }" in clean      # Styler CSS kept as is
    assert 'id="T_x"' in clean and 'colspan="2"' in clean and 'class="c"' in clean
    assert 'style="background-color: rgba(1,2,3,0.2)"' in clean and "url(http://x)" not in clean
    assert "&lt;b&gt;" in clean and 'href="https://learn.microsoft.com"' in clean
    assert 'src="data:image/png;base64,' in clean
    assert render.find_unsafe_html(f"<html><body>{clean}</body></html>") == []


def test_unsafe_page_finder():
    assert render.find_unsafe_html('<p>see <a href="https://example.com">x</a> &lt;script&gt;</p>') == []
    assert render.find_unsafe_html('<img src="data:image/svg+xml;base64,AAA=">') == []
    for page in ('<script>x()</script>', '<script src="https://cdn.example/x.js"></script>',
                 '<link rel="stylesheet" href="https://fonts.example/css">', '<img src="http://x/y.png">',
                 '<div onmouseover="x()">', '<a href="javascript:x()">', '<iframe src="about:blank">',
                 '<style>@import "https://x/y.css";</style>', '<style>@font-face { src: url(//x/f.woff) }</style>'):
        assert render.find_unsafe_html(page), page


# ---------------------------------------------------------------------------
# Runs with the stand-in templates
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stand_in_run(tmp_path_factory):
    """One run of the stand-ins on three customers; tests below read it, the skip test re-runs it."""
    root = tmp_path_factory.mktemp("stand-in")
    templates = stand_in_templates(root / "templates")
    result = render.render_reports(SAMPLE_DIR, root / "reports", customers=[HOSTILE_ID, ASHSTEAD_ID, SMITH_ID],
                                   workers=2, templates_dir=templates, progress=False, today="2026-11-20")
    return root, templates, result


def test_run_folder_layout(stand_in_run):
    root, _templates, result = stand_in_run
    run_dir = root / "reports" / RUN_DATE
    assert result.run_dir == run_dir and result.exit_code == 0 and result.count("rendered") == 5
    assert _files(run_dir) == {
        "index.html", "manifest.json", "low-adoption-accounts.csv",
        "portfolio-overview.html", "portfolio-overview.ipynb",
        "low-adoption-accounts.html", "low-adoption-accounts.ipynb",
        "customers/img-src-x-onerror-alert-1-e0063480.html", "customers/img-src-x-onerror-alert-1-e0063480.ipynb",
        "customers/ashstead-travel-ab-a7192107.html", "customers/ashstead-travel-ab-a7192107.ipynb",
        "customers/smith-jones-partners-ce7fc445.html", "customers/smith-jones-partners-ce7fc445.ipynb",
    }
    assert sorted(p.name for p in (run_dir / "_bundle").iterdir()) == sorted([
        "activity_customers.parquet", "activity_workloads.parquet",
        "customers.parquet", "meta.json", "portfolio.parquet", "products.parquet", "ranking.parquet",
        "workloads.parquet", *[f"book_{name}.parquet" for name in BOOK_TABLES]])
    assert not _part_files(root)
    umask = os.umask(0o022)
    os.umask(umask)
    for path in (run_dir / "index.html", run_dir / "customers/smith-jones-partners-ce7fc445.html"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path      # readable as any file the user writes
    # Executed notebooks carry their outputs and the kit's stamp.
    notebook = json.loads((run_dir / "customers/smith-jones-partners-ce7fc445.ipynb").read_text(encoding="utf-8"))
    assert notebook["metadata"]["adoption_kit"]["kit_version"] == __version__
    assert notebook["metadata"]["papermill"]["parameters"]["customer_id"] == SMITH_ID
    csv = pl.read_csv(run_dir / "low-adoption-accounts.csv")
    assert csv.height == prepare(SAMPLE_DIR).ranking.height


def test_manifest_records_inputs_parameters_and_outcomes(stand_in_run, sample):
    root, templates, result = stand_in_run
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["kit_version"] == __version__
    assert manifest["inputs"] == [dict(s) for s in sample.sources]
    assert all(re.fullmatch(r"[0-9a-f]{64}", s["sha256"]) for s in manifest["inputs"])
    assert manifest["processed_at"] == {"min": "2026-11-01T00:00:00+00:00", "max": "2026-11-01T00:00:00+00:00"}
    assert manifest["thresholds"] == {"deploy": 0.8, "adopt": 0.6, "upsell": 0.9}
    assert manifest["parameters"]["today"] == "2026-11-20" and manifest["parameters"]["as_of"] == "latest"
    assert manifest["command"]["customers"] == [HOSTILE_ID, ASHSTEAD_ID, SMITH_ID]
    assert manifest["command"]["templates_dir"] == str(templates.resolve())
    assert manifest["summary"] == {"reports": 5, "rendered": 5, "current": 0, "failed": 0, "earlier": 0}
    reports = {r["name"]: r for r in manifest["reports"]}
    smith = reports["customers/smith-jones-partners-ce7fc445"]
    assert smith["outcome"] == "rendered" and smith["duration_s"] > 0 and smith["error"] is None
    assert smith["parameters"]["customer_id"] == SMITH_ID
    assert smith["parameters"]["top_n"] == 25 and smith["parameters"]["stale_after_days"] == 45   # template defaults
    assert smith["headline"]["customer_name"] == "Smith, Jones & Partners"
    assert reports["portfolio-overview"]["headline"]["customers"] == 50


def test_index_lists_every_report_with_headlines_and_escapes_names(stand_in_run):
    _root, _templates, result = stand_in_run
    page = result.index_path.read_text(encoding="utf-8")
    for name in ("portfolio-overview.html", "low-adoption-accounts.html",
                 "customers/img-src-x-onerror-alert-1-e0063480.html", "customers/ashstead-travel-ab-a7192107.html",
                 "customers/smith-jones-partners-ce7fc445.html", "low-adoption-accounts.csv", "manifest.json"):
        assert f'href="{name}"' in page
    assert ESCAPED_HOSTILE in page and HOSTILE_NAME not in page
    assert "Smith, Jones &amp; Partners" in page
    assert "Licences sold" in page            # a headline column
    assert render.find_unsafe_html(page) == [] and "<script" not in without_kit_scripts(page)


def test_report_html_is_offline_and_escaped(stand_in_run):
    _root, _templates, result = stand_in_run
    for path in result.run_dir.rglob("*.html"):
        page = path.read_text(encoding="utf-8")
        assert render.find_unsafe_html(page) == [], path
        assert not re.search(r'(src|href)="(https?:)?//', page), path
        assert "<script" not in without_kit_scripts(page) and "cdn" not in page.lower(), path
    customer = (result.run_dir / "customers/img-src-x-onerror-alert-1-e0063480.html").read_text(encoding="utf-8")
    assert ESCAPED_HOSTILE in customer and HOSTILE_NAME not in customer
    assert svg_data_uris(customer)                              # the stand-in's chart, as an image
    # The stand-in portfolio writes names into HTML unescaped: the sanitizer removed the handler.
    portfolio = (result.run_dir / "portfolio-overview.html").read_text(encoding="utf-8")
    assert "onerror=alert(1)>" not in portfolio and "<img src=x" not in portfolio


@pytest.mark.kernel
def test_unchanged_rerun_skips_force_renders_and_a_new_threshold_rerenders(stand_in_run):
    root, templates, first = stand_in_run
    run_dir = first.run_dir
    kwargs = dict(customers=[HOSTILE_ID, ASHSTEAD_ID, SMITH_ID], workers=2, templates_dir=templates,
                  progress=False, today="2026-11-20")
    stamps = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.html") if p.name != "index.html"}
    fresh = (run_dir / "low-adoption-accounts.csv").read_bytes()
    (run_dir / "low-adoption-accounts.csv").write_text("customer_id\nlast run's stale list\n", encoding="utf-8")
    again = render.render_reports(SAMPLE_DIR, root / "reports", **kwargs)
    assert again.count("current") == 5 and again.count("rendered") == 0 and again.exit_code == 0
    assert (run_dir / "low-adoption-accounts.csv").read_bytes() == fresh   # the CRM list is rewritten every run
    # A skipped report's headline keeps the order the report gave it (the index and manifest agree).
    assert [list(r.headline) for r in again.reports] == [list(r.headline) for r in first.reports]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    manifest = json.loads(again.manifest_path.read_text(encoding="utf-8"))
    assert {r["outcome"] for r in manifest["reports"]} == {"current"}
    assert manifest["reports"][2]["headline"]       # headline figures kept from the state file

    # --force renders every planned report; a report deleted by hand is rendered again even without it.
    (run_dir / "customers/smith-jones-partners-ce7fc445.html").unlink()
    forced = render.render_reports(SAMPLE_DIR, root / "reports", **{**kwargs, "customers": [SMITH_ID]},
                                   force=True)
    assert forced.count("rendered") == 3 and (run_dir / "customers/smith-jones-partners-ce7fc445.html").is_file()
    # Reports of earlier runs in the same folder stay listed.
    assert {r.job.customer_id for r in forced.reports if r.outcome == "earlier"} == {HOSTILE_ID, ASHSTEAD_ID}
    assert 'href="customers/ashstead-travel-ab-a7192107.html"' in forced.index_path.read_text(encoding="utf-8")

    # A new threshold makes every report out of date (the plan, without executing it).
    stricter = render.render_reports(SAMPLE_DIR, root / "reports", **kwargs, thresholds=Thresholds(adopt=0.5),
                                     dry_run=True)
    assert stricter.count("planned") == 5
    again = render.render_reports(SAMPLE_DIR, root / "reports", **kwargs, dry_run=True)
    assert again.count("current") == 5


@pytest.mark.kernel
def test_a_failing_and_a_hanging_customer_leave_the_others_rendered(tmp_path, capsys):
    templates = stand_in_templates(tmp_path / "templates", fail_ids=(ASHSTEAD_ID,), without_action_csv=True,
                                   sleep=f'60.0 if globals().get("customer_id") == "{SMITH_ID}" else 0.0')
    out = tmp_path / "reports"
    code = cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--templates", str(templates), "--workers", "2",
                     "--customer", HOSTILE_ID, "--customer", ASHSTEAD_ID, "--customer", SMITH_ID,
                     "--timeout", "20"])
    captured = capsys.readouterr()
    assert code == 1
    run_dir = out / RUN_DATE
    assert (run_dir / "customers/img-src-x-onerror-alert-1-e0063480.html").is_file()
    assert (run_dir / "portfolio-overview.html").is_file() and (run_dir / "low-adoption-accounts.html").is_file()
    assert not (run_dir / "customers/ashstead-travel-ab-a7192107.html").exists()
    assert not (run_dir / "customers/smith-jones-partners-ce7fc445.html").exists()
    assert not _part_files(out)

    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    reports = {r["name"]: r for r in manifest["reports"]}
    failed = reports["customers/ashstead-travel-ab-a7192107"]
    assert failed["outcome"] == "failed" and failed["error"]["type"] == "cell_error"
    assert failed["error"]["ename"] == "RuntimeError" and ASHSTEAD_ID in failed["error"]["evalue"]
    assert failed["error"]["cell_source"].startswith("FAIL_IDS")
    assert isinstance(failed["error"]["cell_index"], int) and failed["error"]["execution_count"]
    assert (run_dir / failed["error"]["notebook"]).is_file()        # the executed notebook, to look at
    hung = reports["customers/smith-jones-partners-ce7fc445"]
    assert hung["outcome"] == "failed" and hung["error"]["type"] == "timeout"
    assert hung["error"]["cell_source"].startswith("import html") and hung["duration_s"] < 45
    assert manifest["summary"]["failed"] == 2 and manifest["summary"]["rendered"] == 3

    # The console names each failure and its cell, and still says where the index is.
    assert "FAILED customers/ashstead-travel-ab-a7192107.html: cell" in captured.out
    assert "RuntimeError: planted failure" in captured.out and "FAILED customers/smith-jones" in captured.out
    assert captured.out.strip().splitlines()[-1] == f"open {run_dir / 'index.html'}"
    assert "without encryption" not in captured.err     # ipykernel's start-up warning is filtered
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert "Failed reports" in index and "planted failure" in index
    # This low-adoption template takes no action_csv: the run wrote the CRM list itself.
    assert "action_csv" not in reports["low-adoption-accounts"]["parameters"]
    # UTF-8 with a byte-order mark, for Excel
    assert (run_dir / "low-adoption-accounts.csv").read_text(encoding="utf-8").startswith("\ufeffrank,customer_id,")


@pytest.mark.kernel
def test_killed_run_leaves_complete_reports_and_a_rerun_completes_it(tmp_path):
    templates = stand_in_templates(tmp_path / "templates", sleep="1.0")
    out = tmp_path / "reports"
    customers = [HOSTILE_ID, ASHSTEAD_ID, SMITH_ID]
    command = [sys.executable, "-m", "adoption_kit", "report", str(SAMPLE_DIR), "--out", str(out),
               "--templates", str(templates), "--workers", "2"]
    for customer in customers:
        command += ["--customer", customer]
    run_dir = out / RUN_DATE
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            done = list((run_dir / ".state").rglob("*.json")) if (run_dir / ".state").is_dir() else []
            if len([p for p in done if p.parent.name != "templates"]) >= 2:
                break
            time.sleep(0.2)
        assert process.poll() is None, "the run finished before it could be interrupted"
        os.kill(process.pid, signal.SIGTERM)          # what cron, systemd or `timeout` send
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, err.decode()
    assert not _part_files(out)
    partial = {p for p in _files(run_dir) if p.endswith((".html", ".ipynb"))}
    assert 0 < len(partial) < 2 * (2 + len(customers))
    for html in run_dir.rglob("*.html"):
        assert html.read_text(encoding="utf-8").rstrip().endswith("</html>"), html   # complete, never cut

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert 0 < manifest["summary"]["rendered"] < 2 + len(customers)      # only what the kill left undone
    # The same files as an uninterrupted run of the same plan.
    planned = render.plan_reports(prepare(SAMPLE_DIR), run_dir, data_path=SAMPLE_DIR, customers=customers,
                                  templates_dir=templates)
    expected = {name for job in planned for name in job.outputs} | {"index.html", "manifest.json",
                                                                   "low-adoption-accounts.csv"}
    assert _files(run_dir) == expected
    assert not _part_files(out)


def _normalised_run(run_dir: Path, out_dir: Path) -> dict[str, object]:
    """Every file of a run folder with what legitimately differs between two runs taken out: timestamps,
    durations, rendered-vs-current outcomes and the out folder's own path. Parquet and HTML reports compare
    as bytes (rendering is deterministic: same spec, same SVG; stand-in templates print no time)."""
    volatile = {"started_at", "finished_at", "duration_s", "rendered_at", "generated_at", "outcome", "summary",
                "start_time", "end_time", "duration", "execution", "workers_used"}

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    files: dict[str, object] = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != render.LOCK):
        name = path.relative_to(run_dir).as_posix()
        data = path.read_bytes()
        if path.suffix in (".json", ".ipynb"):
            files[name] = clean(json.loads(data.decode("utf-8").replace(str(out_dir), "<OUT>")))
        elif name == render.INDEX:
            text = data.decode("utf-8").replace(str(out_dir), "<OUT>")
            text = re.sub(r"index written [0-9T:+-]+", "index written <TIME>", text)
            files[name] = re.sub(r"\d+ rendered in this run, \d+ already current", "<COUNTS>", text)
        else:
            files[name] = data.replace(str(out_dir).encode(), b"<OUT>")
    return files


@pytest.mark.kernel
def test_interrupted_at_random_points_then_resumed_equals_an_uninterrupted_run(tmp_path):
    """SIGINT/SIGTERM at three seeded random moments (loading, workers starting, notebooks running, index
    writing...), each time resuming the run; then a last run completes it. Nothing half-written is ever left
    and the final folder equals a clean run's."""
    import random

    templates = stand_in_templates(tmp_path / "templates", sleep="0.5")
    customers = [HOSTILE_ID, ASHSTEAD_ID, SMITH_ID]

    def command(out: Path) -> list[str]:
        argv = [sys.executable, "-m", "adoption_kit", "report", str(SAMPLE_DIR), "--out", str(out),
                "--templates", str(templates), "--workers", "2", "--today", "2026-11-20"]
        for customer in customers:
            argv += ["--customer", customer]
        return argv

    rng = random.Random(20261128)
    # One moment in each phase of a run: start-up and loading, workers starting, notebooks running.
    plan = [(rng.uniform(low, high), rng.choice(["SIGINT", "SIGTERM", "SIGINT to the group"]))
            for low, high in ((0.3, 2.5), (2.5, 5.0), (5.0, 8.0))]
    out = tmp_path / "interrupted"
    run_dir = out / RUN_DATE
    interrupted = 0
    def files() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} if out.exists() else {}

    for delay, how in plan:
        before = files()
        process = subprocess.Popen(command(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        try:
            time.sleep(delay)
            if process.poll() is None:
                if how == "SIGINT to the group":      # Ctrl-C in a terminal: kernels and workers get it too
                    os.killpg(process.pid, signal.SIGINT)
                else:
                    os.kill(process.pid, getattr(signal, how))
                interrupted += 1
            _out, err = process.communicate(timeout=90)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stderr = err.decode()
        stopped = "interrupted; rerun to complete" in stderr
        # 130, or death by SIGINT once the run said it stopped (Python's way of passing a Ctrl-C on: the shell
        # shows 130 too); killed before that, the kit had not started yet and nothing changed.
        if process.returncode not in (0, 130) and not (process.returncode == -signal.SIGINT and stopped):
            assert process.returncode < 0 and files() == before, (delay, how, stderr[-2000:])
        if process.returncode in (130, -signal.SIGINT):
            assert stopped, stderr[-2000:]
            # The kit's own code never ends in a traceback. (A worker killed while multiprocessing was still
            # starting it may print one of multiprocessing's own.)
            assert not re.search(r'File "[^"]*adoption_kit[/\\]', stderr), stderr[-3000:]
        # Never a half-written file: no temporary file, every page complete, every JSON/notebook parses.
        assert not _part_files(out), (delay, how)
        for path in (run_dir.rglob("*") if run_dir.is_dir() else ()):
            if path.suffix == ".html":
                assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), path
            elif path.suffix in (".json", ".ipynb"):
                json.loads(path.read_text(encoding="utf-8"))
            elif path.suffix == ".csv":
                pl.read_csv(path)
            elif path.suffix == ".parquet":
                pl.read_parquet(path)
    assert interrupted >= 2, plan          # the seeded moments do fall inside the runs

    final = subprocess.run(command(out), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    clean_out = tmp_path / "clean"
    clean = subprocess.run(command(clean_out), capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    resumed, fresh = _normalised_run(run_dir, out), _normalised_run(clean_out / RUN_DATE, clean_out)
    assert resumed.keys() == fresh.keys()
    assert [name for name in fresh if resumed[name] != fresh[name]] == []
    assert not _part_files(tmp_path)


# ---------------------------------------------------------------------------
# The real templates, end to end (two hostile-named customers of the sample)
# ---------------------------------------------------------------------------
@pytest.mark.kernel
def test_real_templates_end_to_end(tmp_path_factory):
    result = real_run(tmp_path_factory)
    problems = [r.describe_error() for r in result.failures]
    assert result.exit_code == 0, problems
    assert result.count("rendered") == 4
    run_dir = result.run_dir
    index = result.index_path.read_text(encoding="utf-8")
    assert ESCAPED_HOSTILE in index and HOSTILE_NAME not in index
    assert "PWNED" in index and TITLE_PAYLOAD not in index           # shown as text, never as markup
    for report in result.reports:
        page = (run_dir / report.job.html).read_text(encoding="utf-8")
        assert render.find_unsafe_html(page) == [], report.job.html
        assert report.headline, f"{report.job.html}: no headline figures"
        if report.job.kind != "low_adoption":
            assert svg_data_uris(page), f"{report.job.html}: no chart"
        assert TITLE_PAYLOAD not in page and HOSTILE_NAME not in page
    hostile = (run_dir / "customers/img-src-x-onerror-alert-1-e0063480.html").read_text(encoding="utf-8")
    assert ESCAPED_HOSTILE in hostile
    headline = {r.job.customer_id: r.headline for r in result.reports if r.job.customer_id}
    assert headline[HOSTILE_ID]["customer_name"] == HOSTILE_NAME and headline[HOSTILE_ID]["segment"] == "deploy"
    csv = (run_dir / "low-adoption-accounts.csv").read_text(encoding="utf-8-sig")
    assert csv.startswith("rank,customer_id,customer_name")
    assert "'=HYPERLINK" in csv                                       # formula-safe
