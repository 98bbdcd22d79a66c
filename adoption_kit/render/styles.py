"""The report pages' shared stylesheet: nbconvert's JupyterLab CSS and the kit's own, the same bytes in every
report of a run (~260 KB, half a report's HTML), written once per run folder as _assets/report-<hash>.css
and linked; and put back inline for a copy of a page that must stand alone (the PDF print copy).

A page of the customer audience, or with its chart bundle inline, keeps its styles inline (it is forwarded as
one file). The stylesheet's name is its content's SHA-256, so reports rendered by another kit or Jupyter
version each link the sheet they were written with, and workers writing the same sheet at once write the same
bytes. The sheet holds CSS only, never data: no text of any report reaches it.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from adoption_kit.render.csp import ASSETS_DIR
from adoption_kit.store import atomic_path

_HEAD_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.IGNORECASE | re.DOTALL)
_LINK = re.compile(r'<link rel="stylesheet" href="((?:\.\./)*)' + ASSETS_DIR + r'/(report-[0-9a-f]{16}\.css)">')


def split_head_styles(page: str) -> tuple[str, str]:
    """(`page` without the <style> blocks of its <head>, their CSS joined in order)."""
    end = page.lower().find("</head>")
    if end < 0:
        return page, ""
    head = page[:end]
    css = "\n".join(block.strip() for block in _HEAD_STYLE.findall(head))
    return _HEAD_STYLE.sub("", head) + page[end:], css


def stylesheet_name(css: str) -> str:
    return f"report-{hashlib.sha256(css.encode('utf-8')).hexdigest()[:16]}.css"


def stylesheet_href(name: str, depth: int) -> str:
    """_assets/`name` as seen from a page `depth` folders below the run folder (for csp.finish_page)."""
    return f"{'../' * depth}{ASSETS_DIR}/{name}"


def write_stylesheet(run_dir: Path, css: str) -> str:
    """_assets/report-<hash>.css in `run_dir` (written unless already there); returns its name."""
    name = stylesheet_name(css)
    target = Path(run_dir) / ASSETS_DIR / name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as part:
            part.write_text(css, encoding="utf-8")
    return name


def inline_stylesheets(page: str, page_dir: Path) -> str:
    """`page` (a report in `page_dir`) with its linked report stylesheet carried inline, for a standalone copy."""
    def inline(found: re.Match[str]) -> str:
        sheet = page_dir / found.group(1) / ASSETS_DIR / found.group(2)
        return f"<style>{sheet.read_text(encoding='utf-8')}</style>"

    return _LINK.sub(inline, page)
