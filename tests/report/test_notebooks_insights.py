"""The three report templates on an Insights-only folder (the Insights sample), run with papermill like the renderer."""
from __future__ import annotations

import papermill as pm
import polars as pl
import pytest

from adoption_kit.compute.metrics import compute, load_exclusions
from adoption_kit.inputs import load_exports
from adoption_kit.report import params
from adoption_kit.sample.insights import write_insights_sample


@pytest.fixture(scope="module")
def insights_book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("insights") / "book"
    write_insights_sample(folder, customers=20, seed=5)
    return folder


def _run(template: str, tmp_path, **parameters):
    path = params.TEMPLATES[template]
    params.check_parameters(path, parameters)
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    return pm.execute_notebook(str(path), str(tmp_path / f"{template}.ipynb"), parameters=parameters,
                               kernel_name="python3", cwd=str(workdir), progress_bar=False, log_output=False,
                               execution_timeout=600)


def _data_summary(nb) -> str:
    cell = next(c for c in nb.cells if c.get("id") == "data-summary")
    return "\n".join(str(o.get("data", {}).get("text/plain", o.get("text", ""))) for o in cell.outputs)


@pytest.mark.parametrize("template", ["portfolio-overview", "customer-insights", "low-adoption-accounts"])
@pytest.mark.kernel
def test_templates_run_on_an_insights_only_folder(template, insights_book, tmp_path):
    extra = {}
    if template == "customer-insights":
        customers = compute(load_exports(insights_book), exclusions=load_exclusions()).customers
        extra["customer_id"] = customers.filter(pl.col("customer_name") == "Planted Teams Drop")["customer_id"][0]
    if template == "low-adoption-accounts":
        extra["action_csv"] = str(tmp_path / "actions.csv")
    nb = _run(template, tmp_path, data_path=str(insights_book), today="2026-11-05", **extra)
    summary = _data_summary(nb)
    assert "monthly active users (calendar month)" in summary
    # odd customers have no seats rows: the data section says deployment is unknown where there is none
    assert "Office 365 deployment: Insights seats report" in summary and "deployment unknown for the others" in summary
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
