"""PDF copies of the HTML reports, printed by headless Chromium: NAME.pdf beside NAME.html.

The page's own print styles (adoption_kit/templates/adoption_kit_report: page breaks before sections, no table
or chart cut across pages) do the layout. What differs per report, the running header (report title and data
date) and the page numbers, is added here as CSS page-margin boxes (Chromium >= 131) in a temporary print copy
of the page; the HTML report itself is not changed. Chromium runs with no network (every host resolves to
nothing), a fresh profile and no header/footer of its own (they would print the file's path).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from adoption_kit.errors import ParameterError
from adoption_kit.render.styles import inline_stylesheets
from adoption_kit.store import atomic_path

PAPER_SIZES = {"a4": "A4", "letter": "letter"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "ADOPTION_KIT_CHROMIUM"      # a browser binary elsewhere
PRINT_TIMEOUT = 120.0


@dataclass(frozen=True)
class PdfJob:
    html: Path
    pdf: Path
    header: str         # e.g. "Contoso Ltd  ·  data of 2026-11-01"


def find_chromium() -> str:
    """The Chromium binary ($ADOPTION_KIT_CHROMIUM, else the first of CHROMIUM_NAMES on PATH); one error if none."""
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    if configured:
        if shutil.which(configured):
            return str(shutil.which(configured))
        raise ParameterError(f"PDF: {CHROMIUM_ENV}={configured!r} is not an executable; point it at Chromium "
                             f"or unset it")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ParameterError("PDF needs headless Chromium, which is not installed: apt-get install chromium "
                         f"(or set {CHROMIUM_ENV}), or render without --pdf")


def check_paper(paper: str) -> str:
    size = PAPER_SIZES.get(str(paper).strip().lower())
    if size is None:
        raise ParameterError(f"paper={paper!r}: choose a4 or letter")
    return size


def css_string(text: str) -> str:
    """`text` as a CSS string literal: quotes, backslashes, line breaks and `<` hex-escaped (no `</style>`)."""
    out = []
    for char in text:
        if char in '"\\<>&\'' or ord(char) < 0x20 or ord(char) == 0x7f:
            out.append(f"\\{ord(char):x} ")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def print_css(header: str, paper: str) -> str:
    return (f"@page {{ size: {check_paper(paper)}; margin: 18mm 14mm 16mm 14mm;"
            f" @top-left {{ content: {css_string(header)}; font: 9pt sans-serif; color: #555; }}"
            f" @bottom-right {{ content: \"Page \" counter(page) \" of \" counter(pages);"
            f" font: 9pt sans-serif; color: #555; }} }}")


def _print_copy(html: str, css: str) -> str:
    style = f"<style>{css}</style>"
    at = html.lower().rfind("</head>")
    return html[:at] + style + html[at:] if at >= 0 else style + html


def print_pdf(job: PdfJob, *, chromium: str, paper: str = "a4", timeout: float = PRINT_TIMEOUT) -> Path:
    """Print one HTML report to job.pdf (written under a temporary name, then renamed)."""
    css = print_css(job.header, paper)
    with tempfile.TemporaryDirectory(prefix="adoption-kit-pdf-") as scratch:
        page = Path(scratch) / "page.html"
        # the copy sits elsewhere: a linked run-folder stylesheet travels inline in it
        standalone = inline_stylesheets(job.html.read_text(encoding="utf-8"), job.html.parent)
        page.write_text(_print_copy(standalone, css), encoding="utf-8")
        out = Path(scratch) / "page.pdf"
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
                   f"--user-data-dir={Path(scratch) / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
                   "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                   f"--print-to-pdf={out}", page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ParameterError(f"PDF: Chromium did not print {job.html.name} within {timeout:g} s") from None
        if not out.is_file() or out.stat().st_size == 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ParameterError(f"PDF: Chromium could not print {job.html.name} (exit {done.returncode}"
                                 + (f": {detail[-1][:200]}" if detail else "") + ")")
        with atomic_path(job.pdf) as part:
            shutil.copyfile(out, part)
    return job.pdf


def print_pdfs(jobs: Sequence[PdfJob], *, paper: str = "a4", workers: int = 1) -> list[Path]:
    """Print every job (`workers` Chromium processes at a time); raises on the first failure after all ran."""
    if not jobs:
        return []
    chromium = find_chromium()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(print_pdf, job, chromium=chromium, paper=paper) for job in jobs]
        return [future.result() for future in futures]
