"""Write the kit's tables to files safely: atomic replace, spreadsheet-formula-safe CSV, Parquet; and keep named
frames under a content key (FrameCache, what the analysis cache stores).

Store layer: imports only the base modules (config, errors) and polars; it computes nothing and knows no
pipeline (adoption_kit.analysis loads, computes and calls it).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from adoption_kit.errors import OutputError, ParameterError

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
    files: tuple[str, ...] = ()      # the inputs listing (files read by kind, files skipped and why)


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


UTF8_BOM = b"\xef\xbb\xbf"


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


MIN_FREE_BYTES = 64 << 20   # below this, a run would fail half-way (a report run writes tens of MB)


def check_output(target: str | Path, data_paths: Iterable[str | Path] = (), *, folder: bool,
                 what: str = "--out") -> Path:
    """Check an output place before any input is loaded (issue 17, item 6); returns it resolved.

    `folder=True`: `target` is a folder to write into (it must not be a file); else `target` is a file to
    write (it must not be a folder). Either way the place must not be inside a data folder (the next run
    would read the kit's outputs as exports), its nearest existing folder must be writable, and the disk
    must have MIN_FREE_BYTES left. Raises OutputError, one line."""
    place = Path(target).expanduser().resolve()
    if folder and place.is_file():
        raise OutputError(f"{what} {place} is a file; fix: give a folder (it is created if missing)")
    if not folder and place.is_dir():
        raise OutputError(f"{what} {place} is a folder; fix: give a file name ending in .csv or .parquet")
    directory = place if folder else place.parent
    for raw in data_paths:
        data = Path(raw).expanduser().resolve()
        if data.is_dir() and (directory == data or data in directory.parents):
            raise OutputError(f"{what} {place} is inside the data folder {data}: the next run would read the "
                              f"kit's own outputs as exports; fix: write the outputs outside the data folder")
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{what} {place}: {existing} is a file, not a folder; fix: choose another output place")
    read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY) if hasattr(os, "statvfs") else False
    if read_only or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {place}: {existing} is not writable{' (read-only file system)' if read_only else ''}"
                          f"; fix: choose a folder you can write to")
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:
        raise OutputError(f"{what} {place}: only {free >> 20} MB left on that disk (at least {MIN_FREE_BYTES >> 20} "
                          f"MB needed); fix: free some space or choose another disk")
    return place


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The one CSV writer of the kit: UTF-8, every text field of the rows quoted (a quoted field is never split
    by a comma-mode import), formula-safe in every separator mode, datetimes and lists flattened."""
    # The header as before (kit column names: `rank,customer_id,...`), neutralised and quoted only if needed.
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([neutralise_formula_cell(c) for c in frame.columns])
    buffer = io.BytesIO()
    buffer.write(header.getvalue().encode("utf-8"))
    neutralise_formulas(csv_ready(frame)).write_csv(buffer, quote_style="non_numeric", include_header=False)
    return buffer.getvalue()


def write_table(frame: pl.DataFrame, out: str | Path) -> Written:
    """Write CSV (formula-safe, UTF-8 with BOM, percent twins of the rates) or Parquet, by the suffix, atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"{out}: unsupported output type '{out.suffix}'; use a .csv or .parquet file name")
    try:
        with atomic_path(out) as temporary:
            if suffix == ".csv":
                # UTF-8 with a byte-order mark: Excel then reads "Müller Bäckerei" as UTF-8, not as its ANSI
                # code page; percent twins beside the rates, so a spreadsheet shows them as people read them.
                temporary.write_bytes(UTF8_BOM + csv_bytes(with_percent_columns(frame)))
            else:
                frame.write_parquet(temporary)
    except OSError as error:   # a disk filled, or a folder made read-only, since `check_output`
        raise OutputError(f"{out}: cannot be written ({error.strerror or error}); fix: free some space or "
                          f"choose a folder you can write to") from None
    return Written(out, frame.height)


# ---------------------------------------------------------------------------
# Frame cache: named frames and a JSON record under a key
# ---------------------------------------------------------------------------

_RECORD = "record.json"


class FrameCache:
    """Named frames (Parquet) and a JSON record kept under a key (a hex digest) in `folder`, the `keep` most
    recently used entries only (older ones are removed when a new one is written).

    Best effort and never trusted blindly, like the parsed cache: an entry is written to a temporary folder and
    renamed into place whole; its record carries the SHA-256 of every Parquet file, checked before polars reads
    it; an entry that fails any check, or whose reading raises anything, is a miss and is deleted. A read-only
    or full disk only means no cache."""

    def __init__(self, folder: Path, keep: int = 3):
        self.folder = folder
        self.keep = keep

    def read(self, key: str) -> tuple[dict[str, pl.DataFrame], dict] | None:
        entry = self.folder / key
        try:
            meta = json.loads((entry / _RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None   # not cached (or no usable folder): a plain miss
        try:
            frames = {}
            for name, checksum in meta["frames"].items():
                data = (entry / f"{name}.parquet").read_bytes()
                if hashlib.sha256(data).hexdigest() != checksum:
                    raise ValueError(f"{name}: checksum mismatch")
                frames[name] = pl.read_parquet(io.BytesIO(data))
            record = meta["record"]
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:   # noqa: BLE001 - polars raises pyo3's PanicException, a BaseException
            shutil.rmtree(entry, ignore_errors=True)
            return None
        try:
            os.utime(entry / _RECORD)   # most recently used
        except OSError:
            pass
        return frames, record

    def write(self, key: str, frames: dict[str, pl.DataFrame], record: dict) -> None:
        entry = self.folder / key
        temporary = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir(parents=True)
            checksums = {}
            for name, frame in frames.items():
                buffer = io.BytesIO()
                frame.write_parquet(buffer, compression="lz4")
                data = buffer.getvalue()
                checksums[name] = hashlib.sha256(data).hexdigest()
                (temporary / f"{name}.parquet").write_bytes(data)
            (temporary / _RECORD).write_text(json.dumps({"frames": checksums, "record": record}), encoding="utf-8")
            os.replace(temporary, entry)   # fails if another process wrote the same entry first: theirs is kept
        except (OSError, pl.exceptions.PolarsError):
            shutil.rmtree(temporary, ignore_errors=True)
            return
        self._evict()

    def _evict(self) -> None:
        """Remove all but the `keep` most recently used entries."""
        try:
            entries = sorted(((path.stat().st_mtime_ns, path.parent) for path in self.folder.glob(f"*/{_RECORD}")),
                             reverse=True)
        except OSError:
            return
        for _, old in entries[self.keep:]:
            shutil.rmtree(old, ignore_errors=True)
