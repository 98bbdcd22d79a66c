"""`load_exports`: files read a few at a time in parallel, checked in batches per kind, then across files."""
from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.values import file_sha256
from adoption_kit.inputs import activity as activity_reports, json_pages
from adoption_kit.inputs.activity import _resolve_activity
from adoption_kit.inputs.cache import ParsedCache, parsed_cache
from adoption_kit.inputs.catalog import (SkuCatalog, catalog_from_frame, match_subscriptions, merge_catalogs,
                                         packaged_catalog, subscription_warnings)
from adoption_kit.inputs.decode import _decode, _read_delimited, _read_utf8_delimited
from adoption_kit.inputs.discover import _KIND_BY_NAME, detect_kind, find_export_files
from adoption_kit.inputs.duplicates import _concat, _drop_duplicates, _name_conflicts
from adoption_kit.inputs.exports import Exports, LoadedFile
from adoption_kit.inputs.json_pages import _read_json_records
from adoption_kit.inputs.kit_files import _resolve_prices, _resolve_tickets
from adoption_kit.inputs.normalise import normalise, normalise_files
from adoption_kit.schema import ExportKind

_READERS, _READ_AHEAD = 2, 3   # files parsed at once; files read ahead of the one being checked
_BATCH_ROWS = 1_000_000  # rows of one kind checked and converted together (bounds the raw text held at once)


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


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
    catalogs: list[SkuCatalog] = []   # Microsoft licensing CSVs among the files
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
            if kind is schema.SKU_CATALOG:
                catalogs.append(catalog_from_frame(raw, str(path)))
                read.append((path, kind.name, raw.height, digest))
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
    catalog = packaged_catalog()
    for found in catalogs:
        catalog = merge_catalogs(catalog, found)
    subscriptions, w7 = _match_subscriptions(subscriptions, deployment, usage, catalog)
    warnings.extend(w1 + w2 + w3 + w4 + w7)
    warnings.extend(_name_conflicts(pl.concat([deployment.select("customer_id", "customer_name", "processed_at"),
                                               usage.select("customer_id", "customer_name", "processed_at")])))
    return Exports(deployment.select(list(schema.DEPLOYMENT_COLUMNS)), usage.select(list(schema.USAGE_COLUMNS)),
                   subscriptions.select(list(schema.SUBSCRIPTION_COLUMNS)), tuple(loaded), tuple(warnings),
                   activity, prices, tickets, catalog)


def _match_subscriptions(subscriptions: pl.DataFrame, deployment: pl.DataFrame, usage: pl.DataFrame,
                         catalog: SkuCatalog) -> tuple[pl.DataFrame, list[str]]:
    """Subscriptions with product_key (and is_trial) from the licence product they match; one warning for those
    that match none, one for those of tenants absent from the licence feeds."""
    if subscriptions.is_empty():
        return subscriptions, []
    products = pl.concat([deployment.select("customer_id", "product_id", "product_name"),
                          usage.select("customer_id", "product_id", "product_name")]).unique()
    matched = match_subscriptions(subscriptions, products, catalog)
    return matched.drop("matched_product_id"), subscription_warnings(matched, products.get_column("customer_id"))


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
        digest = helper.submit(file_sha256, path)
        # very large activity reports: typed by polars while reading
        typed = activity_reports._read_activity_typed(path, name)
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
    raw = json_pages._read_json_records_with_polars(body, helper) if body[:64].lstrip()[:1] in (b"{", b"[") else None
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


def _file_warnings(name: str, warnings: list[str]) -> list[str]:
    """The warnings of a batch that are about file `name` (each starts with its name)."""
    return [w for w in warnings if w.startswith((name + ":", name + ","))]
