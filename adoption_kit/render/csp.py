"""The content policy of every HTML page the kit writes: a Content-Security-Policy meta tag, and the kit's own
scripts (table sorting, the live-chart loader) added to the page and allowed by their SHA-256.

The policy: `default-src 'none'` (nothing is fetched: no network, no file), `script-src` = the hashes of the
kit's inline scripts plus 'strict-dynamic' (the hashed chart loader may add the run folder's
_assets/vega-bundle.js as a script element; a `<script>` written into the page, inline or with a src, is
refused), styles inline or from the run folder's one stylesheet (render.styles: 'self'), images and fonts
from data: URLs only, no base URL, no form target.
So a customer name that escaped escaping and the sanitizer still could not run: the browser refuses it.

Why not hash the bundle file: over file:// Chromium cannot check a script's integrity attribute (it needs CORS),
so an external script cannot be allowed by hash; the loader's path is part of its hashed text instead.
"""
from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

from adoption_kit.render.layout import TEMPLATES_DIR

JS_DIR = TEMPLATES_DIR / "js"
ASSETS_DIR = "_assets"                     # in the run folder: the JavaScript every report shares
BUNDLE_FILE = "vega-bundle.js"
BUNDLE_PLACEHOLDER = "__AK_BUNDLE__"
CHART_MODES = ("shared", "inline", "static")   # render_reports(charts=...): see finish_page
MAX_DEPTH = 3                              # report pages sit at most this deep below the run folder
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_STYLESHEET = re.compile(r"(\.\./)*_assets/report-[0-9a-f]{16}\.css")
_POLICY = re.compile(r'<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"', re.IGNORECASE)


def _js(name: str) -> str:
    return (JS_DIR / name).read_text(encoding="utf-8")


def script_hash(text: str) -> str:
    """The CSP source for an inline script: 'sha256-<base64 of the SHA-256 of its UTF-8 text>'."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def bundle_path(depth: int) -> str:
    """The run folder's bundle as seen from a page `depth` folders below it ('../' * depth + '_assets/...')."""
    return "../" * depth + f"{ASSETS_DIR}/{BUNDLE_FILE}"


def _compact_js(text: str) -> str:
    """The kit's script as the page carries it: without its comments, indentation and blank lines (the source
    in templates/js keeps them). The scripts use no template literals, so no string spans lines."""
    text = re.sub(r"\A/\*.*?\*/\n", "", text, flags=re.DOTALL)
    lines = (line.strip() for line in text.splitlines())
    text = "\n".join(line for line in lines if line and not line.startswith("//"))
    return re.sub(r"\s{2,}// [^\"'\n]*$", "", text, flags=re.MULTILINE)


def tables_script() -> str:
    return _compact_js(_js("ak-tables.js"))


def charts_script(bundle: str) -> str:
    """The loader with the bundle's relative path ('' = the page carries the bundle inline) in its text."""
    if bundle and not re.fullmatch(r"(\.\./)*_assets/vega-bundle\.js", bundle):
        raise ValueError(f"not the run folder's bundle path: {bundle!r}")
    return _compact_js(_js("ak-charts.js")).replace(BUNDLE_PLACEHOLDER, bundle)


@lru_cache(maxsize=1)
def kit_script_hashes() -> frozenset[str]:
    """Hashes of every inline script the kit writes (but the inline bundle, see html_safety)."""
    texts = [tables_script(), charts_script("")] + [charts_script(bundle_path(d)) for d in range(MAX_DEPTH + 1)]
    return frozenset(script_hash(t) for t in texts)


def page_css() -> str:
    """The kit's own page CSS (live charts, sortable tables, print rules)."""
    return _js("ak-page.css")


def policy(script_hashes: list[str], *, linked_styles: bool = False) -> str:
    """The page's policy; `linked_styles`: it links the run folder's stylesheet ('self': its own folder tree;
    Chromium matches file: pages to file: sheets by it)."""
    scripts = " ".join(f"'{h}'" for h in script_hashes)
    styles = "'self' 'unsafe-inline'" if linked_styles else "'unsafe-inline'"
    return ("default-src 'none'; "
            f"script-src 'strict-dynamic' {scripts}; "
            f"style-src {styles}; img-src data:; font-src data:; "
            "base-uri 'none'; form-action 'none'; object-src 'none'")


def page_policy(page: str) -> str | None:
    """The Content-Security-Policy a page declares in its meta tag, or None."""
    found = _POLICY.search(page)
    return found.group(1) if found else None


def finish_page(page: str, *, depth: int = 0, charts: bool = True, inline_bundle: str | None = None,
                stylesheet: str | None = None) -> str:
    """`page` with the content policy first in <head>, the kit's CSS, and its scripts before </body>.

    `depth`: folders between the run folder and the page (customers/x.html: 1), for the bundle's path.
    `charts`: add the live-chart loader when the page has a div.ak-chart. `inline_bundle`: the bundle's text,
    to carry it in the page (a report that must stand alone) instead of loading _assets/vega-bundle.js.
    `stylesheet`: the relative path of the run folder's report stylesheet (render.styles), linked in place of the
    kit's inline CSS (the page's own head styles were moved into it); the policy then allows that sheet.
    Call it on a page already checked by html_safety.find_unsafe_html: what it adds is the kit's own code.
    """
    scripts = [tables_script()]
    if charts and 'class="ak-chart"' in page:
        if inline_bundle is not None:
            scripts.append(inline_bundle)
            scripts.append(charts_script(""))
        else:
            scripts.append(charts_script(bundle_path(depth)))
    if stylesheet is not None and not _STYLESHEET.fullmatch(stylesheet):
        raise ValueError(f"not a run folder's report stylesheet: {stylesheet!r}")
    hashes = [script_hash(s) for s in scripts]
    rules = policy(hashes, linked_styles=stylesheet is not None)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{rules}">'
    style = (f"<style>{page_css()}</style>" if stylesheet is None
             else f'<link rel="stylesheet" href="{stylesheet}">')
    head = _HEAD.search(page)
    if head is None or "</body>" not in page or page_policy(page) is not None:
        raise ValueError("not a whole HTML page without a policy of its own")
    page = page[:head.end()] + meta + page[head.end():]
    page = page.replace("</head>", style + "</head>", 1)
    tail = "".join(f"<script>{s}</script>" for s in scripts)
    at = page.rindex("</body>")
    return page[:at] + tail + page[at:]
