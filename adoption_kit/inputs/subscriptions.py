"""Rules of the subscriptions export: status words to the kit's vocabulary, trials, the product join key."""
from __future__ import annotations

import polars as pl

from adoption_kit.inputs.convert import _by_file
from adoption_kit.values import product_name_key

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
        product_key=product_name_key(pl.col("product_name")),
    )


def subscription_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """Status, trial and product key; a warning per file for statuses the kit does not know."""
    frame = _normalise_subscriptions(frame)
    warnings = []
    for name, part in _by_file(frame.filter(pl.col("status") == "unknown")):
        unknown = part.get_column("status_raw").unique(maintain_order=True)
        warnings.append(f"{name}: subscription status(es) {', '.join(repr(v[:40]) for v in unknown.head(3))} "
                        f"are not known to the kit; those subscriptions are kept as 'unknown' and never "
                        f"taken as a cause of usage over 100%")
    return frame, warnings
