"""Microsoft 365 active-user detail reports: the typed fast read, the checks, the tenant from the folder."""
from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.inputs.convert import FUTURE_TOLERANCE, _row_problems, _today, missing_column_hint
from adoption_kit.inputs.decode import _delimiter_name, _first_ragged_row
from adoption_kit.inputs.exports import LoadedFile
from adoption_kit.schema import header_key
from adoption_kit.values import GUID_PATTERN, max_date

# Placeholders that cannot occur in a product name (ASCII unit/record separators).
_SPACED_BEFORE = "\x1e"
_SPACED_AFTER = "\x1f"


def split_assigned_products(expr: pl.Expr) -> pl.Expr:
    """'A+B' -> ['A', 'B']: split on a '+' with no space on either side, so that
    'ENTERPRISE MOBILITY + SECURITY E5' stays one product. Parts are trimmed; empty parts and null give [].
    """
    protected = (expr.str.replace_all(" +", _SPACED_BEFORE, literal=True)
                 .str.replace_all("+ ", _SPACED_AFTER, literal=True))
    parts = protected.str.split("+").list.eval(
        pl.element().str.replace_all(_SPACED_BEFORE, " +", literal=True)
        .str.replace_all(_SPACED_AFTER, "+ ", literal=True).str.strip_chars()
    )
    return parts.list.eval(pl.element().filter(pl.element() != "")).fill_null(pl.lit([], dtype=pl.List(pl.String)))



# ---------------------------------------------------------------------------
# Microsoft 365 active-user detail (getOffice365ActiveUserDetail)
# ---------------------------------------------------------------------------
_ACTIVITY_DATE_RE = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:?00)?)?$"
_ACTIVITY_FOLDER_FIX = ("move it into a folder named after the customer's tenant id, e.g. "
                        "activity/0112A436-B14E-4888-967B-CA4BB2CF1234/ActiveUserDetail.csv")


def activity_customer_id(path: str | Path) -> str | None:
    """The tenant id an active-user detail file belongs to: the nearest enclosing folder named after a GUID."""
    for folder in Path(path).parents:
        if re.fullmatch(GUID_PATTERN, folder.name):
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
    _ragged_activity_row(path, delimiter, name)
    skipped = [c for c in columns if c not in wanted]
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in skipped)
    return frame.rename({c: c.strip() for c in frame.columns})


def _ragged_activity_row(source: Path | bytes, delimiter: str, name: str) -> None:
    """Raise for the first row of an active-user detail CSV whose field count differs from its header's.

    Published samples have rows with more fields than the header (shifted columns: dates in the wrong
    columns), which a reader selecting columns takes silently. A vectorised screen over the lines (quoted
    text removed, delimiters counted); only when it finds one does the exact csv reader name the row."""
    try:
        lines = pl.read_csv(source, separator="\x1f", quote_char=None, has_header=False, new_columns=["line"],
                            infer_schema=False, truncate_ragged_lines=True, encoding="utf8-lossy").get_column("line")
    except (pl.exceptions.PolarsError, OSError):
        return
    lines = lines.filter(~lines.str.starts_with("#TYPE"))
    counts = lines.str.replace_all(r'"[^"]*"', "").str.count_matches(delimiter, literal=True)
    if counts.len() < 2 or (counts.slice(1) == counts[0]).all():
        return
    data = source.read_bytes() if isinstance(source, Path) else source
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#TYPE"))
    ragged = _first_ragged_row(body, delimiter)
    if ragged is not None:
        row, fields, expected = ragged
        raise InputFileError.single(name, f"has {fields} {_delimiter_name(delimiter)}-separated fields where "
                                          f"the header has {expected}, so its values would sit in the wrong "
                                          f"columns", "export the report again (do not edit it in a text editor)",
                                    row=row)


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
    known_keys = {header_key(f.name) for f in kind.fields}
    for raw_field in kind.fields:
        column = by_key.get(header_key(raw_field.name))
        if column is None:
            if raw_field.required:
                hint = missing_column_hint(raw_field.name, raw.columns, known_keys)
                problems.append(Problem(name, f"the required column '{raw_field.name}' is missing{hint}",
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
        out = _split_products_column(out, json_lists=name.lower().endswith(".json"))
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


def _split_products_column(frame: pl.DataFrame, *, json_lists: bool = False) -> pl.DataFrame:
    """Split Assigned Products once per distinct value (a report repeats a few combinations for every user).

    `json_lists`: Graph's JSON form, where `assignedProducts` is a list of names (kept as text by the JSON
    reader, e.g. '["OFFICE 365 E3"]'): read as that list, never split on '+'."""
    column = frame.select("assigned_products")
    value = pl.col("assigned_products")
    distinct = column.unique()
    listed = json_lists and distinct.select(value.is_null() | value.str.starts_with("[")).to_series().all()
    if listed:
        products = value.str.json_decode(pl.List(pl.String)).list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element() != "")).fill_null(pl.lit([], dtype=pl.List(pl.String)))
    else:
        products = split_assigned_products(value)
    distinct = distinct.with_columns(products.alias("_products"))
    joined = column.join(distinct, on="assigned_products", how="left", nulls_equal=True, maintain_order="left")
    return frame.with_columns(joined.get_column("_products").alias("assigned_products"))


def _resolve_activity(frames: list[pl.DataFrame], loaded: list[LoadedFile], deployment: pl.DataFrame,
                      usage: pl.DataFrame, problems: list[Problem]) -> tuple[pl.DataFrame, list[str]]:
    """Map each activity file to a known customer and keep each customer's newest report."""
    warnings: list[str] = []
    files = [f for f in loaded if f.kind == schema.ACTIVITY.name]
    if not files:
        return schema.empty_frame(schema.ACTIVITY_COLUMNS), warnings
    names = (pl.concat([deployment.select("customer_id", "customer_name"),
                        usage.select("customer_id", "customer_name")])
             .drop_nulls("customer_id").group_by("customer_id").agg(pl.col("customer_name").drop_nulls().last()))
    known = dict(zip(names.get_column("customer_id").to_list(), names.get_column("customer_name").to_list()))
    reports: dict[str, list[tuple[date | None, LoadedFile, pl.DataFrame]]] = {}
    for file, frame in zip(files, frames, strict=True):   # both in reading order
        source = str(file.path)
        customer_id = activity_customer_id(source)
        if customer_id is None or customer_id not in known:   # None (no tenant-id folder) was refused on reading
            close = difflib.get_close_matches(customer_id, list(known), n=3, cutoff=0.8)
            hint = ("; closest: " + ", ".join(f"{c.upper()} ({known[c]})" for c in close)) if close else ""
            folder = next(p.name for p in Path(source).parents if p.name.strip("{}").lower() == customer_id)
            problems.append(Problem(source, f"sits in the folder {folder}, but no customer with that tenant id "
                                            f"is in the licenses deployment or usage exports{hint}",
                                    "rename the folder to the customer's tenant id, or add that customer's "
                                    "Partner Center exports"))
            continue
        if frame.height:   # a header-only report was warned about and has nothing to use
            refresh = max_date(frame.get_column("report_refresh_date"))
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
