"""Write the kit's tables to files safely: atomic replace, spreadsheet-formula-safe CSV, Parquet.

Store layer: imports only the base modules (config, errors) and polars; it computes nothing and knows no
pipeline (adoption_kit.analysis loads, computes and calls it).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from adoption_kit.errors import ParameterError

# The first characters that make a spreadsheet read a cell as a formula (OWASP's CSV-injection list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = "^[" + "".join("\\" + c if c in "-" else c for c in FORMULA_PREFIXES) + "]"
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


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe; the value stays readable."""
    risky = pl.col(pl.String).str.contains(_FORMULA_START)
    return frame.with_columns(
        pl.when(risky).then(pl.lit("'") + pl.col(pl.String)).otherwise(pl.col(pl.String)).name.keep())


def with_percent_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Beside each fraction column (`X_rate` or `X_share`, 1.0 = 100%) without a percent twin yet, the percent
    rounded to one decimal (41.9 for 0.4185185185185185): spreadsheets show percents, scripts read fractions."""
    columns: list[str] = []
    extra: dict[str, pl.Expr] = {}
    for name, dtype in frame.schema.items():
        columns.append(name)
        if dtype.is_float() and name.endswith(("_rate", "_share")):
            pct = name.removesuffix("_rate") + "_pct"   # deployment_rate -> deployment_pct, own_share -> own_share_pct
            if pct not in frame.columns and pct not in extra:
                extra[pct] = (pl.col(name) * 100).round(1).alias(pct)
                columns.append(pct)
    return frame.with_columns(extra.values()).select(columns) if extra else frame


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Flatten to CSV-friendly types: datetimes as ISO 8601 UTC text, lists joined with ';'."""
    return frame.with_columns(
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col(pl.List(pl.String)).list.join(";"),
    )


def write_table(frame: pl.DataFrame, out: str | Path) -> Written:
    """Write CSV (formula-safe, UTF-8 with BOM, percent twins of the rates) or Parquet, by the suffix, atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"{out}: unsupported output type '{out.suffix}'; use a .csv or .parquet file name")
    with atomic_path(out) as temporary:
        if suffix == ".csv":
            # UTF-8 with a byte-order mark: Excel then reads "Müller Bäckerei" as UTF-8, not as its ANSI code page.
            neutralise_formulas(with_percent_columns(csv_ready(frame))).write_csv(temporary, include_bom=True)
        else:
            frame.write_parquet(temporary)
    return Written(out, frame.height)
