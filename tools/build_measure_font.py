"""Build adoption_kit/data/fonts/: the chart measuring font, "Adoption Kit Sans" (DejaVu Sans, renamed and subset).

    pip install fonttools   # build time only; the kit itself never imports fontTools
    python tools/build_measure_font.py [--dejavu-dir /usr/share/fonts/truetype/dejavu]

Why: vl-convert lays out a static chart by measuring every label with the first font of the chart's font stack
it finds. A font it reads from a file (every system font) costs it about 3 ms a label, its one built-in font
(Liberation Sans, which has Arial's narrower widths) about 0.7 ms. The kit registers this smaller copy of DejaVu
Sans with vl-convert under a name no reader's browser has (report.charts.fonts), so the measuring is faster
and is the same on every machine that renders the reports, with or without DejaVu installed; the reader's
browser skips the name and draws with the rest of the stack (DejaVu Sans first).

The glyphs and their advance widths, kerning and ligatures are DejaVu's own (`--layout-features='*'`); hinting
is dropped (vl-convert does not hint) and only the scripts a customer or product name is likely to use are kept
(Latin with its extensions and combining marks, Vietnamese, Greek, Cyrillic, punctuation, currency, a few
symbols). A character outside them is measured in whichever installed font has it, as before. The Bitstream Vera licence
allows a modified copy only under a name without "Bitstream" or "Vera"; it is copied beside the fonts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adoption_kit.report.charts.fonts import MEASURE_FONT_DIR, MEASURE_FONT_FAMILY  # noqa: E402

# A bigger file is slower to measure with (measured here: 38 KB 1.6 ms a label, 170 KB 2.1 ms, DejaVu's 760 KB 2.9 ms):
# the scripts of names, punctuation and currency signs, and the few symbols the kit's own labels use.
UNICODES = ("U+0020-007E,U+00A0-024F,U+0300-036F,U+0370-03FF,U+0400-04FF,U+1E00-1EFF,U+2000-206F,U+20A0-20CF,"
            "U+2122,U+2190-2193,U+2212,U+2264-2265")
FACES = {"DejaVuSans.ttf": ("AdoptionKitSans.ttf", "Regular"),
         "DejaVuSans-Bold.ttf": ("AdoptionKitSans-Bold.ttf", "Bold")}
LICENCE_NOTE = """Adoption Kit Sans is DejaVu Sans 2.37 (https://dejavu-fonts.github.io/), subset and renamed by
tools/build_measure_font.py, as the licence below requires of a modified copy. The kit uses it only to measure
chart labels; it is not installed for, or sent to, any reader.

Fonts are (c) Bitstream (see below). DejaVu changes are in public domain.

"""


def build(dejavu_dir: Path, out_dir: Path) -> list[Path]:
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont
    except ImportError:
        raise SystemExit("error: fontTools is not installed; fix: pip install fonttools, then run this again") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source_name, (target_name, style) in FACES.items():
        source = dejavu_dir / source_name
        if not source.is_file():
            raise SystemExit(f"error: {source} not found; fix: install DejaVu (Debian: fonts-dejavu-core) "
                             "or pass --dejavu-dir")
        options = subset.Options()
        options.layout_features = ["*"]
        options.hinting = False
        options.drop_tables += ["FFTM"]
        font = TTFont(source)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=subset.parse_unicodes(UNICODES))
        subsetter.subset(font)
        postscript = MEASURE_FONT_FAMILY.replace(" ", "") + "-" + style
        for record in font["name"].names:
            if record.nameID in (1, 16):
                record.string = MEASURE_FONT_FAMILY
            elif record.nameID in (2, 17):
                record.string = style
            elif record.nameID in (3, 4):
                record.string = MEASURE_FONT_FAMILY if style == "Regular" else f"{MEASURE_FONT_FAMILY} {style}"
            elif record.nameID == 6:
                record.string = postscript
        target = out_dir / target_name
        font.save(target)
        written.append(target)
    copyright_file = Path("/usr/share/doc/fonts-dejavu-core/copyright")
    licence = copyright_file.read_text(encoding="utf-8") if copyright_file.is_file() else ""
    (out_dir / "LICENSE.txt").write_text(LICENCE_NOTE + licence.split("Files: debian/*")[0], encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dejavu-dir", type=Path, default=Path("/usr/share/fonts/truetype/dejavu"))
    args = parser.parse_args(argv)
    for path in build(args.dejavu_dir, MEASURE_FONT_DIR):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
