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


# ---------------------------------------------------------------------------
# How the report index shows the figures: labelled tiles in a fixed order, the customer table's columns
# ---------------------------------------------------------------------------
# (key, label, what the figure is). A key the report did not write is left out; the order is the reader's,
# not the order the figures were written in (a partial rerun keeps the same tiles in the same places).
PORTFOLIO_TILES: tuple[tuple[str, str, str], ...] = (
    ("customers", "Customers", "in the book"),
    ("deployment_rate", "Deployment", "licences sold that are assigned"),
    ("usage_rate", "Usage", "qualified users who are active"),
    ("licenses_idle", "Idle licences", "unassigned or assigned but inactive"),
    ("idle_cost_per_month", "Idle cost", "per month, where priced"),
    ("low_adoption_accounts", "Low-adoption accounts", "segments deploy and adopt"),
    ("renewal_queue_in_horizon", "Renewing soon", "low-adoption products whose seats can change within the horizon"),
    ("customers_data_check", "Data to check", "customers with usage above 100% or nothing sold"),
    ("trend_drops", "Usage drops", "sudden drops since the previous export"),
    ("data_processed", "Data date", "newest Partner Center export"),
)
LOW_ADOPTION_TILES: tuple[tuple[str, str, str], ...] = (
    ("accounts", "Accounts to act on", "customers in segments deploy and adopt"),
    ("accounts_deploy", "To deploy", "licences bought but not assigned"),
    ("accounts_adopt", "To adopt", "licences assigned but not used"),
    ("licenses_idle", "Idle licences", "on these accounts"),
    ("accounts_renewing_in_horizon", "Renewing soon", "seats can change within the horizon"),
    ("accounts_support_heavy", "Support-heavy", "many how-to tickets per 100 active users"),
    ("top_customer_name", "First on the list", "the most idle licences we are confident about"),
    ("data_processed", "Data date", "newest Partner Center export"),
)
KIT_REPORTS = frozenset({"portfolio-overview", "low-adoption-accounts"})
# Figures the index never shows as a tile (identifiers, bookkeeping, what the thresholds line says already).
INDEX_HIDDEN = frozenset({"report", "customer_id", "customer_name", "top_customer_id", "csv_rows", "currency",
                          "deploy_threshold", "adopt_threshold", "upsell_threshold"})
# The customer table of the index: what an account manager acts on (everything else: the customer's report, the
# CSV and the .xlsx workbook). (key, column heading)
CUSTOMER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("deployment_rate", "Deployment"),
    ("usage_rate", "Usage"),
    ("licenses_sold", "Licences sold"),
    ("licenses_idle", "Idle licences"),
    ("idle_cost_per_month", "Idle cost / month"),
    ("days_to_renewal", "Renewal in (days)"),
    ("low_adoption_rank", "List rank"),
    ("usage_change_points", "Usage change (pts)"),
)


def tiles_for(kind: str, figures: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(key, label, note) of the tiles a book report's figures fill, in the fixed order; a partner template's own
    figures follow in the order it wrote them, labelled from their names."""
    fixed = PORTFOLIO_TILES if kind == "portfolio" else LOW_ADOPTION_TILES if kind == "low_adoption" else ()
    known = {key for key, _, _ in fixed}
    shown = [(key, label, note) for key, label, note in fixed if key in figures]
    if figures.get("report") in KIT_REPORTS:      # the kit's own template: its other figures are in the report
        return shown
    return shown + [(key, key.replace("_", " ").capitalize(), "") for key in figures
                    if key not in known and key not in INDEX_HIDDEN]
