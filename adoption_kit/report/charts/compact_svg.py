"""A chart's SVG as vl-convert writes it, made about 2.5x smaller without changing a pixel.

vl-convert writes the SVG of a live Vega view: every mark carries its ARIA role and label, its CSS class and
`pointer-events`, and every text its font list. A report shows the SVG as a picture (an <img>: not interactive,
its ARIA never exposed; the live chart drawn over it has its own) and prints it, so those attributes are dead
weight, a third to a half of the file. What goes: `class`, `role`, `aria-*`, `pointer-events` and
`opacity="1"` (the default); the most common font list moves to the root element, where every text inherits
it (a text with another font keeps its own); a coordinate written with a dozen digits (floating-point noise
such as 41.50000000000001) is written as the shortest decimal of the same 32-bit float, the precision the
rasteriser draws with; attribute values are single-quoted (`single_quoted`: no escape for each quote where the
SVG is kept as a JSON string, in the notebook). Nothing else changes: colours, texts and every other number stay
as written, so the rasterised chart is the same bytes (tests/render/test_report_files.py).
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

_DEAD = re.compile(r' (?:class|role|aria-[a-z]+|pointer-events)="[^"]*"| opacity="1"')
_FONT = re.compile(r' font-family="([^"]*)"')
_ROOT = re.compile(r"<svg\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")
_GEOMETRY = re.compile(r' (d|transform|x|y|x1|x2|y1|y2|width|height|dx|dy|points)="([^"]*)"')
_LONG_NUMBER = re.compile(r"-?\d+\.\d{6,}")
_PLAIN_ATTRIBUTE = re.compile(r"""="([^"']*)\"""")


def _float32(number: re.Match[str]) -> str:
    shortest = str(np.float32(float(number.group(0))))
    return number.group(0) if not re.fullmatch(r"-?\d+(\.\d+)?", shortest) else shortest


def _short_numbers(attribute: re.Match[str]) -> str:
    return f' {attribute.group(1)}="{_LONG_NUMBER.sub(_float32, attribute.group(2))}"'


def compact_svg(svg: str) -> str:
    """`svg` (vl-convert's output) without the attributes a picture never uses; see the module docstring."""
    root = _ROOT.search(svg)
    if root is None or not root.group(0).endswith(">") or root.group(0).endswith("/>"):
        return svg
    head, body = _DEAD.sub("", svg[:root.end()]), _GEOMETRY.sub(_short_numbers, _DEAD.sub("", svg[root.end():]))
    fonts = Counter(_FONT.findall(body))
    if fonts and " font-family=" not in head:
        common = fonts.most_common(1)[0][0]
        body = body.replace(f' font-family="{common}"', "")
        head = f'{head[:-1]} font-family="{common}">'
    return single_quoted(head + body)


def single_quoted(markup: str) -> str:
    """`markup` with each tag's attribute values single-quoted where they hold no quote (texts untouched)."""
    return _TAG.sub(lambda tag: _PLAIN_ATTRIBUTE.sub(r"='\1'", tag.group(0)), markup)
