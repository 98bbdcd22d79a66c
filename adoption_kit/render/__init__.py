"""Rendering: execute the report templates with papermill in a process pool and write, per run folder, offline
sanitised HTML and the executed notebooks, index.html, manifest.json and the low-adoption CSV; no metric logic.

The modules, in the order a run uses them:
  run          render_reports (checks, the lock, skip-when-current, the order of the steps) and describe_run
  plan         the report jobs: template, parameters, output name (slugify/output_name), fingerprint
  parameters   the templates' declared parameters, checked before anything runs
  state        per-report state files (skip-when-current), reports of earlier runs, the folder's privacy mode
  pool         the worker pool (forkserver, else spawn): retries a job whose worker died
  cluster      the same jobs on a Dask distributed cluster (`--cluster`, the optional extra `cluster`)
  worker       what a worker process runs (its start-up, signals and one job)
  signals      SIGTERM as Ctrl-C, multiprocessing helpers started with SIGINT ignored
  execute      one report: papermill, nbconvert export, notebook and HTML renamed into place
  html_safety  sanitize_output_html (allow-lists) and find_unsafe_html (refuses a page that loads or runs anything)
  index        index.html (Jinja, autoescaped): reports, headline figures, the work queue
  csp          every page's Content-Security-Policy and the kit's scripts (table sorting, live-chart loader) by hash
  assets       the run folder's _assets/vega-bundle.js (Vega, Vega-Lite, vega-embed from vl-convert) and its notice
  interactive_html  a chart output with its spec as a live-chart div over its SVG fallback (a static one: the SVG)
  svg_uri      a chart's SVG as a percent-encoded data URL for <img src>, and back (for the checks)
  styles       the CSS every report shares, written once per run folder (_assets/report-<hash>.css) and linked
  manifest     manifest.json
  progress     the console bar / log lines
  results      ReportOutcome, RunResult; layout: the run folder's file names; hashing: the fingerprint's SHA-256s

Imports the layers below it (config, errors, analysis, store, privacy, compute, report); must not
import adoption_kit.cli, and nothing below it imports it. Workers unpickle their functions by module path
(adoption_kit.render.worker, .parameters), so those names must stay importable where they are.
"""
from __future__ import annotations

from adoption_kit.render.html_safety import find_unsafe_html, sanitize_output_html
from adoption_kit.render.index import format_figure
from adoption_kit.render.layout import ACTION_CSV, BUNDLE_DIR, INDEX, LOCK, MANIFEST
from adoption_kit.render.plan import ReportJob, output_name, plan_reports, slugify
from adoption_kit.render.progress import ProgressCallback
from adoption_kit.render.results import ReportOutcome, RunResult
from adoption_kit.render.run import describe_run, render_reports

__all__ = [
    "ReportJob", "ReportOutcome", "RunResult", "ProgressCallback", "plan_reports", "render_reports", "describe_run",
    "output_name", "slugify", "find_unsafe_html", "sanitize_output_html", "format_figure",
    "ACTION_CSV", "BUNDLE_DIR", "INDEX", "LOCK", "MANIFEST",
]
