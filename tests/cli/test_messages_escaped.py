"""Text from the data reaches a terminal, a one-line message or a chart spec escaped (issue 17, items 5 and 9):
escape codes, bells, newlines, U+2028/U+2029 and bidi overrides are shown as escapes."""
from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import pandas as pd

from adoption_kit.cli import main
from adoption_kit.report.charts.offline import offline_renderer
from adoption_kit.values import visible_text

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus"))
import make_corpus as mc  # noqa: E402


def test_visible_text():
    assert visible_text("a\x1b[31mb\x07\nc\u2028d\u2029e\u202ef\tg\x85") == \
        "a\\x1b[31mb\\x07\\nc\\u2028d\\u2029e\\u202ef\\tg\\x85"
    assert visible_text("Zoë Müller 日本 - ok") == "Zoë Müller 日本 - ok"


def test_a_forged_line_in_a_file_name_stays_inside_its_own_line(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "usage.json").write_bytes(mc.page(mc.book_usage()))
    (folder / "deployment.json").write_bytes(mc.page(mc.book_deployment()))
    bad = folder / "x\x1b[2J\x07\nerror: all good\u2028.json"
    bad.write_bytes(b"{ truncated")
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\u2028" not in err
    lines = err.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder}/x\\x1b[2J\\x07\\nerror: all good\\u2028.json")


def test_a_warning_with_a_newline_in_a_name_is_one_line(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "usage.json").write_bytes(mc.page(mc.book_usage()))
    (folder / "deployment.json").write_bytes(mc.page(mc.book_deployment()))
    (folder / "gone\nwarning: forged.json").symlink_to(tmp_path / "nowhere.json")
    assert main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.split("\n") if line.startswith("warning: ")]
    assert len(warnings) == 1 and "gone\\nwarning: forged.json" in warnings[0]


def test_a_line_separator_in_a_name_does_not_break_the_chart():
    names = ["Contoso\u2028Ltd", "Fabrikam\u2029GmbH", "Tab\tand\x1bescape"]
    frame = pd.DataFrame({"name": names, "value": [1, 2, 3]})
    chart = alt.Chart(frame).mark_bar().encode(x=alt.X("name:N", sort=names), y="value:Q",
                                               color=alt.Color("name:N", sort=names))
    bundle, _ = offline_renderer(chart.to_dict())
    svg = bundle["image/svg+xml"]
    assert "Contoso\\u2028Ltd" in svg and "\u2028" not in svg and "\x1b" not in svg
