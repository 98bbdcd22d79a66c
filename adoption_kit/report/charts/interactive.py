"""Interactive charts, offline: the Vega-Lite spec travels beside the static SVG/PNG, and the JavaScript comes
from the pinned vl-convert package (its Vega, Vega-Lite and vega-embed bundle), never from a CDN.

Three places use it:
  - the HTML reports: `offline_renderer` adds INTERACTIVE_MIME (the spec) to a chart's output when interactive
    rendering is on; the render stage turns it into a `div.ak-chart` that keeps the SVG as its fallback and
    the kit's loader script (adoption_kit/templates/ak-charts.js) draws the live chart into it;
  - JupyterLab: `lab_renderer` (enable_lab_interactive) emits HTML that loads the bundle once per kernel and
    draws with vega-embed, with the PNG both inside that HTML and beside it in the same output bundle;
  - hover highlighting: `hover` / `hover_opacity` / `hover_stroke`, used by the quadrant and trend builders.

Privacy: a spec carries every row the chart was given (names, counts), more than the picture shows; a chart
for the `customer` audience must not carry other customers' rows, so interactivity is off for that audience
(`interactive_allowed`) and any single chart can opt out (`static_only`).
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import altair as alt

from adoption_kit.config import PROJECT_ROOT

INTERACTIVE_MIME = "application/vnd.adoption-kit.vegalite+json"   # '+json': nbformat stores it as an object
USERMETA_KEY = "adoption_kit"
LAB_RENDERER_NAME = "adoption_kit_lab"
# Audiences whose reports may carry a chart's full spec. 'customer' (a report sent to the customer) may not:
# a spec's data holds every row the chart was built from.
INTERACTIVE_AUDIENCES = frozenset({"internal"})
# vega-bundle-<vl-convert version>-<Vega-Lite version>.js, built once per machine (vl-convert takes ~4 s).
BUNDLE_CACHE_DIR: Path = PROJECT_ROOT / ".cache" / "js"


def interactive_allowed(audience: str | None) -> bool:
    """Whether charts for `audience` may be interactive (carry their spec): internal yes, customer no."""
    return (audience or "internal") in INTERACTIVE_AUDIENCES


def static_only(chart: Any) -> Any:
    """Opt one chart out of interactivity: it renders as SVG/PNG only, its spec stays out of the output."""
    current = getattr(chart, "usermeta", alt.Undefined)
    meta = dict(current) if isinstance(current, Mapping) else {}
    meta[USERMETA_KEY] = {**meta.get(USERMETA_KEY, {}), "interactive": False}
    return chart.properties(usermeta=meta)


def wants_interactive(spec: Mapping[str, Any]) -> bool:
    """False when the chart opted out (static_only)."""
    meta = spec.get("usermeta") or {}
    return bool((meta.get(USERMETA_KEY) or {}).get("interactive", True))


# ---------------------------------------------------------------------------
# Hover highlighting (a point selection on pointer-over; nothing selected when the pointer is elsewhere, so the
# static rendering looks as before)
# ---------------------------------------------------------------------------
def hover(name: str, field: str) -> Any:
    return alt.selection_point(name=name, on="pointerover", clear="pointerout", fields=[field], empty=False,
                               nearest=False)


def hover_opacity(selection: Any, base: float) -> Any:
    return alt.condition(selection, alt.value(1.0), alt.value(base))


def hover_stroke(selection: Any, base: float, hovered: float) -> Any:
    return alt.condition(selection, alt.value(hovered), alt.value(base))


# ---------------------------------------------------------------------------
# The JavaScript bundle (Vega, Vega-Lite, vega-embed; from vl-convert, offline)
# ---------------------------------------------------------------------------
_BUNDLE: dict[str, str] = {}


def vl_version() -> str:
    """vl-convert's name for altair's Vega-Lite version: 'v6.4.1' -> 'v6_4'."""
    return "_".join(alt.SCHEMA_VERSION.split(".")[:2])


def bundle_versions() -> dict[str, str]:
    import vl_convert as vlc

    return {"vega": vlc.get_vega_version(), "vega-lite": alt.SCHEMA_VERSION.lstrip("v"),
            "vega-embed": vlc.get_vega_embed_version(), "vl-convert-python": _vl_convert_version()}


def _vl_convert_version() -> str:
    from importlib.metadata import version

    return version("vl-convert-python")


def vega_bundle() -> str:
    """The JavaScript of Vega, Vega-Lite and vega-embed (globals vega, vegaLite, vegaEmbed), ~0.9 MB.

    Built by vl-convert from the versions it pins (no network); cached in memory and in BUNDLE_CACHE_DIR
    (ADOPTION_KIT_JS_CACHE=DIR overrides, `off` disables) because building it takes seconds.
    """
    key = f"vega-bundle-{_vl_convert_version()}-{vl_version()}.js"
    if key in _BUNDLE:
        return _BUNDLE[key]
    setting = os.environ.get("ADOPTION_KIT_JS_CACHE", "")
    cache = None if setting.lower() == "off" else (Path(setting) if setting else BUNDLE_CACHE_DIR) / key
    text = None
    if cache is not None and cache.is_file():
        text = cache.read_text(encoding="utf-8")
    if not text:
        import vl_convert as vlc

        text = vlc.javascript_bundle(vl_version=vl_version().replace("_", "."))  # type: ignore[call-arg]
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                part = cache.with_name(f".{cache.name}.{os.getpid()}.part")
                part.write_text(text, encoding="utf-8")
                part.replace(cache)
            except OSError:
                pass    # a read-only checkout still works, it just rebuilds the bundle
    if "</script" in text.lower():   # it could not be inlined in a page
        raise RuntimeError("the vl-convert bundle contains '</script': it cannot be inlined")
    _BUNDLE[key] = text
    return text


def bundle_sha256() -> str:
    return hashlib.sha256(vega_bundle().encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# JupyterLab: HTML with the bundle loaded once per kernel, the PNG inside it and beside it
# ---------------------------------------------------------------------------
_LAB_STATE = {"bundle_sent": False}
EMBED_OPTIONS = {"renderer": "svg", "actions": False, "ast": True}   # ast: Vega's interpreter, no eval


def _lab_html(spec: Mapping[str, Any], png_b64: str, width: int, height: int, *, with_bundle: bool) -> str:
    target = f"ak-{uuid.uuid4().hex[:12]}"
    spec_json = json.dumps(spec, separators=(",", ":"), default=str).replace("<", "\\u003c")
    boot = (
        "(function(){var el=document.getElementById(TARGET);if(!el)return;"
        "if(!window.vegaEmbed){el.setAttribute('title','Static picture: run charts.enable_lab_interactive() "
        "again after reloading the page for a live chart');return;}"
        "var live=document.createElement('div');el.appendChild(live);"
        "window.vegaEmbed(live,SPEC,OPTIONS).then(function(){var i=el.querySelector('img.ak-static');"
        "if(i)i.style.display='none';el.classList.add('ak-ready');}).catch(function(e){live.remove();"
        "el.setAttribute('data-ak-error',String(e));});})();"
    ).replace("TARGET", json.dumps(target)).replace("OPTIONS", json.dumps(EMBED_OPTIONS)).replace("SPEC", spec_json)
    bundle = f"<script>{vega_bundle()}</script>" if with_bundle else ""
    return (f'{bundle}<div id="{target}" class="ak-lab-chart"><img class="ak-static" alt="{html.escape(_title(spec))}"'
            f' width="{width}" height="{height}" src="data:image/png;base64,{png_b64}"></div><script>{boot}</script>')


def _title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return str(title) if title else "chart"


def lab_renderer(spec: dict, *, png_scale: float = 2.0, **_: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """altair renderer for a live JupyterLab session: text/html (vega-embed, offline) + image/png + text/plain.

    Lab shows the HTML of a trusted output (one you just ran): the live chart. A saved notebook reopened is
    untrusted: Lab drops the scripts and shows the PNG kept inside the HTML; other viewers show the image/png.
    """
    import base64

    from adoption_kit.report.charts.offline import offline_renderer

    bundle, metadata = offline_renderer(spec, png_scale=png_scale, interactive=False)
    size = metadata.get("image/png", {})
    png_b64 = base64.b64encode(bundle["image/png"]).decode("ascii")
    if not wants_interactive(spec):
        return {"image/png": bundle["image/png"], "text/plain": bundle["text/plain"]}, metadata
    with_bundle = not _LAB_STATE["bundle_sent"]
    _LAB_STATE["bundle_sent"] = True
    page = _lab_html(spec, png_b64, size.get("width", 0), size.get("height", 0), with_bundle=with_bundle)
    return {"text/html": page, "image/png": bundle["image/png"], "text/plain": bundle["text/plain"]}, metadata


def enable_lab_interactive(*, png_scale: float = 1.0) -> str:
    """Make the kit's charts interactive in a live JupyterLab session, offline; returns the renderer name.

    The next chart's output carries the ~0.9 MB bundle (once per kernel, or again after this call: call it
    again after reloading the browser page). Reports rendered by papermill keep the SVG/PNG renderer.
    """
    alt.renderers.register(LAB_RENDERER_NAME, lab_renderer)
    alt.renderers.enable(LAB_RENDERER_NAME, png_scale=png_scale)
    alt.data_transformers.enable("default")
    _LAB_STATE["bundle_sent"] = False
    return LAB_RENDERER_NAME
