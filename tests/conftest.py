"""Shared test settings and fixtures.

- Every test run reads and writes its own parsed-input cache (adoption_kit.inputs.ParsedCache), never the
  project's .cache/, so that no run depends on what an earlier one left behind.
- `sample`: the analysis of the bundled sample (data/sample), computed once per session; frames are
  immutable, so tests share it safely.
- Markers: `kernel` (starts a Jupyter kernel) and `browser` (drives Chromium) are what `make test-fast` leaves out.
"""
from __future__ import annotations

import os

import pytest

from adoption_kit import analysis
from adoption_kit.config import SAMPLE_DIR


@pytest.fixture(autouse=True, scope="session")
def _own_parsed_cache(tmp_path_factory):
    # The analysis cache is off unless a test turns it on: tests that pin the date or replace a function would
    # otherwise be served an analysis another test computed (its key holds files, parameters and code, not those).
    names = ("ADOPTION_KIT_CACHE", "ADOPTION_KIT_ANALYSIS_CACHE")
    previous = {name: os.environ.get(name) for name in names}
    os.environ["ADOPTION_KIT_CACHE"] = str(tmp_path_factory.mktemp("parsed-cache"))
    os.environ["ADOPTION_KIT_ANALYSIS_CACHE"] = "off"
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def sample() -> analysis.Analysis:
    return analysis.prepare(SAMPLE_DIR)


# Module fixtures that render reports with real kernels: a test that uses one starts kernels too.
_KERNEL_FIXTURES = frozenset({"run", "stand_in_run", "hostile_run", "pseudonymized_run", "pages", "dask_cluster"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _KERNEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kernel)
