"""Shared test settings: every test run reads and writes its own parsed-input cache (adoption_kit.inputs.ParsedCache),
never the project's .cache/, so that no run depends on what an earlier one left behind."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _own_parsed_cache(tmp_path_factory):
    previous = os.environ.get("ADOPTION_KIT_CACHE")
    os.environ["ADOPTION_KIT_CACHE"] = str(tmp_path_factory.mktemp("parsed-cache"))
    yield
    if previous is None:
        os.environ.pop("ADOPTION_KIT_CACHE", None)
    else:
        os.environ["ADOPTION_KIT_CACHE"] = previous
