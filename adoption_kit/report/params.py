"""The report templates (where they are) and their parameters:
papermill-side checks and the checks inside the notebooks."""
from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adoption_kit.config import REPORT_TEMPLATES_DIR, TEMPLATE_FILES
from adoption_kit.errors import ParameterError
from adoption_kit.values import check_whole_number, is_whole_number, parse_today

__all__ = ["TEMPLATES", "check_parameters", "check_whole_number", "parse_today", "template_parameters"]

# The report templates (rendered by `adoption-kit report`, tested by nbval); keys are the report names.
TEMPLATES: Mapping[str, Path] = {file.split("-", 1)[1].removesuffix(".ipynb"): REPORT_TEMPLATES_DIR / file
                                  for file in TEMPLATE_FILES.values()}


# ---------------------------------------------------------------------------
# Template parameters (papermill)
# ---------------------------------------------------------------------------
def template_parameters(notebook_path: str | Path) -> dict[str, dict]:
    """The parameters a template declares: name -> {name, inferred_type_name, default, help} (papermill's view)."""
    # Lazy on purpose: papermill imports pyarrow, and every report kernel imports this module (check_whole_number).
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
        return is_whole_number(value)
    if expected == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return True  # no annotation: papermill passes anything


# ---------------------------------------------------------------------------
# Scalar parameters checked inside the notebooks
# ---------------------------------------------------------------------------
