"""Runs inside a warm kernel between two reports (render.warm): the kit's own process-wide state back to what a
fresh kernel has, so that nothing of one customer's report reaches the next.

What the kit keeps per process (checked: lru_cache and module-level dicts in adoption_kit): the SKU catalog
(inputs.catalog, packaged data) and the Vega bundle text (report.charts.interactive, the pinned libraries):
neither holds customer data, both stay. Altair's automatic names (param_N, view_N) come from class counters:
set back so a warm kernel names them as a fresh one does. The user namespace itself is `%reset -f` (warm.py).
"""
from __future__ import annotations

import gc
import os
import sys


def between_reports(cwd: str, environment: dict[str, str | None] | None = None) -> None:
    """Into `cwd`; `environment`'s variables set (None: removed) as the next report's fresh kernel would have them."""
    os.chdir(cwd)
    for name, value in (environment or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    altair = sys.modules.get("altair")
    if altair is not None:
        for owner in (getattr(altair, "Parameter", None), getattr(altair, "TopLevelMixin", None),
                      getattr(getattr(altair, "vegalite", None), "v6", None)):
            for attribute in ("_counter", "_view_counter"):
                if owner is not None and isinstance(getattr(owner, attribute, None), int):
                    setattr(owner, attribute, 0)
    gc.collect()
