"""`load_exports`: files read a few at a time in parallel, checked in batches per kind, then across files."""
from __future__ import annotations

import hashlib
import mmap
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.inputs import activity as activity_reports
from adoption_kit.inputs import inventory as inventory_checks
from adoption_kit.inputs import json_pages
from adoption_kit.inputs.activity import _resolve_activity
from adoption_kit.inputs.cache import ParsedCache, parsed_cache
from adoption_kit.inputs.catalog import (
    SkuCatalog,
    catalog_from_frame,
    match_subscriptions,
    merge_catalogs,
    packaged_catalog,
    subscription_warnings,
)
from adoption_kit.inputs.decode import ParsePlan, _decode, _read_delimited, _read_utf8_delimited, strip_repeated_boms
from adoption_kit.inputs.discover import _KIND_BY_NAME, detect_kind, find_export_files_and_warnings
from adoption_kit.inputs.duplicates import _concat, _drop_duplicates, _name_conflicts
from adoption_kit.inputs.exports import Exports, LoadedFile
from adoption_kit.inputs.insights import resolve_insights
from adoption_kit.inputs.inventory import PARTIAL_SNAPSHOT_SHARE, Inventory, PageEnvelope, SkipFile, SkippedFile
from adoption_kit.inputs.json_pages import _read_json_records
from adoption_kit.inputs.kit_files import _resolve_prices, _resolve_tickets
from adoption_kit.inputs.limits import check_raw_sizes
from adoption_kit.inputs.normalise import normalise, normalise_files, trim_text_cells
from adoption_kit.schema import ExportKind, header_key
from adoption_kit.values import file_sha256

_READERS, _READ_AHEAD = 2, 3   # files parsed at once; files read ahead of the one being checked
_HEAD_BYTES = 1 << 16   # what tells a JSON page, a blank file or a byte-order mark from a CSV
_BATCH_ROWS = 1_000_000  # rows of one kind checked and converted together (bounds the raw text held at once)


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def load_exports(paths: Iterable[str | Path] | str | Path, *,
                 partial_snapshot_share: float = PARTIAL_SNAPSHOT_SHARE) -> Exports:
    """Read every export under `paths` (files or folders), check each against its schema, and normalise.

    Files that are not exports the kit reads are skipped and listed (Exports.inventory, with a warning each);
    a snapshot of a feed holding under `partial_snapshot_share` of the previous snapshot's customers is
    reported as a partial re-download. Raises InputFileError listing every problem in every file at once.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    files, walk_warnings = find_export_files_and_warnings(paths)
    skipped: list[SkippedFile] = inventory_checks.find_workbooks(paths)
    if not files:
        raise InputFileError(inventory_checks.skipped_problems(skipped) + [
            Problem(", ".join(str(p) for p in paths), "no export files found",
                    "point at the .json/.csv/.tsv files downloaded from Partner Center")])
    envelopes: dict[str, PageEnvelope] = {}
    frames: dict[str, list[pl.DataFrame]] = {"deployment": [], "usage": [], "subscriptions": [], "activity": [],
                                             schema.PRICE_LIST.name: [], schema.SUPPORT_TICKETS.name: [],
                                             **{kind.name: [] for kind in schema.INSIGHTS_KINDS}}
    problems: list[Problem] = []
    warnings: list[str] = list(walk_warnings)   # links not followed, compressed files skipped
    read: list[tuple[Path, str, int | None, Future]] = []   # path, kind, rows (None: counted below), digest
    raw_by_kind: dict[str, list[tuple[str, pl.DataFrame, Future, list[str]]]] = {}   # name, raw, digest, warnings
    rows: dict[str, int] = {}
    untrimmed: set[str] = set()   # delimited files, whose cells normalise trims
    catalogs: list[SkuCatalog] = []   # Microsoft licensing CSVs among the files
    cache = parsed_cache()

    def normalise_pending(kind_name: str) -> None:
        """Check and convert the raw files of a kind read so far, together (see normalise_files)."""
        batch = raw_by_kind.pop(kind_name)
        try:
            frame, kind_warnings = normalise_files(_KIND_BY_NAME[kind_name], [(n, raw) for n, raw, *_ in batch],
                                                   untrimmed=untrimmed)
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
            # Not cached: rows that depend on today, or on the folder the file sits in (a tenant taken from it).
            if any("after today" in w or "is taken from its folder" in w for w in own):
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
            except SkipFile as skip:
                skipped.append(skip.skipped)
                continue
            except InputFileError as error:
                problems.extend(error.problems)
                continue
            if kind is schema.SKU_CATALOG:
                catalogs.append(catalog_from_frame(raw, str(path)))
                read.append((path, kind.name, raw.height, digest))
                continue
            if got.page is not None:
                envelopes[str(path)] = got.page
            if got.cached:   # normalised on an earlier run (warnings included)
                assert kind is not None   # the cache holds files of a known kind only
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
                if got.untrimmed:
                    untrimmed.add(str(path))
                read.append((path, kind.name, None, digest))
                if sum(r.height for _, r, *_ in raw_by_kind[kind.name]) >= _BATCH_ROWS:
                    normalise_pending(kind.name)
        for kind_name in list(raw_by_kind):
            normalise_pending(kind_name)
        if problems:
            raise InputFileError(problems)
        if cache is not None:   # damaged entries, named once: they were re-read and rewritten, never stored
            warnings.extend(cache.notes)
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
    if deployment.is_empty() and usage.is_empty() and not any(frames[k.name] for k in schema.INSIGHTS_KINDS):
        raise InputFileError(inventory_checks.skipped_problems(skipped) + [
                              Problem(", ".join(str(p) for p in paths),
                                      "no license deployment or usage rows found",
                                      "add the Partner Center licenses deployment and usage downloads")])

    snapshot_of = dict(pl.concat([deployment.select("source_file", "processed_at"),
                                  usage.select("source_file", "processed_at")])
                       .group_by("source_file").agg(pl.col("processed_at").max()).iter_rows())
    deployment, w1 = _drop_duplicates(deployment, ["customer_id", "product_id", "processed_at"],
                                      ["licenses_sold", "licenses_assigned"], "deployment", problems)
    usage, w2 = _drop_duplicates(usage, ["customer_id", "product_id", "workload_code", "processed_at"],
                                 ["licenses_qualified", "licenses_active"], "usage", problems)
    subscriptions, w3 = _drop_duplicates(subscriptions, ["customer_id", "subscription_id"],
                                         ["quantity", "status", "product_key"], "subscriptions", problems)
    insights = None
    if any(frames[kind.name] for kind in schema.INSIGHTS_KINDS):
        office, dynamics, seats = (_concat(frames[k.name], c) if frames[k.name] else None for k, c in
                                   ((schema.INSIGHTS_OFFICE, schema.INSIGHTS_OFFICE_COLUMNS),
                                    (schema.INSIGHTS_DYNAMICS, schema.INSIGHTS_DYNAMICS_COLUMNS),
                                    (schema.INSIGHTS_SEATS, schema.INSIGHTS_SEATS_COLUMNS)))
        insights = resolve_insights(office, dynamics, seats, rest=[deployment, usage],
                                    rest_subscriptions=subscriptions, problems=problems)
        if problems:
            raise InputFileError(problems)
        if deployment.is_empty() and usage.is_empty() and insights.deployment.is_empty() \
                and insights.usage.is_empty():
            raise InputFileError([Problem(", ".join(str(p) for p in paths), "no license deployment or usage rows found",
                                          "add the Partner Center licenses deployment and usage downloads, or the "
                                          "Insights OfficeUsage or DynamicsUsage download")])
        deployment = pl.concat([deployment, insights.deployment], how="vertical")
        usage = pl.concat([usage, insights.usage], how="vertical")
        subscriptions = pl.concat([subscriptions, insights.subscriptions], how="vertical")
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
    warnings.extend(w1 + w2 + w3 + w4 + w7 + (list(insights.warnings) if insights is not None else []))
    warnings.extend(_name_conflicts(pl.concat([deployment.select("customer_id", "customer_name", "processed_at"),
                                               usage.select("customer_id", "customer_name", "processed_at")])))
    inventory = Inventory(
        read=tuple(loaded), skipped=tuple(skipped),
        missing=tuple(inventory_checks.missing_kinds({f.kind for f in loaded})),
        pages=tuple(inventory_checks.page_completeness(loaded, envelopes, snapshot_of)),
        partial_snapshots=tuple(inventory_checks.partial_snapshots(deployment, "deployment", partial_snapshot_share)
                                + inventory_checks.partial_snapshots(usage, "usage", partial_snapshot_share)))
    warnings.extend(inventory.warning_lines())
    return Exports(deployment.select(list(schema.DEPLOYMENT_COLUMNS)), usage.select(list(schema.USAGE_COLUMNS)),
                   subscriptions.select(list(schema.SUBSCRIPTION_COLUMNS)), tuple(loaded), tuple(warnings),
                   activity, prices, tickets, inventory=inventory, catalog=catalog,
                   **(insights.exports_fields() if insights is not None else {}))


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
    frame, more = normalise(raw, kind, str(path), untrimmed=got.untrimmed)
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
    page: PageEnvelope | None = None   # an API page's TotalCount and @nextLink
    untrimmed: bool = False   # a delimited file's text cells, to be trimmed by normalise


def _read_raw_export(path: Path, helper: ThreadPoolExecutor, cache: ParsedCache | None = None) -> _ReadFile:
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
        in_place = _read_delimited_in_place(path, name, digest, cache)
        if in_place is not None:
            if isinstance(in_place, _ReadFile):
                return in_place
            return _classified(path, in_place, [], digest, None, delimited=True, source=None)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputFileError.single(name, f"cannot be read ({error.strerror or error})",
                                    "check the file's permissions, or copy it again") from None
    if digest is None:   # the cache key is needed before parsing: hashed here, in this reader thread
        digest = Future()
        digest.set_result(hashlib.sha256(data).hexdigest())
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    envelope = inventory_checks.page_envelope(body) if body[:64].lstrip()[:1] == b"{" else None
    hit = cache.read(digest.result(), name) if cache is not None else None
    if hit is not None:
        kind, frame, warnings = hit
        return _ReadFile(kind, frame, warnings, digest, cached=True, page=envelope)
    if not data or data.isspace():
        raise InputFileError.single(name, "the file is empty", "download the export again")
    check_raw_sizes(data, name)   # a giant field or line is refused before anything decodes it
    data, bom_warnings = strip_repeated_boms(data, name)
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    # UTF-8 API pages go straight to polars (which refuses invalid UTF-8), without a Python decode
    raw = json_pages._read_json_records_with_polars(body, helper) if body[:64].lstrip()[:1] in (b"{", b"[") else None
    delimited = False
    if raw is None:
        raw = _read_utf8_delimited(data, name, _read_columns)  # large UTF-8 CSVs go straight to polars too
        delimited = raw is not None
    decode_warnings: list[str] = []
    text: str | None = None
    if raw is None:
        text, decode_warnings = _decode(data, name)
        stripped = text.lstrip()
        if stripped.startswith(("{", "[")):
            raw = _read_json_records(stripped, name)
        else:
            raw = _read_delimited(text, name)
            delimited = True
    decode_warnings = bom_warnings + decode_warnings
    if raw is None:  # an API page with an empty record list
        return _ReadFile(None, pl.DataFrame(), [*decode_warnings, f"{name}: no records in this page"], digest)
    return _classified(path, raw, decode_warnings, digest, envelope, delimited=delimited,
                       source=data if text is None else text.encode("utf-8"))


def _read_delimited_in_place(path: Path, name: str, digest: Future,
                             cache: ParsedCache | None) -> pl.DataFrame | _ReadFile | None:
    """A UTF-8 CSV or TSV checked through a read-only map of the file and parsed by polars from its path: the
    usual large download, without a copy of its bytes in memory (a tenth of a second per 200 MB). Its rows
    from `cache` when there. None for anything else (JSON, an empty or blank file, repeated byte-order marks,
    another encoding, a row polars cannot parse): the bytes path reads it and words every problem as before."""
    try:
        with path.open("rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):   # ValueError: an empty file, which cannot be mapped
        return None
    with mapped:
        head = mapped[:_HEAD_BYTES]
        body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        if body.startswith(b"\xef\xbb\xbf") or body.lstrip()[:1] in (b"{", b"[", b""):
            return None
        hit = cache.read(digest.result(), name) if cache is not None else None
        if hit is not None:
            kind, frame, warnings = hit
            return _ReadFile(kind, frame, warnings, digest, cached=True)
        check_raw_sizes(mapped, name)   # a giant line is refused before polars sees it
        return _read_utf8_delimited(mapped, name, _read_columns, source=path)


def _classified(path: Path, raw: pl.DataFrame, decode_warnings: list[str], digest: Future,
                envelope: PageEnvelope | None, *, delimited: bool, source: bytes | None) -> _ReadFile:
    """The file's kind told from its columns (or the reason it is skipped), as a _ReadFile. `source`: the file's
    bytes when at hand (the in-place path reads them again for the rare activity report that needs them)."""
    name = str(path)
    skip = inventory_checks.skip_reason(raw.columns, name)
    if skip is not None:
        raise skip
    try:
        kind = detect_kind(raw.columns, name)
    except InputFileError as error:
        # A delimited file of unknown columns is not an export (notes, another tool's CSV): skipped and
        # listed. An unknown .json file stays an error: JSON in a data folder is an API page gone wrong.
        if delimited and path.suffix.lower() != ".json" and error.problems[0].problem.startswith("is not a recognised"):
            raise inventory_checks.unknown_format(raw.columns, name) from None
        raise
    if delimited and kind is schema.ACTIVITY:   # every row's width against the header's
        source = path.read_bytes() if source is None else source
        head = [line for line in source.removeprefix(b"\xef\xbb\xbf").split(b"\n", 2)[:2]
                if not line.startswith(b"#TYPE")]
        first = head[0].decode("utf-8", errors="replace") if head else ""
        activity_reports._ragged_activity_row(source, max((",", "\t", ";"), key=first.count), name)
    # A delimited file's cells are trimmed, "" read as empty: by normalise (on the distinct values where it can)
    # for the kinds it checks. Not for activity reports (up to millions of rows): their conversions trim only
    # the columns whose values do not parse as they are.
    if delimited and kind is schema.SKU_CATALOG:
        raw = trim_text_cells(raw, kind)
    return _ReadFile(kind, raw, decode_warnings, digest, page=envelope,
                     untrimmed=delimited and kind is not schema.ACTIVITY)


def _read_columns(header: list[str]) -> ParsePlan | None:
    """The columns of a wide Insights download that the kit reads (half of OfficeUsage's are partner fields it
    never uses), when the header has every required one, its counts parsed as whole numbers; None (parse them
    all, as text) otherwise, so that a missing or misspelt column is still reported against the whole header."""
    try:
        kind = detect_kind(header, "")
    except InputFileError:
        return None
    if kind not in schema.INSIGHTS_KINDS:
        return None
    read = [f for f in kind.fields if f.read]
    keys = {header_key(h) for h in header}
    if not all(header_key(f.name) in keys or any(header_key(a) in keys for a in f.aliases)
               for f in read if f.required):
        return None
    wanted = {header_key(n) for f in read for n in (f.name, *f.aliases)}
    counts = {header_key(n) for f in read if f.kind == "int" for n in (f.name, *f.aliases)}
    columns = [h for h in header if header_key(h) in wanted]
    # a count spelt twice (two aliases) is coalesced as text in normalise: parsed as text here too
    keyed = [header_key(h) for h in columns if header_key(h) in counts]
    return ParsePlan(columns, tuple(h for h in columns if header_key(h) in counts and keyed.count(header_key(h)) == 1
                                    and len(header) == len(set(header))))


def _file_warnings(name: str, warnings: list[str]) -> list[str]:
    """The warnings of a batch that are about file `name` (each starts with its name)."""
    return [w for w in warnings if w.startswith((name + ":", name + ","))]
