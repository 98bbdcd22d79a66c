"""Rules of the two licence feeds (deployment, usage): one canonical workload, product ids, dates after today."""
from __future__ import annotations

import polars as pl

from adoption_kit import schema
from adoption_kit.inputs.convert import _by_file, _future_dates
from adoption_kit.values import product_name_key


def _canonical_workload() -> pl.Expr:
    code_key = pl.col("workload_code").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    name_key = pl.col("workload_name").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    mapping = schema.CANONICAL_WORKLOADS
    return pl.coalesce(code_key.replace_strict(mapping, default=None),
                       name_key.replace_strict(mapping, default=None),
                       pl.col("workload_name"), pl.col("workload_code"))


def deployment_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """Both licence feeds: warnings for timestamps after today; a row without productId is matched by name."""
    warnings = _future_dates(frame, "processed_at", headers)
    missing = frame.filter(pl.col("product_id").is_null())
    for name, part in _by_file(missing):
        warnings.append(f"{name}: {part.height} row(s) without productId; products are matched by "
                        f"productName instead (names change over time, ids do not)")
    if missing.height:
        name_key_id = pl.lit("name:") + product_name_key(pl.col("product_name"))
        frame = frame.with_columns(product_id=pl.coalesce(pl.col("product_id"), name_key_id))
    return frame, warnings


def usage_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """The usage feed: each row's canonical workload, then the rules of both licence feeds."""
    # A handful of code/name pairs: each canonicalised once, then looked up.
    keys = frame.select("workload_code", "workload_name")
    pairs = keys.unique().with_columns(workload=_canonical_workload())
    workload = keys.join(pairs, on=["workload_code", "workload_name"], how="left", nulls_equal=True,
                         maintain_order="left").get_column("workload")
    return deployment_rules(frame.with_columns(workload=workload), headers)
