"""The audience of a run: which template cells run, and the one-customer bundles of a customer-facing run.

`internal` (the default) renders today's set for the account manager. `customer` renders only the customer
reports, under for-customer/, each from its own one-customer bundle (_customer_bundles/<tenant id>/, written by
`write_customer_bundles` from adoption_kit.report.audience.customer_slice), so the kernel of a customer's report
never holds another customer's row, and its injected parameters name no file of the whole book.

Template cells are filtered before papermill sees them (`cells_for`): editor notes never reach any report, the
other audience's cells are dropped. The filtered copy is what runs, so the executed .ipynb holds only what
the audience may read.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from adoption_kit.analysis import Analysis, write_bundle
from adoption_kit.report.audience import (
    AUDIENCE_CUSTOMER_TAG,
    AUDIENCE_INTERNAL_TAG,
    AUDIENCES,
    EDITOR_NOTE_TAG,
    check_audience,
    customer_slice,
)
from adoption_kit.values import GUID_IN_TEXT

CUSTOMER_FACING_DIR = "for-customer"        # customer-facing reports: for-customer/<slug>-<id8>.{html,ipynb,pdf}
CUSTOMER_BUNDLES_DIR = "_customer_bundles"  # one-customer bundles: _customer_bundles/<tenant id>/
NO_TENANT = "00000000-0000-0000-0000-000000000000"

__all__ = ["AUDIENCES", "CUSTOMER_BUNDLES_DIR", "CUSTOMER_FACING_DIR", "cells_for", "check_audience",
           "customer_bundle", "write_customer_bundles"]


def cells_for(notebook: dict[str, Any], audience: str) -> dict[str, Any]:
    """The notebook JSON without editor notes and without the cells of the other audience (a new dict)."""
    drop = {EDITOR_NOTE_TAG, AUDIENCE_INTERNAL_TAG if check_audience(audience) == "customer" else AUDIENCE_CUSTOMER_TAG}
    cells = [cell for cell in notebook.get("cells", [])
             if not drop & set(cell.get("metadata", {}).get("tags", []))]
    if audience == "customer":
        cells = [_without_tenant_ids(cell) if "parameters" in cell.get("metadata", {}).get("tags", []) else cell
                 for cell in cells]
    return {**notebook, "cells": cells}


def _without_tenant_ids(cell: dict[str, Any]) -> dict[str, Any]:
    """The parameters cell with its default tenant id blanked: the default names a customer of the sample book,
    and papermill keeps the cell (the injected values follow it)."""
    source = "".join(cell.get("source", ""))
    return {**cell, "source": GUID_IN_TEXT.sub(NO_TENANT, source)}


def customer_bundle(run_dir: Path, customer_id: str) -> Path:
    return run_dir / CUSTOMER_BUNDLES_DIR / customer_id


def write_customer_bundles(analysis: Analysis, run_dir: Path, customer_ids: Iterable[str]) -> None:
    """One bundle per customer, holding that customer's slice only (replaced file by file)."""
    for customer_id in customer_ids:
        write_bundle(customer_slice(analysis, customer_id), customer_bundle(run_dir, customer_id))
