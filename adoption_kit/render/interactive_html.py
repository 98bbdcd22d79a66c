"""A chart output that carries its Vega-Lite spec (report.charts.interactive.INTERACTIVE_MIME), as report HTML:
a div.ak-chart holding the static SVG (the fallback without scripts, and what prints) and the spec in an
HTML-escaped data attribute for the kit's loader (templates/js/ak-charts.js) to draw live."""
from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, MutableMapping
from typing import Any

from adoption_kit.report.charts.interactive import INTERACTIVE_MIME


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


# The picture's alt text names no data: the SVG carries the chart's title and ARIA labels itself.
STATIC_ALT = "Chart (static picture; the live chart draws over it when scripts run)"


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
    encoded = base64.b64encode(_text(svg).encode("utf-8")).decode("ascii")
    spec_text = json.dumps(spec, separators=(",", ":"), ensure_ascii=False, default=str)
    return (f'<div class="ak-chart" data-ak-spec="{html.escape(spec_text, quote=True)}">'
            f'<img class="ak-static" alt="{html.escape(STATIC_ALT, quote=True)}" '
            f'src="data:image/svg+xml;base64,{encoded}"></div>')
