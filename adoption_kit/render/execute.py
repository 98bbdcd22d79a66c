"""Executing one report (inside a worker): papermill runs the template, nbconvert exports offline HTML,
files are renamed into place.

papermill, nbclient, nbformat, nbconvert and jupyter_client are imported inside the functions on purpose: they
take seconds to import, and only the worker processes need them (worker._worker_init pays that cost at start);
the parent imports this module for `_failure` and stays light.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adoption_kit import __version__
from adoption_kit.config import NOTEBOOK_PNG_ENV
from adoption_kit.render.csp import finish_page, page_css
from adoption_kit.render.html_safety import find_unsafe_html, sanitize_output_html
from adoption_kit.render.interactive_html import live_chart_html, static_chart_html
from adoption_kit.render.layout import FAILED_DIR, TEMPLATES_DIR
from adoption_kit.render.results import _clip, _now_iso
from adoption_kit.render.state import _state_path
from adoption_kit.render.styles import split_head_styles, stylesheet_href, write_stylesheet
from adoption_kit.report.audience import EDITOR_NOTE_TAG
from adoption_kit.report.headline import HEADLINE_MIME, HEADLINE_TAG
from adoption_kit.store import atomic_path

HTML_TEMPLATE = "adoption_kit_report"     # nbconvert template: `lab` without CDN scripts
KERNEL_START_TIMEOUT = 60
# ipykernel 7.4 writes these at every kernel start/stop; they say nothing about the report.
HARMLESS_KERNEL_LINES = ("Kernel is running over TCP without encryption", "KeyboardInterrupt caught in kernel")


def _failure(spec: Mapping[str, Any], error: dict, duration: float) -> dict:
    return {"name": spec["name"], "ok": False, "duration_s": round(duration, 3), "error": error,
            "parameters": spec.get("effective", {}), "headline": {}}


_EXPORTER: Any = None


def _exporter() -> Any:
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert import HTMLExporter
        from nbconvert.preprocessors import TagRemovePreprocessor

        _EXPORTER = HTMLExporter(template_name=HTML_TEMPLATE, extra_template_basedirs=[str(TEMPLATES_DIR)],
                                 exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
        # Notes for template editors never reach a page, even from a notebook that still has them.
        _EXPORTER.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={EDITOR_NOTE_TAG}, enabled=True),
                                        enabled=True)
    return _EXPORTER


def _kernel_manager_class(sink: Any) -> type:
    """A kernel manager whose kernel writes its stderr to `sink` (kept for failures, not printed on the console)."""
    from jupyter_client.manager import AsyncKernelManager

    class _CapturedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw.setdefault("stderr", sink)
            return await super().start_kernel(**kw)

    return _CapturedKernelManager


def _render_one(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Execute one template with papermill, export HTML, then rename both into place and record the state."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

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
    warm = None
    # read by the kernel (charts.configure_offline_rendering): a fresh kernel inherits it, a warm one is told it
    os.environ[NOTEBOOK_PNG_ENV] = "1" if spec.get("notebook_png", True) else "0"
    if spec.get("warm"):
        from adoption_kit.render.warm import WARM_ENGINE, current_kernel

        warm = current_kernel()
        warm.max_reports = int(spec.get("kernel_reports") or warm.max_reports)
    with tempfile.TemporaryFile() as kernel_log:
        def execute() -> Any:
            kernel = ({"engine_name": WARM_ENGINE} if warm is not None
                      else {"kernel_manager_class": _kernel_manager_class(kernel_log)})
            return papermill.execute_notebook(
                spec["template_copy"], None, parameters=dict(spec["parameters"]), progress_bar=False,
                request_save_on_cell_execute=False, log_output=False, cwd=spec["run_dir"],
                start_timeout=KERNEL_START_TIMEOUT, timeout_func=remaining,
                on_notebook_start=on_notebook_start, on_cell_start=on_cell_start, on_cell_error=on_cell_error,
                **kernel)

        try:
            try:
                notebook = execute()
            except RuntimeError as exc:
                if seen["cell"] is not None or "before replying to kernel_info" not in str(exc):
                    raise
                # The kernel died while it was starting (seen on the rerun after a killed run, as a port is
                # taken between being picked and bound): no cell ran, so one fresh start is safe.
                notebook = execute()
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
        kernel_output = _kernel_lines(warm.output() if warm is not None
                                      else kernel_log.read().decode("utf-8", "replace"))

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

    assert notebook is not None   # papermill returned it: every failure above has returned already
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
    depth = spec["name"].count("/")
    stylesheet = None
    if spec.get("styles") == "linked":   # the CSS every report shares: once in the run folder's _assets
        body, css = split_head_styles(body)
        stylesheet = stylesheet_href(write_stylesheet(run_dir, f"{css}\n{page_css()}"), depth)
    body = finish_page(body, depth=depth, charts=spec.get("charts", "shared") != "static",
                       inline_bundle=_inline_bundle() if spec.get("charts") == "inline" else None,
                       stylesheet=stylesheet)
    html_path = run_dir / f"{spec['name']}.html"
    notebook_path = run_dir / f"{spec['name']}.ipynb"
    if spec.get("html_only"):
        with atomic_path(html_path) as html_part:
            html_part.write_text(body, encoding="utf-8")
        notebook_path.unlink(missing_ok=True)    # an earlier run's notebook would not match this page
    else:
        with atomic_path(notebook_path) as notebook_part, atomic_path(html_path) as html_part:
            _dump_notebook(notebook, notebook_part)
            html_part.write_text(body, encoding="utf-8")
    (run_dir / FAILED_DIR / f"{spec['name']}.ipynb").unlink(missing_ok=True)
    duration = round(time.monotonic() - started, 3)
    state = {"fingerprint": spec["fingerprint"], "kind": spec["kind"], "title": spec["title"],
             "template": spec["template"], "customer_id": spec["customer_id"],
             "customer_name": spec["customer_name"], "segment": spec["segment"],
             "parameters": spec["effective"], "headline": headline, "headline_order": list(headline),
             "duration_s": duration,
             "rendered_at": rendered_at, "kit_version": __version__}
    with atomic_path(_state_path(run_dir, spec["name"])) as state_part:
        state_part.write_text(json.dumps(state, indent=1, sort_keys=True, default=str), encoding="utf-8")
    return {"name": spec["name"], "ok": True, "duration_s": duration, "headline": headline,
            "parameters": spec["effective"], "rendered_at": rendered_at}


def _dump_notebook(notebook: Any, target: Path) -> None:
    """The executed notebook as nbformat writes it, but without its one-space indentation: a chart's spec is
    deeply nested, and indented it is two thirds whitespace. Any Jupyter reads it the same."""
    from nbformat.v4.nbjson import BytesEncoder
    from nbformat.v4.rwbase import split_lines, strip_transient

    text = json.dumps(strip_transient(split_lines(copy.deepcopy(notebook))), cls=BytesEncoder, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    target.write_text(text, encoding="utf-8")


def _write_notebook(notebook: Any, target: Path) -> None:
    with atomic_path(target) as part:
        _dump_notebook(notebook, part)


def _export_html(notebook: Any, title: str) -> str:
    body, _resources = _exporter().from_notebook_node(_for_html(notebook), resources={"metadata": {"name": title}})
    return body


def _for_html(notebook: Any) -> Any:
    """A copy for the HTML page: data-bearing HTML/Markdown outputs sanitized, scripts and the headline data dropped.

    The executed .ipynb keeps every output as it was; JupyterLab sanitizes untrusted HTML outputs the same way.
    """
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
            # a chart with its spec: the live chart over its SVG fallback; else its SVG, compactly encoded
            live = live_chart_html(data) or static_chart_html(data)
            if live is not None:
                data.clear()
                data["text/html"] = live
                continue
            for key in [k for k in data if k.startswith("application/vnd.") and "widget" in k]:
                data.pop(key)
            if "text/html" in data:
                data["text/html"] = sanitize_output_html(_joined(data["text/html"]))
            elif "text/markdown" in data:
                from nbconvert.filters.markdown_mistune import markdown2html_mistune

                data["text/html"] = sanitize_output_html(markdown2html_mistune(_joined(data["text/markdown"])))
                data.pop("text/markdown")
    # a code cell that shows nothing (imports, parameters, the headline) is an empty block of wrappers: left out
    page.cells = [cell for cell in page.cells if cell.get("cell_type") != "code" or cell.get("outputs")]
    return page


def _inline_bundle() -> str:
    from adoption_kit.report.charts.interactive import vega_bundle

    return vega_bundle()


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
