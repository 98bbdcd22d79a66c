"""Value rules every stage shares: the tenant-id pattern, the product-name key, whole-number checks, "YYYY-MM-DD,
end of that day UTC", ISO text, content hashes and typed column extremes.

Base layer: imports only the standard library, polars and `adoption_kit.errors`, so that inputs, compute,
report and render can all use one copy of each rule.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Final, cast

import polars as pl

from adoption_kit.errors import ParameterError

# A tenant or product id: 8-4-4-4-12 hex digits, optionally in braces (PowerShell and some exports add them).
GUID_CORE: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
GUID_PATTERN: Final = rf"^\{{?{GUID_CORE}\}}?$"           # a whole value (polars str.contains, re.fullmatch)
GUID_IN_TEXT: Final = re.compile(rf"\{{?({GUID_CORE})\}}?")  # GUIDs inside free text (group 1: the bare id)


def is_guid(text: object) -> bool:
    """True when `text` is one tenant/product id (braces and any letter case accepted)."""
    return isinstance(text, str) and re.fullmatch(GUID_PATTERN, text.strip()) is not None


def normalise_guid(text: str) -> str:
    """The canonical form of an id: no braces, no surrounding space, lower case."""
    return text.strip().strip("{}").lower()


# Characters a terminal, a JavaScript/Vega expression or a one-line message must not receive raw: C0 and C1
# controls (escape codes, bells, newlines), DEL, the line and paragraph separators U+2028/U+2029 (line breaks
# for Python's splitlines and illegal in Vega expressions), and the bidirectional overrides (text shown
# reversed). Shown as escapes so that the reader still sees what the data holds.
_INVISIBLE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def visible_text(text: str) -> str:
    """`text` with every control, line/paragraph separator and bidi override shown as an escape
    (`\\x1b`, `\\n`, `\\u2028`): safe in a terminal, a one-line message and a chart spec."""
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
        return named or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
    return _INVISIBLE.sub(escape, text)


# An absolute path (POSIX or Windows) that starts a word: "/work/x/file.json" or "C:\\x\\file.json".
_ABSOLUTE_PATH: Final = re.compile(r"(?<![^\s'\"(])(?:[A-Za-z]:)?[\\/](?:[^\s:\\/'\"]+[\\/])+([^\s:\\/'\"]+)")


def strip_paths(text: str) -> str:
    """Replace absolute file paths in a message (loader warnings name their files) by the file names."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def product_name_key(expr: pl.Expr) -> pl.Expr:
    """The product-name join key: upper case, runs of white space folded to one space, trimmed."""
    return expr.str.to_uppercase().str.replace_all(r"\s+", " ").str.strip_chars()


def is_whole_number(value: object) -> bool:
    """An integer (numpy's too) that is not a bool: True is an int to Python, never a count to a user."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_whole_number(name: str, value: Any, *, minimum: int = 0, maximum: int | None = None,
                       example: object = None) -> int:
    """`value` as an int within [minimum, maximum], or a ParameterError saying what is expected (and, with
    `example`, a value to write instead)."""
    if not is_whole_number(value) or value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        hint = f"; write e.g. {example}" if example is not None else ""
        raise ParameterError(f"{name}={value!r} must be a whole number of at least {minimum}{upper}{hint}")
    return int(value)


def check_positive_number(name: str, value: Any) -> float:
    """A finite number above 0 (a timeout, a z-score), not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name}={value!r} must be a number above 0")
    return float(value)


def parse_day(text: str, name: str = "date") -> date:
    """A YYYY-MM-DD parameter as a date, or a ParameterError that shows the expected form."""
    try:
        return datetime.strptime(str(text).strip(), "%Y-%m-%d").date()
    except ValueError:
        raise ParameterError(f"{name}={text!r} is not a date; write YYYY-MM-DD") from None


def end_of_day(day: date) -> datetime:
    """The last second of `day`, UTC: a snapshot processed that day counts as on or before it."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=timezone.utc)


def parse_today(today: str) -> datetime:
    """The `today` parameter: "" = now (UTC); YYYY-MM-DD = the end of that day, UTC (pins the staleness check)."""
    if not isinstance(today, str):
        raise ParameterError(f"today={today!r} must be a text date YYYY-MM-DD, or empty for now")
    if not today.strip():
        return datetime.now(timezone.utc)
    try:
        day = datetime.strptime(today.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise ParameterError(f"today={today!r} is not a date; write YYYY-MM-DD, or leave it empty for now") from None
    return end_of_day(day)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of a datetime, None for None (JSON fields of the bundle and the manifest)."""
    return value.isoformat() if value is not None else None


# Series.min()/max() are typed as any polars scalar; these name the column's dtype where the caller knows it
# (an empty or all-null column gives None, as polars does).
def min_datetime(series: pl.Series) -> datetime | None:
    """The earliest value of a Datetime column."""
    return cast("datetime | None", series.min())


def max_datetime(series: pl.Series) -> datetime | None:
    """The latest value of a Datetime column."""
    return cast("datetime | None", series.max())


def min_date(series: pl.Series) -> date | None:
    """The earliest value of a Date column."""
    return cast("date | None", series.min())


def max_date(series: pl.Series) -> date | None:
    """The latest value of a Date column."""
    return cast("date | None", series.max())


def max_int(series: pl.Series) -> int | None:
    """The largest value of an integer column."""
    return cast("int | None", series.max())


def max_float(series: pl.Series) -> float | None:
    """The largest value of a numeric column (an integer column's max is an int, which is a float to mypy)."""
    return cast("float | None", series.max())


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks (export files can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sources_sha256(prefix: bytes, sources: Iterable[tuple[str, Path]]) -> str:
    """SHA-256 of `prefix` and then each (name, file): its name and length first, so that moving bytes from one
    file to another changes the digest too. The version of a body of code (the loader's, the pipeline's)."""
    digest = hashlib.sha256(prefix)
    for name, path in sources:
        data = path.read_bytes()
        digest.update(b"%s|%d|" % (name.encode(), len(data)) + data)
    return digest.hexdigest()


def json_sha256(value: Any) -> str:
    """SHA-256 of a JSON-able value, keys sorted: a fingerprint that does not depend on dict order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()
