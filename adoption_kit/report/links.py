"""Where each customer's report is written, relative to the run folder (customers/<slug>-<id8>.html), so that the
book reports can link a customer's name to its report: the render plan names the files with the same functions."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

CUSTOMERS_DIR = "customers"
SLUG_MAX = 40


def slugify(name: Any, max_length: int = SLUG_MAX) -> str:
    """An ASCII, lower-case, dash-separated file name part of at most `max_length` characters;
    'customer' if none is left."""
    folded = unicodedata.normalize("NFKD", "" if name is None else str(name))
    folded = folded.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:max_length].rstrip("-")
    return slug or "customer"


def output_name(customer_name: Any, customer_id: str) -> str:
    """A customer report's output stem: customers/<slug of the name>-<first 8 characters of the tenant id>."""
    return f"{CUSTOMERS_DIR}/{slugify(customer_name)}-{customer_id[:8]}"


def _customer_names(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Output stems per customer id; a clash (same slug and id prefix) uses the whole id for the clashing ones."""
    stems = {row["customer_id"]: output_name(row["customer_name"], row["customer_id"]) for row in rows}
    seen: dict[str, list[str]] = {}
    for customer_id, stem in stems.items():
        seen.setdefault(stem, []).append(customer_id)
    for stem, ids in seen.items():
        if len(ids) > 1:
            for customer_id in ids:
                stems[customer_id] = f"{stem.rsplit('-', 1)[0]}-{customer_id}"
    return stems


def report_links(customers: Any) -> dict[str, str]:
    """customer id -> its report's HTML relative to the run folder (customers/<slug>-<id8>.html), for every
    customer of `customers` (the analysis' customers frame: the plan names the files from the same rows).
    A link points at a report of this run folder; one not rendered (a --customer run) is rendered by a full run."""
    rows = customers.select("customer_id", "customer_name").to_dicts()
    return {customer_id: f"{stem}.html" for customer_id, stem in _customer_names(rows).items()}


REPORT_LINK = re.compile(rf"^{CUSTOMERS_DIR}/[a-z0-9-]+\.html$")   # what a book report may link to
