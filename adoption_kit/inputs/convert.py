"""Shared conversions: text to typed values with their checks, row problems worded per file, row, column."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import Problem
from adoption_kit.values import GUID_PATTERN

MAX_COUNT = 10_000_000  # no single customer x product holds more seats; larger means a broken export
MAX_TEXT = 1_000        # characters in a name or code; longer means merged fields (a stray quote) or junk
_CONTROL_RE = r"[\x00-\x1f\x7f-\x9f]+"
FUTURE_TOLERANCE = timedelta(days=1)   # time zones: a naive UTC timestamp may be "tomorrow" somewhere
_WHOLE_NUMBER_RE = r"^(?:[+]?[0-9]+|-0+)(\.0+)?$"
_OTHER_DIGITS_RE = r"^[+]?\d+(\.\d+)?$"   # \d is any Unicode digit: full-width, Arabic-Indic, ...
_MAX_LISTED_ROWS = 5


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


_NEGATIVE = ("is negative; licence counts never are",
             "re-download the export; if a spreadsheet changed it, restore the original count")
_TOO_LARGE = (f"is larger than any real licence count (over {MAX_COUNT:,})",
              "check the column: it may hold an id or an amount rather than a count")


def _conversion(raw_field: schema.RawField, target: str, *, clean: bool = False,
                typed: bool = False) -> tuple[pl.Expr, list[tuple[pl.Expr, str, str]]]:
    """The converted value and the checks for one field: [(invalid-row predicate, problem, fix), ...].

    `clean`: the text column holds control characters (see `_control_characters`); they are replaced.
    `typed`: the column is already whole numbers (Int64: a JSON page's numbers, or a count column polars parsed
    as such); only their range is checked, with the same words as for the text."""
    value = pl.col(target)
    present = value.is_not_null()
    if raw_field.kind == "int" and typed:
        return value, [(present & (value < 0), *_NEGATIVE), (present & (value > MAX_COUNT), *_TOO_LARGE)]
    if raw_field.kind == "int":
        # "-0" is zero (polars' typed parse reads it so too; see decode.ParsePlan), not a negative count
        negative = present & value.str.starts_with("-") & ~value.str.contains(r"^-0+(\.0+)?$")
        whole = value.str.contains(_WHOLE_NUMBER_RE)
        number = value.str.replace(r"\.0+$", "").str.strip_prefix("+").str.replace(r"^-0+$", "0").cast(
            pl.Int64, strict=False)
        return number, [
            (negative, *_NEGATIVE),
            (present & ~negative & ~whole & value.str.contains(_OTHER_DIGITS_RE) & ~value.str.contains(r"^[+0-9.]+$"),
             "is written with digits other than 0-9 (full-width or another script's digits)",
             "write the count with the digits 0-9"),
            (present & ~negative & ~whole & ~(value.str.contains(_OTHER_DIGITS_RE)
                                             & ~value.str.contains(r"^[+0-9.]+$")), "is not a whole number",
             "write a whole licence count such as 12 (no decimals, units or thousands separators)"),
            (present & whole & (number.is_null() | (number > MAX_COUNT)), *_TOO_LARGE),
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
            (present & ~value.str.contains(GUID_PATTERN), "is not a GUID (expected 8-4-4-4-12 hexadecimal digits)",
             "use the tenant/product id exactly as Partner Center exports it")]
    if raw_field.kind == "datetime":
        parsed = parse_utc_datetime(value)
        return parsed, [
            (present & parsed.is_null() & ~_is_no_end(value),
             "is not a date-time (expected ISO 8601 such as 2026-11-01T00:00:00, optionally with +00:00)",
             "use the ISO 8601 timestamps Partner Center exports; do not let a spreadsheet reformat them")]
    if raw_field.kind == "month":   # Insights' Month: its format is undocumented (see parse_month)
        parsed = parse_month(value)
        return parsed, [
            (present & parsed.is_null(),
             "is not a month (expected YYYY-MM, YYYY-MM-DD or an ISO 8601 date-time)",
             "use the Month values as the Insights download gives them; do not let a spreadsheet reformat them")]
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


def parse_month(value: pl.Expr) -> pl.Expr:
    """Insights' Month text to the first instant of that calendar month, UTC: `YYYY-MM`, `YYYY-MM-DD` or a
    date-time (naive, `Z` or an offset). The month is the one written: a month label, not an instant, so an
    offset never moves `2024-06-01T00:00:00+02:00` into May. Anything else (or an invalid date) is null."""
    text = value.str.strip_chars()
    month = text.str.extract(r"^(\d{4}-\d{2})(?:-\d{2}(?:[T ].+)?)?$", 1)
    first = (month + "-01").str.to_date("%Y-%m-%d", strict=False)
    day_ok = pl.when(text.str.len_chars() > 7).then(
        text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).is_not_null()).otherwise(True)
    time_ok = pl.when(text.str.len_chars() > 10).then(parse_utc_datetime(text).is_not_null()).otherwise(True)
    return (pl.when(day_ok & time_ok).then(first).otherwise(None)
            .cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))


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




def missing_column_hint(wanted: str, columns: list[str], known_keys: set[str]) -> str:
    """For "the required column X is missing": the headers found that are no documented field, and the
    closest to X (e.g. " (found 'licencesDeployed', the closest match)"), or "" when every header is known."""
    import difflib

    unknown = {schema.header_key(c): c for c in columns if schema.header_key(c) not in known_keys}
    if not unknown:
        return ""
    close = difflib.get_close_matches(schema.header_key(wanted), list(unknown), n=1, cutoff=0.75)
    if close:
        return f" (found '{unknown[close[0]]}', the closest match)"
    shown = ", ".join(repr(c) for c in list(unknown.values())[:5])
    return f" (headers found that are no documented field: {shown}{' ...' if len(unknown) > 5 else ''})"
