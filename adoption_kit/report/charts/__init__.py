"""Altair chart builders for the metric frames: frame in, chart object out; they never display, save or print.

One module per chart family (common: colours, formats and frame/axis helpers; quadrant, trends, distribution,
heatmap, bars), `offline`, the renderer that turns a chart into SVG + PNG with vl-convert (no network; the SVG
made compact by `compact_svg`, the PNG only where a notebook is meant for JupyterLab), and
`interactive`: the chart's spec for live HTML charts, the offline JavaScript bundle, the JupyterLab renderer.
`fonts`: the font vl-convert measures static charts' labels with (DejaVu Sans's widths, registered once).
The public names are re-exported here: `from adoption_kit.report import charts; charts.product_bars(...)`.

Imports config, errors, altair and polars only; never render, cli or the rest of the pipeline. No pandas or
pyarrow at import time (pandas input frames are converted lazily, in common._frame).
"""
from __future__ import annotations

from adoption_kit.report.charts.bars import product_bars, segment_counts, workload_usage_bars
from adoption_kit.report.charts.common import (
    ALTAIR_MAX_ROWS,
    ARIA_MAX_POINTS,
    DEPLOYMENT_AXIS_TITLE,
    FLAGGED_SEGMENTS,
    HEATMAP_SCHEME,
    HUNDRED_COLOR,
    INT_TIP,
    NA_CELL_COLOR,
    NEUTRAL_COLOR,
    PCT_AXIS,
    PCT_TIP,
    RULE_COLOR,
    SEGMENT_COLORS,
    SEGMENT_ORDER,
    STATUS_ABOVE_100,
    STATUS_BELOW_ADOPT,
    STATUS_BELOW_DEPLOY,
    STATUS_COLORS,
    STATUS_OK,
    USAGE_AXIS_TITLE,
    WORKLOAD_ORDER,
)
from adoption_kit.report.charts.distribution import rate_distribution
from adoption_kit.report.charts.heatmap import workload_heatmap
from adoption_kit.report.charts.interactive import (
    INTERACTIVE_MIME,
    enable_lab_interactive,
    interactive_allowed,
    lab_renderer,
    static_only,
)
from adoption_kit.report.charts.offline import RENDERER_NAME, configure_offline_rendering, offline_renderer
from adoption_kit.report.charts.peers import peer_distribution
from adoption_kit.report.charts.quadrant import MAX_MOVES, adoption_quadrant, select_for_display, select_moves
from adoption_kit.report.charts.trends import customer_trend, portfolio_trend

__all__ = [
    "SEGMENT_ORDER",
    "SEGMENT_COLORS",
    "FLAGGED_SEGMENTS",
    "STATUS_COLORS",
    "RENDERER_NAME",
    "adoption_quadrant",
    "select_for_display",
    "rate_distribution",
    "workload_heatmap",
    "segment_counts",
    "product_bars",
    "workload_usage_bars",
    "select_moves",
    "portfolio_trend",
    "customer_trend",
    "peer_distribution",
    "offline_renderer",
    "configure_offline_rendering",
    "INTERACTIVE_MIME",
    "enable_lab_interactive",
    "interactive_allowed",
    "lab_renderer",
    "static_only",
    # constants the tests and callers read as charts.X
    "ALTAIR_MAX_ROWS", "ARIA_MAX_POINTS", "DEPLOYMENT_AXIS_TITLE", "USAGE_AXIS_TITLE", "HEATMAP_SCHEME",
    "HUNDRED_COLOR", "INT_TIP", "MAX_MOVES", "NA_CELL_COLOR", "NEUTRAL_COLOR", "PCT_AXIS", "PCT_TIP",
    "RULE_COLOR", "STATUS_ABOVE_100", "STATUS_BELOW_ADOPT", "STATUS_BELOW_DEPLOY", "STATUS_OK", "WORKLOAD_ORDER",
]
