"""A chart output that carries its Vega-Lite spec (report.charts.interactive.INTERACTIVE_MIME), as report HTML:
a div.ak-chart holding the static SVG (the fallback without scripts, and what prints) and the spec in an
HTML-escaped data attribute (single-quoted) for the kit's loader (templates/js/ak-charts.js) to draw live."""
from __future__ import annotations

import html
import json
from collections.abc import Mapping, MutableMapping
from typing import Any

from adoption_kit.render.svg_uri import svg_data_uri
from adoption_kit.report.charts.interactive import INTERACTIVE_MIME


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


# The picture's alt text names no data (the chart's title is the text beside it).
STATIC_ALT = "Chart (static picture; the live chart draws over it when scripts run)"
PICTURE_ALT = "Chart (static picture)"


def live_chart_html(data: MutableMapping[str, Any]) -> str | None:
    """The div for an output bundle with both a spec and an SVG; None for any other output."""
    spec = data.get(INTERACTIVE_MIME)
    svg = data.get("image/svg+xml")
    if spec is None or svg is None:
        return None
    if isinstance(spec, str):
        spec = json.loads(spec)
    if not isinstance(spec, Mapping):
        return None
    spec_text = json.dumps(spec, separators=(",", ":"), ensure_ascii=False, default=str)
    # Single-quoted: the spec's many double quotes stay as they are (escaped, each would take six bytes). An
    # apostrophe (only ever inside a JSON string) is written \u0027: the same JSON, and no quote to escape.
    attribute = html.escape(spec_text.replace("'", "\\u0027"), quote=False)
    return (f"<div class=\"ak-chart\" data-ak-spec='{attribute}'>"
            f'<img class="ak-static" alt="{html.escape(STATIC_ALT, quote=True)}" '
            f'src="{svg_data_uri(_text(svg))}"></div>')


def static_chart_html(data: MutableMapping[str, Any]) -> str | None:
    """The div for an SVG output without a spec (a static chart): its picture as a compact data URL."""
    svg = data.get("image/svg+xml")
    if svg is None or INTERACTIVE_MIME in data:
        return None
    return (f'<div class="ak-static-chart"><img class="ak-static" alt="{html.escape(PICTURE_ALT, quote=True)}" '
            f'src="{svg_data_uri(_text(svg))}"></div>')
