"""The font static charts are measured with: "Adoption Kit Sans", DejaVu Sans's glyphs and widths under a name no
reader's browser has (built by tools/build_measure_font.py; its licence is beside it in data/fonts/).

vl-convert measures each label in the first font of the stack it finds. A system font is read from its file for
every label (about 3 ms a label here, most of a chart's time); this smaller copy, registered once per process,
costs less, and gives the same layout on every machine that renders, DejaVu installed or not. The reader's
browser skips the unknown name and draws with the next font of the stack, DejaVu Sans, the same widths.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Final

MEASURE_FONT_FAMILY: Final = "Adoption Kit Sans"
MEASURE_FONT_DIR: Final = Path(__file__).resolve().parents[2] / "data" / "fonts"

_registered = False
_lock = threading.Lock()


def register_measure_font() -> bool:
    """Give vl-convert the measuring font (once per process); False when its files are missing, in which case
    charts are measured with DejaVu Sans itself (the same layout, only slower)."""
    global _registered
    with _lock:
        if _registered:
            return True
        if not any(MEASURE_FONT_DIR.glob("*.ttf")):
            return False
        import vl_convert as vlc

        vlc.register_font_directory(str(MEASURE_FONT_DIR))
        _registered = True
        return True
