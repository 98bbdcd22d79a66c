"""Bytes to text (UTF-8, UTF-16, Windows-1252, mixed lines); delimited text (CSV/TSV, Export-Csv) to frames."""
from __future__ import annotations

import csv
import io
import mmap
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from adoption_kit.errors import InputFileError
from adoption_kit.inputs.convert import MAX_COUNT
from adoption_kit.schema import header_key

# A valid UTF-8 multi-byte sequence (see _decode).
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def decode_text(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (BOM or not), UTF-16 (spreadsheet "Unicode text"), else Windows-1252."""
    return _decode(data, name)[0]


def _decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """`decode_text` with its warnings. UTF-16 without a BOM is recognised by its zero bytes; a file whose
    lines mix UTF-8 and Windows-1252 (two exports pasted together) is decoded line by line, with a warning."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):   # before UTF-16: the same first two bytes
        return _decode_utf32(data, name), []
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


def _decode_utf32(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-32")
    except UnicodeDecodeError as error:
        raise InputFileError.single(name, f"is not valid UTF-32 text (byte {error.start})",
                                    "save it again as CSV UTF-8") from None


def strip_repeated_boms(data: bytes, name: str) -> tuple[bytes, list[str]]:
    """A UTF-8 file that starts with more than one byte-order mark (converted twice) with one left, and a
    warning naming it; otherwise `data` unchanged. Left alone, the extra mark would be part of the first
    column's name."""
    bom = b"\xef\xbb\xbf"
    if not data.startswith(bom + bom):
        return data, []
    count = 0
    while data.startswith(bom, count * 3):
        count += 1
    return data[(count - 1) * 3:], [f"{name}: starts with {count} byte-order marks (the file was converted more "
                                    f"than once); read past them"]


def _decode_utf16(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        raise InputFileError.single(name, f"is not valid UTF-16 text (byte {error.start})",
                                    "save it again from the spreadsheet as Unicode text or CSV UTF-8") from None


def _read_utf8_delimited(data: bytes | mmap.mmap, name: str,
                         columns_for: Callable[[list[str]], ParsePlan | None] | None = None, *,
                         source: Path | None = None) -> pl.DataFrame | None:
    """The bytes of a delimited UTF-8 file (BOM or not) parsed by polars directly, cells untrimmed.
    `columns_for(header)`, when given, may name the only columns to parse and the ones to parse as whole numbers
    (a ParsePlan; None: all of them, as text). A typed parse that fails (a count written "12.0" or " 12") is
    parsed again as text, so that the schema check words the problem exactly as for any other file.
    `source`: the file `data` maps, which polars then reads itself (no copy of the bytes).

    None when this fast path does not apply (JSON, UTF-16, a PowerShell #TYPE line, invalid UTF-8, a row
    polars cannot parse): `_read_delimited` then decodes the text and words any error exactly as before.
    """
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    head = data[start:start + 65536]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4096] or head.startswith(b"#TYPE"):
        return None
    if head.lstrip()[:1] in (b"{", b"[", b"") or data.find(b"\n") < 0:
        return None   # JSON, or lines ended by a lone CR (old Mac "CSV"), which polars does not split
    end = min((i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0), default=-1)
    if end < 0 and len(head) < len(data) - start:
        return None  # a header longer than 64 KiB: leave it to the text path
    try:
        first_line = (head if end < 0 else head[:end]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    delimiter = _sniff_header(first_line, name)
    plan = columns_for(next(csv.reader([first_line], delimiter=delimiter))) if columns_for else None
    wanted = plan.columns if plan is not None else None
    parsed_from: Path | bytes = source if source is not None else data if isinstance(data, bytes) else data[:]
    for counts in ((plan.counts if plan is not None else ()), ()):
        try:
            frame = pl.read_csv(parsed_from, separator=delimiter, infer_schema=False,
                                quote_char='"', columns=wanted,
                                schema_overrides=dict.fromkeys(counts, pl.Int64) or None)
        except pl.exceptions.PolarsError:
            if counts:
                continue
            return None
        if counts and not _plain_counts(frame, counts):
            continue
        return frame.rename({c: c.strip() for c in frame.columns})
    return None


@dataclass(frozen=True)
class ParsePlan:
    """What to parse of a delimited file: these columns only; `counts` among them as whole numbers."""

    columns: list[str] | None
    counts: tuple[str, ...] = ()


def _plain_counts(frame: pl.DataFrame, counts: tuple[str, ...]) -> bool:
    """Whether every typed count is one the schema check would take as it is (0 to MAX_COUNT); else the file is
    parsed again as text and checked there, where a negative or huge count is worded as for any file."""
    if not frame.height:
        return True
    low, high = frame.select(pl.min_horizontal(pl.col(counts).min()).alias("low"),
                             pl.max_horizontal(pl.col(counts).max()).alias("high")).row(0)
    return low is None or (low >= 0 and high <= MAX_COUNT)


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
