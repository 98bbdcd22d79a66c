"""Render the report templates with papermill into executed notebooks, offline HTML, an index and a run manifest; no metric logic."""
from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from adoption_kit import __version__
from adoption_kit.config import PACKAGE_DIR, REPORT_TEMPLATES_DIR, Thresholds
from adoption_kit.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from adoption_kit.analysis import Analysis

__all__ = [
    "ReportJob", "ReportOutcome", "RunResult", "plan_reports", "render_reports", "describe_run",
    "output_name", "slugify", "find_unsafe_html", "sanitize_output_html",
]

# ---------------------------------------------------------------------------
# Names: templates in, files out (all relative to the run folder <out>/<as-of date>/)
# ---------------------------------------------------------------------------
KINDS = ("portfolio", "low_adoption", "customer")
TEMPLATE_FILES: Mapping[str, str] = {
    "portfolio": "10-portfolio-overview.ipynb",
    "customer": "20-customer-insights.ipynb",
    "low_adoption": "30-low-adoption-accounts.ipynb",
}
TITLES: Mapping[str, str] = {"portfolio": "Portfolio overview", "low_adoption": "Low-adoption accounts"}
PORTFOLIO_NAME = "portfolio-overview"
LOW_ADOPTION_NAME = "low-adoption-accounts"
CUSTOMERS_DIR = "customers"
ACTION_CSV = "low-adoption-accounts.csv"
BUNDLE_DIR = "_bundle"          # the metrics computed once per run; each notebook reads its slice
FAILED_DIR = "_failed"          # executed notebooks of failed reports, to see the failing cell
STATE_DIR = ".state"            # one small JSON per report: fingerprint, headline, duration
MANIFEST = "manifest.json"
INDEX = "index.html"
LOCK = ".lock"

TEMPLATES_DIR = PACKAGE_DIR / "templates"
HTML_TEMPLATE = "adoption_kit_report"     # nbconvert template: `lab` without CDN scripts
INDEX_TEMPLATE = "run-index.html.j2"
HEADLINE_TAG = "headline"
HEADLINE_MIME = "application/json"
DEFAULT_TIMEOUT = 600
KERNEL_START_TIMEOUT = 60
SLUG_MAX = 40
# ipykernel 7.4 writes these at every kernel start/stop; they say nothing about the report.
HARMLESS_KERNEL_LINES = ("Kernel is running over TCP without encryption", "KeyboardInterrupt caught in kernel")
# Passed only to templates that declare them.
OPTIONAL_PARAMETERS = ("action_csv",)
# Parameters that name files of this run (the fingerprint covers their content, not their location).
_LOCATION_PARAMETERS = ("data_path", "metrics_bundle", "exclusions_path", "action_csv")


# ---------------------------------------------------------------------------
# Public data types
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ReportJob:
    """One notebook to render: which template, with which parameters, to which files."""

    kind: str                      # "portfolio" | "low_adoption" | "customer"
    name: str                      # output stem relative to the run folder, e.g. "customers/acme-ltd-1a2b3c4d"
    title: str
    template: Path
    parameters: dict[str, Any]     # exactly what papermill receives
    fingerprint: str               # sha256 of inputs, parameters, kit version and templates
    customer_id: str | None = None
    customer_name: str | None = None
    segment: str | None = None

    @property
    def html(self) -> str:
        return f"{self.name}.html"

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.html, self.notebook)


@dataclass
class ReportOutcome:
    """What happened to one report in a run.

    outcome: "rendered" (executed now), "current" (skipped: outputs exist for the same fingerprint),
    "failed", "planned" (dry run), or "earlier" (in the run folder from an earlier run, not in this plan).
    """

    job: ReportJob
    outcome: str
    duration_s: float | None = None
    headline: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    rendered_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    def describe_error(self) -> str:
        """One line: which report, which cell, what went wrong."""
        return f"{self.job.html}: {_error_line(self.error or {})}"


@dataclass(frozen=True)
class RunResult:
    """The outcome of `render_reports`: where the run folder is and what happened to each report."""

    run_dir: Path
    reports: tuple[ReportOutcome, ...]
    dry_run: bool
    workers: int
    duration_s: float
    common_parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def index_path(self) -> Path:
        return self.run_dir / INDEX

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / MANIFEST

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.reports if r.outcome == outcome)

    @property
    def failures(self) -> list[ReportOutcome]:
        return [r for r in self.reports if r.outcome == "failed"]

    @property
    def exit_code(self) -> int:
        """0: every report is rendered or current; 1: at least one report failed."""
        return 1 if self.failures else 0


# ---------------------------------------------------------------------------
# Output names
# ---------------------------------------------------------------------------
def slugify(name: Any, max_length: int = SLUG_MAX) -> str:
    """An ASCII, lower-case, dash-separated file name part of at most `max_length` characters; 'customer' if none is left."""
    folded = unicodedata.normalize("NFKD", "" if name is None else str(name))
    folded = folded.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:max_length].rstrip("-")
    return slug or "customer"


def output_name(customer_name: Any, customer_id: str) -> str:
    """A customer report's output stem: customers/<slug of the name>-<first 8 characters of the tenant id>."""
    return f"{CUSTOMERS_DIR}/{slugify(customer_name)}-{customer_id[:8]}"


def _customer_names(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Output stems per customer id; a clash (same slug and id prefix) uses the whole id for the clashing ones."""
    stems = {row["customer_id"]: output_name(row["customer_name"], row["customer_id"]) for row in rows}
    seen: dict[str, list[str]] = {}
    for customer_id, stem in stems.items():
        seen.setdefault(stem, []).append(customer_id)
    for stem, ids in seen.items():
        if len(ids) > 1:
            for customer_id in ids:
                stems[customer_id] = f"{stem.rsplit('-', 1)[0]}-{customer_id}"
    return stems


# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------
def plan_reports(analysis: "Analysis", run_dir: str | Path, *, data_path: str | Path,
                 customers: Sequence[str] | None = None, segments: Sequence[str] | None = None,
                 thresholds: Thresholds = Thresholds(), as_of: str = "latest",
                 exclusions_path: str | Path | None = None, top_n: int | None = None,
                 stale_after_days: int | None = None, today: str = "",
                 templates_dir: str | Path = REPORT_TEMPLATES_DIR, pseudonym: str | None = None) -> list[ReportJob]:
    """The reports of one run: the portfolio overview, the low-adoption list, then one report per selected customer.

    `customers` are tenant ids (checked with `analysis.validate_customer_id`, and each must be in the data);
    `segments` keeps the customers in those segments (both given: customers in the list AND in a segment).
    None selects every customer. `top_n` / `stale_after_days` of None leave the template's default.
    Customers are ordered by name, then id. `pseudonym` (the key id of a pseudonymized analysis) is part of
    every fingerprint. Raises ParameterError before anything runs.
    """
    from adoption_kit.analysis import find_customer, staleness_warning, validate_customer_id

    run_dir = Path(run_dir).resolve()
    templates_dir = Path(templates_dir).resolve()
    templates = {kind: templates_dir / file for kind, file in TEMPLATE_FILES.items()}
    missing = [str(path) for path in templates.values() if not path.is_file()]
    if missing:
        raise ParameterError(f"report template(s) not found: {', '.join(missing)}")
    wanted_segments = _check_segments(segments)
    wanted_ids = None
    if customers:
        wanted_ids = []
        for raw in customers:
            customer_id = validate_customer_id(raw)
            find_customer(analysis.customers, customer_id)   # UnknownCustomerError names close matches
            if customer_id not in wanted_ids:
                wanted_ids.append(customer_id)

    rows = analysis.customers.select("customer_id", "customer_name", "segment").to_dicts()
    selected = [row for row in rows
                if (wanted_ids is None or row["customer_id"] in wanted_ids)
                and (wanted_segments is None or row["segment"] in wanted_segments)]
    selected.sort(key=lambda row: ((row["customer_name"] or "").casefold(), row["customer_id"]))
    names = _customer_names(rows)

    exclusions = Path(exclusions_path).resolve() if exclusions_path else None
    common: dict[str, Any] = {
        "data_path": str(Path(data_path).resolve()),
        "metrics_bundle": str(run_dir / BUNDLE_DIR),
        "as_of": as_of or "latest",
        "deploy_threshold": float(thresholds.deploy),
        "adopt_threshold": float(thresholds.adopt),
        "upsell_threshold": float(thresholds.upsell),
        "exclusions_path": str(exclusions) if exclusions else "",
        "today": (today or "").strip(),
    }
    if top_n is not None:
        common["top_n"] = top_n
    if stale_after_days is not None:
        common["stale_after_days"] = stale_after_days

    # A report also changes when the data crosses the staleness limit (its warning appears).
    now = _parse_today(today)
    stale = staleness_warning(analysis.processed_at_max, now=now,
                              stale_after_days=45 if stale_after_days is None else stale_after_days) is not None
    basis = {
        "kit_version": __version__,
        "html_template": _tree_sha256(TEMPLATES_DIR),
        "inputs": sorted(source["sha256"] for source in analysis.sources),
        "exclusions": _file_sha256(exclusions) if exclusions else "packaged:" + _packaged_exclusions_sha256(),
        "stale": stale,
        "pseudonym": pseudonym,
    }
    template_hashes = {kind: _file_sha256(path) for kind, path in templates.items()}

    def job(kind: str, name: str, title: str, extra: Mapping[str, Any], row: Mapping[str, Any] | None = None):
        parameters = {**common, **extra}
        fingerprint = _sha256_json({**basis, "kind": kind, "template": template_hashes[kind],
                                    "parameters": {k: v for k, v in parameters.items()
                                                   if k not in _LOCATION_PARAMETERS}})
        return ReportJob(kind=kind, name=name, title=title, template=templates[kind], parameters=parameters,
                         fingerprint=fingerprint,
                         customer_id=row["customer_id"] if row else None,
                         customer_name=row["customer_name"] if row else None,
                         segment=row["segment"] if row else None)

    jobs = [
        job("portfolio", PORTFOLIO_NAME, TITLES["portfolio"], {}),
        job("low_adoption", LOW_ADOPTION_NAME, TITLES["low_adoption"], {"action_csv": str(run_dir / ACTION_CSV)}),
    ]
    for row in selected:
        jobs.append(job("customer", names[row["customer_id"]], row["customer_name"] or row["customer_id"],
                        {"customer_id": row["customer_id"]}, row))
    return jobs


def _check_segments(segments: Sequence[str] | None) -> set[str] | None:
    if not segments:
        return None
    from adoption_kit.compute.metrics import SEGMENTS

    wanted = {part.strip() for value in segments for part in str(value).split(",") if part.strip()}
    unknown = sorted(wanted - set(SEGMENTS))
    if unknown:
        raise ParameterError(f"unknown segment(s) {', '.join(map(repr, unknown))}; "
                             f"choose from {', '.join(SEGMENTS)}")
    return wanted or None


def _parse_today(today: str) -> datetime:
    if not today:
        return datetime.now(timezone.utc)
    try:
        day = datetime.strptime(today.strip(), "%Y-%m-%d")
    except ValueError:
        raise ParameterError(f"today={today!r} is not a date; write YYYY-MM-DD, or leave it empty for now") from None
    return day.replace(hour=23, minute=59, second=59, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
ProgressCallback = Callable[[ReportOutcome, int, int], None]


def render_reports(data_path: str | Path, out_dir: str | Path, *, customers: Sequence[str] | None = None,
                   segments: Sequence[str] | None = None, workers: int | None = None, force: bool = False,
                   dry_run: bool = False, thresholds: Thresholds = Thresholds(),
                   exclusions_path: str | Path | None = None, as_of: str = "latest",
                   timeout: float = DEFAULT_TIMEOUT, top_n: int | None = None,
                   stale_after_days: int | None = None, today: str = "",
                   templates_dir: str | Path = REPORT_TEMPLATES_DIR,
                   progress: ProgressCallback | bool | None = None, pseudonym_key: Any = None) -> RunResult:
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
    """
    from adoption_kit.analysis import prepare

    started = time.monotonic()
    started_at = _now_iso()
    workers = _check_workers(workers)
    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
        raise ParameterError(f"timeout={timeout!r} must be a positive number of seconds")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise ParameterError(f"top_n={top_n!r} must be a whole number of at least 1")
    if stale_after_days is not None and (isinstance(stale_after_days, bool)
                                         or not isinstance(stale_after_days, int) or stale_after_days < 0):
        raise ParameterError(f"stale_after_days={stale_after_days!r} must be a whole number of days (0 or more)")
    _parse_today(today)
    _check_segments(segments)
    if customers:
        from adoption_kit.analysis import validate_customer_id

        for customer_id in customers:
            validate_customer_id(customer_id)       # before any file is read
    data_path = Path(data_path).expanduser().resolve()
    out_dir = Path(out_dir).expanduser().resolve()
    if pseudonym_key is not None:
        from adoption_kit.privacy import refuse_inside

        refuse_inside(pseudonym_key, out_dir, "the reports folder")

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
                        pseudonym=pseudonym)
    states = {job.name: _read_state(run_dir, job.name) for job in jobs}
    todo = [job for job in jobs if force or not _is_current(run_dir, job, states[job.name])]
    todo_names = {job.name for job in todo}
    common = dict(jobs[0].parameters)
    samples = list({job.template: job for job in todo}.values())   # one job per template to check

    if dry_run:
        declared = _check_templates(samples)
        outcomes = []
        for job in jobs:
            if job.name in todo_names:
                outcomes.append(ReportOutcome(job, "planned", parameters=_effective(job, declared)))
            else:
                state = states[job.name] or {}
                outcomes.append(ReportOutcome(job, "current", parameters=state.get("parameters", {}),
                                              headline=state.get("headline", {}),
                                              rendered_at=state.get("rendered_at")))
        return RunResult(run_dir, tuple(outcomes), True, min(workers, max(len(todo), 1)),
                         time.monotonic() - started, common)

    used_workers = min(workers, len(todo))
    report = _progress_reporter(progress)
    results: dict[str, ReportOutcome] = {}
    for job in jobs:
        if job.name not in todo_names:
            state = states[job.name] or {}
            results[job.name] = ReportOutcome(job, "current", 0.0, state.get("headline", {}), None,
                                              state.get("parameters", {}), state.get("rendered_at"))
    pool = None
    try:
        with sigterm_as_interrupt():
            # The workers start (imports, nbconvert template) while the first of them checks the parameters.
            pool = _WorkerPool(used_workers) if todo else None
            declared = pool.call(_check_templates, samples) if pool else {}
            run_dir.mkdir(parents=True, exist_ok=True)
            with _run_lock(run_dir):
                _check_privacy_mode(run_dir, pseudonym, record=True)
                _remove_partial_files(run_dir)
                if pool:
                    from adoption_kit.analysis import write_bundle

                    write_bundle(analysis, run_dir / BUNDLE_DIR)
                    copies = {sample.template: _template_copy(sample.template, run_dir) for sample in samples}
                    specs = [_job_spec(job, run_dir, timeout, _passed(job, declared), _effective(job, declared),
                                       copies[job.template]) for job in todo]
                    if report:
                        report.start(len(jobs), len(todo), used_workers)
                    try:
                        for outcome in pool.run(specs, {job.name: job for job in todo}, report):
                            results[outcome.job.name] = outcome
                    finally:
                        if report:
                            report.close()
                ordered = [results[job.name] for job in jobs]
                if not (run_dir / ACTION_CSV).is_file():
                    _write_action_csv(analysis, run_dir / ACTION_CSV)   # the CRM list exists even if its report failed
                earlier = _earlier_reports(run_dir, {job.name for job in jobs})
                result = RunResult(run_dir, tuple(ordered + earlier), False, used_workers,
                                   time.monotonic() - started, common)
                _write_manifest(result, analysis, started_at=started_at, data_path=data_path, out_dir=out_dir,
                                customers=customers, segments=segments, force=force, timeout=timeout,
                                templates_dir=Path(templates_dir).resolve(), exclusions_path=exclusions_path,
                                workers=workers, pseudonym=pseudonym)
                _write_index(result, analysis)
    except BaseException:
        if pool:
            pool.stop()
        raise
    if pool:
        pool.close()
    return result


def _check_workers(workers: int | None) -> int:
    if workers is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers={workers!r} must be a whole number of at least 1")
    return workers


PRIVACY_STATE = "privacy.json"


def _check_privacy_mode(run_dir: Path, pseudonym: str | None, *, record: bool = False) -> None:
    """A run folder holds either plain reports or reports pseudonymized with one key, never a mix (a shared
    folder must not hold a named report); with `record`, write the folder's mode."""
    marker = run_dir / STATE_DIR / PRIVACY_STATE
    try:
        existing: str | None = json.loads(marker.read_text(encoding="utf-8")).get("pseudonym")
    except (OSError, ValueError):
        existing = "" if not any(run_dir.glob("*.html")) else None     # "": nothing rendered here yet
    if existing not in ("", pseudonym):
        def mode(key_id: str | None) -> str:
            return f"pseudonymized with key {key_id}" if key_id else "not pseudonymized"
        raise ParameterError(f"{run_dir} holds reports {mode(existing)}; this run's would be {mode(pseudonym)}. "
                             f"Write them to another --out folder (e.g. reports-shared), or delete that folder")
    if record and existing != pseudonym:
        from adoption_kit.store import atomic_path

        with atomic_path(marker) as part:
            part.write_text(json.dumps({"pseudonym": pseudonym}) + "\n", encoding="utf-8")


def _run_date(analysis: "Analysis") -> str:
    newest = analysis.processed_at_max
    return f"{newest:%Y-%m-%d}" if newest is not None else "undated"


def _check_templates(jobs: Sequence[ReportJob]) -> dict[Path, dict[str, dict]]:
    """Each distinct template's declared parameters, after refusing unknown names and wrong types.

    An OPTIONAL_PARAMETERS name the template does not declare is not passed (a partner's own
    low-adoption template without `action_csv`: the run writes the CSV itself).
    """
    import papermill

    check = _parameter_checker()
    declared: dict[Path, dict[str, dict]] = {}
    for job in jobs:
        if job.template not in declared:
            names = papermill.inspect_notebook(str(job.template))
            params = {k: v for k, v in job.parameters.items() if k in names or k not in OPTIONAL_PARAMETERS}
            declared[job.template] = check(job.template, params)
    return declared


def _passed(job: ReportJob, declared: Mapping[Path, Mapping[str, dict]]) -> dict[str, Any]:
    """The parameters papermill receives for `job`: the planned ones less optional names the template lacks."""
    names = declared.get(job.template, {})
    return {k: v for k, v in job.parameters.items() if k in names or k not in OPTIONAL_PARAMETERS}


def _parameter_checker() -> Callable[[Path, Mapping[str, Any]], dict[str, dict]]:
    try:
        from adoption_kit.report.params import check_parameters
    except ImportError:  # pragma: no cover - the notebooks module provides it
        check_parameters = _check_parameters
    return check_parameters


def _check_parameters(notebook_path: Path, params: Mapping[str, Any]) -> dict[str, dict]:
    """Fallback: refuse names the template's `parameters` cell does not declare (papermill only warns)."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook_path))
    unknown = [name for name in params if name not in declared]
    if unknown:
        raise ParameterError(f"{Path(notebook_path).name}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                             f"it declares {', '.join(declared) or 'none'}")
    return declared


def _effective(job: ReportJob, declared: Mapping[Path, Mapping[str, dict]]) -> dict[str, Any]:
    """Every parameter the notebook runs with: what we pass, and the template's default for the rest."""
    passed = _passed(job, declared)
    values: dict[str, Any] = {}
    for name, info in declared.get(job.template, {}).items():
        if name in passed:
            values[name] = passed[name]
        else:
            default = str(info.get("default", ""))
            try:
                values[name] = ast.literal_eval(default)
            except (ValueError, SyntaxError):
                values[name] = default
    for name, value in passed.items():
        values.setdefault(name, value)
    return values


def _write_action_csv(analysis: "Analysis", target: Path) -> None:
    try:
        from adoption_kit.report.actions import action_list
        frame = action_list(analysis)
    except ImportError:  # pragma: no cover - the notebooks module provides the CRM columns
        frame = analysis.ranking
    from adoption_kit.store import write_table

    write_table(frame, target)


# ---------------------------------------------------------------------------
# Skip-when-current: per-report state files
# ---------------------------------------------------------------------------
def _state_path(run_dir: Path, name: str) -> Path:
    return run_dir / STATE_DIR / f"{name}.json"


def _read_state(run_dir: Path, name: str) -> dict | None:
    try:
        return json.loads(_state_path(run_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_current(run_dir: Path, job: ReportJob, state: Mapping[str, Any] | None) -> bool:
    if not state or state.get("fingerprint") != job.fingerprint:
        return False
    extra = (ACTION_CSV,) if job.kind == "low_adoption" else ()
    return all((run_dir / name).is_file() for name in (*job.outputs, *extra))


def _earlier_reports(run_dir: Path, planned: set[str]) -> list[ReportOutcome]:
    """Reports in the run folder from earlier runs (e.g. `--customer X` yesterday) that this plan did not include."""
    state_root = run_dir / STATE_DIR / CUSTOMERS_DIR
    if not state_root.is_dir():
        return []
    found = []
    for path in sorted(state_root.glob("*.json")):
        name = f"{CUSTOMERS_DIR}/{path.stem}"
        if name in planned:
            continue
        state = _read_state(run_dir, name)
        if not state or not (run_dir / f"{name}.html").is_file():
            continue
        job = ReportJob(kind="customer", name=name, title=state.get("title") or name,
                        template=Path(state.get("template", "")), parameters=state.get("parameters", {}),
                        fingerprint=state.get("fingerprint", ""), customer_id=state.get("customer_id"),
                        customer_name=state.get("customer_name"), segment=state.get("segment"))
        found.append(ReportOutcome(job, "earlier", state.get("duration_s"), state.get("headline", {}), None,
                                   state.get("parameters", {}), state.get("rendered_at")))
    return found


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


def _template_copy(template: Path, run_dir: Path) -> Path:
    """The template without its stored outputs (papermill clears them anyway): much less JSON to read per report."""
    from adoption_kit.store import atomic_path

    digest = _file_sha256(template)
    target = run_dir / STATE_DIR / "templates" / f"{digest[:16]}-{template.name}"
    if not target.is_file():
        notebook = json.loads(template.read_text(encoding="utf-8"))
        for cell in notebook.get("cells", []):
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
        with atomic_path(target) as part:
            part.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
    return target


# ---------------------------------------------------------------------------
# Executing jobs in worker processes
# ---------------------------------------------------------------------------
def _job_spec(job: ReportJob, run_dir: Path, timeout: float, parameters: dict[str, Any],
              effective: dict[str, Any], template_copy: Path) -> dict[str, Any]:
    """What a worker needs, as plain picklable values."""
    return {
        "name": job.name, "kind": job.kind, "title": job.title, "template": str(job.template),
        "template_copy": str(template_copy),
        "parameters": parameters, "effective": effective, "fingerprint": job.fingerprint,
        "run_dir": str(run_dir), "timeout": float(timeout), "customer_id": job.customer_id,
        "customer_name": job.customer_name, "segment": job.segment,
    }


class _WorkerPool:
    """A process pool (forkserver, else spawn) that renders specs; one job failing or a worker dying stops nothing else."""

    def __init__(self, workers: int) -> None:
        import multiprocessing

        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self.context = multiprocessing.get_context(method)
        self.workers = workers
        self.pool = self._new()

    def _new(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        # Ctrl-C reaches the whole process group, SIGTERM this process. An interrupt must neither kill a worker
        # half-started (a traceback each) nor come while one is being started (it would outlive the others):
        # the helper processes ignore SIGINT, so do the workers they fork until _worker_init, and here both
        # signals wait until every worker is started; then the whole pool is stopped.
        _start_helpers(self.context)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS) if _maskable() else None
        pool = None
        try:
            try:
                pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self.context,
                                           initializer=_worker_init)
                for _ in range(self.workers):   # start every worker now: each submit to a busy pool adds one
                    pool.submit(_ready)
            finally:
                if previous is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        except BaseException:
            if pool is not None:
                _stop_pool(pool)
            raise
        return pool

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(function, *args).result()
        except BrokenProcessPool:
            raise RuntimeError("the report worker processes could not start (see the error above); a script "
                               "that calls render_reports must do so under `if __name__ == '__main__':`") from None

    def run(self, specs: list[dict], jobs: Mapping[str, ReportJob], report: "_Progress | None") -> Iterator[ReportOutcome]:
        """Yield an outcome per spec as it finishes; a job in flight when a worker dies is retried twice."""
        from collections import deque
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        pending = deque(specs)
        attempts: dict[str, int] = {}
        running: dict[Any, dict] = {}
        done_count = 0
        while pending or running:
            while pending and len(running) < self.workers + 1:
                spec = pending.popleft()
                running[self.pool.submit(_execute_job, spec)] = spec
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                spec = running.pop(future)
                try:
                    raw = future.result()
                except BrokenProcessPool:
                    broken = True
                    attempts[spec["name"]] = attempts.get(spec["name"], 0) + 1
                    if attempts[spec["name"]] <= 2:
                        pending.appendleft(spec)
                        continue
                    raw = _failure(spec, {"type": "worker_died", "message": "the worker process died (out of "
                                          "memory or killed) while rendering this report"}, 0.0)
                except Exception as error:  # noqa: BLE001 - a job must never stop the run
                    raw = _failure(spec, {"type": type(error).__name__, "message": _clip(error, 500)}, 0.0)
                outcome = _outcome(jobs[spec["name"]], raw)
                done_count += 1
                if report:
                    report.update(outcome, done_count, len(specs))
                yield outcome
            if broken:
                # Every job still in the broken pool fails the same way: requeue them, start a new pool.
                for future in list(running):
                    wait([future])
                    spec = running.pop(future)
                    attempts[spec["name"]] = attempts.get(spec["name"], 0) + 1
                    pending.appendleft(spec)
                self.pool.shutdown(wait=True)
                self.pool = self._new()

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def stop(self) -> None:
        _stop_pool(self.pool)


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _start_helpers(context: Any) -> None:
    """Start multiprocessing's resource tracker and forkserver with SIGINT ignored: they outlive a Ctrl-C in the
    terminal (this process stops the pool), and the forkserver's children start with it ignored too."""
    if not _maskable():   # pragma: no cover - Windows, or not the main thread
        return
    from multiprocessing import resource_tracker

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
        if context.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _maskable() -> bool:
    """Signal masks exist (POSIX) and this is the main thread (the only one that may change handlers)."""
    return hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()


def _stop_pool(pool: Any) -> None:
    """Interrupted: ask each worker to stop (its kernel is shut down, temporary files removed), then wait a little."""
    processes = list(getattr(pool, "_processes", {}).values())
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 15
    for process in processes:
        process.join(max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:   # it closes its wake-up pipe: at exit, Python would write to it ("Bad file descriptor")
        manager.join(max(0.1, deadline - time.monotonic()))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the run) ends the run like Ctrl-C: workers stop, temporary files go."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _outcome(job: ReportJob, raw: Mapping[str, Any]) -> ReportOutcome:
    return ReportOutcome(job, "rendered" if raw.get("ok") else "failed", raw.get("duration_s"),
                         raw.get("headline") or {}, raw.get("error"), raw.get("parameters") or {},
                         raw.get("rendered_at"))


def _failure(spec: Mapping[str, Any], error: dict, duration: float) -> dict:
    return {"name": spec["name"], "ok": False, "duration_s": round(duration, 3), "error": error,
            "parameters": spec.get("effective", {}), "headline": {}}


# --- inside a worker process ------------------------------------------------
_EXPORTER: Any = None


def _ready() -> int:
    return os.getpid()


_IN_JOB = False


def _on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001
    """In a worker: SIGTERM/SIGINT during a report unwinds it (temporary files go), otherwise exit quietly."""
    if _IN_JOB:
        raise KeyboardInterrupt(f"signal {signum}")
    os._exit(128 + signum)


def _worker_init() -> None:
    """Worker start: quiet signal handling; pay the one-time import and nbconvert template costs now."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if hasattr(signal, "pthread_sigmask"):   # in case the start-up mask was inherited
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    import nbformat
    import papermill  # noqa: F401

    _exporter().from_notebook_node(nbformat.v4.new_notebook())


def _exporter() -> Any:
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert import HTMLExporter

        _EXPORTER = HTMLExporter(template_name=HTML_TEMPLATE, extra_template_basedirs=[str(TEMPLATES_DIR)],
                                 exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    return _EXPORTER


def _kernel_manager_class(sink: Any) -> type:
    """A kernel manager whose kernel writes its stderr to `sink` (kept for failures, not printed on the console)."""
    from jupyter_client.manager import AsyncKernelManager

    class _CapturedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw.setdefault("stderr", sink)
            return await super().start_kernel(**kw)

    return _CapturedKernelManager


def _execute_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One report in a worker; interrupted, the worker exits (its kernel follows its parent) after cleaning up."""
    global _IN_JOB
    _IN_JOB = True
    try:
        return _render_one(spec)
    except KeyboardInterrupt:
        os._exit(130)
    finally:
        _IN_JOB = False


def _render_one(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Execute one template with papermill, export HTML, then rename both into place and record the state."""
    import tempfile

    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from adoption_kit.store import atomic_path

    started = time.monotonic()
    run_dir = Path(spec["run_dir"])
    deadline = started + spec["timeout"]
    seen: dict[str, Any] = {"cell": None, "index": None, "error_cell": None, "error_index": None, "nb": None}

    def on_notebook_start(notebook: Any, **_: Any) -> None:
        seen["nb"] = notebook

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        seen["cell"], seen["index"] = cell, cell_index

    def on_cell_error(cell: Any, cell_index: int, **_: Any) -> None:
        seen["error_cell"], seen["error_index"] = cell, cell_index

    def remaining(cell: Any) -> int:  # noqa: ARG001 - the per-notebook budget left for the next cell
        return max(1, math.ceil(deadline - time.monotonic()))

    error: dict[str, Any] | None = None
    notebook = None
    with tempfile.TemporaryFile() as kernel_log:
        try:
            notebook = papermill.execute_notebook(
                spec["template_copy"], None, parameters=dict(spec["parameters"]), progress_bar=False,
                request_save_on_cell_execute=False, log_output=False, cwd=spec["run_dir"],
                start_timeout=KERNEL_START_TIMEOUT, timeout_func=remaining,
                on_notebook_start=on_notebook_start, on_cell_start=on_cell_start, on_cell_error=on_cell_error,
                kernel_manager_class=_kernel_manager_class(kernel_log))
        except PapermillExecutionError as exc:
            cell = seen["error_cell"]
            error = {"type": "cell_error", "cell_index": exc.cell_index, "execution_count": exc.exec_count,
                     "cell_id": _cell_id(cell), "cell_source": _first_line(exc.source),
                     "ename": exc.ename, "evalue": _clip(exc.evalue, 500),
                     "traceback": _tail(_strip_ansi("\n".join(exc.traceback or [])), 40)}
        except CellTimeoutError as exc:
            error = {"type": "timeout", "cell_index": seen["index"], "cell_id": _cell_id(seen["cell"]),
                     "cell_source": _first_line((seen["cell"] or {}).get("source", "")),
                     "message": f"the notebook ran longer than its {spec['timeout']:g} s limit "
                                f"({_clip(str(exc).splitlines()[0] if str(exc) else '', 200)})"}
        except DeadKernelError as exc:
            error = {"type": "kernel_died", "cell_index": seen["index"], "cell_id": _cell_id(seen["cell"]),
                     "cell_source": _first_line((seen["cell"] or {}).get("source", "")),
                     "message": _clip(str(exc), 500)}
        except Exception as exc:  # noqa: BLE001 - kernel start failures, bad template JSON, ...
            error = {"type": type(exc).__name__, "cell_index": seen["index"],
                     "message": _clip(str(exc), 500)}
        kernel_log.seek(0)
        kernel_output = _kernel_lines(kernel_log.read().decode("utf-8", "replace"))

    if error is not None:
        if kernel_output:
            error["kernel_log"] = _tail(kernel_output, 20)
        failed_copy = run_dir / FAILED_DIR / f"{spec['name']}.ipynb"
        if seen["nb"] is not None:
            try:
                _write_notebook(seen["nb"], failed_copy)
                error["notebook"] = failed_copy.relative_to(run_dir).as_posix()
            except Exception:  # noqa: BLE001 - the copy is a convenience
                pass
        return _failure(spec, error, time.monotonic() - started)

    for cell in notebook.cells:   # papermill gives its cell a random id: the same run must give the same bytes
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["id"] = "injected-parameters"
    rendered_at = _now_iso()
    headline = _headline(notebook)
    notebook.metadata.get("papermill", {})["input_path"] = spec["template"]
    notebook.metadata["adoption_kit"] = {"kit_version": __version__, "report": spec["name"],
                                         "fingerprint": spec["fingerprint"], "rendered_at": rendered_at}
    body = _export_html(notebook, spec["title"])
    unsafe = find_unsafe_html(body)
    if unsafe:
        return _failure(spec, {"type": "unsafe_html", "message": "the exported HTML would load or run something: "
                               + "; ".join(unsafe[:5])}, time.monotonic() - started)
    html_path = run_dir / f"{spec['name']}.html"
    with atomic_path(run_dir / f"{spec['name']}.ipynb") as notebook_part, atomic_path(html_path) as html_part:
        _dump_notebook(notebook, notebook_part)
        html_part.write_text(body, encoding="utf-8")
    (run_dir / FAILED_DIR / f"{spec['name']}.ipynb").unlink(missing_ok=True)
    duration = round(time.monotonic() - started, 3)
    state = {"fingerprint": spec["fingerprint"], "kind": spec["kind"], "title": spec["title"],
             "template": spec["template"], "customer_id": spec["customer_id"],
             "customer_name": spec["customer_name"], "segment": spec["segment"],
             "parameters": spec["effective"], "headline": headline, "duration_s": duration,
             "rendered_at": rendered_at, "kit_version": __version__}
    with atomic_path(_state_path(run_dir, spec["name"])) as state_part:
        state_part.write_text(json.dumps(state, indent=1, sort_keys=True, default=str), encoding="utf-8")
    return {"name": spec["name"], "ok": True, "duration_s": duration, "headline": headline,
            "parameters": spec["effective"], "rendered_at": rendered_at}


def _dump_notebook(notebook: Any, target: Path) -> None:
    import nbformat

    target.write_text(nbformat.writes(notebook), encoding="utf-8")


def _write_notebook(notebook: Any, target: Path) -> None:
    from adoption_kit.store import atomic_path

    with atomic_path(target) as part:
        _dump_notebook(notebook, part)


def _export_html(notebook: Any, title: str) -> str:
    body, _resources = _exporter().from_notebook_node(_for_html(notebook), resources={"metadata": {"name": title}})
    return body


def _for_html(notebook: Any) -> Any:
    """A copy for the HTML page: data-bearing HTML/Markdown outputs sanitized, scripts and the headline data dropped.

    The executed .ipynb keeps every output as it was; JupyterLab sanitizes untrusted HTML outputs the same way.
    """
    import copy

    page = copy.deepcopy(notebook)
    for cell in page.cells:
        if cell.get("cell_type") != "code":
            continue
        if HEADLINE_TAG in cell.get("metadata", {}).get("tags", []):
            cell.outputs = []     # machine-readable figures for index.html, not report text
            continue
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            data.pop("application/javascript", None)
            for key in [k for k in data if k.startswith("application/vnd.") and "widget" in k]:
                data.pop(key)
            if "text/html" in data:
                data["text/html"] = sanitize_output_html(_joined(data["text/html"]))
            elif "text/markdown" in data:
                from nbconvert.filters.markdown_mistune import markdown2html_mistune

                data["text/html"] = sanitize_output_html(markdown2html_mistune(_joined(data["text/markdown"])))
                data.pop("text/markdown")
    return page


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _headline(notebook: Any) -> dict[str, Any]:
    """The flat dict of the cell tagged `headline` (its application/json display output); {} if there is none."""
    for cell in notebook.cells:
        if HEADLINE_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            value = output.get("data", {}).get(HEADLINE_MIME)
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    continue
            if isinstance(value, Mapping):
                return {str(k): (v if v is None or isinstance(v, (str, int, float, bool))
                                 else json.dumps(v, default=str)) for k, v in value.items()}
    return {}


def _kernel_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines()
                     if line.strip() and not any(marker in line for marker in HARMLESS_KERNEL_LINES))


def _cell_id(cell: Any) -> str | None:
    return cell.get("id") if isinstance(cell, Mapping) else None


def _first_line(source: Any) -> str:
    text = _joined(source) if source else ""
    for line in text.splitlines():
        if line.strip():
            return _clip(line.strip(), 120)
    return ""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _clip(text: Any, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_line(error: Mapping[str, Any]) -> str:
    """'cell 7 (In [5]) `chart = ...`: ValueError: boom' or the message of a non-cell failure."""
    where = ""
    if error.get("cell_index") is not None:
        where = f"cell {error['cell_index']}"
        if error.get("execution_count") is not None:
            where += f" (In [{error['execution_count']}])"
        if error.get("cell_source"):
            where += f" `{error['cell_source']}`"
        where += ": "
    if error.get("type") == "cell_error":
        what = f"{error.get('ename')}: {error.get('evalue')}"
    else:
        what = f"{error.get('type')}: {error.get('message', '')}"
    return _clip((where + what).replace("\n", " "), 400)


# ---------------------------------------------------------------------------
# HTML safety: sanitize data-bearing output HTML, then refuse any page that would load or run something
# ---------------------------------------------------------------------------
_ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
_GLOBAL_ATTRIBUTES = frozenset({"class", "id", "title", "style", "lang", "dir", "align", "role", "valign"})
_TAG_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "rel", "name"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "headers"}),
    "th": frozenset({"colspan", "rowspan", "scope", "headers"}),
    "table": frozenset({"border", "cellpadding", "cellspacing", "summary"}),
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "details": frozenset({"open"}),
}
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPT_BLOCK = re.compile(r"<(script|noscript|template|iframe|object)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_UNSAFE_CSS = re.compile(r"url\s*\(|@import|expression\s*\(|javascript:|behavior\s*:|-moz-binding|<|\\",
                         re.IGNORECASE)
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)


def _safe_css(css: str) -> bool:
    """CSS that neither fetches (url(), @import) nor runs (expression(), bindings) anything."""
    return not _UNSAFE_CSS.search(css)


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    name = name.lower()
    if name.startswith("on"):
        return False
    if name.startswith(("aria-", "data-")) or name in _GLOBAL_ATTRIBUTES:
        return name != "style" or _safe_css(value)
    if name not in _TAG_ATTRIBUTES.get(tag, frozenset()):
        return False
    if tag == "a" and name == "href":
        return bool(re.match(r"^(https?:|mailto:|#)", value.strip(), re.IGNORECASE))
    if tag == "img" and name == "src":
        return bool(_DATA_IMAGE.match(value.strip()))
    return True


def sanitize_output_html(markup: str) -> str:
    """Keep the table/text markup of an output (pandas Styler CSS included); drop scripts, handlers and fetches.

    Data values should arrive escaped (the notebooks escape them); this is the second line of defence:
    a name like `<img src=x onerror=...>` that slipped through unescaped loses its handler here.
    """
    import bleach
    from bleach.css_sanitizer import CSSSanitizer

    class _KeepSafeCSS(CSSSanitizer):
        def sanitize_css(self, style: str) -> str:
            return style if _safe_css(style) else ""

    styles = [css for css in _STYLE_BLOCK.findall(markup) if _safe_css(css)]
    body = _SCRIPT_BLOCK.sub("", _STYLE_BLOCK.sub("", markup))
    cleaned = bleach.clean(body, tags=_ALLOWED_TAGS, attributes=_allowed_attribute,
                           protocols={"http", "https", "mailto", "data"}, strip=True, strip_comments=True,
                           css_sanitizer=_KeepSafeCSS())
    return "".join(f"<style>{css}</style>" for css in styles) + cleaned


class _UnsafeFinder(HTMLParser):
    """Walks a finished page: any script, event handler, frame or fetched URL is reported."""

    FETCHING = {"script", "link", "img", "iframe", "frame", "embed", "object", "source", "audio", "video",
                "track", "input", "image", "use", "base", "form", "meta"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag == "script":
            self.problems.append("a <script> element")
        if tag in ("iframe", "frame", "embed", "object", "base", "form"):
            self.problems.append(f"a <{tag}> element")
        if tag == "meta" and any(k.lower() == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs):
            self.problems.append("a <meta http-equiv=refresh>")
        if tag == "style":
            self._in_style = True
        for key, value in attrs:
            key, value = key.lower(), (value or "").strip()
            if key.startswith("on"):
                self.problems.append(f"an event handler {key}= on <{tag}>")
            elif key == "style" and not _safe_css(value) and re.search(r"url\s*\(\s*['\"]?\s*(https?:)?//",
                                                                       value, re.IGNORECASE):
                self.problems.append(f"a style attribute fetching a URL on <{tag}>")
            elif key in ("src", "href", "srcset", "poster", "data", "action", "formaction", "xlink:href"):
                lowered = value.lower()
                if lowered.startswith(("javascript:", "vbscript:")):
                    self.problems.append(f"a {key}={value[:40]!r} on <{tag}>")
                elif lowered.startswith(("http:", "https:", "//", "ftp:")) and tag in self.FETCHING:
                    self.problems.append(f"<{tag} {key}={value[:60]!r}> fetches from the network")

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and re.search(r"@import|url\s*\(\s*['\"]?\s*(https?:)?//", data, re.IGNORECASE):
            self.problems.append("CSS that fetches from the network")


def find_unsafe_html(page: str) -> list[str]:
    """Problems that would make a page unsafe or not offline: scripts, handlers, frames, network fetches. [] = fine."""
    finder = _UnsafeFinder()
    finder.feed(page)
    finder.close()
    return finder.problems


# ---------------------------------------------------------------------------
# Progress on the console
# ---------------------------------------------------------------------------
class _Progress:
    """A tqdm bar on a terminal, else one plain line per finished report (cron, CI logs); both on stderr."""

    def __init__(self, callback: ProgressCallback | None, bar: bool) -> None:
        self.callback, self.bar_wanted, self.bar = callback, bar, None

    def start(self, total: int, todo: int, workers: int) -> None:
        if self.callback:
            return
        current = total - todo
        print(f"rendering {todo} of {total} report(s) with {workers} worker(s)"
              + (f"; {current} already current" if current else ""), file=sys.stderr, flush=True)
        if self.bar_wanted:
            from tqdm import tqdm

            self.bar = tqdm(total=todo, unit="report", file=sys.stderr, dynamic_ncols=True)

    def update(self, outcome: ReportOutcome, done: int, total: int) -> None:
        if self.callback:
            self.callback(outcome, done, total)
        elif self.bar is not None:
            if not outcome.ok:
                self.bar.write(f"FAILED {outcome.describe_error()}", file=sys.stderr)
            self.bar.update(1)
        else:
            status = (f"rendered {outcome.job.html} in {outcome.duration_s:.1f} s" if outcome.ok
                      else f"FAILED {outcome.describe_error()}")
            print(f"[{done}/{total}] {status}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress_reporter(progress: ProgressCallback | bool | None) -> _Progress | None:
    if progress is False:
        return None
    if callable(progress):
        return _Progress(progress, False)
    return _Progress(None, bool(getattr(sys.stderr, "isatty", lambda: False)()))


# ---------------------------------------------------------------------------
# index.html and manifest.json
# ---------------------------------------------------------------------------
def _write_manifest(result: RunResult, analysis: "Analysis", **run: Any) -> None:
    from adoption_kit.store import atomic_path

    exclusions = run["exclusions_path"]
    manifest = {
        "kit_version": __version__,
        "run_folder": str(result.run_dir),
        "started_at": run["started_at"],
        "finished_at": _now_iso(),
        "duration_s": round(result.duration_s, 3),
        "command": {
            "data_path": str(run["data_path"]), "out_dir": str(run["out_dir"]),
            "customers": list(run["customers"]) if run["customers"] else None,
            "segments": sorted(_check_segments(run["segments"]) or []) or None,
            "workers": run["workers"], "workers_used": result.workers, "force": run["force"],
            "timeout_s": run["timeout"], "templates_dir": str(run["templates_dir"]),
        },
        "parameters": result.common_parameters,
        "thresholds": {"deploy": analysis.thresholds.deploy, "adopt": analysis.thresholds.adopt,
                       "upsell": analysis.thresholds.upsell},
        "inputs": [dict(source) for source in analysis.sources],
        "exclusions": {"path": str(Path(exclusions).resolve()) if exclusions else "packaged",
                       "sha256": _file_sha256(Path(exclusions)) if exclusions else _packaged_exclusions_sha256()},
        "processed_at": {"min": _iso(analysis.processed_at_min), "max": _iso(analysis.processed_at_max)},
        "pseudonymized": ({"key_id": run["pseudonym"], "names": "Customer-<first 8 hex digits of "
                           "HMAC-SHA256(key, tenant id)>", "tenant_ids": "the first 32 hex digits of the same "
                           "HMAC, as a GUID"} if run["pseudonym"] else False),
        "warnings": list(analysis.warnings),
        "outputs": {"index": INDEX, "action_csv": ACTION_CSV, "bundle": BUNDLE_DIR},
        "summary": {"reports": len(result.reports), "rendered": result.count("rendered"),
                    "current": result.count("current"), "failed": result.count("failed"),
                    "earlier": result.count("earlier")},
        "reports": [_report_entry(r) for r in result.reports],
    }
    with atomic_path(result.manifest_path) as part:
        part.write_text(json.dumps(manifest, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")


def _report_entry(r: ReportOutcome) -> dict[str, Any]:
    return {
        "name": r.job.name, "kind": r.job.kind, "title": r.job.title, "customer_id": r.job.customer_id,
        "customer_name": r.job.customer_name, "segment": r.job.segment,
        "template": str(r.job.template), "html": r.job.html, "notebook": r.job.notebook,
        "outcome": r.outcome,
        "duration_s": r.duration_s if r.outcome in ("rendered", "failed") else 0.0,
        "rendered_at": r.rendered_at, "fingerprint": r.job.fingerprint,
        "parameters": r.parameters, "headline": r.headline, "error": r.error,
    }


def _write_index(result: RunResult, analysis: "Analysis") -> None:
    import jinja2

    from adoption_kit.store import atomic_path

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["figure"] = format_figure
    environment.filters["label"] = _label
    reports = [r for r in result.reports if r.outcome != "failed"]
    books = [r for r in reports if r.job.kind != "customer"]
    customers = sorted((r for r in reports if r.job.kind == "customer"),
                       key=lambda r: ((r.job.customer_name or "").casefold(), r.job.customer_id or ""))
    hidden = {"report", "customer_id", "customer_name", "segment"}
    columns: list[str] = []
    for r in customers:
        columns += [k for k in r.headline if k not in hidden and k not in columns]
    shared: dict[str, Any] = {}
    if len(customers) > 1:   # a figure equal in every row (thresholds, data date) goes above the table
        for key in columns:
            values = {json.dumps(r.headline.get(key), default=str) for r in customers}
            if len(values) == 1:
                shared[key] = customers[0].headline.get(key)
        columns = [k for k in columns if k not in shared]
    page = environment.get_template(INDEX_TEMPLATE).render(
        kit_version=__version__, generated_at=_now_iso(), run_date=result.run_dir.name,
        processed_min=_shown_time(analysis.processed_at_min), processed_max=_shown_time(analysis.processed_at_max),
        thresholds=analysis.thresholds, books=books, customers=customers, columns=columns, shared=shared,
        failures=result.failures, action_csv=ACTION_CSV if (result.run_dir / ACTION_CSV).is_file() else None,
        queue=_work_queue(analysis, {r.job.customer_id: r.job.html for r in customers}),
        counts={k: result.count(k) for k in ("rendered", "current", "failed", "earlier")},
        error_line=_error_line, manifest=MANIFEST)
    with atomic_path(result.index_path) as part:
        part.write_text(page, encoding="utf-8")


def _label(key: str) -> str:
    return key.replace("_", " ")


QUEUE_ROWS = 15


def _work_queue(analysis: "Analysis", links: Mapping[str, str]) -> dict[str, Any]:
    """This week's queue for the index: the first renewal-queue rows (low adoption, seats that can change
    soonest) with their idle cost, and the support-heavy accounts; links to rendered customer reports."""
    import polars as pl

    book = analysis.book
    currency = book.settings.get("currency")
    costs = {(r["customer_id"], r["product_id"]): r["idle_cost_per_month"] for r in book.idle_cost.to_dicts()}
    queue = book.renewals.filter(pl.col("queued")).sort("queue_rank")
    rows = []
    for r in queue.head(QUEUE_ROWS).to_dicts():
        cost = costs.get((r["customer_id"], r["product_id"]))
        rows.append({"rank": r["queue_rank"], "customer": r["customer_name"] or r["customer_id"],
                     "href": links.get(r["customer_id"]), "product": r["product_name"], "segment": r["segment"],
                     "usage": format_figure(r["usage_rate"], "usage_rate"), "idle": format_figure(r["licenses_idle"]),
                     "change_at": str(r["change_at"]), "days": format_figure(r["days_to_change"]),
                     "cost": f"{currency} {cost:,.2f}" if cost is not None else "n/a"})
    heavy = [{"customer": r["customer_name"] or r["customer_id"], "href": links.get(r["customer_id"]),
              "segment": r["segment"], "rate": f"{r['how_to_per_100']:.1f}"}
             for r in book.support.filter(pl.col("support_heavy")).to_dicts()]
    return {"rows": rows, "queued": queue.height, "today": str(book.today) if book.today else None,
            "horizon": book.settings.get("horizon_days"), "support": heavy,
            "subscriptions": bool(book.settings.get("subscriptions_loaded")),
            "tickets": bool(book.settings.get("tickets_loaded"))}


def format_figure(value: Any, key: str = "") -> str:
    """A headline value for the index: rates as %, whole numbers with thousands separators, n/a for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and key.endswith(("_rate", "_share", "_threshold")):
        return f"{value * 100:.1f}%"
    if isinstance(value, (int, float)) and key.endswith(("_per_month", "_per_year")):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
    return str(value)


# ---------------------------------------------------------------------------
# Describing a run (dry-run plan, summary) for the CLI
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _shown_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(timezone.utc) if value.tzinfo else value
    return f"{value:%Y-%m-%d}" if (value.hour, value.minute) == (0, 0) else f"{value:%Y-%m-%d %H:%M} UTC"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _packaged_exclusions_sha256() -> str:
    from adoption_kit.config import DEFAULT_EXCLUSIONS_FILE

    return _file_sha256(DEFAULT_EXCLUSIONS_FILE)


def _tree_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(_file_sha256(path).encode())
    return digest.hexdigest()


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()
