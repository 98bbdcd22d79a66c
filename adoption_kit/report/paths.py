"""Paths as a shared report may show them: relative to the project folder, or stripped to file names."""
from __future__ import annotations

import re
from pathlib import Path

from adoption_kit.analysis import resolve_path
from adoption_kit.config import PROJECT_ROOT

# An absolute path (POSIX or Windows) that starts a word: "/work/x/file.json" or "C:\\x\\file.json".
_ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"(])(?:[A-Za-z]:)?[\\/](?:[^\s:\\/'\"]+[\\/])+([^\s:\\/'\"]+)")


def shown_path(path: str | Path) -> str:
    """A path as it may appear in a shared report: relative to the project folder when inside it, else its name."""
    resolved = resolve_path(path)
    try:
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return resolved.name


def strip_paths(text: str) -> str:
    """Replace absolute file paths in a message (loader warnings name their files) by the file names."""
    return _ABSOLUTE_PATH.sub(r"\1", text)
