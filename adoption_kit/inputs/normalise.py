"""Headers mapped to the documented fields, every value checked and converted: a batch of files of one kind."""
from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.inputs.activity import _normalise_activity, activity_customer_id
from adoption_kit.inputs.convert import (
    _CONTROL_RE,
    _MAX_LISTED_ROWS,
    _control_characters,
    _conversion,
    _row_problems_by_file,
    _rows_by_file,
    missing_column_hint,
)
from adoption_kit.inputs.insights import dynamics_rules, office_rules, seats_rules
from adoption_kit.inputs.kit_files import price_list_rules, ticket_rules
from adoption_kit.inputs.licences import deployment_rules, usage_rules
from adoption_kit.inputs.subscriptions import subscription_rules
from adoption_kit.schema import ExportKind, header_key

_COLUMNS_BY_KIND = {schema.DEPLOYMENT.name: schema.DEPLOYMENT_COLUMNS, schema.USAGE.name: schema.USAGE_COLUMNS,
                    schema.SUBSCRIPTIONS.name: schema.SUBSCRIPTION_COLUMNS,
                    schema.PRICE_LIST.name: schema.PRICE_COLUMNS, schema.SUPPORT_TICKETS.name: schema.TICKET_COLUMNS,
                    schema.INSIGHTS_OFFICE.name: schema.INSIGHTS_OFFICE_COLUMNS,
                    schema.INSIGHTS_DYNAMICS.name: schema.INSIGHTS_DYNAMICS_COLUMNS,
                    schema.INSIGHTS_SEATS.name: schema.INSIGHTS_SEATS_COLUMNS}
_DISTINCT_SHARE = 8     # a column with more than 1 distinct value in 8 rows is converted row by row...
_SAMPLE_ROWS = 10_000   # ...as far as its first rows tell
_FEW_VALUES = 4         # distinct values converted by comparisons rather than a lookup table
_FROM_FOLDER = "customerTenantId (from the tenant folder)"
_FIX_REEXPORT = "download the file again from Partner Center, or correct the value"
# What each kind adds once its values are checked and converted: (frame, headers by file) -> (frame, warnings).
_KIND_RULES: dict[str, Callable[[pl.DataFrame, dict[str, dict[str, str]]], tuple[pl.DataFrame, list[str]]]] = {
    schema.DEPLOYMENT.name: deployment_rules, schema.USAGE.name: usage_rules,
    schema.SUBSCRIPTIONS.name: subscription_rules,
    schema.PRICE_LIST.name: price_list_rules, schema.SUPPORT_TICKETS.name: ticket_rules,
    schema.INSIGHTS_OFFICE.name: office_rules, schema.INSIGHTS_DYNAMICS.name: dynamics_rules,
    schema.INSIGHTS_SEATS.name: seats_rules,
}


# ---------------------------------------------------------------------------
# Schema check and normalisation
# ---------------------------------------------------------------------------


def normalise(raw: pl.DataFrame, kind: ExportKind, name: str, *,
              untrimmed: bool = False) -> tuple[pl.DataFrame, list[str]]:
    """Map headers to documented fields, check every value, and convert to the normalised columns.
    `untrimmed`: the cells are as a delimited file holds them, to be trimmed first (see normalise_files)."""
    if kind is schema.ACTIVITY:
        return _normalise_activity(raw, name)
    return normalise_files(kind, [(name, raw)], untrimmed=[name] if untrimmed else ())


def normalise_files(kind: ExportKind, files: list[tuple[str, pl.DataFrame]], *,
                    untrimmed: Collection[str] = ()) -> tuple[pl.DataFrame, list[str]]:
    """`normalise` for several files of one kind at once: their columns are mapped file by file, then every
    check and conversion runs once over all their rows (on each column's distinct values, mapped back), and
    every message still names the file, its row and the column as that file spells it.

    The text cells of the files named in `untrimmed` (cells as a CSV or TSV holds them) are trimmed first, and
    read as empty when nothing is left: a repetitive column's on its distinct values, so that a download
    without padding pays one look at each distinct value rather than a copy of every cell."""
    problems: list[Problem] = []
    folder_warnings: list[str] = []
    mapped: list[pl.DataFrame] = []
    headers: dict[str, dict[str, str]] = {}  # file -> target -> the header as written in that file
    # Trimmed after mapping when every file's fields map one column each (the usual case); a field spelt twice
    # in a file is coalesced from trimmed columns, so such a batch is trimmed cell by cell before mapping.
    trim_mapped = bool(files) and all(name in untrimmed and not _spells_a_field_twice(raw.columns, kind)
                                      for name, raw in files)
    for name, raw in files:
        if name in untrimmed and not trim_mapped:
            raw = trim_text_cells(raw, kind)
        try:
            frame, headers[name] = _map_fields(raw, kind, name)
        except InputFileError as error:
            problems.extend(error.problems)
            continue
        mapped.append(frame)
        if headers[name].get("customer_id") == _FROM_FOLDER:
            folder_warnings.append(f"{name}: no tenant id column (the older per-customer endpoint); the tenant id "
                                   f"is taken from its folder, {activity_customer_id(name)}")
    if problems:
        raise InputFileError(problems)
    fields_by_target: dict[str, schema.RawField] = {}
    for raw_field in kind.fields:
        if any(raw_field.target in h for h in headers.values()):
            fields_by_target.setdefault(raw_field.target, raw_field)
    if len(mapped) > 1:   # a count typed in one file and text in another: text in all (one set of checks)
        mixed = {t for t in fields_by_target
                 if len({m.schema[t] for m in mapped if t in m.columns}) > 1}
        mapped = [m.with_columns(pl.col(t).cast(pl.String) for t in mixed if t in m.columns) for m in mapped]
    frame = mapped[0] if len(mapped) == 1 else pl.concat(mapped, how="diagonal")
    warnings: list[str] = folder_warnings

    # Exports repeat dates, counts, codes and product names a lot: such a column is checked and converted
    # once per distinct value, then looked up. Ids and customer names are mostly distinct: checked and
    # converted row by row, every such check in one pass. A sample of rows tells the two apart.
    sample = frame.head(_SAMPLE_ROWS)
    repetitive = [t for t in fields_by_target if frame.height
                  and sample.get_column(t).n_unique() * _DISTINCT_SHARE <= sample.height]
    distinct = _distinct_values(frame, repetitive)
    if trim_mapped:
        frame, distinct = _trim_mapped(frame, distinct, [t for t in fields_by_target if frame.schema[t] == pl.String])

    blank = pl.all_horizontal(pl.col(t).is_null() for t in fields_by_target)
    if frame.height and frame.select(blank.any()).item():   # e.g. the ",,,," lines a spreadsheet leaves
        for name, rows in _rows_by_file(frame.filter(blank)):
            warnings.append(f"{name}: {rows.len()} empty row(s) skipped (rows "
                            f"{', '.join(map(str, rows.head(_MAX_LISTED_ROWS)))}"
                            f"{' ...' if rows.len() > _MAX_LISTED_ROWS else ''})")
        frame = frame.filter(~blank)   # their values are null: `distinct` holds nothing else of them

    text_targets = [t for t, f in fields_by_target.items() if f.kind == "str"]
    scanned = frame.select(pl.col(t).str.contains(_CONTROL_RE).any().alias(t)
                           for t in text_targets if t not in repetitive).row(0, named=True) \
        if frame.height and set(text_targets) - set(repetitive) else {}
    controlled = [t for t in text_targets if scanned.get(t)
                  or (t in repetitive and distinct[t].str.contains(_CONTROL_RE).any())]
    if controlled:
        warnings.extend(_control_characters(frame, controlled, headers))
    replacements: list[pl.Expr | pl.Series] = []
    row_checks: list[tuple[pl.Expr, str, str, str]] = []   # (invalid-row predicate, target, problem, fix)
    for target, raw_field in fields_by_target.items():
        expr, field_checks = _conversion(raw_field, target, clean=target in controlled,
                                         typed=frame.schema[target] == pl.Int64)
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
        if not identity:
            converted = values.select(expr.alias("\x00value")).get_column("\x00value")
            if converted.dtype == distinct[target].dtype and converted.equals(distinct[target]):
                continue   # already as converted (lower-case GUIDs, trimmed names): nothing to look up
            if distinct[target].len() <= _FEW_VALUES:   # a flag, a workload: a few comparisons beat a hash lookup
                looked_up = pl.lit(None, converted.dtype)
                for before, after in zip(distinct[target], converted):
                    if before is not None:
                        looked_up = pl.when(pl.col(target) == before).then(pl.lit(after, converted.dtype)) \
                            .otherwise(looked_up)
                replacements.append(looked_up.alias(target))
                continue
            # one chunk: polars builds the lookup table per chunk (a batch has one per file)
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

    rules = _KIND_RULES.get(kind.name)
    if rules is not None:
        frame, kind_warnings = rules(frame, headers)
        warnings.extend(kind_warnings)
    return frame.select("_row", *[pl.col(c).cast(dtype) for c, dtype in columns.items()]).rechunk(), warnings


def trim_text_cells(raw: pl.DataFrame, kind: ExportKind) -> pl.DataFrame:
    """The text columns `kind` reads (others are never looked at) trimmed, "" read as empty: cells as a delimited
    file holds them, cell by cell. Two passes, strip then blank to null: a `.replace("", None)` hash lookup costs
    twice both."""
    read_keys = {header_key(n) for f in kind.fields if f.read for n in (f.name, *f.aliases)} | {"links"}
    kept = [c for c in raw.columns if header_key(c) in read_keys and raw.schema[c] == pl.String]
    raw = raw.with_columns(pl.col(kept).str.strip_chars())
    return raw.with_columns(pl.when(pl.col(kept).str.len_bytes() > 0).then(pl.col(kept)).name.keep())


def _spells_a_field_twice(columns: list[str], kind: ExportKind) -> bool:
    """Whether a header gives one read field under two of its documented spellings (coalesced in _map_fields)."""
    keys = {header_key(c) for c in columns}
    return any(len({header_key(n) for n in (f.name, *f.aliases)} & keys) > 1 for f in kind.fields if f.read)


def _distinct_values(frame: pl.DataFrame, targets: list[str]) -> dict[str, pl.Series]:
    """Each target column's distinct values, the columns in one parallel select (half the time of one by one)."""
    if not targets:
        return {}
    found = frame.select(pl.col(t).unique().implode() for t in targets)
    return {t: found.get_column(t).explode() for t in targets}


def _trim_mapped(frame: pl.DataFrame, distinct: dict[str, pl.Series],
                 text: list[str]) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """`frame`'s text columns trimmed ("" as empty), and `distinct` to match. A repetitive column whose distinct
    values need no trim (the usual download) is left as it is; any other is trimmed cell by cell."""
    def trimmed(values: pl.Expr) -> pl.Expr:
        stripped = values.str.strip_chars()
        return pl.when(stripped.str.len_bytes() > 0).then(stripped)

    padded = [t for t in text if t not in distinct]
    for target in text:
        if target in distinct:
            values = distinct[target]
            clean = values.to_frame().select(trimmed(pl.col(target))).get_column(target)
            if not clean.equals(values):
                padded.append(target)
                distinct[target] = clean.unique()
    if padded:
        frame = frame.with_columns(trimmed(pl.col(t)).alias(t) for t in padded)
    return frame, distinct


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
    known_keys = {header_key(n) for f in kind.fields for n in (f.name, *f.aliases)} | {"links"}
    problems: list[Problem] = []
    selected: dict[str, pl.Expr] = {}
    headers: dict[str, str] = {}
    licence_feed = kind in (schema.DEPLOYMENT, schema.USAGE)
    for raw_field in kind.fields:
        if not raw_field.read:
            continue
        sources = list(dict.fromkeys(by_key[k] for k in map(header_key, (raw_field.name, *raw_field.aliases))
                                     if k in by_key))
        if raw_field.target in selected:
            continue  # offerName and productName feed the same column: the first present wins
        if not sources and licence_feed and raw_field.target == "customer_id":
            folder_id = activity_customer_id(name)
            if folder_id is None:
                problems.append(_no_tenant_id(kind, name))
                continue
            # The older per-customer endpoints give the tenant only in the request URL: the folder names it.
            selected["customer_id"] = pl.lit(folder_id, dtype=pl.String)
            headers["customer_id"] = _FROM_FOLDER
            continue
        if not sources and kind is schema.USAGE and raw_field.target == "workload_code" and "workloadname" in by_key:
            # The per-customer usage endpoint's examples carry workloadName only: it stands in for the code.
            selected["workload_code"] = pl.col(by_key["workloadname"])
            headers["workload_code"] = by_key["workloadname"]
            continue
        if not sources:
            if raw_field.required:
                hint = missing_column_hint(raw_field.name, raw.columns, known_keys)
                problems.append(Problem(name, f"the required column '{raw_field.name}' is missing{hint}",
                                        f"add the '{raw_field.name}' column (headers are matched ignoring "
                                        f"case and spaces)", column=raw_field.name))
            continue
        if len(sources) > 1:   # documented spellings of one field (licenseActive/licensesActive): per record
            problems.extend(_alias_conflicts(raw, sources, name))
            selected[raw_field.target] = pl.coalesce([pl.col(c).cast(pl.String) for c in sources])
        else:
            selected[raw_field.target] = pl.col(sources[0])
        headers[raw_field.target] = sources[0]
    if kind is schema.SUBSCRIPTIONS and "customer_id" not in selected and "links" in by_key:
        # The resource shape has no customer column; its self link carries the tenant id.
        problems = [p for p in problems if p.column != "customerTenantId"]
        selected["customer_id"] = pl.col(by_key["links"]).str.extract(r"/customers/([0-9a-fA-F-]{36})/", 1)
        headers["customer_id"] = by_key["links"]
    if problems:
        raise InputFileError(problems)
    # Whole numbers already typed (a JSON page's, or counts polars parsed as such) stay numbers: only their
    # range is left to check (convert._conversion, typed); everything else is text, as the checks expect.
    typed = {f.target for f in kind.fields if f.read and f.kind == "int"
             and f.target in selected and selected[f.target].meta.is_column()
             and raw.schema.get(selected[f.target].meta.output_name()) == pl.Int64}
    frame = raw.with_row_index("_row", offset=1).select(
        pl.col("_row"), *[(expr if target in typed else expr.cast(pl.String)).alias(target)
                          for target, expr in selected.items()],
        pl.lit(name, dtype=pl.String).alias("source_file"))
    return frame, headers


def _no_tenant_id(kind: ExportKind, name: str) -> Problem:
    """The one line for a licence file without any tenant id column and no tenant folder around it."""
    resource = "CustomerLicensesDeploymentInsights" if kind is schema.DEPLOYMENT else "CustomerLicensesUsageInsights"
    path = "deployment" if kind is schema.DEPLOYMENT else "usage"
    return Problem(name, f"has no tenant id column (customerTenantId or customerId): it is the older per-customer "
                         f"endpoint /v1/customers/{{id}}/analytics/licenses/{path} ({resource}), whose tenant id "
                         f"is only in the request URL",
                   f"save it in a folder named after the customer's tenant id (e.g. "
                   f"0112A436-B14E-4888-967B-CA4BB2CF1234/{Path(name).name}), or download "
                   f"GET /v1/analytics/commercial/{path}/license instead", column="customerTenantId")


def _alias_conflicts(raw: pl.DataFrame, sources: list[str], name: str) -> list[Problem]:
    """Records that fill two spellings of one field with different values: which one is meant is unknown."""
    values = [pl.col(c).cast(pl.String) for c in sources]
    both = pl.all_horizontal(v.is_not_null() for v in values) & ~pl.all_horizontal(v == values[0] for v in values[1:])
    bad = raw.with_row_index("_row", offset=1).filter(both)
    if bad.is_empty():
        return []
    return [Problem(name, f"{bad.height} record(s) give '{sources[0]}' and '{sources[1]}' (one field, two "
                          f"spellings) different values", "keep one of them per record (download the page again)",
                    row=int(bad.get_column("_row")[0]), column=sources[0])]
