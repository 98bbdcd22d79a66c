"""HTML safety: sanitize data-bearing output HTML, then refuse any page that would load or run something
(but the kit's own inline scripts, recognised by their SHA-256: render.csp)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser

import bleach
from bleach.css_sanitizer import CSSSanitizer

from adoption_kit.report.links import REPORT_LINK

_ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
_GLOBAL_ATTRIBUTES = frozenset({"class", "id", "title", "style", "lang", "dir", "align", "role", "valign"})
_TAG_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "rel", "name"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "headers"}),
    "th": frozenset({"colspan", "rowspan", "scope", "headers"}),
    "table": frozenset({"border", "cellpadding", "cellspacing", "summary"}),
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "details": frozenset({"open"}),
}
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPT_BLOCK = re.compile(r"<(script|noscript|template|iframe|object)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_UNSAFE_CSS = re.compile(r"url\s*\(|@import|expression\s*\(|javascript:|behavior\s*:|-moz-binding|<|\\",
                         re.IGNORECASE)
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)


def _safe_css(css: str) -> bool:
    """CSS that neither fetches (url(), @import) nor runs (expression(), bindings) anything."""
    return not _UNSAFE_CSS.search(css)


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    name = name.lower()
    if name.startswith("on"):
        return False
    if name.startswith(("aria-", "data-")) or name in _GLOBAL_ATTRIBUTES:
        return name != "style" or _safe_css(value)
    if name not in _TAG_ATTRIBUTES.get(tag, frozenset()):
        return False
    if tag == "a" and name == "href":   # and a book report's link to a customer report of the same run folder
        return bool(re.match(r"^(https?:|mailto:|#)", value.strip(), re.IGNORECASE)) or bool(REPORT_LINK.match(value))
    if tag == "img" and name == "src":
        return bool(_DATA_IMAGE.match(value.strip()))
    return True


def sanitize_output_html(markup: str) -> str:
    """Keep the table/text markup of an output (pandas Styler CSS included); drop scripts, handlers and fetches.

    Data values should arrive escaped (the notebooks escape them); this is the second line of defence:
    a name like `<img src=x onerror=...>` that slipped through unescaped loses its handler here.
    """
    class _KeepSafeCSS(CSSSanitizer):
        def sanitize_css(self, style: str) -> str:
            return style if _safe_css(style) else ""

    styles = [css for css in _STYLE_BLOCK.findall(markup) if _safe_css(css)]
    body = _SCRIPT_BLOCK.sub("", _STYLE_BLOCK.sub("", markup))
    cleaned = bleach.clean(body, tags=_ALLOWED_TAGS, attributes=_allowed_attribute,
                           protocols={"http", "https", "mailto", "data"}, strip=True, strip_comments=True,
                           css_sanitizer=_KeepSafeCSS())
    return "".join(f"<style>{css}</style>" for css in styles) + cleaned


class _UnsafeFinder(HTMLParser):
    """Walks a finished page: any script, event handler, frame or fetched URL is reported."""

    FETCHING = {"script", "link", "img", "iframe", "frame", "embed", "object", "source", "audio", "video",
                "track", "input", "image", "use", "base", "form", "meta"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_style = False
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag == "script":
            if attrs:
                self.problems.append("a <script> element")
            else:
                self._script = []     # an inline script: allowed if it is one of the kit's (checked at its end)
        if tag in ("iframe", "frame", "embed", "object", "base", "form"):
            self.problems.append(f"a <{tag}> element")
        if tag == "meta" and any(k.lower() == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs):
            self.problems.append("a <meta http-equiv=refresh>")
        if tag == "style":
            self._in_style = True
        for key, value in attrs:
            key, value = key.lower(), (value or "").strip()
            if key.startswith("on"):
                self.problems.append(f"an event handler {key}= on <{tag}>")
            elif key == "style" and not _safe_css(value) and re.search(r"url\s*\(\s*['\"]?\s*(https?:)?//",
                                                                       value, re.IGNORECASE):
                self.problems.append(f"a style attribute fetching a URL on <{tag}>")
            elif key in ("src", "href", "srcset", "poster", "data", "action", "formaction", "xlink:href"):
                lowered = value.lower()
                if lowered.startswith(("javascript:", "vbscript:")):
                    self.problems.append(f"a {key}={value[:40]!r} on <{tag}>")
                elif lowered.startswith(("http:", "https:", "//", "ftp:")) and tag in self.FETCHING:
                    self.problems.append(f"<{tag} {key}={value[:60]!r}> fetches from the network")

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "style":
            self._in_style = False
        if tag.lower() == "script" and self._script is not None:
            if not _kit_script("".join(self._script)):
                self.problems.append("a <script> element")
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
            return
        if self._in_style and re.search(r"@import|url\s*\(\s*['\"]?\s*(https?:)?//", data, re.IGNORECASE):
            self.problems.append("CSS that fetches from the network")


def _kit_script(text: str) -> bool:
    from adoption_kit.render.csp import kit_script_hashes, script_hash

    digest = script_hash(text)
    if digest in kit_script_hashes():
        return True
    if len(text) > 100_000:    # a standalone page's inline bundle
        from adoption_kit.report.charts.interactive import vega_bundle

        return digest == script_hash(vega_bundle())
    return False


def find_unsafe_html(page: str) -> list[str]:
    """Problems that would make a page unsafe or not offline: scripts (but the kit's own, by hash), handlers,
    frames, network fetches. [] = fine."""
    finder = _UnsafeFinder()
    finder.feed(page)
    finder.close()
    if finder._script is not None:
        finder.problems.append("an unterminated <script> element")
    return finder.problems
