"""The report templates: their parameter contract, the committed executed copies, and papermill runs with
other parameters.

nbval (configured in pyproject.toml) re-runs the committed notebooks on the sample and compares the checked
cells; these tests run the templates the way `adoption-kit report` does: papermill, another working
directory, non-default parameters, bad parameters, and a 20,000-customer book.
"""
from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from adoption_kit import analysis
from adoption_kit.config import PROJECT_ROOT, SAMPLE_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.report import actions, customer, headline, low_adoption, params, portfolio
from adoption_kit.sample.generator import write_sample

TRIAL_ID = "f19782e8-6e78-46cc-a86b-5d8963b75840"
UPSELL_ID = "00ca2d71-7224-4239-a117-2a633dbe2f22"
HOSTILE = "<img src=x onerror=alert(1)>"
OTHER_THRESHOLDS = {"deploy_threshold": 0.9, "adopt_threshold": 0.7, "upsell_threshold": 0.95}
CHECK_TAG = "nbval-check-output"
MAX_NOTEBOOK_BYTES = 5_000_000

# The renderer's contract (adoption_kit/render.py passes these names): name -> (type, default).
COMMON_PARAMETERS = {
    "data_path": ("str", '"data/sample"'),
    "metrics_bundle": ("str", '""'),
    "as_of": ("str", '"latest"'),
    "deploy_threshold": ("float", "0.8"),
    "adopt_threshold": ("float", "0.6"),
    "upsell_threshold": ("float", "0.9"),
    "exclusions_path": ("str", '""'),
    "top_n": ("int", "25"),
    "stale_after_days": ("int", "45"),
    "today": ("str", '""'),
}
CONTRACT = {
    "portfolio-overview": COMMON_PARAMETERS,
    "customer-insights": {**COMMON_PARAMETERS, "customer_id": ("str", f'"{UPSELL_ID}"'),
                          "audience": ("str", '"internal"')},
    "low-adoption-accounts": {**COMMON_PARAMETERS,
                              "action_csv": ("str", '"reports/low-adoption-accounts.csv"')},
}
# Cells whose outputs nbval compares with the committed ones (deterministic text only).
CHECKED = {
    "portfolio-overview": ["first-page", "headline-figures", "story", "over-100", "segment-table", "trends",
                           "segment-changes", "renewal-queue", "own-seats", "idle-cost", "support", "data-summary",
                           "headline"],
    "customer-insights": ["first-page", "customer-header", "products-table", "exact-usage", "flags", "trend",
                          "renewals", "idle-cost", "support", "data-summary", "headline"],
    "low-adoption-accounts": ["summary", "ranked", "csv", "data-summary", "headline"],
}
# Signs of machine- or run-specific text in an output.
VARIABLE_TEXT = re.compile(r"0x[0-9a-f]{6,}|\d{2}:\d{2}:\d{2}|/home/|/tmp/|/root/")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def run(template: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    """Execute a template with papermill like the renderer: checked names, python3 kernel, absolute foreign cwd."""
    path = params.TEMPLATES[template]
    params.check_parameters(path, parameters)
    workdir = tmp_path / "cwd"          # empty: a path taken from the working directory would not be found
    workdir.mkdir(exist_ok=True)
    return pm.execute_notebook(str(path), str(tmp_path / f"{template}.ipynb"), parameters=parameters,
                               kernel_name="python3", cwd=str(workdir), progress_bar=False, log_output=False,
                               execution_timeout=600)


def cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    matches = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(matches) == 1, f"no single cell with id {cell_id!r}"
    return matches[0]


def text_of(c: nbformat.NotebookNode, mime: str = "text/plain") -> str:
    return "\n".join(str(o.get("data", {}).get(mime, o.get("text", ""))) for o in c.outputs)


def headline_of(nb: nbformat.NotebookNode) -> dict:
    """The figures the renderer reads: the `headline`-tagged cell's display_data, HEADLINE_MIME."""
    cells = [c for c in nb.cells if headline.HEADLINE_TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1
    outputs = [o for o in cells[0].outputs if headline.HEADLINE_MIME in o.get("data", {})]
    assert len(outputs) == 1 and outputs[0].output_type == "display_data"
    return outputs[0]["data"][headline.HEADLINE_MIME]


def output_json(nb: nbformat.NotebookNode) -> str:
    return json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])


def committed(template: str) -> nbformat.NotebookNode:
    return nbformat.read(params.TEMPLATES[template], as_version=4)


# ---------------------------------------------------------------------------
# The templates as committed
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("template", sorted(CONTRACT))
def test_template_declares_the_renderer_parameters(template):
    declared = params.template_parameters(params.TEMPLATES[template])
    assert {name: (p["inferred_type_name"], p["default"]) for name, p in declared.items()} == CONTRACT[template]
    assert all(p["help"] for p in declared.values())              # papermill --help-notebook explains each


@pytest.mark.parametrize("template", sorted(CONTRACT))
def test_committed_template_is_executed_thin_and_clean(template):
    nb = committed(template)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.kernelspec.language == "python"
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Executed with counts (strict nbval skips cells without), top to bottom, no errors.
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    # One literal parameters cell first, then the derived values; the headline cell last.
    assert "parameters" in code[0].metadata.get("tags", []) and code[1].id == "derived"
    assert not code[0].outputs and not code[1].outputs
    assert code[-1].id == "headline" and headline.HEADLINE_TAG in code[-1].metadata.tags
    # Thin: no logic hiding failures, no working-directory paths, imports from the kit only.
    for c in code:
        assert not re.search(r"^\s*(try|except)\b", c.source, re.M), c.id
        assert "os.chdir" not in c.source and "open(" not in c.source, c.id
    imports = {m for c in code for m in re.findall(r"^(?:from|import) ([\w.]+)", c.source, re.M)}
    assert imports and all(m.split(".")[0] == "adoption_kit" for m in imports), imports
    # The checked cells are the ones that matter, with deterministic text outputs only.
    checked = [c.id for c in code if CHECK_TAG in c.metadata.get("tags", [])]
    assert checked == CHECKED[template]
    for c in code:
        if c.id in checked:
            assert c.outputs and all(o.output_type in ("execute_result", "display_data") for o in c.outputs), c.id
            text = json.dumps(c.outputs)
            assert not VARIABLE_TEXT.search(text), (c.id, VARIABLE_TEXT.search(text))
            assert not any(k.startswith("image/") for o in c.outputs for k in o.get("data", {})), c.id
    # first output after the parameters: what the reader came for (the data sources close the report)
    assert code[2].id == ("first-page" if template == "customer-insights" else "staleness")
    assert str(PROJECT_ROOT) not in output_json(nb)                  # no path of this machine in any output


def test_committed_headlines_match_the_kit():
    sample = analysis.prepare(SAMPLE_DIR)
    assert headline_of(committed("portfolio-overview")) == portfolio.portfolio_figures(sample)
    view = analysis.customer_view(sample, UPSELL_ID)
    assert headline_of(committed("customer-insights")) == customer.customer_figures(view, sample)
    assert headline_of(committed("low-adoption-accounts")) == low_adoption.low_adoption_figures(
        sample, sample.ranking.height)


# ---------------------------------------------------------------------------
# check_parameters (the renderer calls it before papermill, which would only warn)
# ---------------------------------------------------------------------------
def test_check_parameters_rejects_an_unknown_name_and_lists_the_valid_ones():
    path = params.TEMPLATES["portfolio-overview"]
    with pytest.raises(ParameterError) as error:
        params.check_parameters(path, {"deploy_treshold": 0.9, "top_n": 10})
    message = str(error.value)
    assert "unknown parameter 'deploy_treshold' (did you mean 'deploy_threshold'?)" in message
    assert "valid parameters: " + ", ".join(COMMON_PARAMETERS) in message
    with pytest.raises(ParameterError, match="unknown parameter 'customer_id'"):
        params.check_parameters(path, {"customer_id": UPSELL_ID})


def test_check_parameters_checks_types_and_accepts_good_values():
    path = params.TEMPLATES["customer-insights"]
    with pytest.raises(ParameterError, match=r"top_n='10' is not a int.*deploy_threshold=True is not a float"):
        params.check_parameters(path, {"top_n": "10", "deploy_threshold": True})
    declared = params.check_parameters(path, {"deploy_threshold": 1, "customer_id": TRIAL_ID, "top_n": 5})
    assert set(declared) == set(CONTRACT["customer-insights"])
    with pytest.raises(ParameterError, match="no such notebook template"):
        params.check_parameters(path.with_name("99-missing.ipynb"), {})


# ---------------------------------------------------------------------------
# papermill runs with other parameters
# ---------------------------------------------------------------------------
@pytest.mark.kernel
def test_portfolio_with_other_thresholds(tmp_path):
    nb = run("portfolio-overview", tmp_path, **OTHER_THRESHOLDS, top_n=10, today="2027-06-01",
             stale_after_days=30)
    figures = headline_of(nb)
    # `today` also sets the day of the renewal queue and the support window (the data's own day by default)
    expected = analysis.prepare(SAMPLE_DIR, thresholds=analysis.make_thresholds(0.9, 0.7, 0.95), today="2027-06-01")
    assert figures == portfolio.portfolio_figures(expected)
    assert figures["support_heavy_accounts"] == 0          # no ticket in the 90 days before 2027-06-01
    assert (figures["deploy_threshold"], figures["adopt_threshold"], figures["upsell_threshold"]) == (0.9, 0.7, 0.95)
    default = headline_of(committed("portfolio-overview"))
    assert figures["customers_deploy"] > default["customers_deploy"]           # the thresholds took effect
    assert figures["customers_upsell"] < default["customers_upsell"]
    assert "Thresholds: deploy 90%, adopt 70%, upsell 95%" in text_of(cell(nb, "data-summary"))
    assert "deploy threshold 90%" in text_of(cell(nb, "quadrant"), "image/svg+xml")
    assert text_of(cell(nb, "staleness")).startswith("WARNING: The data was processed on 2026-11-01, 212 days ago")
    assert "the 10 largest of 50 customers" in text_of(cell(nb, "heatmap"), "image/svg+xml")
    assert str(tmp_path) not in output_json(nb)


@pytest.mark.kernel
def test_customer_insights_for_another_customer(tmp_path):
    # Upper case, as Partner Center writes tenant ids; the default (relative) data_path from a foreign cwd.
    nb = run("customer-insights", tmp_path, customer_id=TRIAL_ID.upper(), today="2026-11-15")
    figures = headline_of(nb)
    assert figures["customer_id"] == TRIAL_ID and figures["customer_name"] == "Müller Bäckerei GmbH"
    assert figures["segment"] == "data_check" and figures["inflated"] is True and figures["usage_rate"] == 1.9
    flags = text_of(cell(nb, "flags"))
    assert "likely cause: open trial" in flags and "trial seats are active but are not paid entitlements" in flags
    assert "Data processed on 2026-11-01, 14 days before 2026-11-15" in text_of(cell(nb, "staleness"))
    assert "Ringed: Müller Bäckerei GmbH." in text_of(cell(nb, "quadrant"), "image/svg+xml")


@pytest.mark.kernel
def test_customer_insights_shows_exact_usage_where_activity_exists(tmp_path):
    # Greenmont Studios' active-user detail report is in data/sample/activity/FE608F48-.../
    nb = run("customer-insights", tmp_path, customer_id="fe608f48-c399-4fdf-93f7-a3c8b0655e2d")
    figures = headline_of(nb)
    assert figures["usage_basis"] == "exact, from user activity"
    assert figures["usage_rate_exact"] is not None and figures["licensed_users_exact"] > 0
    shown = text_of(cell(nb, "exact-usage"))
    assert "exact" in shown and "lower bound" in shown  # both figures, side by side
    assert "Turnover" in shown or "turnover" in shown


@pytest.mark.kernel
def test_customer_insights_from_a_metrics_bundle_matches_the_committed_figures(tmp_path):
    bundle = analysis.write_bundle(analysis.prepare(SAMPLE_DIR), tmp_path / "bundle")
    nb = run("customer-insights", tmp_path, metrics_bundle=str(bundle))
    assert headline_of(nb) == headline_of(committed("customer-insights"))
    assert "Computed: once for this run of the reports" in text_of(cell(nb, "data-summary"))   # the bundle


@pytest.mark.kernel
def test_customer_report_kernel_does_not_import_pandas_or_pyarrow(tmp_path):
    """A customer report runs in a fresh kernel each time: pandas (~0.65 s) and pyarrow (~0.3 s) would be paid
    per report. The template as the renderer runs it (bundle slice) plus one cell listing what got imported."""
    bundle = analysis.write_bundle(analysis.prepare(SAMPLE_DIR), tmp_path / "bundle")
    nb = committed("customer-insights")
    nb.cells.append(nbformat.v4.new_code_cell(
        "import sys\nprint(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules))"))
    copy = tmp_path / "20-customer-insights.ipynb"
    nbformat.write(nb, copy)
    executed = pm.execute_notebook(str(copy), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                   cwd=str(PROJECT_ROOT), progress_bar=False, log_output=False,
                                   parameters={"metrics_bundle": str(bundle), "customer_id": TRIAL_ID})
    assert headline_of(executed)["customer_id"] == TRIAL_ID                  # the report itself ran
    assert executed.cells[-1].outputs[0]["text"].strip() == "[]"


@pytest.mark.kernel
def test_unknown_customer_fails_naming_close_matches(tmp_path):
    typo = TRIAL_ID[:-2] + "99"
    with pytest.raises(PapermillExecutionError) as error:
        run("customer-insights", tmp_path, customer_id=typo)
    assert error.value.ename == "UnknownCustomerError"
    assert f"customer {typo} is not in the data" in error.value.evalue
    assert TRIAL_ID in error.value.evalue and "Müller Bäckerei GmbH" in error.value.evalue


@pytest.mark.kernel
def test_bad_threshold_fails_clearly(tmp_path):
    with pytest.raises(PapermillExecutionError) as error:
        run("portfolio-overview", tmp_path, deploy_threshold=1.5)
    assert error.value.ename == "ParameterError"
    assert "threshold deploy=1.5 is not a fraction between 0 and 1; write 0.8 for 80 %" in error.value.evalue
    assert error.value.source.startswith("# Derived values")       # fails before any output


@pytest.mark.kernel
def test_low_adoption_with_other_thresholds_writes_a_formula_safe_csv(tmp_path):
    target = tmp_path / "crm" / "low-adoption.csv"
    nb = run("low-adoption-accounts", tmp_path, **OTHER_THRESHOLDS, action_csv=str(target), top_n=5)
    figures = headline_of(nb)
    expected = analysis.prepare(SAMPLE_DIR, thresholds=analysis.make_thresholds(0.9, 0.7, 0.95))
    assert figures["accounts"] == expected.ranking.height == figures["csv_rows"]
    assert figures["accounts"] > headline_of(committed("low-adoption-accounts"))["accounts"]
    ranked = text_of(cell(nb, "ranked"), "text/html")
    assert ranked.count("<tr>") == 1 + 5                            # header + top_n rows
    assert "deployment under 90% or usage under 70%" in ranked
    assert "&lt;img src=x onerror=alert(1)&gt;" in ranked and HOSTILE not in ranked
    assert text_of(cell(nb, "csv")).startswith(f"Wrote {figures['accounts']} accounts to low-adoption.csv:")
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == actions.ACTION_COLUMNS and len(rows) - 1 == figures["accounts"]
    cells = [value for row in rows[1:] for value in row]
    assert '\'=HYPERLINK("http://example.invalid","x")' in cells     # neutralised, still readable
    assert not [value for value in cells if value[:1] in ("=", "+", "@", "\t", "\r")]
    assert not [value for value in cells if value.startswith("-") and not re.fullmatch(r"-[\d.]+", value)]
    assert str(tmp_path) not in output_json(nb)


# ---------------------------------------------------------------------------
# A 20,000-customer portfolio
# ---------------------------------------------------------------------------
@pytest.mark.kernel
def test_portfolio_renders_a_20000_customer_book(tmp_path):
    book = tmp_path / "book"
    write_sample(book, customers=20000, seed=1, page_size=10000)
    start = time.perf_counter()
    nb = run("portfolio-overview", tmp_path, data_path=str(book), today="2026-11-28")
    seconds = time.perf_counter() - start
    size = (tmp_path / "portfolio-overview.ipynb").stat().st_size
    print(f"20,000-customer portfolio: {seconds:.1f} s, {size / 1e6:.2f} MB")
    assert size < MAX_NOTEBOOK_BYTES
    figures = headline_of(nb)
    assert figures["customers"] == 20000
    # Deliberate subsampling, said on the chart; aggregated charts stay small.
    quadrant = text_of(cell(nb, "quadrant"), "image/svg+xml")
    assert re.search(r"Showing 4,000 of 19,\d{3} customers: the 400 largest and the largest flagged", quadrant)
    assert "the 25 largest of 20,000 customers" in text_of(cell(nb, "heatmap"), "image/svg+xml")
    assert re.search(r"19,\d{3} customers in bins of 5%", text_of(cell(nb, "usage-distribution"), "image/svg+xml"))
    # Bounded tables: the ranked and over-100% tables never grow with the book.
    assert text_of(cell(nb, "over-100"), "text/html").count("<tr>") <= 1 + 25
    assert str(tmp_path) not in output_json(nb)


def test_committed_templates_keep_only_the_outputs_tests_compare():
    # tools/execute_templates.py drops chart outputs (megabytes of SVG/PNG nothing compares); what nbval and the
    # headline test compare stays, with every execution count.
    sizes = {}
    for template, path in params.TEMPLATES.items():
        nb = nbformat.read(path, as_version=4)
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            tags = set(cell.metadata.get("tags", []))
            if not tags & {"nbval-check-output", "headline"}:
                assert not cell.outputs, (template, cell.id)
            assert cell.execution_count is not None, (template, cell.id)
        assert any(c.outputs for c in nb.cells if c.cell_type == "code"), template
        sizes[template] = path.stat().st_size
    assert sum(sizes.values()) < 400_000, sizes
