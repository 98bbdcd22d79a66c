"""The templates' declared parameters: refuse unknown names and wrong types, and the values each notebook runs with."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from adoption_kit.errors import ParameterError
from adoption_kit.render.plan import ReportJob


# Passed only to templates that declare them.
OPTIONAL_PARAMETERS = ("action_csv",)


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
        from adoption_kit.report.notebooks import check_parameters
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
