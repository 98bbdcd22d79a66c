"""Rules of the subscriptions export: status words to the kit's vocabulary, trials, the product join key."""
from __future__ import annotations

import polars as pl

from adoption_kit.inputs.convert import _name_key

_STATUS_VOCABULARY = {
    "active": "active",
    "ingraceperiod": "grace_period", "graceperiod": "grace_period", "grace": "grace_period",
    "suspended": "suspended",
    "disabled": "disabled", "inactive": "disabled",
    "deprovisioned": "deprovisioned", "churned": "deprovisioned",
    "expired": "expired",
    "pending": "pending",
    "deleted": "deleted",
}


def _normalise_subscriptions(frame: pl.DataFrame) -> pl.DataFrame:
    status_key = pl.col("status_raw").str.to_lowercase().str.replace_all(r"[^a-z]", "")
    trial_by_dates = pl.col("trial_start_at").is_not_null() & pl.col("trial_converted_at").is_null()
    is_trial_raw = pl.col("is_trial_raw")
    return frame.with_columns(
        status=status_key.replace_strict(_STATUS_VOCABULARY, default="unknown"),
        is_trial=pl.coalesce(is_trial_raw, pl.lit(False)) | trial_by_dates,
        product_key=_name_key(pl.col("product_name")),
    )
