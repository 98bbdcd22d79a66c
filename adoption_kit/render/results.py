"""What a run did: the outcome of each report, the run's result, and a failure described in one line."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adoption_kit.render.layout import INDEX, MANIFEST
from adoption_kit.render.plan import ReportJob


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


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
