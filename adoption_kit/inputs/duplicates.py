"""Cross-file checks: identical repeats dropped with a warning, conflicting ones refused, names that differ."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from adoption_kit.errors import Problem
from adoption_kit.inputs.convert import _MAX_LISTED_ROWS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from polars._typing import PolarsDataType

# ---------------------------------------------------------------------------
# Cross-file checks
# ---------------------------------------------------------------------------


def _concat(frames: list[pl.DataFrame], columns: Mapping[str, PolarsDataType]) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema={"_row": pl.UInt32, **columns})
    return pl.concat(frames, how="vertical")


def _drop_duplicates(frame: pl.DataFrame, key: list[str], values: list[str], feed: str,
                     problems: list[Problem], *,
                     fix: str = "keep one export per processedDateTime") -> tuple[pl.DataFrame, list[str]]:
    """Identical repeated rows are dropped with a warning; rows that repeat a key with other counts are errors."""
    if frame.is_empty() or frame.select(pl.struct(key).is_unique().all()).item():
        return frame, []   # the common case, told in one hash pass: no key repeats at all
    distinct = frame.unique(subset=key + values, keep="first", maintain_order=True)
    warnings = []
    if distinct.height < frame.height:
        # The files involved: every file holding a row that is repeated (the kept copy's file included).
        files = (frame.filter(pl.struct(key + values).is_duplicated()).get_column("source_file")
                 .unique(maintain_order=True).to_list())
        shown = ", ".join(files[:_MAX_LISTED_ROWS]) + (" ..." if len(files) > _MAX_LISTED_ROWS else "")
        warnings.append(f"{feed}: {frame.height - distinct.height} duplicated row(s) ignored "
                        f"(identical repeats, e.g. the same page saved twice), in {shown}")
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
                                    f"{fix}; remove the stale copy"))
        if groups.height > _MAX_LISTED_ROWS:
            problems.append(Problem(feed, f"{groups.height - _MAX_LISTED_ROWS} more conflicting keys",
                                    fix))
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
