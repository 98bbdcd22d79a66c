"""BENCHMARKS.md is shared by the benchmarks: each owns the text between its own two markers."""
from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, start: str, end: str, section: str) -> None:
    """`section` (which begins with `start` and ends with `end`) in place of the file's text between those
    markers, or appended when the file has none yet."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")
