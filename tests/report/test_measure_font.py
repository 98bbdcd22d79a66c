"""The chart measuring font (report.charts.fonts): DejaVu Sans's layout under the kit's own family name.

The layout test compares vl-convert's SVG measured in the packaged "Adoption Kit Sans" against the same chart
measured in the installed DejaVu Sans: every coordinate, width and wrapped line must be the same. A control shows
the comparison notices a font with other widths (vl-convert's built-in Liberation Sans, Arial's widths).
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from adoption_kit.report.charts import common
from adoption_kit.report.charts.fonts import MEASURE_FONT_DIR, MEASURE_FONT_FAMILY, register_measure_font
from adoption_kit.report.charts.interactive import vl_version

vlc = pytest.importorskip("vl_convert")

SYSTEM_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LABELS = ["Contoso Ltd", "Fabrikam, Inc.", "Łódź Zakład Usług Sp. z o.o.", "Ελληνική Εταιρεία Α.Ε.",
          "ООО «Ромашка»", "Crème brûlée & Söhne GmbH", "Ærøskøbing ÅS — 100% “fit” … ½"]


def _chart(font: str) -> dict:
    """Bar chart whose layout depends on text widths: the band axis is sized by its labels, the title is bold."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {"text": "Usage by customer — Überprüfung", "subtitle": "Active of qualified, 28 days"},
        "data": {"values": [{"name": n, "usage": (i + 1) / 10} for i, n in enumerate(LABELS)]},
        "mark": {"type": "bar"},
        "encoding": {"y": {"field": "name", "type": "nominal", "sort": None, "axis": {"labelLimit": 0}},
                     "x": {"field": "usage", "type": "quantitative", "title": "Usage"}},
        "config": {"font": font},
    }


def _svg(font: str) -> str:
    return vlc.vegalite_to_svg(_chart(font), vl_version=vl_version())


def _family_names(path: Path) -> set[str]:
    """Family (name ids 1 and 16) of a TrueType file, read from its `name` table."""
    data = path.read_bytes()
    num_tables = struct.unpack(">H", data[4:6])[0]
    for i in range(num_tables):
        tag, _, offset, _ = struct.unpack(">4sIII", data[12 + 16 * i: 28 + 16 * i])
        if tag == b"name":
            break
    else:
        raise AssertionError(f"{path} has no name table")
    _, count, strings = struct.unpack(">HHH", data[offset: offset + 6])
    names = set()
    for j in range(count):
        platform, _, _, name_id, length, start = struct.unpack(">6H", data[offset + 6 + 12 * j: offset + 18 + 12 * j])
        if name_id in (1, 16):
            raw = data[offset + strings + start: offset + strings + start + length]
            names.add(raw.decode("utf-16-be") if platform in (0, 3) else raw.decode("latin-1"))
    return names


def test_the_packaged_faces_are_renamed_as_the_vera_licence_requires():
    faces = sorted(MEASURE_FONT_DIR.glob("*.ttf"))
    assert [p.name for p in faces] == ["AdoptionKitSans-Bold.ttf", "AdoptionKitSans.ttf"]
    for face in faces:
        assert _family_names(face) == {MEASURE_FONT_FAMILY}
    licence = (MEASURE_FONT_DIR / "LICENSE.txt").read_text(encoding="utf-8")
    assert "Bitstream" in licence and "renamed to names not containing" in licence


def test_every_chart_names_the_measuring_font_first_and_dejavu_next():
    families = [f.strip() for f in common.FONT_STACK.split(",")]
    assert families[:2] == [MEASURE_FONT_FAMILY, "DejaVu Sans"]
    assert common.report_style({"mark": "bar"})["config"]["font"] == common.FONT_STACK


@pytest.mark.skipif(not SYSTEM_DEJAVU.is_file(), reason="DejaVu Sans is not installed (Debian: fonts-dejavu-core)")
def test_the_measuring_font_lays_charts_out_exactly_as_dejavu_sans():
    dejavu = _svg("DejaVu Sans")
    liberation = _svg("sans-serif")   # vl-convert's built-in Liberation Sans: Arial's widths
    assert register_measure_font()
    ours = _svg(MEASURE_FONT_FAMILY)
    assert ours.replace(MEASURE_FONT_FAMILY, "DejaVu Sans") == dejavu
    assert liberation.replace("sans-serif", "DejaVu Sans") != dejavu  # the comparison sees other widths


def test_register_is_once_per_process(monkeypatch):
    assert register_measure_font()
    monkeypatch.setattr(vlc, "register_font_directory", lambda _: pytest.fail("registered twice"))
    assert register_measure_font()
