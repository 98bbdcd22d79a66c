"""Offline rendering: compact SVG (for nbconvert HTML) + PNG (for untrusted notebooks in JupyterLab, where wanted),
via vl-convert."""
from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from typing import Any

import altair as alt

from adoption_kit.config import NOTEBOOK_PNG_ENV
from adoption_kit.errors import ParameterError
from adoption_kit.report.charts.common import report_style
from adoption_kit.report.charts.compact_svg import compact_svg
from adoption_kit.report.charts.fonts import register_measure_font
from adoption_kit.report.charts.interactive import INTERACTIVE_MIME, vl_version, wants_interactive
from adoption_kit.values import visible_text

RENDERER_NAME = "adoption_kit_offline"


_vl_version = vl_version


def _png_size(png: bytes) -> tuple[int, int]:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("vl-convert did not return a PNG")
    return struct.unpack(">II", png[16:24])


def _plain_title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return str(title) if title else "chart"


def chart_safe(value: Any) -> Any:
    """Every text of a chart spec with controls and U+2028/U+2029 shown as escapes (`values.visible_text`):
    Vega compiles sort orders and filters holding data text into expressions, where a raw line separator is
    "Unexpected token ILLEGAL". Applied to the whole spec, so a name and the sort order listing it still match."""
    if isinstance(value, str):
        return visible_text(value)
    if isinstance(value, Mapping):
        return {chart_safe(k): chart_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [chart_safe(v) for v in value]
    return value


def notebook_png_wanted() -> bool:
    """Charts carry a PNG copy unless $ADOPTION_KIT_NOTEBOOK_PNG is 0/false/no/off (config.NOTEBOOK_PNG_ENV)."""
    return os.environ.get(NOTEBOOK_PNG_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def offline_renderer(spec: dict, *, png_scale: float = 2.0, interactive: bool = False, png: bool = True,
                     **_: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """altair renderer: the chart as SVG and PNG (vl-convert, no network), same spec -> same bytes.

    nbconvert's HTML export prefers the SVG (vector, searchable); JupyterLab shows the PNG because it
    will not display SVG from an untrusted notebook (every papermill output is untrusted).

    The PNG is rasterised from the SVG (`svg_to_png`): the same bytes as `vegalite_to_png`, which would
    run the chart through Vega-Lite and Vega a second time, at a third of the cost or less.

    `interactive`: the spec itself goes into the bundle too (INTERACTIVE_MIME), unless the chart opted out
    (interactive.static_only); the HTML export draws it live from that, keeping the SVG as the fallback.
    """
    import vl_convert as vlc

    register_measure_font()
    spec = report_style(chart_safe(spec))
    svg = compact_svg(vlc.vegalite_to_svg(spec, vl_version=_vl_version()))
    bundle: dict[str, Any] = {"image/svg+xml": svg, "text/plain": f"<chart: {_plain_title(spec)}>"}
    metadata: dict[str, Any] = {}
    if png:
        picture = vlc.svg_to_png(svg, scale=png_scale, ppi=72)
        width, height = _png_size(picture)
        bundle["image/png"] = picture
        metadata["image/png"] = {"width": round(width / png_scale), "height": round(height / png_scale)}
    if interactive and wants_interactive(spec):
        bundle[INTERACTIVE_MIME] = spec
    return bundle, metadata


def display_unvalidated(chart: alt.TopLevelMixin) -> Any:
    """A chart's display in a report kernel: what altair's own `_repr_mimebundle_` shows, through the enabled
    renderer, without checking the spec against the Vega-Lite JSON schema first. The check cost a customer report
    about 0.3 s of its 2 s (jsonschema walking every chart, about 0.09 s each) and finds nothing at run
    time: the kit's builders make the same spec shapes every time, and the check is made in the tests instead
    (test_charts.py::test_every_chart_a_template_draws_is_a_valid_vega_lite_spec, and every test that renders
    a chart through altair's own path)."""
    renderer = alt.renderers.get()
    if renderer is None:
        return None
    return renderer(chart.to_dict(validate=False, context={"pre_transform": False}))


def _display_charts_unvalidated() -> None:
    try:
        from IPython import get_ipython
    except ImportError:   # pragma: no cover - IPython comes with every kernel
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.mimebundle_formatter.for_type(alt.TopLevelMixin, display_unvalidated)


def configure_offline_rendering(*, png_scale: float = 2.0, interactive: bool = False,
                                png: bool | None = None) -> str:
    """Make altair charts render offline as SVG + PNG in notebooks; returns the renderer name.

    `png`: a PNG copy beside each SVG, for the notebook opened in JupyterLab (which shows no SVG of an untrusted
    notebook); None: unless $ADOPTION_KIT_NOTEBOOK_PNG says 0 (`adoption-kit report` sets it per report: on for the
    portfolio and low-adoption notebooks, off for customer notebooks unless --notebook-png). The HTML uses the SVG.

    `interactive=True` also puts each chart's spec in its output, for the HTML report's live chart (tooltips,
    hover): only for an audience allowed to see every row a chart holds (interactive.interactive_allowed).

    In an IPython kernel, charts are then displayed without the JSON-schema check (`display_unvalidated`).

    Also puts the data transformer back to 'default' (inline data; the json/csv transformers write
    side files and leave charts empty in exported HTML) with altair's 5,000-row limit kept on: the
    chart builders here never pass more rows than that.
    """
    if not png_scale > 0:
        raise ParameterError(f"png_scale={png_scale!r} must be positive")
    alt.renderers.register(RENDERER_NAME, offline_renderer)
    alt.renderers.enable(RENDERER_NAME, png_scale=png_scale, interactive=bool(interactive),
                         png=notebook_png_wanted() if png is None else bool(png))
    alt.data_transformers.enable("default")  # also restores max_rows=5000 if someone disabled it
    _display_charts_unvalidated()
    return RENDERER_NAME
