"""API JSON pages to all-text frames: polars' fast path (checked by a numpy key scan), else the exact parser."""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import InputFileError
from adoption_kit.inputs.limits import many_distinct_keys
from adoption_kit.schema import header_key

# A true/false literal in JSON text, not inside a string (see _read_json_records_with_polars).
_JSON_BOOLEAN = re.compile(r"(?<=[:\[,])\s*(?:true|false)(?=\s*[,}\]])")
# A key's closing quote and its colon, whitespace between them included (a repeated key must not hide).
_KEY_SEPARATOR = re.compile(rb'"[ \t\r\n]*:')
# A JSON number a float64 cannot hold exactly: an exponent, or more than 15 significant digits.
_LOSSY_NUMBER = re.compile(rb"[:\[,]\s*-?[0-9]+(?:\.[0-9]+)?[eE]|[:\[,]\s*-?(?:[0-9]\.?){16,}")


def _record_lists(keys: list[str]) -> int:
    """How many of the envelope's keys name a record list (Value, value, items...): one page holds one."""
    return sum(header_key(k) in ("value", "items") for k in keys)


class _NumberText(str):
    """A JSON number kept as written (json's parse_float), so that no rounding hides a fraction."""


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
    if many_distinct_keys(data):   # polars would build a column per key for every record: quadratic memory
        return None
    scan = helper.submit(_json_key_scan, data) if helper is not None else None
    try:
        document = pl.read_json(data, infer_schema_length=None)
        keys = {header_key(c): c for c in document.columns}
        container = next((keys[k] for k in ("value", "items") if k in keys), None)
        if document.height != 1 or container is None or _record_lists(document.columns) > 1:
            return None   # the Python parser names the ambiguity
        records = document.get_column(container)
        if not isinstance(records.dtype, pl.List) or not isinstance(records.dtype.inner, pl.Struct):
            return None
        frame = records.explode().struct.unnest()
        if any(d.is_float() for d in frame.dtypes) and _LOSSY_NUMBER.search(data):
            return None   # a float64 would round it (9.99999999999999999 -> 10, 1e-400 -> 0): read its text
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
    import numpy as np  # here, not at module level: report kernels that read a bundle never need it

    whitespace = np.array([0x20, 0x09, 0x0A, 0x0D], dtype=np.uint8)
    octets = np.frombuffer(data, dtype=np.uint8)
    if octets.size < 2:
        return 0, 0
    colons = np.flatnonzero(octets[1:] == 0x3A) + 1
    before = octets[colons - 1]
    separators = colons[before == 0x22]
    if np.isin(before, whitespace).any():   # `"key" :` layouts (any run of whitespace): the exact, slower way
        return len(_KEY_SEPARATOR.findall(data)), None
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
        document = json.loads(text, object_pairs_hook=unique_keys, parse_float=_NumberText)
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
    if isinstance(document, dict) and _record_lists(list(document)) > 1:
        lists = [k for k in document if header_key(k) in ("value", "items")]
        raise InputFileError.single(name, f"the page has {len(lists)} record lists "
                                          f"({', '.join(map(repr, lists))}), so which one holds its records is "
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
    # The documented fields only: a page whose records each carry keys of their own must not cost a column
    # per key. With no documented key at all, the first few keys are kept, for the "not an export" message.
    documented = _documented_keys()
    kept = {k for k in dict.fromkeys(k for r in records for k in r) if header_key(k) in documented}
    if not kept:
        kept = set(list(dict.fromkeys(k for r in records[:100] for k in r))[:8])
    columns: dict[str, list[str | None]] = {}
    for index, record in enumerate(records):
        for key in record:
            if key not in columns and key in kept:
                columns[key] = [None] * index
        for key, values in columns.items():
            values.append(_json_scalar_to_text(record.get(key)))
    return pl.DataFrame(columns, schema={k: pl.String for k in columns})


def _documented_keys() -> frozenset[str]:
    """Header keys of every documented field and alias of every export kind, and those the kind detection
    and the subscriptions' self link read."""
    keys = {"paidavailableunits", "monthlyactiveusers", "workloadname", "licenseactive", "id", "subscriptionid",
            "status", "quantity", "licensecount", "offername", "productname", "links",
            # the older and partner-level endpoints' percentages: the inventory names those feeds by them
            "prorateddeploymentpercent", "proratedlicensesusagepercent", "deploymentpercent", "usagepercent"}
    for kind in vars(schema).values():
        if isinstance(kind, schema.ExportKind):
            keys |= kind.signature | {header_key(n) for f in kind.fields for n in (f.name, *f.aliases)}
    return frozenset(keys)


def _json_scalar_to_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)
