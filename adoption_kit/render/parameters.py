"""The templates' declared parameters: refuse unknown names and wrong types, and the values each notebook runs with.

`_check_templates` runs in a worker (the pool's first call) except on a dry run; papermill is imported inside it
so that the parent of a real run never pays its seconds of import time.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adoption_kit.render.plan import ReportJob
from adoption_kit.report.params import check_parameters

# Passed only to templates that declare them.
OPTIONAL_PARAMETERS = ("action_csv",)


def _check_templates(jobs: Sequence[ReportJob]) -> dict[Path, dict[str, dict]]:
    """Each distinct template's declared parameters, after refusing unknown names and wrong types.

    An OPTIONAL_PARAMETERS name the template does not declare is not passed (a partner's own
    low-adoption template without `action_csv`: the run writes the CSV itself).
    """
    import papermill

    declared: dict[Path, dict[str, dict]] = {}
    for job in jobs:
        if job.template not in declared:
            names = papermill.inspect_notebook(str(job.template))
            params = {k: v for k, v in job.parameters.items() if k in names or k not in OPTIONAL_PARAMETERS}
            declared[job.template] = check_parameters(job.template, params)
    return declared


def _passed(job: ReportJob, declared: Mapping[Path, Mapping[str, dict]]) -> dict[str, Any]:
    """The parameters papermill receives for `job`: the planned ones less optional names the template lacks."""
    names = declared.get(job.template, {})
    return {k: v for k, v in job.parameters.items() if k in names or k not in OPTIONAL_PARAMETERS}


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
