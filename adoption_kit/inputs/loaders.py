"""Read Partner Center exports (API JSON pages, CSV/TSV, PowerShell Export-Csv) into normalised polars frames; no metrics here."""
from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import os
import re
import sys
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

import polars as pl

from adoption_kit import __version__, schema
from adoption_kit.compute.activity import split_assigned_products
from adoption_kit.config import PARSED_CACHE_DIR
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.schema import ExportKind, header_key

DATA_SUFFIXES = frozenset({".json", ".csv", ".tsv", ".txt"})
# A valid UTF-8 multi-byte sequence (see _decode); a true/false literal in JSON text, not inside a string
# (see _read_json_records_with_polars).
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_JSON_BOOLEAN = re.compile(r"(?<=[:\[,])\s*(?:true|false)(?=\s*[,}\]])")
MAX_COUNT = 10_000_000  # no single customer x product holds more seats; larger means a broken export
MAX_TEXT = 1_000        # characters in a name or code; longer means merged fields (a stray quote) or junk
_CONTROL_RE = r"[\x00-\x1f\x7f-\x9f]+"
FUTURE_TOLERANCE = timedelta(days=1)   # time zones: a naive UTC timestamp may be "tomorrow" somewhere
_GUID_RE = r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$"
_WHOLE_NUMBER_RE = r"^[+]?\d+(\.0+)?$"
_MAX_LISTED_ROWS = 5
_KIND_BY_NAME = {kind.name: kind for kind in schema.EXPORT_KINDS}
_COLUMNS_BY_KIND = {schema.DEPLOYMENT.name: schema.DEPLOYMENT_COLUMNS, schema.USAGE.name: schema.USAGE_COLUMNS,
                    schema.SUBSCRIPTIONS.name: schema.SUBSCRIPTION_COLUMNS,
                    schema.PRICE_LIST.name: schema.PRICE_COLUMNS, schema.SUPPORT_TICKETS.name: schema.TICKET_COLUMNS}
_DISTINCT_SHARE = 8     # a column with more than 1 distinct value in 8 rows is converted row by row...
_SAMPLE_ROWS = 10_000   # ...as far as its first rows tell
_READERS, _READ_AHEAD = 2, 3   # files parsed at once; files read ahead of the one being checked
_BATCH_ROWS = 1_000_000  # rows of one kind checked and converted together (bounds the raw text held at once)
_FIX_REEXPORT = "download the file again from Partner Center, or correct the value"

_STATUS_VOCABULARY = {
    "active": "active",
    "ingraceperiod": "grace_period", "graceperiod": "grace_period", "grace": "grace_period",
    "suspended": "suspended",
    "disabled": "disabled", "inactive": "disabled",
    "deprovisioned": "deprovisioned", "churned": "deprovisioned",
    "expired": "expired",
    "pending": "pending",
    "deleted": "deleted",
}


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    kind: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Exports:
    """Everything read from one set of files, normalised to the columns in `adoption_kit.schema`."""

    deployment: pl.DataFrame
    usage: pl.DataFrame
    subscriptions: pl.DataFrame
    files: tuple[LoadedFile, ...] = ()
    warnings: tuple[str, ...] = ()
    # Microsoft 365 active-user detail rows (schema.ACTIVITY_COLUMNS), one report per customer (the newest).
    activity: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.ACTIVITY_COLUMNS))
    # Kit-defined optional inputs (schema.PRICE_LIST, schema.SUPPORT_TICKETS); empty when not given.
    prices: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.PRICE_COLUMNS))
    tickets: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.TICKET_COLUMNS))

    @property
    def snapshots(self) -> list:
        """Distinct processedDateTime values across both license feeds, oldest first."""
        values = pl.concat([self.deployment.select("processed_at"), self.usage.select("processed_at")])
        return values.unique().sort("processed_at").get_column("processed_at").to_list()

    def latest(self) -> "Exports":
        """Keep, per customer, only the newest processedDateTime of each license feed."""

        def newest(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.filter(pl.col("processed_at") == pl.col("processed_at").max().over("customer_id"))

        return replace(self, deployment=newest(self.deployment), usage=newest(self.usage))

    def summary(self) -> str:
        """A few human lines: what was found."""
        lines = [f"{len(self.files)} file(s) read"]
        for kind in ("deployment", "usage", "subscriptions"):
            kind_files = [f for f in self.files if f.kind == kind]
            if kind_files:
                frame = getattr(self, kind)
                lines.append(f"  {kind}: {len(kind_files)} file(s), {frame.height} row(s), "
                             f"{frame.get_column('customer_id').n_unique()} customer(s)")
        activity_files = [f for f in self.files if f.kind == schema.ACTIVITY.name]
        if activity_files:
            lines.append(f"  activity (Microsoft 365 active-user detail): {len(activity_files)} file(s), "
                         f"{self.activity.height} user row(s) used, "
                         f"{self.activity.get_column('customer_id').n_unique()} customer(s)")
        for kind, frame, what in ((schema.PRICE_LIST, self.prices, "price(s)"),
                                  (schema.SUPPORT_TICKETS, self.tickets, "ticket(s)")):
            kind_files = [f for f in self.files if f.kind == kind.name]
            if kind_files:
                lines.append(f"  {kind.title}: {len(kind_files)} file(s), {frame.height} {what}")
        snapshots = self.snapshots
        if snapshots:
            lines.append(f"  processedDateTime: {snapshots[0]:%Y-%m-%d %H:%M} .. {snapshots[-1]:%Y-%m-%d %H:%M} UTC"
                         f" ({len(snapshots)} snapshot(s))")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def find_export_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into the data files to read, sorted for determinism."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
                                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(path), "no such file or folder", "check the path"))
    if problems:
        raise InputFileError(problems)
    return found


def load_exports(paths: Iterable[str | Path] | str | Path) -> Exports:
    """Read every export under `paths` (files or folders), check each against its schema, and normalise.

    Raises InputFileError listing every problem in every file at once.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = find_export_files(paths)
    if not files:
        raise InputFileError([Problem(", ".join(str(p) for p in paths), "no export files found",
                                      "point at the .json/.csv/.tsv files downloaded from Partner Center")])
    frames: dict[str, list[pl.DataFrame]] = {"deployment": [], "usage": [], "subscriptions": [], "activity": [],
                                             schema.PRICE_LIST.name: [], schema.SUPPORT_TICKETS.name: []}
    problems: list[Problem] = []
    warnings: list[str] = []
    read: list[tuple[Path, str, int | None, object]] = []   # path, kind, rows (None: counted below), digest
    raw_by_kind: dict[str, list[tuple[str, pl.DataFrame, Future, list[str]]]] = {}   # name, raw, digest, warnings
    rows: dict[str, int] = {}
    cache = parsed_cache()

    def normalise_pending(kind_name: str) -> None:
        """Check and convert the raw files of a kind read so far, together (see normalise_files)."""
        batch = raw_by_kind.pop(kind_name)
        try:
            frame, kind_warnings = normalise_files(_KIND_BY_NAME[kind_name], [(n, raw) for n, raw, *_ in batch])
        except InputFileError as error:
            problems.extend(error.problems)
            return
        counts = dict(frame.group_by("source_file").len().iter_rows())
        rows.update(counts)
        warnings.extend(kind_warnings)
        frames[kind_name].append(frame)
        if cache is None:
            return
        parts = frame.partition_by("source_file", as_dict=True, maintain_order=True) if len(batch) > 1 \
            else {(batch[0][0],): frame}
        for name, _, digest, read_warnings in batch:
            own = read_warnings + _file_warnings(name, kind_warnings)
            if any("after today" in w for w in own):
                continue
            part = parts.get((name,), frame.clear())
            hasher.submit(cache.write, digest.result(), name, _KIND_BY_NAME[kind_name], part, own)

    with ThreadPoolExecutor(max_workers=1) as hasher, ThreadPoolExecutor(max_workers=_READERS) as readers:
        # Files are parsed a few ahead, in parallel (polars releases the GIL), and taken in their order.
        ahead = deque((path, readers.submit(_read_raw_export, path, hasher, cache)) for path in files[:_READ_AHEAD])
        waiting = iter(files[_READ_AHEAD:])
        while ahead:
            path, reading = ahead.popleft()
            following = next(waiting, None)
            if following is not None:
                ahead.append((following, readers.submit(_read_raw_export, following, hasher, cache)))
            try:
                got = reading.result()
                kind, raw, file_warnings, digest = got.kind, got.frame, got.warnings, got.digest
                if kind is schema.ACTIVITY:   # one report per customer, possibly millions of rows: file by file
                    raw, more = normalise(raw, kind, str(path))
                    file_warnings += more + _no_rows(raw, kind, str(path))
            except InputFileError as error:
                problems.extend(error.problems)
                continue
            if got.cached:   # normalised on an earlier run (warnings included)
                warnings.extend(file_warnings)
                frames[kind.name].append(raw)
                rows[str(path)] = raw.height
                read.append((path, kind.name, None, digest))
                continue
            warnings.extend(file_warnings)
            if kind is schema.ACTIVITY:
                frames[kind.name].append(raw)
                read.append((path, kind.name, raw.height, digest))
            elif kind is None:
                read.append((path, "empty", 0, digest))
            else:   # checked and normalised in batches of files: large books never hold all raw text at once
                raw_by_kind.setdefault(kind.name, []).append((str(path), raw, digest, file_warnings))
                read.append((path, kind.name, None, digest))
                if sum(r.height for _, r, *_ in raw_by_kind[kind.name]) >= _BATCH_ROWS:
                    normalise_pending(kind.name)
        for kind_name in list(raw_by_kind):
            normalise_pending(kind_name)
        if problems:
            raise InputFileError(problems)
        loaded = []
        for path, kind_name, count, digest in read:
            if count is None:
                count = rows.get(str(path), 0)
                if not count:
                    warnings.append(f"{path}: a {_KIND_BY_NAME[kind_name].title} header with no rows")
            loaded.append(LoadedFile(path, kind_name, count, digest.result()))

    deployment = _concat(frames["deployment"], schema.DEPLOYMENT_COLUMNS)
    usage = _concat(frames["usage"], schema.USAGE_COLUMNS)
    subscriptions = _concat(frames["subscriptions"], schema.SUBSCRIPTION_COLUMNS)
    if deployment.is_empty() and usage.is_empty():
        raise InputFileError([Problem(", ".join(str(p) for p in paths),
                                      "no license deployment or usage rows found",
                                      "add the Partner Center licenses deployment and usage downloads")])

    deployment, w1 = _drop_duplicates(deployment, ["customer_id", "product_id", "processed_at"],
                                      ["licenses_sold", "licenses_assigned"], "deployment", problems)
    usage, w2 = _drop_duplicates(usage, ["customer_id", "product_id", "workload_code", "processed_at"],
                                 ["licenses_qualified", "licenses_active"], "usage", problems)
    subscriptions, w3 = _drop_duplicates(subscriptions, ["customer_id", "subscription_id"],
                                         ["quantity", "status", "product_key"], "subscriptions", problems)
    activity, w4 = _resolve_activity(frames["activity"], loaded, deployment, usage, problems)
    prices, w5 = _resolve_prices(frames[schema.PRICE_LIST.name], problems)
    tickets, w6 = _resolve_tickets(frames[schema.SUPPORT_TICKETS.name], deployment, usage, problems)
    w4 = w4 + w5 + w6
    if problems:
        raise InputFileError(problems)
    warnings.extend(w1 + w2 + w3 + w4)
    warnings.extend(_name_conflicts(pl.concat([deployment.select("customer_id", "customer_name", "processed_at"),
                                               usage.select("customer_id", "customer_name", "processed_at")])))
    return Exports(deployment.select(list(schema.DEPLOYMENT_COLUMNS)), usage.select(list(schema.USAGE_COLUMNS)),
                   subscriptions.select(list(schema.SUBSCRIPTION_COLUMNS)), tuple(loaded), tuple(warnings),
                   activity, prices, tickets)


def read_export_file(path: Path) -> tuple[ExportKind | None, pl.DataFrame, list[str]]:
    """Read one file, detect its kind from its header or keys, check and normalise it.

    Returns (kind, frame, warnings); kind is None for an empty API page (no records, nothing to detect).
    """
    with ThreadPoolExecutor(max_workers=1) as helper:
        got = _read_raw_export(path, helper)
    kind, raw, warnings = got.kind, got.frame, got.warnings
    if kind is None:
        return None, raw, warnings
    frame, more = normalise(raw, kind, str(path))
    return kind, frame, warnings + more + _no_rows(frame, kind, str(path))


def _no_rows(frame: pl.DataFrame, kind: ExportKind, name: str) -> list[str]:
    return [f"{name}: a {kind.title} header with no rows"] if frame.is_empty() else []


@dataclass
class _ReadFile:
    """One file as read: its kind (None: an API page without records), the frame (raw text columns, typed
    activity columns, or already normalised when `cached`), warnings, and its SHA-256 (possibly to come)."""

    kind: ExportKind | None
    frame: pl.DataFrame
    warnings: list[str]
    digest: Future
    cached: bool = False


def _read_raw_export(path: Path, helper: ThreadPoolExecutor, cache: "ParsedCache | None" = None) -> _ReadFile:
    """One file as read, before its schema check, or its normalised rows from `cache`. `helper` hashes an
    active-user report, and scans a JSON page, while polars parses it (both release the GIL)."""
    name = str(path)
    digest: Future | None = None
    if path.suffix.lower() != ".json":   # an active-user report is a CSV; JSON never takes this path
        digest = helper.submit(_sha256, path)
        typed = _read_activity_typed(path, name)   # very large activity reports: typed by polars while reading
        if typed is not None:
            return _ReadFile(schema.ACTIVITY, typed, [], digest)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputFileError.single(name, f"cannot be read ({error.strerror or error})",
                                    "check the file's permissions, or copy it again") from None
    if digest is None:   # the cache key is needed before parsing: hashed here, in this reader thread
        digest = Future()
        digest.set_result(hashlib.sha256(data).hexdigest())
    hit = cache.read(digest.result(), name) if cache is not None else None
    if hit is not None:
        kind, frame, warnings = hit
        return _ReadFile(kind, frame, warnings, digest, cached=True)
    if not data or data.isspace():
        raise InputFileError.single(name, "the file is empty", "download the export again")
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    # UTF-8 API pages go straight to polars (which refuses invalid UTF-8), without a Python decode
    raw = _read_json_records_with_polars(body, helper) if body[:64].lstrip()[:1] in (b"{", b"[") else None
    delimited = False
    if raw is None:
        raw = _read_utf8_delimited(data, name)  # large UTF-8 CSVs go straight to polars too
        delimited = raw is not None
    decode_warnings: list[str] = []
    if raw is None:
        text, decode_warnings = _decode(data, name)
        stripped = text.lstrip()
        if stripped.startswith(("{", "[")):
            raw = _read_json_records(stripped, name)
        else:
            raw = _read_delimited(text, name)
            delimited = True
    if raw is None:  # an API page with an empty record list
        return _ReadFile(None, pl.DataFrame(), [*decode_warnings, f"{name}: no records in this page"], digest)
    kind = detect_kind(raw.columns, name)
    if delimited and kind is not schema.ACTIVITY:
        # Trim cells and read "" as empty. Not for activity reports (up to millions of rows): their
        # conversions trim only the columns whose values do not parse as they are.
        raw = raw.with_columns(pl.all().str.strip_chars().replace("", None))
    return _ReadFile(kind, raw, decode_warnings, digest)


# ---------------------------------------------------------------------------
# The parsed-input cache
# ---------------------------------------------------------------------------
_CACHE_FORMAT = 1


class ParsedCache:
    """Normalised rows of export files, as Parquet, keyed by the file's SHA-256 and the loader's own version
    (the kit version, this module's and the schema's source, polars' version): a rerun on unchanged files
    reads them instead of parsing JSON again. Holds the same data as the exports themselves.

    Entries are written atomically and never trusted blindly: one that cannot be read is a miss. A file
    whose check warned about dates after today is not cached (today moves). Writing is best effort: a
    read-only or full disk only means no cache.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        source = b"".join(Path(module.__file__).read_bytes() for module in (sys.modules[__name__], schema))
        self.version = hashlib.sha256(b"%d|%s|%s|" % (_CACHE_FORMAT, __version__.encode(), pl.__version__.encode())
                                      + source).hexdigest()[:16]

    def _paths(self, digest: str) -> tuple[Path, Path]:
        stem = self.folder / digest[:2] / f"{digest}-{self.version}"
        return stem.with_suffix(".parquet"), stem.with_suffix(".json")

    def read(self, digest: str, name: str) -> tuple[ExportKind, pl.DataFrame, list[str]] | None:
        frame_path, meta_path = self._paths(digest)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            kind = _KIND_BY_NAME[meta["kind"]]
            frame = pl.read_parquet(frame_path)
            if frame.height != meta["rows"] or frame.columns[1:] != list(_COLUMNS_BY_KIND[kind.name]):
                return None
        except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError):
            return None
        frame = frame.with_columns(source_file=pl.lit(name, dtype=pl.String))
        return kind, frame, [name + w for w in meta["warnings"]]

    def write(self, digest: str, name: str, kind: ExportKind, frame: pl.DataFrame, warnings: list[str]) -> None:
        """Store one file's normalised rows and its warnings (written as suffixes of its name)."""
        frame_path, meta_path = self._paths(digest)
        try:
            frame_path.parent.mkdir(parents=True, exist_ok=True)
            for path, write in ((frame_path, lambda t: frame.write_parquet(t, compression="lz4")),
                                (meta_path, lambda t: t.write_text(json.dumps(
                                    {"kind": kind.name, "rows": frame.height,
                                     "warnings": [w[len(name):] for w in warnings]}), encoding="utf-8"))):
                temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                write(temporary)
                os.replace(temporary, path)
        except (OSError, pl.exceptions.PolarsError):
            return


def parsed_cache() -> ParsedCache | None:
    """The cache `load_exports` uses: config.PARSED_CACHE_DIR, or the folder in the ADOPTION_KIT_CACHE
    environment variable; None when that variable is "off"."""
    setting = os.environ.get("ADOPTION_KIT_CACHE", "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    return ParsedCache(Path(setting).expanduser() if setting else PARSED_CACHE_DIR)


def _file_warnings(name: str, warnings: list[str]) -> list[str]:
    """The warnings of a batch that are about file `name` (each starts with its name)."""
    return [w for w in warnings if w.startswith((name + ":", name + ","))]


# ---------------------------------------------------------------------------
# Decoding and parsing
# ---------------------------------------------------------------------------


def decode_text(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (BOM or not), UTF-16 (spreadsheet "Unicode text"), else Windows-1252."""
    return _decode(data, name)[0]


def _decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """`decode_text` with its warnings. UTF-16 without a BOM is recognised by its zero bytes; a file whose
    lines mix UTF-8 and Windows-1252 (two exports pasted together) is decoded line by line, with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_utf16(data, "utf-16", name), []
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:4096]
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        for codec, zeros, others in (("utf-16-be", even, odd), ("utf-16-le", odd, even)):
            if len(head) >= 4 and zeros.count(0) == len(zeros) and not others.count(0):
                return _decode_utf16(data, codec, name), [
                    f"{name}: read as {codec.upper()} text without a byte-order mark (mostly plain letters with "
                    f"a zero byte between them); if names look wrong, save the file as CSV UTF-8"]
        if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise InputFileError.single(name, "is an Excel workbook (or another zip archive), not a text export",
                                        "open it in Excel and save it as CSV UTF-8 (File > Save As), or give "
                                        "the JSON or CSV file as downloaded")
        raise InputFileError.single(name, "the file is binary, not a text export",
                                    "save the export as CSV, TSV or JSON text")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    if not _UTF8_SEQUENCE.search(data):   # no UTF-8 at all: the common, fast case
        return data.decode("cp1252", errors="replace"), [
            f"{name}: not UTF-8, so read as Windows-1252 (Western European); if names look wrong "
            f"(another code page), save the file as CSV UTF-8"]
    lines = data.splitlines(keepends=True)
    utf8_lines = legacy_lines = 0
    decoded = []
    for line in lines:
        try:
            decoded.append(line.decode("utf-8"))
            utf8_lines += not line.isascii()
        except UnicodeDecodeError:
            decoded.append(line.decode("cp1252", errors="replace"))
            legacy_lines += 1
    warnings = []
    if utf8_lines:
        warnings.append(f"{name}: {legacy_lines} line(s) are Windows-1252 text and {utf8_lines} other(s) UTF-8, "
                        f"as if two exports were pasted together; each line was read in its own encoding: "
                        f"check the names, and save the file as CSV UTF-8 next time")
    return "".join(decoded), warnings


def _decode_utf16(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        raise InputFileError.single(name, f"is not valid UTF-16 text (byte {error.start})",
                                    "save it again from the spreadsheet as Unicode text or CSV UTF-8") from None


def _read_json_records(text: str, name: str) -> pl.DataFrame | None:
    """The record list of an API page as all-text columns (None for an empty page)."""
    fast = _read_json_records_with_polars(text.encode("utf-8"))
    if fast is not None:
        return fast
    return _read_json_records_with_python(text, name)


def _read_json_records_with_polars(data: bytes, helper: ThreadPoolExecutor | None = None) -> pl.DataFrame | None:
    """The common case, parsed natively: a well-formed UTF-8 page of flat records with one type per field.

    Returns None whenever the page is anything else (truncated, odd envelope, mixed types, empty, not UTF-8),
    so that the Python parser handles it and reports precisely what is wrong. `helper` (optional) scans
    the bytes (`_json_key_scan`) while polars parses them.
    """
    scan = helper.submit(_json_key_scan, data) if helper is not None else None
    try:
        document = pl.read_json(data, infer_schema_length=None)
        keys = {header_key(c): c for c in document.columns}
        container = next((keys[k] for k in ("value", "items") if k in keys), None)
        if document.height != 1 or container is None:
            return None
        records = document.get_column(container)
        if not isinstance(records.dtype, pl.List) or not isinstance(records.dtype.inner, pl.Struct):
            return None
        frame = records.explode().struct.unnest()
        if frame.height == 0 or any(isinstance(d, (pl.List, pl.Array)) for d in frame.dtypes) \
                or len(set(frame.columns)) != frame.width:
            return None
        # polars keeps one value of a key repeated in a record. Every key is followed by `":`; a page with more
        # of those than its envelope keys plus non-null values (a repeat, a nested object, an explicit null,
        # a `":` inside a text) goes to the Python parser, which refuses repeats.
        values = frame.height * frame.width - sum(frame.null_count().row(0))
        separators, literals = scan.result() if scan is not None else _json_key_scan(data)
        if separators > values + document.width:
            return None
        # polars reads a `true` among numbers as 1: every JSON true/false must have landed in a Boolean column.
        if literals is None:
            literals = len(_JSON_BOOLEAN.findall(data.decode("utf-8")))
        if literals != sum(frame.get_column(c).count() for c, d in frame.schema.items() if d == pl.Boolean):
            return None
        return frame.select(
            pl.col(c).struct.json_encode() if isinstance(d, pl.Struct)
            else pl.col(c).cast(pl.String).str.to_lowercase() if d == pl.Boolean
            else pl.col(c).cast(pl.String)
            for c, d in frame.schema.items())
    except (pl.exceptions.PolarsError, ValueError, TypeError, OverflowError):
        return None


def _json_key_scan(data: bytes) -> tuple[int, int | None]:
    """In one vectorised pass over a JSON document: the number of key separators (`":`, and `" :`) and of
    true/false literals right after one (None when whitespace runs make that count need the regex).

    A value-level literal always follows a key separator (arrays of them are refused before this count)."""
    import numpy as np   # here, not at module level: report kernels that read a bundle never need it

    whitespace = np.array([0x20, 0x09, 0x0A, 0x0D], dtype=np.uint8)
    octets = np.frombuffer(data, dtype=np.uint8)
    if octets.size < 2:
        return 0, 0
    colons = np.flatnonzero(octets[1:] == 0x3A) + 1
    before = octets[colons - 1]
    separators = colons[before == 0x22]
    if np.isin(before, whitespace).any():   # `"key" :` layouts: counted the exact, slower way
        return data.count(b'":') + data.count(b'" :'), None
    last = octets.size - 1
    after = octets[np.minimum(separators + 1, last)]
    spaced = np.isin(after, whitespace)
    if spaced.any():   # `"key": value`, the pretty-printed layout: look one octet further
        further = octets[np.minimum(separators[spaced] + 2, last)]
        if np.isin(further, whitespace).any():
            return separators.size, None
        after = np.concatenate([after[~spaced], further])
    return separators.size, int(np.count_nonzero((after == 0x74) | (after == 0x66)))


def _read_json_records_with_python(text: str, name: str) -> pl.DataFrame | None:
    repeated: list[str] = []

    def unique_keys(pairs: list[tuple[str, object]]) -> dict:
        seen = [k for k, _ in pairs]
        repeated.extend(k for k in dict.fromkeys(seen) if seen.count(k) > 1)
        return dict(pairs)

    try:
        document = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as error:
        raise InputFileError.single(name, f"not valid JSON ({error.msg} at line {error.lineno}, "
                                          f"column {error.colno}); the download may be truncated",
                                    "download the page again") from None
    except RecursionError:
        raise InputFileError.single(name, "is JSON nested thousands of levels deep, which no API page is",
                                    "download the page again from Partner Center") from None
    if repeated:
        raise InputFileError.single(name, f"a JSON object repeats the key(s) "
                                          f"{', '.join(map(repr, sorted(set(repeated))[:5]))}, so its value is "
                                          f"ambiguous", "download the page again; do not merge pages by hand")
    if isinstance(document, dict):
        keys = {header_key(k): k for k in document}
        container = next((keys[k] for k in ("value", "items") if k in keys), None)
        if container is None:
            raise InputFileError.single(
                name, f"JSON without a 'Value' or 'items' list (keys: {', '.join(list(document)[:8])})",
                "save the whole API response, e.g. {\"Value\": [...], \"@nextLink\": ..., \"TotalCount\": n}")
        records = document[container]
    else:
        records = document
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputFileError.single(name, "the JSON record list is not a list of objects",
                                    "save the API response as returned by Partner Center")
    if not records:
        return None
    columns: dict[str, list[str | None]] = {}
    for index, record in enumerate(records):
        for key in record:
            if key not in columns:
                columns[key] = [None] * index
        for key, values in columns.items():
            values.append(_json_scalar_to_text(record.get(key)))
    return pl.DataFrame(columns, schema={k: pl.String for k in columns})


def _json_scalar_to_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _read_utf8_delimited(data: bytes, name: str) -> pl.DataFrame | None:
    """The bytes of a delimited UTF-8 file (BOM or not) parsed by polars directly, cells untrimmed.

    None when this fast path does not apply (JSON, UTF-16, a PowerShell #TYPE line, invalid UTF-8, a row
    polars cannot parse): `_read_delimited` then decodes the text and words any error exactly as before.
    """
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    head = data[start:start + 65536]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head[:4096] or head.startswith(b"#TYPE"):
        return None
    if head.lstrip()[:1] in (b"{", b"[", b"") or b"\n" not in data:
        return None   # JSON, or lines ended by a lone CR (old Mac "CSV"), which polars does not split
    end = min((i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0), default=-1)
    if end < 0 and len(head) < len(data) - start:
        return None  # a header longer than 64 KiB: leave it to the text path
    try:
        first_line = (head if end < 0 else head[:end]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    delimiter = _sniff_header(first_line, name)
    try:
        frame = pl.read_csv(io.BytesIO(data), separator=delimiter, infer_schema=False, quote_char='"')
    except pl.exceptions.PolarsError:
        return None
    return frame.rename({c: c.strip() for c in frame.columns})


def _sniff_header(first_line: str, name: str) -> str:
    """The delimiter of a header line; refuses a header that repeats a column."""
    delimiter = max((",", "\t", ";"), key=first_line.count)
    header = next(csv.reader([first_line], delimiter=delimiter))
    keys = [header_key(h) for h in header]
    duplicates = sorted({h for h, k in zip(header, keys) if k and keys.count(k) > 1})
    if duplicates:
        raise InputFileError.single(name, f"column(s) {', '.join(repr(d) for d in duplicates)} appear more "
                                          f"than once in the header", "remove the repeated column", row=None)
    return delimiter


def _read_delimited(text: str, name: str) -> pl.DataFrame:
    """Decoded text to an all-String frame, cells untrimmed (read_export_file trims them by kind)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("#TYPE"):  # Windows PowerShell Export-Csv type header
        lines = lines[1:]
    body = "".join(lines)
    if "\n" not in body:
        body = body.replace("\r", "\n")   # lines ended by a lone CR (Excel's "CSV (Macintosh)")
    if not body.strip():
        raise InputFileError.single(name, "the file has no header row", "download the export again")
    delimiter = _sniff_header(body.splitlines()[0], name)
    try:
        frame = pl.read_csv(body.encode("utf-8"), separator=delimiter,
                            infer_schema=False, quote_char='"',
                            )
    except pl.exceptions.PolarsError as error:
        ragged = _first_ragged_row(body, delimiter)
        if ragged is not None:
            row, fields, expected = ragged
            raise InputFileError.single(name, f"has {fields} {_delimiter_name(delimiter)}-separated fields where "
                                              f"the header has {expected}",
                                        "look in this row for a stray quote (\") or an extra delimiter, or download "
                                        "the export again", row=row) from None
        message = str(error).splitlines()[0][:200]
        raise InputFileError.single(name, f"cannot be read as {_delimiter_name(delimiter)}-separated text "
                                          f"({message})",
                                    "check for unbalanced quotes or rows with extra fields") from None
    return frame.rename({c: c.strip() for c in frame.columns})


def _first_ragged_row(body: str, delimiter: str) -> tuple[int, int, int] | None:
    """(data row, its field count, the header's) of the first record whose field count differs, for messages."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    try:
        expected = len(next(reader))
        for row, record in enumerate(reader, start=1):
            if record and len(record) != expected:
                return row, len(record), expected
    except (csv.Error, StopIteration):
        return None
    return None


def _delimiter_name(delimiter: str) -> str:
    return {",": "comma", "\t": "tab", ";": "semicolon"}[delimiter]


def detect_kind(columns: Iterable[str], name: str) -> ExportKind:
    """Tell the export kind from its header keys, not from the file name."""
    keys = {header_key(c) for c in columns}
    insights = {"paidavailableunits", "monthlyactiveusers"} <= keys
    # One distinctive field is enough to pick the kind; the schema check then names whatever else is missing.
    usage_hits = len(keys & {"workloadcode", "workloadname", "licensesqualified", "licensesactive",
                             "licenseactive"})
    deployment_hits = len(keys & schema.DEPLOYMENT.signature)
    if (deployment_hits or usage_hits) and not insights:
        return schema.USAGE if usage_hits > deployment_hits else schema.DEPLOYMENT
    has_id = bool(keys & {"id", "subscriptionid"})
    if "status" in keys and has_id and keys & {"quantity", "licensecount", "offername", "productname"}:
        return schema.SUBSCRIPTIONS
    if insights:   # it has WorkloadName too: tell it apart before the usage feed
        problem = "is an Insights Office 365 usage download, which this version does not read yet"
    elif schema.ACTIVITY.signature <= keys:
        return schema.ACTIVITY
    elif schema.PRICE_LIST.signature <= keys:
        return schema.PRICE_LIST
    elif schema.SUPPORT_TICKETS.signature <= keys:
        return schema.SUPPORT_TICKETS
    else:
        shown = ", ".join(list(columns)[:8])
        problem = f"is not a recognised Partner Center export (columns: {shown})"
    raise InputFileError.single(name, problem,
                                "give the licenses deployment, licenses usage or subscriptions export, "
                                "or move this file out of the folder")


# ---------------------------------------------------------------------------
# Schema check and normalisation
# ---------------------------------------------------------------------------


def normalise(raw: pl.DataFrame, kind: ExportKind, name: str) -> tuple[pl.DataFrame, list[str]]:
    """Map headers to documented fields, check every value, and convert to the normalised columns."""
    if kind is schema.ACTIVITY:
        return _normalise_activity(raw, name)
    return normalise_files(kind, [(name, raw)])


def normalise_files(kind: ExportKind, files: list[tuple[str, pl.DataFrame]]) -> tuple[pl.DataFrame, list[str]]:
    """`normalise` for several files of one kind at once: their columns are mapped file by file, then every
    check and conversion runs once over all their rows (on each column's distinct values, mapped back), and
    every message still names the file, its row and the column as that file spells it."""
    problems: list[Problem] = []
    mapped: list[pl.DataFrame] = []
    headers: dict[str, dict[str, str]] = {}  # file -> target -> the header as written in that file
    for name, raw in files:
        try:
            frame, headers[name] = _map_fields(raw, kind, name)
        except InputFileError as error:
            problems.extend(error.problems)
            continue
        mapped.append(frame)
    if problems:
        raise InputFileError(problems)
    fields_by_target: dict[str, schema.RawField] = {}
    for raw_field in kind.fields:
        if any(raw_field.target in h for h in headers.values()):
            fields_by_target.setdefault(raw_field.target, raw_field)
    frame = mapped[0] if len(mapped) == 1 else pl.concat(mapped, how="diagonal")
    warnings: list[str] = []

    blank = pl.all_horizontal(pl.col(t).is_null() for t in fields_by_target)
    if frame.height and frame.select(blank.any()).item():   # e.g. the ",,,," lines a spreadsheet leaves
        for name, rows in _rows_by_file(frame.filter(blank)):
            warnings.append(f"{name}: {rows.len()} empty row(s) skipped (rows "
                            f"{', '.join(map(str, rows.head(_MAX_LISTED_ROWS)))}"
                            f"{' ...' if rows.len() > _MAX_LISTED_ROWS else ''})")
        frame = frame.filter(~blank)

    # Exports repeat dates, counts, codes and product names a lot: such a column is checked and converted
    # once per distinct value, then looked up. Ids and customer names are mostly distinct: checked and
    # converted row by row, every such check in one pass. A sample of rows tells the two apart.
    sample = frame.head(_SAMPLE_ROWS)
    repetitive = {t for t in fields_by_target if frame.height
                  and sample.get_column(t).n_unique() * _DISTINCT_SHARE <= sample.height}
    distinct = {t: frame.get_column(t).unique() for t in repetitive}
    text_targets = [t for t, f in fields_by_target.items() if f.kind == "str"]
    scanned = frame.select(pl.col(t).str.contains(_CONTROL_RE).any().alias(t)
                           for t in text_targets if t not in repetitive).row(0, named=True) \
        if frame.height and set(text_targets) - repetitive else {}
    controlled = [t for t in text_targets if scanned.get(t)
                  or (t in repetitive and distinct[t].str.contains(_CONTROL_RE).any())]
    if controlled:
        warnings.extend(_control_characters(frame, controlled, headers))
    replacements: list[pl.Expr | pl.Series] = []
    row_checks: list[tuple[pl.Expr, str, str, str]] = []   # (invalid-row predicate, target, problem, fix)
    for target, raw_field in fields_by_target.items():
        expr, field_checks = _conversion(raw_field, target, clean=target in controlled)
        if raw_field.required and not raw_field.allow_empty:
            field_checks.append((pl.col(target).is_null(), "is empty",
                                 f"fill in '{raw_field.name}' ({_FIX_REEXPORT})"))
        identity = expr.meta.eq(pl.col(target))   # text kept as it is
        if target not in repetitive:
            row_checks.extend((invalid, target, problem, fix) for invalid, problem, fix in field_checks)
            if not identity:
                replacements.append(expr.alias(target))
            continue
        values = distinct[target].to_frame()
        failing = values.select(invalid.any().alias(str(i)) for i, (invalid, _, _) in enumerate(field_checks)).row(0) \
            if field_checks else ()
        for (invalid, problem, fix), failed in zip(field_checks, failing):
            if failed:
                problems.extend(_row_problems_by_file(frame, invalid, headers, target, problem, fix))
        if not identity:   # one chunk: polars builds the lookup table per chunk (a batch has one per file)
            converted = values.select(expr.alias("\x00value")).get_column("\x00value")
            replacements.append(frame.get_column(target).rechunk().replace_strict(
                distinct[target], converted, return_dtype=converted.dtype))
    failing = frame.select(invalid.any().alias(str(i)) for i, (invalid, *_) in enumerate(row_checks)).row(0) \
        if row_checks and frame.height else ()
    for (invalid, target, problem, fix), failed in zip(row_checks, failing):
        if failed:
            problems.extend(_row_problems_by_file(frame, invalid, headers, target, problem, fix))
    if problems:
        raise InputFileError(problems)
    columns = _COLUMNS_BY_KIND[kind.name]
    if replacements:
        frame = frame.with_columns(replacements)
    optional_raw = {"workload_name": pl.String, "is_trial_raw": pl.Boolean}
    frame = frame.with_columns([pl.lit(None, dtype).alias(c) for c, dtype in {**columns, **optional_raw}.items()
                                if c not in frame.columns])

    if kind is schema.USAGE:   # a handful of code/name pairs: each canonicalised once, then looked up
        keys = frame.select("workload_code", "workload_name")
        pairs = keys.unique().with_columns(workload=_canonical_workload())
        workload = keys.join(pairs, on=["workload_code", "workload_name"], how="left", nulls_equal=True,
                             maintain_order="left").get_column("workload")
        frame = frame.with_columns(workload=workload)
    if kind is schema.SUBSCRIPTIONS:
        frame = _normalise_subscriptions(frame)
        for name, part in _by_file(frame.filter(pl.col("status") == "unknown")):
            unknown = part.get_column("status_raw").unique(maintain_order=True)
            warnings.append(f"{name}: subscription status(es) {', '.join(repr(v[:40]) for v in unknown.head(3))} "
                            f"are not known to the kit; those subscriptions are kept as 'unknown' and never "
                            f"taken as a cause of usage over 100%")
    if kind is schema.SUPPORT_TICKETS:
        frame = frame.with_columns(category=ticket_category(pl.col("category_raw")))
    if kind is schema.PRICE_LIST:
        for name, part in _by_file(frame):
            currencies = part.get_column("currency").unique().sort().to_list()
            if len(currencies) > 1:
                problems.append(Problem(name, f"holds {len(currencies)} currencies ({', '.join(currencies)}); a "
                                              f"price list has one", "keep one price list per currency, and "
                                              "give the one your customers are billed in",
                                        column=headers[name]["currency"]))
        if problems:
            raise InputFileError(problems)
    if kind in (schema.DEPLOYMENT, schema.USAGE):
        warnings.extend(_future_dates(frame, "processed_at", headers))
        missing = frame.filter(pl.col("product_id").is_null())
        for name, part in _by_file(missing):
            warnings.append(f"{name}: {part.height} row(s) without productId; products are matched by "
                            f"productName instead (names change over time, ids do not)")
        if missing.height:
            product_name_key = pl.lit("name:") + _name_key(pl.col("product_name"))
            frame = frame.with_columns(product_id=pl.coalesce(pl.col("product_id"), product_name_key))
    return frame.select("_row", *[pl.col(c).cast(dtype) for c, dtype in columns.items()]).rechunk(), warnings


def _map_fields(raw: pl.DataFrame, kind: ExportKind, name: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """One file's columns under the kind's target names (as text), with its row numbers and its name in
    `source_file`; and target -> header as written. Raises for a missing required column or a field spelled
    twice."""
    keyed = [header_key(c) for c in raw.columns]
    repeated = sorted({c for c, k in zip(raw.columns, keyed) if k and keyed.count(k) > 1})
    if repeated:   # JSON keys that differ only in case or spacing (a CSV header was checked when sniffed)
        raise InputFileError.single(name, f"column(s) {', '.join(map(repr, repeated))} are one field spelled "
                                          f"more than once, so its value is ambiguous",
                                    "keep one of them (headers are matched ignoring case and spaces)")
    by_key = {header_key(c): c for c in raw.columns}
    problems: list[Problem] = []
    selected: dict[str, pl.Expr] = {}
    headers: dict[str, str] = {}
    for raw_field in kind.fields:
        source = next((by_key[k] for k in map(header_key, (raw_field.name, *raw_field.aliases)) if k in by_key),
                      None)
        if raw_field.target in selected:
            continue  # offerName and productName feed the same column: the first present wins
        if source is None:
            if raw_field.required:
                problems.append(Problem(name, f"the required column '{raw_field.name}' is missing",
                                        f"add the '{raw_field.name}' column (headers are matched ignoring "
                                        f"case and spaces)", column=raw_field.name))
            continue
        selected[raw_field.target] = pl.col(source)
        headers[raw_field.target] = source
    if kind is schema.SUBSCRIPTIONS and "customer_id" not in selected and "links" in by_key:
        # The resource shape has no customer column; its self link carries the tenant id.
        problems = [p for p in problems if p.column != "customerTenantId"]
        selected["customer_id"] = pl.col(by_key["links"]).str.extract(r"/customers/([0-9a-fA-F-]{36})/", 1)
        headers["customer_id"] = by_key["links"]
    if problems:
        raise InputFileError(problems)
    frame = raw.with_row_index("_row", offset=1).select(
        pl.col("_row"), *[expr.cast(pl.String).alias(target) for target, expr in selected.items()],
        pl.lit(name, dtype=pl.String).alias("source_file"))
    return frame, headers


def _by_file(frame: pl.DataFrame):
    """(file name, its rows of `frame`) in the order the files were read."""
    if frame.is_empty():
        return
    for (name,), part in frame.group_by("source_file", maintain_order=True):
        yield name, part


def _rows_by_file(frame: pl.DataFrame):
    for name, part in _by_file(frame):
        yield name, part.get_column("_row")


def _row_problems_by_file(frame: pl.DataFrame, predicate: pl.Expr, headers: dict[str, dict[str, str]],
                          target: str, problem: str, fix: str) -> list[Problem]:
    found: list[Problem] = []
    for name, part in _by_file(frame.filter(predicate)):
        found.extend(_row_problems(part, pl.lit(True), name, headers[name].get(target, target), target, problem, fix))
    return found


def _conversion(raw_field: schema.RawField, target: str, *,
                clean: bool = False) -> tuple[pl.Expr, list[tuple[pl.Expr, str, str]]]:
    """The converted value and the checks for one field: [(invalid-row predicate, problem, fix), ...].

    `clean`: the text column holds control characters (see `_control_characters`); they are replaced."""
    value = pl.col(target)
    present = value.is_not_null()
    if raw_field.kind == "int":
        negative = present & value.str.starts_with("-")
        whole = value.str.contains(_WHOLE_NUMBER_RE)
        number = value.str.replace(r"\.0+$", "").str.strip_prefix("+").cast(pl.Int64, strict=False)
        return number, [
            (negative, "is negative; licence counts never are",
             "re-download the export; if a spreadsheet changed it, restore the original count"),
            (present & ~negative & ~whole, "is not a whole number",
             "write a whole licence count such as 12 (no decimals, units or thousands separators)"),
            (present & whole & (number.is_null() | (number > MAX_COUNT)),
             f"is larger than any real licence count (over {MAX_COUNT:,})",
             "check the column: it may hold an id or an amount rather than a count"),
        ]
    if raw_field.kind == "str":
        # Control characters and line breaks (see _control_characters) become one space each run.
        text = value.str.replace_all(_CONTROL_RE, " ").str.strip_chars()
        return pl.when(text == "").then(None).otherwise(text) if clean else value, [
            (present & (value.str.len_chars() > MAX_TEXT),
             f"is longer than {MAX_TEXT:,} characters, which no Partner Center name or code is",
             "look for an unbalanced quote that merged several fields, or download the export again")]
    if raw_field.kind == "decimal":   # kit-defined files only: a price such as 12.50
        negative = present & value.str.starts_with("-")
        number = value.str.strip_prefix("+").cast(pl.Float64, strict=False)
        return number, [
            (negative, "is negative; a price never is", "write the price per licence and month, 0 or more"),
            (present & ~negative & ~value.str.contains(r"^\+?\d+(\.\d+)?$"),
             "is not a price (expected a number such as 12.50)",
             "write digits with a dot for decimals: no currency sign, no thousands separator, no comma"),
        ]
    if raw_field.kind == "currency":
        code = value.str.strip_chars().str.to_uppercase()
        return code, [(present & ~code.str.contains(r"^[A-Z]{3}$"),
                       "is not an ISO 4217 currency code (three letters such as EUR or USD)",
                       "write the three-letter code of the currency the prices are in")]
    if raw_field.kind == "guid":
        return value.str.strip_chars("{}").str.to_lowercase(), [
            (present & ~value.str.contains(_GUID_RE), "is not a GUID (expected 8-4-4-4-12 hexadecimal digits)",
             "use the tenant/product id exactly as Partner Center exports it")]
    if raw_field.kind == "datetime":
        parsed = parse_utc_datetime(value)
        return parsed, [
            (present & parsed.is_null() & ~_is_no_end(value),
             "is not a date-time (expected ISO 8601 such as 2026-11-01T00:00:00, optionally with +00:00)",
             "use the ISO 8601 timestamps Partner Center exports; do not let a spreadsheet reformat them")]
    if raw_field.kind == "bool":
        lowered = value.str.to_lowercase()
        parsed = (pl.when(lowered.is_in(["true", "1", "yes"])).then(True)
                  .when(lowered.is_in(["false", "0", "no"])).then(False).otherwise(None))
        return parsed, [(present & parsed.is_null(), "is not true or false", "write true or false")]
    return value, []


def _control_characters(frame: pl.DataFrame, targets: list[str], headers: dict[str, dict[str, str]]) -> list[str]:
    """Per file, the warning for text cells holding control characters or line breaks (replaced by spaces)."""
    hits = [pl.col(t).str.contains(_CONTROL_RE).fill_null(False) for t in targets]
    warnings = []
    for name, part in _by_file(frame.filter(pl.any_horizontal(hits))):
        counts = part.select(h.sum().alias(t) for h, t in zip(hits, targets)).row(0, named=True)
        first_target = next(t for t in targets if counts[t])
        first_row = part.filter(hits[targets.index(first_target)]).get_column("_row")[0]
        warnings.append(f"{name}: {sum(counts.values())} text value(s) held control characters or line breaks "
                        f"(first: row {first_row}, column '{headers[name].get(first_target, first_target)}'); "
                        f"each run of them was replaced by a space")
    return warnings


def _today() -> date:
    """Today's date in UTC (a function, so that tests can pin it)."""
    return datetime.now(timezone.utc).date()


def _future_dates(frame: pl.DataFrame, target: str, headers: dict[str, dict[str, str]]) -> list[str]:
    """Per file, a warning when timestamps lie after today: the computer's clock or the column is wrong."""
    limit = datetime.combine(_today(), datetime.min.time(), timezone.utc) + FUTURE_TOLERANCE
    warnings = []
    for name, later in _by_file(frame.filter(pl.col(target) >= limit)):
        newest = later.get_column(target).max()
        warnings.append(f"{name}, column '{headers[name][target]}': {later.height} value(s) after today "
                        f"({_today():%Y-%m-%d}), up to {newest:%Y-%m-%d} (first: row {later.get_column('_row')[0]}); "
                        f"they are used as the newest data: check the computer's clock, or that the column holds "
                        f"processedDateTime")
    return warnings


def _is_no_end(value: pl.Expr) -> pl.Expr:
    return value.str.starts_with("9999-")


def parse_utc_datetime(value: pl.Expr) -> pl.Expr:
    """ISO 8601 text to UTC datetimes: with offset or Z converted, naive taken as UTC, date-only as midnight.

    9999-... (Partner Center's "no end") becomes null.
    """
    text = value.str.strip_chars().str.replace(r"Z$", "+00:00").str.replace(" ", "T")
    with_offset = text.str.contains(r"[+-]\d{2}:?\d{2}$")
    aware = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us",
                                 time_zone="UTC")
    naive = pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
        text.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"),
    ).dt.replace_time_zone("UTC")
    parsed = pl.when(with_offset).then(aware).otherwise(naive)
    return pl.when(_is_no_end(value)).then(None).otherwise(parsed)


def _row_problems(frame: pl.DataFrame, predicate: pl.Expr, name: str, column: str, target: str,
                  problem: str, fix: str) -> list[Problem]:
    """One line per (column, problem): the row when one, else the count and the first few rows."""
    bad = frame.filter(predicate)
    if bad.is_empty():
        return []
    rows = bad.get_column("_row").head(_MAX_LISTED_ROWS).to_list()
    first = bad.get_column(target)[0]
    shown = "empty" if first is None else repr(str(first)[:40])
    if bad.height == 1:
        return [Problem(name, f"{'the value' if first is None else 'value ' + shown} {problem}", fix,
                        row=rows[0], column=column)]
    more = f" and {bad.height - len(rows)} more" if bad.height > len(rows) else ""
    plural = "are " + problem[3:] if problem.startswith("is ") else problem
    return [Problem(name, f"{bad.height} values {plural} (rows {', '.join(map(str, rows))}{more}; "
                          f"first: {shown})", fix, column=column)]


def _name_key(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_uppercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _canonical_workload() -> pl.Expr:
    code_key = pl.col("workload_code").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    name_key = pl.col("workload_name").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    mapping = schema.CANONICAL_WORKLOADS
    return pl.coalesce(code_key.replace_strict(mapping, default=None),
                       name_key.replace_strict(mapping, default=None),
                       pl.col("workload_name"), pl.col("workload_code"))


def _normalise_subscriptions(frame: pl.DataFrame) -> pl.DataFrame:
    status_key = pl.col("status_raw").str.to_lowercase().str.replace_all(r"[^a-z]", "")
    trial_by_dates = pl.col("trial_start_at").is_not_null() & pl.col("trial_converted_at").is_null()
    is_trial_raw = pl.col("is_trial_raw")
    return frame.with_columns(
        status=status_key.replace_strict(_STATUS_VOCABULARY, default="unknown"),
        is_trial=pl.coalesce(is_trial_raw, pl.lit(False)) | trial_by_dates,
        product_key=_name_key(pl.col("product_name")),
    )


# ---------------------------------------------------------------------------
# Microsoft 365 active-user detail (getOffice365ActiveUserDetail)
# ---------------------------------------------------------------------------
_ACTIVITY_DATE_RE = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:?00)?)?$"
_ACTIVITY_FOLDER_FIX = ("move it into a folder named after the customer's tenant id, e.g. "
                        "activity/0112A436-B14E-4888-967B-CA4BB2CF1234/ActiveUserDetail.csv")


def activity_customer_id(path: str | Path) -> str | None:
    """The tenant id an active-user detail file belongs to: the nearest enclosing folder named after a GUID."""
    for folder in Path(path).parents:
        if re.fullmatch(_GUID_RE, folder.name):
            return folder.name.strip("{}").lower()
    return None


def _read_activity_typed(path: Path, name: str) -> pl.DataFrame | None:
    """An active-user detail CSV as Microsoft writes it (UTF-8, dates YYYY-MM-DD, True/False), parsed to
    Date and Boolean columns by polars while it reads the file: the fast path for very large reports.

    None whenever anything is unusual (another kind, a missing or repeated column, another date format, a
    value polars cannot parse, invalid UTF-8): the text path then reads the file and names every problem.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return None
    head = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    end = min((i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0), default=-1)
    if end <= 0 or head.startswith(b"#TYPE"):
        return None
    try:
        first_line = head[:end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    delimiter = max((",", "\t", ";"), key=first_line.count)
    columns = next(csv.reader([first_line], delimiter=delimiter))
    keys = [header_key(c) for c in columns]
    fields = {header_key(f.name): f for f in schema.ACTIVITY.fields}
    if len(set(keys)) != len(keys) or not schema.ACTIVITY.signature <= set(keys) \
            or any(k not in keys for k, f in fields.items() if f.required):
        return None
    dtypes = {"date": pl.Date, "bool": pl.Boolean}
    overrides = {c: dtypes[fields[k].kind] for c, k in zip(columns, keys) if k in fields and fields[k].kind in dtypes}
    # Display Name is never kept (its presence is what the check needs) and unknown columns are not used:
    # only the header row is read for them.
    wanted = [c for c, k in zip(columns, keys) if k in fields and fields[k].target != "display_name"]
    try:
        frame = pl.read_csv(path, separator=delimiter, infer_schema=False, schema_overrides=overrides,
                            quote_char='"', columns=wanted)
    except (pl.exceptions.PolarsError, OSError):
        return None
    skipped = [c for c in columns if c not in wanted]
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in skipped)
    return frame.rename({c: c.strip() for c in frame.columns})


def _activity_conversion(kind: str, value: pl.Expr, dtype: pl.DataType, *, tolerant: bool) -> pl.Expr:
    """A raw column to Date/Boolean. Already typed (the fast path): as is. Text, strict: the report's own
    formats. Text, tolerant (only for columns where the strict form fails): trimmed, "" as empty,
    YYYY-MM-DDT00:00:00Z dates, true/false in any case."""
    if dtype != pl.String or kind == "str":
        return value
    if not tolerant:
        if kind == "date":
            return value.str.to_date("%Y-%m-%d", strict=False)
        return pl.when(value == "True").then(True).when(value == "False").then(False)
    text = value.str.strip_chars()
    if kind == "date":
        return pl.when(text.str.contains(_ACTIVITY_DATE_RE)).then(
            text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
    lowered = text.str.to_lowercase()
    return (pl.when(lowered.is_in(["true", "1", "yes"])).then(True)
            .when(lowered.is_in(["false", "0", "no"])).then(False))


def _normalise_activity(raw: pl.DataFrame, name: str) -> tuple[pl.DataFrame, list[str]]:
    """Check and convert an active-user detail report; the customer comes from the file's folder.

    Every problem (missing columns, no tenant folder, bad values, several refresh dates) is reported at
    once. `raw` is all text, or already typed by `_read_activity_typed`.
    """
    kind = schema.ACTIVITY
    by_key = {header_key(c): c for c in raw.columns}
    problems: list[Problem] = []
    warnings: list[str] = []
    sources: dict[str, tuple[str, schema.RawField]] = {}
    for raw_field in kind.fields:
        column = by_key.get(header_key(raw_field.name))
        if column is None:
            if raw_field.required:
                problems.append(Problem(name, f"the required column '{raw_field.name}' is missing",
                                        f"add the '{raw_field.name}' column, or export the active-user detail "
                                        f"report again (it has {len(kind.fields)} columns)",
                                        column=raw_field.name))
            continue
        if raw_field.target != "display_name":   # checked for presence only, never kept
            sources[raw_field.target] = (column, raw_field)
    customer_id = activity_customer_id(name)
    if customer_id is None:
        problems.append(Problem(name, "is a Microsoft 365 active-user detail report, which carries no tenant "
                                      "id, and no folder around it is named after one", _ACTIVITY_FOLDER_FIX))
    if any(p.column for p in problems):
        raise InputFileError(problems)

    frame = raw.select([pl.col(column).alias(target) for target, (column, _) in sources.items()]) \
        .with_row_index("_row", offset=1)
    targets = [t for t in sources if t != "assigned_products"]
    text = {t for t in targets if frame.schema[t] == pl.String and sources[t][1].kind in ("date", "bool")}

    def convert(targets_: Iterable[str], tolerant: bool) -> list[pl.Expr]:
        return [_activity_conversion(sources[t][1].kind, pl.col(t), frame.schema[t], tolerant=tolerant)
                .alias(f"{t}\x00") for t in targets_]

    wide = frame.with_columns(convert(targets, tolerant=False))
    retry: list[str] = []
    if text and wide.height:   # text columns whose values do not all read strictly pay for the lenient pass
        flags = wide.select((pl.col(t).is_not_null() & pl.col(f"{t}\x00").is_null()).any().alias(t)
                            for t in sorted(text)).row(0, named=True)
        retry = [t for t, bad in flags.items() if bad]
        if retry:
            wide = wide.with_columns(convert(retry, tolerant=True))
    messages = {"date": ("is not a date (expected YYYY-MM-DD or YYYY-MM-DDT00:00:00Z)",
                         "export the report again; do not let a spreadsheet reformat its dates"),
                "bool": ("is not True or False", "write True or False, as the report does")}
    checks: list[tuple[pl.Expr, str, str, str]] = []
    for target in targets:
        raw_field = sources[target][1]
        value, converted = pl.col(target), pl.col(f"{target}\x00")
        if target in retry:
            blank = value.is_null() | (value.str.strip_chars() == "")
            checks.append((~blank & converted.is_null(), target, *messages[raw_field.kind]))
        elif frame.schema[target] == pl.String:
            blank = value.is_null() | (value.str.len_bytes() == 0)
        else:
            blank = value.is_null()
        if raw_field.required and not raw_field.allow_empty:
            checks.append((blank, target, "is empty",
                           f"fill in '{raw_field.name}' (export the report again, or correct the value)"))
    failed = wide.select(c.any().alias(str(i)) for i, (c, *_) in enumerate(checks)).row(0) \
        if checks and wide.height else ()
    for (invalid, target, problem, fix), bad in zip(checks, failed):
        if bad:
            problems.extend(_row_problems(wide, invalid, name, sources[target][0], target, problem, fix))

    refresh_dates = wide.get_column("report_refresh_date\x00").drop_nulls().unique().sort()
    if refresh_dates.len() > 1:
        problems.append(Problem(name, f"holds {refresh_dates.len()} different Report Refresh Dates "
                                      f"({refresh_dates[0]} .. {refresh_dates[-1]}); one export has one",
                                "keep one export per file, as downloaded", column=sources["report_refresh_date"][0]))
    if problems:
        raise InputFileError(problems)

    out = wide.select(
        "_row",
        pl.lit(customer_id, dtype=pl.String).alias("customer_id"),
        *[pl.col(f"{t}\x00").alias(t) for t in targets],
        *(["assigned_products"] if "assigned_products" in sources else []),
        pl.lit(name).alias("source_file"),
    )
    if "assigned_products" in sources:
        out = _split_products_column(out)
    out = out.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in schema.ACTIVITY_COLUMNS.items()
                           if c not in out.columns)
    if refresh_dates.len() == 1:
        later = [(column, t) for t, (column, _) in sources.items()
                 if t.endswith(("_last_activity", "_license_assign_date"))]
        refresh = refresh_dates[0]
        if refresh > _today() + FUTURE_TOLERANCE:
            warnings.append(f"{name}: the Report Refresh Date {refresh} is after today ({_today():%Y-%m-%d}); "
                            f"the 28-day window ends on it: check the computer's clock, or export the report again")
        counts = out.select((pl.col(t) > refresh).sum().alias(t) for _, t in later).row(0, named=True)
        bad = {column: counts[t] for column, t in later if counts[t]}
        if bad:
            listed = ", ".join(f"'{c}' {n}" for c, n in bad.items())
            warnings.append(f"{name}: {sum(bad.values())} date(s) after the Report Refresh Date {refresh} "
                            f"({listed}): invalid, so never counted in the 28-day window; export the report "
                            f"again if this persists")
    return out.select("_row", *[pl.col(c).cast(d) for c, d in schema.ACTIVITY_COLUMNS.items()]), warnings


def _split_products_column(frame: pl.DataFrame) -> pl.DataFrame:
    """Split Assigned Products once per distinct value (a report repeats a few combinations for every user)."""
    column = frame.select("assigned_products")
    distinct = column.unique().with_columns(split_assigned_products(pl.col("assigned_products")).alias("_products"))
    split = column.join(distinct, on="assigned_products", how="left", nulls_equal=True, maintain_order="left")
    return frame.with_columns(split.get_column("_products").alias("assigned_products"))


def _resolve_activity(frames: list[pl.DataFrame], loaded: list[LoadedFile], deployment: pl.DataFrame,
                      usage: pl.DataFrame, problems: list[Problem]) -> tuple[pl.DataFrame, list[str]]:
    """Map each activity file to a known customer and keep each customer's newest report."""
    warnings: list[str] = []
    files = [f for f in loaded if f.kind == schema.ACTIVITY.name]
    if not files:
        return schema.empty_frame(schema.ACTIVITY_COLUMNS), warnings
    names = (pl.concat([deployment.select("customer_id", "customer_name"), usage.select("customer_id", "customer_name")])
             .drop_nulls("customer_id").group_by("customer_id").agg(pl.col("customer_name").drop_nulls().last()))
    known = dict(zip(names.get_column("customer_id").to_list(), names.get_column("customer_name").to_list()))
    reports: dict[str, list[tuple[object, LoadedFile, pl.DataFrame]]] = {}
    for file, frame in zip(files, frames, strict=True):   # both in reading order
        source = str(file.path)
        customer_id = activity_customer_id(source)
        if customer_id not in known:
            close = difflib.get_close_matches(customer_id, list(known), n=3, cutoff=0.8)
            hint = ("; closest: " + ", ".join(f"{c.upper()} ({known[c]})" for c in close)) if close else ""
            folder = next(p.name for p in Path(source).parents if p.name.strip("{}").lower() == customer_id)
            problems.append(Problem(source, f"sits in the folder {folder}, but no customer with that tenant id "
                                            f"is in the licenses deployment or usage exports{hint}",
                                    "rename the folder to the customer's tenant id, or add that customer's "
                                    "Partner Center exports"))
            continue
        if frame.height:   # a header-only report was warned about and has nothing to use
            refresh = frame.get_column("report_refresh_date").max()
            reports.setdefault(customer_id, []).append((refresh, file, frame))
    kept: list[pl.DataFrame] = []
    for customer_id, entries in sorted(reports.items()):
        entries.sort(key=lambda e: (e[0], str(e[1].path)), reverse=True)
        newest_refresh, newest_file, newest_frame = entries[0]
        for refresh, file, _ in entries[1:]:
            if refresh == newest_refresh and file.sha256 == newest_file.sha256:
                warnings.append(f"{file.path}: the same active-user detail report as {newest_file.path}; "
                                f"the copy is ignored")
            elif refresh == newest_refresh:
                problems.append(Problem(str(file.path), f"is a second, different active-user detail report for "
                                                        f"customer {customer_id} with the same Report Refresh "
                                                        f"Date {refresh} as {newest_file.path}",
                                        "keep one report per customer and refresh date"))
            else:
                warnings.append(f"{file.path}: an older active-user detail report (Report Refresh Date "
                                f"{refresh}) for customer {customer_id}; the newest ({newest_refresh}, "
                                f"{newest_file.path}) is used")
        kept.append(newest_frame)
    activity = pl.concat(kept) if kept else schema.empty_frame(schema.ACTIVITY_COLUMNS)
    return activity.select(list(schema.ACTIVITY_COLUMNS)), warnings


# ---------------------------------------------------------------------------
# Cross-file checks
# ---------------------------------------------------------------------------


def _concat(frames: list[pl.DataFrame], columns: dict[str, pl.DataType]) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema={"_row": pl.UInt32, **columns})
    return pl.concat(frames, how="vertical")


def _drop_duplicates(frame: pl.DataFrame, key: list[str], values: list[str], feed: str,
                     problems: list[Problem]) -> tuple[pl.DataFrame, list[str]]:
    """Identical repeated rows are dropped with a warning; rows that repeat a key with other counts are errors."""
    if frame.is_empty() or frame.select(pl.struct(key).is_unique().all()).item():
        return frame, []   # the common case, told in one hash pass: no key repeats at all
    distinct = frame.unique(subset=key + values, keep="first", maintain_order=True)
    warnings = []
    if distinct.height < frame.height:
        warnings.append(f"{feed}: {frame.height - distinct.height} duplicated row(s) ignored "
                        f"(identical repeats, e.g. the same page saved twice)")
    conflicts = distinct.filter(pl.len().over(key) > 1)
    if not conflicts.is_empty():
        groups = conflicts.group_by(key, maintain_order=True).agg(
            pl.format("{} row {}", pl.col("source_file"), pl.col("_row")).alias("where"),
            *[pl.col(v).cast(pl.String).alias(v) for v in values])
        for group in groups.head(_MAX_LISTED_ROWS).iter_rows(named=True):
            ids = ", ".join(f"{k}={group[k]}" for k in key if k != "processed_at")
            counts = "; ".join(f"{v}: {' vs '.join(str(x) for x in group[v])}" for v in values
                               if len(set(group[v])) > 1)
            problems.append(Problem(group["where"][0].split(" row ")[0],
                                    f"{feed} rows conflict for {ids} ({counts}) at {', '.join(group['where'])}",
                                    "keep one export per processedDateTime; remove the stale copy"))
        if groups.height > _MAX_LISTED_ROWS:
            problems.append(Problem(feed, f"{groups.height - _MAX_LISTED_ROWS} more conflicting keys",
                                    "keep one export per processedDateTime"))
    return distinct, warnings


def _name_conflicts(names: pl.DataFrame) -> list[str]:
    multiple = (names.drop_nulls("customer_name").unique(["customer_id", "customer_name"])
                .filter(pl.len().over("customer_id") > 1).sort("customer_id", "processed_at", "customer_name"))
    if multiple.is_empty():
        return []
    count = multiple.get_column("customer_id").n_unique()
    example = multiple.group_by("customer_id", maintain_order=True).agg("customer_name").row(0)
    shown = [repr(n if len(n) <= 60 else n[:59] + "…") for n in example[1][:3]]
    return [f"{count} customer id(s) appear under more than one name (e.g. {example[0]}: "
            f"{' / '.join(shown)}); the latest name is used"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Kit-defined inputs: price list and support tickets (README.md, "The book over time")
# ---------------------------------------------------------------------------
def ticket_category(raw: pl.Expr) -> pl.Expr:
    """A ticket's free-text category folded to schema.TICKET_CATEGORIES by schema.TICKET_KEYWORDS.

    The text is case-folded and every run of characters other than letters and digits becomes one space;
    a keyword matches whole words ("fix" matches "Break/fix", not "prefix"). How-to is tried first.
    """
    words = pl.concat_str(pl.lit(" "), raw.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", " "), pl.lit(" "))
    result = pl.lit("other")
    for category in reversed(list(schema.TICKET_KEYWORDS)):
        hit = pl.any_horizontal([words.str.contains(f" {k} ", literal=True) for k in schema.TICKET_KEYWORDS[category]])
        result = pl.when(hit.fill_null(False)).then(pl.lit(category)).otherwise(result)
    return result


def _resolve_prices(frames: list[pl.DataFrame], problems: list[Problem]) -> tuple[pl.DataFrame, list[str]]:
    """All price lists as one: one currency over every file, one price per productId (identical repeats dropped)."""
    prices = _concat(frames, schema.PRICE_COLUMNS)
    if prices.is_empty():
        return schema.empty_frame(schema.PRICE_COLUMNS), []
    warnings: list[str] = []
    currencies = prices.get_column("currency").unique().sort().to_list()
    if len(currencies) > 1:
        files = prices.group_by("currency").agg(pl.col("source_file").first()).sort("currency")
        listed = "; ".join(f"{c} in {f}" for c, f in files.iter_rows())
        problems.append(Problem(files.get_column("source_file")[0], f"the price lists use {len(currencies)} "
                                f"currencies ({listed}); idle cost is added up in one",
                                "give price lists in one currency only"))
        return schema.empty_frame(schema.PRICE_COLUMNS), warnings
    distinct = prices.unique(subset=["product_id", "unit_price_per_month"], keep="first", maintain_order=True)
    if distinct.height < prices.height:
        warnings.append(f"price list: {prices.height - distinct.height} repeated row(s) with the same productId "
                        f"and price ignored")
    conflicts = distinct.filter(pl.len().over("product_id") > 1)
    for group in conflicts.group_by("product_id", maintain_order=True).agg(
            pl.format("{} row {}", pl.col("source_file"), pl.col("_row")).alias("where"),
            pl.col("unit_price_per_month")).head(_MAX_LISTED_ROWS).iter_rows(named=True):
        problems.append(Problem(group["where"][0].split(" row ")[0],
                                f"productId {group['product_id']} has {len(group['where'])} different prices "
                                f"({' vs '.join(f'{p:g}' for p in group['unit_price_per_month'])}) at "
                                f"{', '.join(group['where'])}", "keep one price per product"))
    return distinct.select(list(schema.PRICE_COLUMNS)), warnings


def _resolve_tickets(frames: list[pl.DataFrame], deployment: pl.DataFrame, usage: pl.DataFrame,
                     problems: list[Problem]) -> tuple[pl.DataFrame, list[str]]:
    """All ticket files as one: a ticket id repeated with the same values is dropped (warning), with other
    values it is an error; tickets of tenants absent from the license feeds are kept, with a warning."""
    tickets = _concat(frames, schema.TICKET_COLUMNS)
    if tickets.is_empty():
        return schema.empty_frame(schema.TICKET_COLUMNS), []
    warnings: list[str] = []
    key, values = ["customer_id", "ticket_id"], ["opened_at", "category_raw"]
    distinct = tickets.unique(subset=key + values, keep="first", maintain_order=True)
    if distinct.height < tickets.height:
        warnings.append(f"support tickets: {tickets.height - distinct.height} repeated ticket row(s) ignored "
                        f"(identical repeats)")
    conflicts = distinct.filter(pl.len().over(key) > 1)
    for group in conflicts.group_by(key, maintain_order=True).agg(
            pl.format("{} row {}", pl.col("source_file"), pl.col("_row")).alias("where")).head(
            _MAX_LISTED_ROWS).iter_rows(named=True):
        problems.append(Problem(group["where"][0].split(" row ")[0],
                                f"ticket {group['ticket_id']!r} of customer {group['customer_id']} appears with "
                                f"different dates or categories at {', '.join(group['where'])}",
                                "keep one row per ticket"))
    known = pl.concat([deployment.select("customer_id"), usage.select("customer_id")]).get_column("customer_id")
    unknown = distinct.filter(~pl.col("customer_id").is_in(known.unique().implode()))
    if unknown.height:
        warnings.append(f"support tickets: {unknown.height} ticket(s) of {unknown.get_column('customer_id').n_unique()} "
                        f"tenant id(s) that are in no licenses export; they count for no customer (check the "
                        f"tenant ids, e.g. {unknown.get_column('customer_id')[0].upper()})")
    return distinct.select(list(schema.TICKET_COLUMNS)), warnings
