"""`report --cluster` (render.cluster): the job list rendered on a Dask distributed cluster gives the outcomes,
manifest, index and reports of a local run; a worker lost mid-job is retried, then its report fails alone; what
the cluster must offer (the extra installed, one thread per worker, the run folder seen by every worker) is
refused in one line before anything runs."""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from render_support import ASHSTEAD_ID, HOSTILE_ID, SMITH_ID, assert_same_outputs, stand_in_templates

from adoption_kit.cli import main
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.render import render_reports
from adoption_kit.render.cluster import MISSING_EXTRA

CUSTOMERS = [HOSTILE_ID, ASHSTEAD_ID, SMITH_ID]
TODAY = "2026-11-20"
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")
_VOLATILE_ENTRY = ("duration_s", "rendered_at")


@pytest.fixture(scope="module")
def dask_cluster():
    """Two worker processes of one thread each. `allowed-failures` 0: a worker dying fails its task at once
    (KilledWorker), so the pool's own retries are what a killed worker meets (Dask's default would retry 3 times)."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster:
        yield cluster


def _entries(manifest_path: Path) -> list[dict]:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return [{k: v for k, v in entry.items() if k not in _VOLATILE_ENTRY} for entry in manifest["reports"]]


def _warm_reports_per_worker(address: str) -> dict[str, int]:
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        return client.run(lambda: sum(k.reports for k in getattr(sys.modules.get("adoption_kit.render.warm"),
                                                                     "_ALL", [])))


@pytest.mark.kernel
def test_a_cluster_run_equals_a_local_run_but_for_timestamps(tmp_path, dask_cluster):
    out = tmp_path / "out"
    kwargs = dict(customers=CUSTOMERS, today=TODAY, progress=False)
    local = render_reports(SAMPLE_DIR, out, workers=2, **kwargs)
    assert local.exit_code == 0, [r.describe_error() for r in local.failures]
    copy = tmp_path / "local"
    shutil.copytree(local.run_dir, copy)
    before = _warm_reports_per_worker(dask_cluster.scheduler_address)

    clustered = render_reports(SAMPLE_DIR, out, cluster=dask_cluster.scheduler_address, force=True, **kwargs)
    assert clustered.exit_code == 0, [r.describe_error() for r in clustered.failures]
    assert [(r.job.name, r.outcome) for r in clustered.reports] == [(r.job.name, r.outcome) for r in local.reports]
    assert clustered.count("rendered") == 2 + len(CUSTOMERS)
    after = _warm_reports_per_worker(dask_cluster.scheduler_address)
    assert sum(after.values()) - sum(before.values()) == 2 + len(CUSTOMERS)    # the workers' warm kernels did them

    assert _entries(clustered.manifest_path) == _entries(copy / "manifest.json")
    manifest = json.loads(clustered.manifest_path.read_text(encoding="utf-8"))
    assert manifest["command"]["cluster"] == dask_cluster.scheduler_address
    assert manifest["command"]["workers"] == 2 and manifest["command"]["workers_used"] == 2
    assert json.loads((copy / "manifest.json").read_text(encoding="utf-8"))["command"]["cluster"] is None

    index = clustered.index_path.read_text(encoding="utf-8")
    assert _TIMESTAMP.sub("*", index) == _TIMESTAMP.sub("*", (copy / "index.html").read_text(encoding="utf-8"))
    assert_same_outputs(clustered, copy)
    assert sum(len(r.job.outputs) for r in clustered.reports) == 2 * (2 + len(CUSTOMERS))


@pytest.mark.kernel
def test_a_report_that_kills_its_dask_worker_is_retried_then_fails_alone(tmp_path, dask_cluster):
    # the kernel's parent is the Dask worker process: SIGKILL it, on every try of this customer's report
    tries = tmp_path / "tries"
    kill = (f"(open({str(tries)!r}, 'a').write('x'), __import__('os').kill(__import__('os').getppid(), 9), 0.0)[-1] "
            f"if globals().get('customer_id') == {ASHSTEAD_ID!r} else 0.0")
    templates = stand_in_templates(tmp_path / "templates", sleep=kill)
    result = render_reports(SAMPLE_DIR, tmp_path / "out", customers=CUSTOMERS, today=TODAY, progress=False,
                            templates_dir=templates, cluster=dask_cluster.scheduler_address)
    assert [r.job.customer_id for r in result.failures] == [ASHSTEAD_ID]
    assert result.failures[0].error["type"] == "worker_died"
    assert result.count("rendered") == 1 + len(CUSTOMERS)
    assert tries.read_text() == "xxx"      # tried 3 times in all, as the local pool does


def test_cluster_without_the_extra_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)     # `import distributed` raises ImportError
    out = tmp_path / "out"
    assert main(["report", str(SAMPLE_DIR), "--out", str(out), "--cluster", "tcp://127.0.0.1:8786"]) == 2
    assert capsys.readouterr().err == f"error: {MISSING_EXTRA}\n"
    assert MISSING_EXTRA == "--cluster needs the optional extra: pip install 'adoption-kit[cluster]'"
    assert not out.exists() or not any(out.iterdir())


def test_cluster_and_workers_together_are_refused(tmp_path, capsys):
    assert main(["report", str(SAMPLE_DIR), "--out", str(tmp_path / "out"), "--cluster", "tcp://127.0.0.1:8786",
                 "--workers", "2"]) == 2
    assert "drop --workers" in capsys.readouterr().err


# In-process clusters (quick to start: nothing renders on them). Their HTTP server on any free port: the module's
# cluster may hold Dask's default 8787 (a warning otherwise).
@pytest.fixture
def threaded_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster:
        yield cluster


def test_a_worker_with_more_than_one_thread_is_refused_before_anything_runs(tmp_path, threaded_cluster):
    with pytest.raises(ParameterError, match=r"more than one thread .*--nthreads 1"):
        render_reports(SAMPLE_DIR, tmp_path / "out", customers=CUSTOMERS[:1], today=TODAY, progress=False,
                       cluster=threaded_cluster.scheduler_address)
    assert not [p for p in (tmp_path / "out").glob("*") if p.is_dir()]    # refused before the data was read


def test_a_run_folder_a_worker_does_not_see_is_refused(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import adoption_kit.render.cluster as cluster_module

    def _read_nothing(path: str) -> None:   # as a worker on another machine, without the shared folder
        return None

    monkeypatch.setattr(cluster_module, "_read_token", _read_nothing)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            pytest.raises(ParameterError, match=r"does not see the run folder .*same absolute path"):
        render_reports(SAMPLE_DIR, tmp_path / "out", customers=CUSTOMERS[:1], today=TODAY, progress=False,
                       templates_dir=stand_in_templates(tmp_path / "templates"), cluster=cluster.scheduler_address)
    run_dirs = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert run_dirs and not list(run_dirs[0].rglob("*.html")) and not list(run_dirs[0].rglob(".cluster-check*"))
