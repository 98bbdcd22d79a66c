"""Write the kit's tables to files safely: atomic replace, spreadsheet-formula-safe CSV, Parquet.

Store layer: imports only the base modules (config, errors) and polars; it computes nothing and knows no
pipeline (adoption_kit.analysis loads, computes and calls it).
"""
from __future__ import annotations

import io
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import polars as pl

from adoption_kit.errors import ParameterError

# The first characters that make a spreadsheet read a cell as a formula (OWASP's CSV-injection list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet opening the file with another separator (European Excel and LibreOffice use ';', some
# imports tab) splits a cell at that character, so a formula may start after any separator inside a text,
# not only at its first character: `Acme;=cmd|' /C calc'!A0`. Spaces and quotes before it are skipped too.
_SEPARATORS = ",;\t\r\n"
_PREFIX_CLASS = "[=+\\-@\t\r]"
_RISKY_POLARS = f"(^|[{_SEPARATORS}])[ \"]*'*{_PREFIX_CLASS}"
_BOUNDARY = f"(?:^|(?<=[{_SEPARATORS}]))([ \"]*)"
# One apostrophe before every formula start (and before apostrophes already there, so that the change
# can be undone exactly: `restore_formula_cell`).
_RISKY = re.compile(_BOUNDARY + f"(?='*{_PREFIX_CLASS})")
_NEUTRALISED = re.compile(_BOUNDARY + f"'(?='*{_PREFIX_CLASS})")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    warnings: tuple[str, ...] = ()   # the loader's warnings, for the caller to show


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename, else it vanishes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    os.chmod(temporary_path, 0o666 & ~_UMASK)   # mkstemp makes 0600; the renamed file gets the usual mode
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def neutralise_formula_cell(text: str) -> str:
    """`text` with an apostrophe before each place a spreadsheet could start a formula, in any separator mode."""
    return _RISKY.sub(r"\1'", text)


def restore_formula_cell(text: str) -> str:
    """A cell as it was before `neutralise_formula_cell` (the exact inverse)."""
    return _NEUTRALISED.sub(r"\1", text)


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Apostrophe-prefix every place in a text cell where a spreadsheet, whatever separator it opens the file
    with (comma, semicolon, tab), would start a formula; the value stays readable."""
    risky = pl.col(pl.String).str.contains(_RISKY_POLARS)
    return frame.with_columns(
        pl.when(risky).then(pl.col(pl.String).map_elements(neutralise_formula_cell, return_dtype=pl.String))
        .otherwise(pl.col(pl.String)).name.keep())


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Flatten to CSV-friendly types: datetimes as ISO 8601 UTC text, lists joined with ';'."""
    return frame.with_columns(
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col(pl.List(pl.String)).list.join(";"),
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The one CSV writer of the kit: UTF-8, every text field quoted (a quoted field is never split by a
    comma-mode import), formula-safe in every separator mode, datetimes and lists flattened."""
    buffer = io.BytesIO()
    neutralise_formulas(csv_ready(frame)).write_csv(buffer, quote_style="non_numeric")
    return buffer.getvalue()


def write_table(frame: pl.DataFrame, out: str | Path) -> Written:
    """Write CSV (formula-safe, UTF-8) or Parquet, chosen by the file suffix, atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"{out}: unsupported output type '{out.suffix}'; use a .csv or .parquet file name")
    with atomic_path(out) as temporary:
        if suffix == ".csv":
            temporary.write_bytes(csv_bytes(frame))
        else:
            frame.write_parquet(temporary)
    return Written(out, frame.height)
