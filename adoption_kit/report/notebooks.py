"""What the report templates need besides text: where they are, parameter checks (for papermill callers and the notebooks) and the CRM action list."""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis, resolve_path
from adoption_kit.config import PROJECT_ROOT, REPORT_TEMPLATES_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.store import Written, write_table

# The report templates (rendered by `adoption-kit report`, tested by nbval); keys are the report names.
TEMPLATES: Mapping[str, Path] = {
    "portfolio-overview": REPORT_TEMPLATES_DIR / "10-portfolio-overview.ipynb",
    "customer-insights": REPORT_TEMPLATES_DIR / "20-customer-insights.ipynb",
    "low-adoption-accounts": REPORT_TEMPLATES_DIR / "30-low-adoption-accounts.ipynb",
}

# Columns of the CRM-ready low-adoption CSV, in order (rates as percentages with one decimal).
ACTION_COLUMNS: tuple[str, ...] = (
    "rank", "customer_id", "customer_name", "segment", "deployment_pct", "usage_pct",
    "licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active",
    "licenses_unassigned", "licenses_inactive", "licenses_idle", "idle_share_pct", "priority_score",
    "next_step",
    # the work queue (Analysis.book): empty cells where the subscriptions, price list or tickets are missing
    "days_to_renewal", "renewal_date", "renewal_queue_rank", "idle_cost_per_month", "currency",
    "support_heavy", "how_to_per_100", "support_next_step",
    "data_processed",
)

# An absolute path (POSIX or Windows) that starts a word: "/work/x/file.json" or "C:\\x\\file.json".
_ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"(])(?:[A-Za-z]:)?[\\/](?:[^\s:\\/'\"]+[\\/])+([^\s:\\/'\"]+)")


# ---------------------------------------------------------------------------
# Template parameters (papermill)
# ---------------------------------------------------------------------------
def template_parameters(notebook_path: str | Path) -> dict[str, dict]:
    """The parameters a template declares: name -> {name, inferred_type_name, default, help} (papermill's view)."""
    import papermill

    path = Path(notebook_path)
    if not path.is_file():
        raise ParameterError(f"{path.name}: no such notebook template (expected one of "
                             f"{', '.join(p.name for p in TEMPLATES.values())})")
    declared = papermill.inspect_notebook(str(path))
    if not declared:
        raise ParameterError(f"{path.name}: no cell tagged 'parameters', so it takes no parameters")
    return declared


def check_parameters(notebook_path: str | Path, params: Mapping[str, Any]) -> dict[str, dict]:
    """Refuse parameters a template does not declare or whose type does not fit; returns the declared parameters.

    papermill only warns about an unknown name and then runs on the default, so a typo such as
    `deploy_treshold=0.9` would silently produce a report at 0.8: call this before executing.
    Types follow the annotations of the parameters cell: str, int (not bool), float (int or float, finite).
    """
    path = Path(notebook_path)
    declared = template_parameters(path)
    unknown = [name for name in params if name not in declared]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ParameterError(f"{path.name}: unknown parameter{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(hints)}; valid parameters: {', '.join(declared)}")
    problems = []
    for name, value in params.items():
        expected = declared[name]["inferred_type_name"]
        if not _fits(value, expected):
            problems.append(f"{name}={value!r} is not a {expected} (default {declared[name]['default']})")
    if problems:
        raise ParameterError(f"{path.name}: " + "; ".join(problems))
    return declared


def _fits(value: Any, expected: str) -> bool:
    if expected == "str":
        return isinstance(value, str)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return True  # no annotation: papermill passes anything


# ---------------------------------------------------------------------------
# Scalar parameters checked inside the notebooks
# ---------------------------------------------------------------------------
def check_whole_number(name: str, value: Any, *, minimum: int = 0, maximum: int | None = None) -> int:
    """A whole-number parameter within [minimum, maximum], or a ParameterError saying what is expected."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum \
        and (maximum is None or value <= maximum)
    if not ok:
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ParameterError(f"{name}={value!r} must be a whole number of at least {minimum}{upper}")
    return value


def parse_today(today: str) -> datetime:
    """The `today` parameter: "" = now (UTC); YYYY-MM-DD = the end of that day, UTC (pins the staleness check)."""
    if not isinstance(today, str):
        raise ParameterError(f"today={today!r} must be a text date YYYY-MM-DD, or empty for now")
    if not today.strip():
        return datetime.now(timezone.utc)
    try:
        day = datetime.strptime(today.strip(), "%Y-%m-%d")
    except ValueError:
        raise ParameterError(f"today={today!r} is not a date; write YYYY-MM-DD, or leave it empty for now") from None
    return day.replace(hour=23, minute=59, second=59, tzinfo=timezone.utc)


def shown_path(path: str | Path) -> str:
    """A path as it may appear in a shared report: relative to the project folder when inside it, else its name."""
    resolved = resolve_path(path)
    try:
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return resolved.name


def strip_paths(text: str) -> str:
    """Replace absolute file paths in a message (loader warnings name their files) by the file names."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


# ---------------------------------------------------------------------------
# The CRM action list (low-adoption accounts)
# ---------------------------------------------------------------------------
def action_list(analysis: Analysis) -> pl.DataFrame:
    """Every ranked low-adoption account as CRM columns (ACTION_COLUMNS); rates as percentages, one decimal."""
    processed = analysis.processed_at_max
    stamp = f"{processed:%Y-%m-%d}" if processed is not None else None

    def pct(column: str) -> pl.Expr:
        return (pl.col(column) * 100).round(1)

    return work_queue_columns(analysis, analysis.ranking.sort("rank")).select(
        "rank", "customer_id", "customer_name", "segment",
        pct("deployment_rate").alias("deployment_pct"),
        pct("usage_rate").alias("usage_pct"),
        "licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active",
        "licenses_unassigned", "licenses_inactive", "licenses_idle",
        pct("idle_share").alias("idle_share_pct"),
        pl.col("priority_score").round(1),
        "next_step",
        "days_to_renewal", "renewal_date", "renewal_queue_rank",
        pl.col("idle_cost_per_month").round(2), "currency", "support_heavy",
        pl.col("how_to_per_100").round(1), "support_next_step",
        pl.lit(stamp, dtype=pl.String).alias("data_processed"),
    )


def work_queue_columns(analysis: Analysis, customers: pl.DataFrame) -> pl.DataFrame:
    """`customers` (one row per customer_id) with days_to_renewal, renewal_date, renewal_queue_rank,
    idle_cost_per_month, currency, support_heavy, how_to_per_100 and support_next_step from Analysis.book
    (null where the input is missing)."""
    book = analysis.book
    renewals = book.customer_renewals.select("customer_id", "days_to_renewal", pl.col("change_at").alias("renewal_date"),
                                             pl.col("queue_rank").alias("renewal_queue_rank"))
    cost = book.idle_cost_customers.select("customer_id", "idle_cost_per_month", "currency")
    support = book.support.select("customer_id", "support_heavy", "how_to_per_100", "support_next_step")
    out = customers
    for frame in (renewals, cost, support):
        out = out.join(frame, on="customer_id", how="left", maintain_order="left")
    return out


def write_action_list(analysis: Analysis, action_csv: str) -> Written | None:
    """Write `action_list` to `action_csv` (relative = project folder) as a formula-safe CSV; "" writes nothing."""
    if not isinstance(action_csv, str):
        raise ParameterError(f"action_csv={action_csv!r} must be a file name ending in .csv, or empty")
    if not action_csv.strip():
        return None
    target = resolve_path(action_csv.strip())
    if target.suffix.lower() != ".csv":
        raise ParameterError(f"action_csv={action_csv!r} must end in .csv (a CRM import file), or be empty")
    return write_table(action_list(analysis), target)
