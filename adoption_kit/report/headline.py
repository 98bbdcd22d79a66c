"""Headline figures for the report index: the flat figures bundle and its display (the template's last cell)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from adoption_kit.analysis import Analysis
from adoption_kit.errors import ParameterError
from adoption_kit.report.format import format_date

# The executed notebook's cell tagged `headline` holds one display_data output of this MIME type: a flat
# JSON object of figures (str, int, float, bool or null values) that the report index reads.
HEADLINE_MIME = "application/json"
HEADLINE_TAG = "headline"


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), digits)


def _common_figures(analysis: Analysis) -> dict[str, Any]:
    t = analysis.thresholds
    return {
        "data_processed": format_date(analysis.processed_at_max) if analysis.processed_at_max else None,
        "deploy_threshold": t.deploy,
        "adopt_threshold": t.adopt,
        "upsell_threshold": t.upsell,
    }


def headline_bundle(figures: Mapping[str, Any]) -> dict[str, Any]:
    """The MIME bundle of the headline output: HEADLINE_MIME -> the flat figures, text/plain -> one per line."""
    if not isinstance(figures, Mapping) or not figures:
        raise ParameterError("headline figures must be a non-empty dict")
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        if not isinstance(key, str):
            raise ParameterError(f"headline figure names must be text, not {key!r}")
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ParameterError(f"headline figure {key!r} must be text, a number, true/false or null, "
                                 f"not {type(value).__name__}")
        flat[key] = value
    return {HEADLINE_MIME: flat, "text/plain": "\n".join(f"{k}: {v}" for k, v in flat.items())}


def headline(figures: Mapping[str, Any]) -> None:
    """Display the headline figures as display_data (HEADLINE_MIME):
    the last cell of each template, tagged `headline`."""
    # Lazy on purpose: a kernel has IPython loaded already, while the callers of headline_bundle outside one
    # (the index, the tests) would pay ~0.1 s for an import they never use.
    from IPython.display import display

    display(headline_bundle(figures), raw=True)
