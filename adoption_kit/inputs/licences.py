"""Rules of the two licence feeds (deployment, usage): workload codes and names to one canonical workload."""
from __future__ import annotations

import polars as pl

from adoption_kit import schema


def _canonical_workload() -> pl.Expr:
    code_key = pl.col("workload_code").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    name_key = pl.col("workload_name").str.to_lowercase().str.replace_all(r"[^0-9a-z]", "")
    mapping = schema.CANONICAL_WORKLOADS
    return pl.coalesce(code_key.replace_strict(mapping, default=None),
                       name_key.replace_strict(mapping, default=None),
                       pl.col("workload_name"), pl.col("workload_code"))
