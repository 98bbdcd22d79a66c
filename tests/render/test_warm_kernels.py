"""Warm kernels (render.warm): one kernel per worker renders report after report; nothing of one report reaches
the next, a crashing report fails alone and its kernel is replaced, and the outputs equal a fresh kernel's."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from render_support import ASHSTEAD_ID, HOSTILE_ID, SMITH_ID, assert_same_outputs, stand_in_templates

from adoption_kit.config import SAMPLE_DIR
from adoption_kit.render import render_reports

pytestmark = pytest.mark.kernel
CUSTOMERS = [HOSTILE_ID, ASHSTEAD_ID, SMITH_ID]     # rendered in this order (by name) with one worker
PROBE = ("import os as _os\n"
         "display({'application/json': {'planted_before': globals().get('PLANTED'),\n"
         "                               'kernel_pid': _os.getpid()}}, raw=True)\n"
         "PLANTED = customer_id\n")


def _probing_templates(folder: Path, **kwargs) -> Path:
    """The stand-ins; the customer one reports what an earlier report planted, and its kernel's pid."""
    templates = stand_in_templates(folder, **kwargs)
    customer = templates / "20-customer-insights.ipynb"
    notebook = json.loads(customer.read_text(encoding="utf-8"))
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "id": "probe", "execution_count": None,
                              "outputs": [], "source": PROBE})
    customer.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return templates


def _probe(run_dir: Path, name: str) -> dict:
    notebook = json.loads((run_dir / f"{name}.ipynb").read_text(encoding="utf-8"))
    outputs = [o for c in notebook["cells"] if c.get("id") == "probe" for o in c["outputs"]]
    return outputs[0]["data"]["application/json"]


def test_a_value_planted_by_one_report_is_absent_in_the_next_on_the_same_kernel(tmp_path):
    templates = _probing_templates(tmp_path / "templates")
    result = render_reports(SAMPLE_DIR, tmp_path / "out", customers=CUSTOMERS, workers=1, templates_dir=templates,
                            progress=False, today="2026-11-20")
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    customers = [r for r in result.reports if r.job.kind == "customer"]
    probes = [_probe(result.run_dir, r.job.name) for r in customers]
    assert [p["planted_before"] for p in probes] == [None, None, None]
    assert len({p["kernel_pid"] for p in probes}) == 1          # one warm kernel rendered them all
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["command"]["kernels"] == "warm"


def test_the_kernel_is_replaced_after_n_reports(tmp_path):
    templates = _probing_templates(tmp_path / "templates")
    result = render_reports(SAMPLE_DIR, tmp_path / "out", customers=CUSTOMERS, workers=1, templates_dir=templates,
                            progress=False, today="2026-11-20", kernel_reports=2)
    assert result.exit_code == 0
    # portfolio + low-adoption | 1st + 2nd customer | 3rd customer: a new kernel every 2 reports
    pids = [_probe(result.run_dir, r.job.name)["kernel_pid"] for r in result.reports if r.job.kind == "customer"]
    assert pids[0] == pids[1] != pids[2]


def test_a_report_that_kills_its_kernel_fails_alone_and_the_next_ones_render_on_a_new_kernel(tmp_path):
    crash = f"__import__('os')._exit(1) if globals().get('customer_id') == {ASHSTEAD_ID!r} else 0.0"
    templates = _probing_templates(tmp_path / "templates", sleep=crash)
    result = render_reports(SAMPLE_DIR, tmp_path / "out", customers=CUSTOMERS, workers=1, templates_dir=templates,
                            progress=False, today="2026-11-20")
    outcomes = {r.job.customer_id: r for r in result.reports if r.job.kind == "customer"}
    assert [r.job.customer_id for r in result.failures] == [ASHSTEAD_ID]
    assert outcomes[ASHSTEAD_ID].error["type"] == "kernel_died"
    assert outcomes[HOSTILE_ID].outcome == outcomes[SMITH_ID].outcome == "rendered"
    before, after = (_probe(result.run_dir, outcomes[c].job.name) for c in (HOSTILE_ID, SMITH_ID))
    assert before["kernel_pid"] != after["kernel_pid"]          # the dead kernel was replaced
    assert after["planted_before"] is None


def test_warm_reports_equal_fresh_kernel_reports_but_for_timestamps(tmp_path):
    templates = stand_in_templates(tmp_path / "templates")
    out = tmp_path / "out"
    kwargs = dict(customers=CUSTOMERS, workers=1, templates_dir=templates, progress=False, today="2026-11-20")
    fresh = render_reports(SAMPLE_DIR, out, fresh_kernels=True, **kwargs)
    assert fresh.exit_code == 0
    copy = tmp_path / "fresh"
    shutil.copytree(fresh.run_dir, copy)
    warm = render_reports(SAMPLE_DIR, out, force=True, **kwargs)
    assert warm.exit_code == 0 and warm.count("rendered") == 2 + len(CUSTOMERS)
    assert_same_outputs(warm, copy)
    assert sum(len(r.job.outputs) for r in warm.reports) == 2 * (2 + len(CUSTOMERS))
    # the injected-parameters cell papermill writes is there, as in a fresh run
    notebook = json.loads((warm.run_dir / warm.reports[-1].job.notebook).read_text(encoding="utf-8"))
    assert any(c.get("id") == "injected-parameters" for c in notebook["cells"])
    assert "papermill" in notebook["metadata"]


def test_progress_lines_give_the_rate_and_the_time_left():
    from adoption_kit.render.progress import pace

    # 30 of 120 reports in 60 s: 30/min; 90 left at 2 s each = 3 min
    assert pace(30, 120, 60.0) == "30.0 reports/min, about 3 min 00 s left"
    # 100 of 20,000 in 50 s: 120/min; 19,900 left at 0.5 s = 9,950 s = 2 h 45 min 50 s
    assert pace(100, 20_000, 50.0) == "120.0 reports/min, about 2 h 45 min left"
    assert pace(0, 10, 0.0) == "rate not known yet"
    assert pace(10, 10, 5.0) == "120.0 reports/min, about 0 s left"
