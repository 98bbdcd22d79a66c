"""A run: check the arguments, prepare the analysis once, plan, render in the pool, then the CSV, manifest and index;
describe it."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adoption_kit.analysis import prepare, validate_customer_ref, write_bundle
from adoption_kit.config import REPORT_TEMPLATES_DIR, Thresholds
from adoption_kit.errors import ParameterError
from adoption_kit.interrupts import sigterm_as_interrupt
from adoption_kit.privacy import refuse_inside
from adoption_kit.render.assets import write_run_assets
from adoption_kit.render.audience import cells_for, check_audience, write_customer_bundles
from adoption_kit.render.cluster import _ClusterPool
from adoption_kit.render.csp import CHART_MODES
from adoption_kit.render.index import _write_index
from adoption_kit.render.layout import ACTION_CSV, BUNDLE_DIR, FAILED_DIR, LOCK, STATE_DIR, WORKBOOK
from adoption_kit.render.manifest import _write_manifest
from adoption_kit.render.parameters import _check_templates, _effective, _passed
from adoption_kit.render.pdf import PdfJob, check_paper, find_chromium, print_pdfs
from adoption_kit.render.plan import ReportJob, _check_segments, plan_reports
from adoption_kit.render.pool import _job_spec, _WorkerPool
from adoption_kit.render.progress import ProgressCallback, _progress_reporter
from adoption_kit.render.results import ReportOutcome, RunResult, _now_iso
from adoption_kit.render.state import (
    _check_privacy_mode,
    _earlier_reports,
    _is_current,
    _read_state,
    stored_headline,
)
from adoption_kit.report.actions import action_list
from adoption_kit.report.links import report_links
from adoption_kit.report.workbook import write_workbook
from adoption_kit.store import atomic_path, check_output, write_table
from adoption_kit.values import check_positive_number, check_whole_number, file_sha256, parse_today

if TYPE_CHECKING:  # pragma: no cover
    from adoption_kit.analysis import Analysis


DEFAULT_TIMEOUT = 600
DEFAULT_KERNEL_REPORTS = 200     # render.warm.DEFAULT_KERNEL_REPORTS (not imported: it imports papermill)


def render_reports(data_path: str | Path, out_dir: str | Path, *, customers: Sequence[str] | None = None,
                   segments: Sequence[str] | None = None, workers: int | None = None, force: bool = False,
                   dry_run: bool = False, thresholds: Thresholds = Thresholds(),
                   exclusions_path: str | Path | None = None, as_of: str = "latest",
                   timeout: float = DEFAULT_TIMEOUT, top_n: int | None = None,
                   stale_after_days: int | None = None, today: str = "",
                   templates_dir: str | Path = REPORT_TEMPLATES_DIR,
                   progress: ProgressCallback | bool | None = None, pseudonym_key: Any = None,
                   audience: str = "internal", pdf: bool | None = None, paper: str = "a4",
                   charts: str = "shared", xlsx: bool = False, fresh_kernels: bool = False,
                   kernel_reports: int = DEFAULT_KERNEL_REPORTS, html_only: bool = False,
                   notebook_png: bool | None = None, cluster: str | None = None) -> RunResult:
    """Render the portfolio overview, the low-adoption list and one report per selected customer.

    The exports under `data_path` are loaded and the metrics computed once (`analysis.prepare`) and
    written as a Parquet bundle into the run folder `<out_dir>/<YYYY-MM-DD of the newest
    processedDateTime>/_bundle`; every notebook reads its slice of it. Each report is executed with
    papermill in a pool of `workers` processes (default: the machine's cores), cwd = the run folder,
    with at most `timeout` seconds per notebook, and exported to self-contained HTML with the code
    hidden (no script, no external URL). Files are written under a temporary name and renamed, so an
    interrupted run leaves only complete reports and rerunning completes it. A report whose
    fingerprint (input files' SHA-256, parameters, kit version, template files) matches its outputs
    is skipped unless `force`. One report failing does not stop the others.

    Writes per run folder: `index.html`, `manifest.json`, `low-adoption-accounts.csv`,
    `portfolio-overview.{ipynb,html}`, `low-adoption-accounts.{ipynb,html}`,
    `customers/<slug>-<id8>.{ipynb,html}`; `_failed/` holds executed notebooks of failed reports.

    `dry_run=True` plans (and checks the parameters against the templates) but executes and writes
    nothing. `progress`: None = a bar on a terminal, else one log line per report on stderr;
    False = silent; or a callable (outcome, done, total). The workers are new processes
    (forkserver/spawn): a script calling this must do so under `if __name__ == "__main__":`.
    Raises ParameterError/InputFileError (bad input, nothing rendered); report failures are in the
    result (`exit_code` 1), never raised.

    `pseudonym_key` (adoption_kit.privacy.PseudonymKey): every output carries tokens instead of customer
    names and pseudo ids instead of tenant ids (`customers` may be given as either). The key and its name
    lookup must lie outside `out_dir`; a run folder holds pseudonymized reports of one key or none.

    `audience="customer"`: only the customer reports, for the customer (for-customer/<slug>-<id8>.*, each from a
    one-customer bundle; see adoption_kit.render.audience). `pdf` (default: on for the customer audience, off
    for internal) prints NAME.pdf beside each NAME.html with headless Chromium on `paper` (a4 or letter);
    without Chromium it is a ParameterError before anything runs.
    `charts`: how the reports' live charts get their JavaScript (render.csp): "shared" loads the run folder's
    _assets/vega-bundle.js, "inline" carries the bundle in each page (it stands alone), "static" adds no chart
    script (the SVGs only). Not part of the fingerprint: `force=True` to re-render current reports another way.
    `xlsx`: also write adoption-lists.xlsx (report.workbook: the action list and the customer table, rates as
    percentages, header frozen, names linked to this run folder's reports); internal audience only.

    Kernels (render.warm): each worker keeps one warm kernel and renders report after report in it (the user
    namespace reset between reports); a kernel is replaced after a failed, timed-out or dead-kernel report and
    after `kernel_reports` reports. `fresh_kernels=True`: a new kernel per report (slower; the outputs are the
    same apart from timestamps).

    Files: the CSS every report shares is written once per run folder (_assets/report-<hash>.css) and linked,
    but in pages that must stand alone (the customer audience, `charts="inline"`). `html_only=True`: no
    executed .ipynb beside each HTML (a notebook an earlier run left is removed as its report is rendered).
    `notebook_png`: a PNG copy of every chart in the .ipynb, for JupyterLab, which shows no SVG of an untrusted
    notebook (the HTML never uses it); None = on for the portfolio and low-adoption notebooks, off for the
    customer notebooks. Neither is part of the fingerprint (`force=True` re-renders current reports).

    `cluster` ("tcp://host:port", needs the optional extra `adoption-kit[cluster]`): render on that Dask distributed
    cluster instead of local worker processes (render.cluster); `workers` is then the cluster's (the sum of its
    worker threads; passing `workers` too is a ParameterError). Each Dask worker must run one thread
    (`dask worker ADDRESS --nthreads 1`) and import the same adoption-kit; `out_dir` must be on storage every worker
    sees at the same absolute path (it is made absolute here, and checked on every worker before any report
    runs). The outcomes, manifest and index are those of a local run. The templates are checked here, not on a
    worker; PDFs are printed here.
    """
    started = time.monotonic()
    started_at = _now_iso()
    if cluster is not None:
        if not isinstance(cluster, str) or not cluster.strip():
            raise ParameterError(f"cluster={cluster!r} must be the Dask scheduler's address, e.g. tcp://host:8786")
        if workers is not None:
            raise ParameterError("--workers and --cluster: the cluster's workers render the reports (one per worker "
                                 "thread); drop --workers")
    workers = _check_workers(workers)
    check_positive_number("timeout", timeout)
    check_whole_number("kernel_reports", kernel_reports, minimum=1)
    if top_n is not None:
        check_whole_number("top_n", top_n, minimum=1)
    if stale_after_days is not None:
        check_whole_number("stale_after_days", stale_after_days)
    parse_today(today)
    audience = check_audience(audience)
    if xlsx and audience != "internal":
        raise ParameterError("--xlsx writes the whole book's action list and customer table: it is for the internal "
                             "audience only; run it without --audience customer")
    pdf = (audience == "customer") if pdf is None else bool(pdf)
    if pdf:
        check_paper(paper)
        if not dry_run:
            find_chromium()
    if charts not in CHART_MODES:
        raise ParameterError(f"charts={charts!r} must be one of {', '.join(CHART_MODES)}")
    _check_segments(segments)
    if customers:
        for customer_id in customers:
            validate_customer_ref(customer_id)      # a GUID or a plain name, before any file is read
    data_path = Path(data_path).expanduser().resolve()
    out_dir = check_output(out_dir, [data_path], folder=True)   # before loading: one line, nothing read
    if pseudonym_key is not None:
        refuse_inside(pseudonym_key, out_dir, "the reports folder")
    cluster_workers = _probe_cluster(cluster) if cluster is not None else 0   # the extra, reachable, one thread

    analysis = prepare(data_path, as_of=as_of, thresholds=thresholds,
                       exclusions_path=str(Path(exclusions_path).resolve()) if exclusions_path else "",
                       pseudonym_key=pseudonym_key, today=today)
    run_dir = out_dir / _run_date(analysis)
    pseudonym = pseudonym_key.key_id if pseudonym_key is not None else None
    _check_privacy_mode(run_dir, pseudonym)
    if customers and pseudonym_key is not None:   # tenant ids as the partner knows them -> the run's pseudo ids
        known = set(analysis.customers.get_column("customer_id").to_list())
        customers = [pseudonym_key.pseudo_id(c) if pseudonym_key.pseudo_id(c) in known else c for c in customers]
    jobs = plan_reports(analysis, run_dir, data_path=data_path, customers=customers, segments=segments,
                        thresholds=thresholds, as_of=as_of, exclusions_path=exclusions_path, top_n=top_n,
                        stale_after_days=stale_after_days, today=today, templates_dir=templates_dir,
                        pseudonym=pseudonym, audience=audience)
    if html_only:
        jobs = [replace(job, html_only=True) for job in jobs]
    states = {job.name: _read_state(run_dir, job.name) for job in jobs}
    todo = [job for job in jobs if force or not _is_current(run_dir, job, states[job.name])]
    todo_names = {job.name for job in todo}
    common = dict(jobs[0].parameters)
    samples = list({job.template: job for job in todo}.values())   # one job per template to check

    if dry_run:
        declared = _check_templates(samples)
        if cluster is not None:
            workers = cluster_workers
        outcomes = []
        for job in jobs:
            if job.name in todo_names:
                outcomes.append(ReportOutcome(job, "planned", parameters=_effective(job, declared)))
            else:
                state = states[job.name] or {}
                outcomes.append(ReportOutcome(job, "current", parameters=state.get("parameters", {}),
                                              headline=stored_headline(state),
                                              rendered_at=state.get("rendered_at")))
        return RunResult(run_dir, tuple(outcomes), True, min(workers, max(len(todo), 1)),
                         time.monotonic() - started, common)

    used_workers = min(workers, len(todo))
    local_workers = workers       # PDFs are printed here, with at most this machine's cores
    report = _progress_reporter(progress)
    results: dict[str, ReportOutcome] = {}
    for job in jobs:
        if job.name not in todo_names:
            state = states[job.name] or {}
            results[job.name] = ReportOutcome(job, "current", 0.0, stored_headline(state), None,
                                              state.get("parameters", {}), state.get("rendered_at"))
    pool: _WorkerPool | _ClusterPool | None = None
    try:
        with sigterm_as_interrupt():
            # The workers start (imports, nbconvert template) while the first of them checks the parameters.
            if cluster is not None:
                pool = _ClusterPool(cluster) if todo else None
                workers = pool.workers if pool else cluster_workers
                used_workers = min(workers, len(todo))
                # here: the templates need not be on the workers (they render the run folder's copies)
                declared = _check_templates(samples) if pool else {}
            else:
                pool = _WorkerPool(used_workers) if todo else None
                declared = pool.call(_check_templates, samples) if pool else {}
            run_dir.mkdir(parents=True, exist_ok=True)
            with _run_lock(run_dir):
                _check_privacy_mode(run_dir, pseudonym, record=True)
                _remove_partial_files(run_dir)
                if isinstance(pool, _ClusterPool):
                    pool.check_run_dir(run_dir)
                if pool:
                    if audience == "customer":
                        write_customer_bundles(analysis, run_dir, [job.customer_id for job in todo if job.customer_id])
                    else:
                        write_bundle(analysis, run_dir / BUNDLE_DIR)
                    write_run_assets(run_dir)      # _assets/vega-bundle.js, shared by the reports' live charts
                    # the shared CSS linked from _assets, but in pages that must stand alone (render.styles)
                    styles = "linked" if audience == "internal" and charts != "inline" else "inline"
                    copies = {sample.template: _template_copy(sample.template, run_dir, audience)
                              for sample in samples}
                    specs = [dict(_job_spec(job, run_dir, timeout, _passed(job, declared), _effective(job, declared),
                                            copies[job.template], warm=not fresh_kernels,
                                            kernel_reports=kernel_reports), charts=charts,
                                  styles=styles, html_only=html_only,
                                  notebook_png=_notebook_png(job, notebook_png, html_only)) for job in todo]
                    if report:
                        report.start(len(jobs), len(todo), used_workers)
                    try:
                        for outcome in pool.run(specs, {job.name: job for job in todo}, report):
                            results[outcome.job.name] = outcome
                    finally:
                        if report:
                            report.close()
                ordered = [results[job.name] for job in jobs]
                for outcome in ordered:   # a report that is fine now keeps no failed copy of an earlier run
                    if outcome.outcome in ("rendered", "current"):
                        (run_dir / FAILED_DIR / f"{outcome.job.name}.ipynb").unlink(missing_ok=True)
                # Rewritten on every run: the CRM list is today's even when its report failed or was current.
                _write_action_csv(analysis, run_dir / ACTION_CSV)
                if xlsx:   # the action list and customer table as a workbook, names linked to their reports
                    links = {i: href for i, href in report_links(analysis.customers).items()
                             if (run_dir / href).is_file()}
                    write_workbook(analysis, run_dir / WORKBOOK, links)
                earlier = _earlier_reports(run_dir, {job.name for job in jobs})
                result = RunResult(run_dir, tuple(ordered + earlier), False, used_workers,
                                   time.monotonic() - started, common)
                _write_manifest(result, analysis, started_at=started_at, data_path=data_path, out_dir=out_dir,
                                customers=customers, segments=segments, force=force, timeout=timeout,
                                templates_dir=Path(templates_dir).resolve(), exclusions_path=exclusions_path,
                                workers=workers, pseudonym=pseudonym,
                                kernels="fresh" if fresh_kernels else "warm", kernel_reports=kernel_reports,
                                html_only=html_only, notebook_png=notebook_png, cluster=cluster)
                _write_index(result, analysis)
                if pdf:   # last: a printing problem leaves the HTML reports, manifest and index complete
                    _print_pdfs(run_dir, ordered, paper, min(used_workers, local_workers) or 1)
    except BaseException:
        if pool:
            pool.stop()
        raise
    if pool:
        pool.close()
    return result


def _notebook_png(job: ReportJob, notebook_png: bool | None, html_only: bool) -> bool:
    """Whether this report's notebook keeps a PNG of each chart (for JupyterLab): never without a notebook."""
    if html_only:
        return False
    return job.kind != "customer" if notebook_png is None else bool(notebook_png)


def _probe_cluster(address: str) -> int:
    """Before anything is read: the extra installed, the scheduler reachable, its workers fit (render.cluster);
    their number of threads."""
    probe = _ClusterPool(address, warm_up=False)
    probe.close()
    return probe.workers


def _check_workers(workers: int | None) -> int:
    if workers is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)
    return check_whole_number("workers", workers, minimum=1)


def _run_date(analysis: Analysis) -> str:
    newest = analysis.processed_at_max
    return f"{newest:%Y-%m-%d}" if newest is not None else "undated"


def _write_action_csv(analysis: Analysis, target: Path) -> None:
    write_table(action_list(analysis), target)


@contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """One run per run folder at a time (cron overlapping itself); released when the process ends, even killed."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(run_dir / LOCK, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ParameterError(f"{run_dir}: another `adoption-kit report` is writing this folder; "
                                 f"wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_partial_files(run_dir: Path) -> None:
    """Temporary files of a killed run (`.<name>.<random>.part`); the reports they were for are re-rendered."""
    for folder, _dirs, files in os.walk(run_dir):
        for file in files:
            if file.startswith(".") and file.endswith(".part"):
                Path(folder, file).unlink(missing_ok=True)


def _template_copy(template: Path, run_dir: Path, audience: str = "internal") -> Path:
    """The template without its stored outputs (papermill clears them anyway): much less JSON to read per report.

    Also without editor notes and the other audience's cells (adoption_kit.render.audience.cells_for).
    """
    digest = file_sha256(template)
    target = run_dir / STATE_DIR / "templates" / f"{digest[:16]}-{audience}-{template.name}"
    if not target.is_file():
        notebook = cells_for(json.loads(template.read_text(encoding="utf-8")), audience)
        for cell in notebook.get("cells", []):
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
        with atomic_path(target) as part:
            part.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
    return target


def _print_pdfs(run_dir: Path, outcomes: Sequence[ReportOutcome], paper: str, workers: int) -> None:
    """NAME.pdf beside NAME.html of each report of this run that has none, or an older one."""
    jobs = []
    for outcome in outcomes:
        if outcome.outcome not in ("rendered", "current"):
            continue
        html, target = run_dir / outcome.job.html, run_dir / f"{outcome.job.name}.pdf"
        if html.is_file() and (not target.is_file() or target.stat().st_mtime < html.stat().st_mtime):
            jobs.append(PdfJob(html, target, f"{outcome.job.title}  ·  data of {run_dir.name}"))
    print_pdfs(jobs, paper=paper, workers=workers)


def describe_run(result: RunResult) -> str:
    """The plan of a dry run (notebook, parameters, output per report), or the summary of a finished run."""
    lines: list[str] = []
    if result.dry_run:
        todo = [r for r in result.reports if r.outcome == "planned"]
        lines.append(f"plan: {len(result.reports)} report(s) into {result.run_dir}; {len(todo)} to render "
                     f"with {result.workers} worker(s), {result.count('current')} current (skipped); "
                     f"nothing is executed (dry run)")
        lines.append("parameters of every report:")
        for key, value in result.common_parameters.items():
            lines.append(f"  {key} = {value!r}")
        for r in result.reports:
            status = "render " if r.outcome == "planned" else "current"
            given = r.parameters if r.outcome == "planned" else r.job.parameters
            extra = {k: v for k, v in r.job.parameters.items()
                     if k not in result.common_parameters and k in given}
            shown = ", ".join(f"{k}={v!r}" for k, v in extra.items())
            lines.append(f"  {status} {r.job.template.name} -> {r.job.html}, {r.job.notebook}"
                         + (f"  [{shown}]" if shown else ""))
        return "\n".join(lines)
    lines.append(f"{result.count('rendered')} rendered, {result.count('current')} current (skipped), "
                 f"{result.count('failed')} failed in {result.duration_s:.1f} s")
    for r in result.failures:
        lines.append(f"FAILED {r.describe_error()}")
        if r.error and r.error.get("notebook"):
            lines.append(f"       executed notebook: {result.run_dir / r.error['notebook']}")
    return "\n".join(lines)
