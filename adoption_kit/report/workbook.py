"""The optional Excel workbook of a run (`adoption-kit report --xlsx`): the CRM action list and the customer table
as two sheets, written with openpyxl: rates as real percentages (a fraction with a % format, so a spreadsheet sorts
and sums them), money with two decimals, the header row frozen with a filter on it, and each customer's name a
link to its report in the run folder (relative, so the folder can be moved or zipped whole).

Text is always written as text: a name such as =HYPERLINK(...) stays a string and never becomes a formula.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis
from adoption_kit.report.actions import action_list
from adoption_kit.report.customer_table import customer_table
from adoption_kit.store import atomic_path

PERCENT_FORMAT = "0.0%"
MONEY_FORMAT = "#,##0.00"
COUNT_FORMAT = "#,##0"
LINK_FONT_COLOR = "0563C1"       # Excel's own hyperlink blue
SHEET_ACTIONS = "Action list"
SHEET_CUSTOMERS = "Customers"


def _action_sheet(analysis: Analysis) -> pl.DataFrame:
    """The CSV's columns, with its *_pct columns as fractions (41.9 -> 0.419) for the % format."""
    frame = action_list(analysis)
    pct = [c for c in frame.columns if c.endswith("_pct")]
    return frame.with_columns([(pl.col(c) / 100).alias(c.removesuffix("_pct") + "_rate") for c in pct]).select(
        [c.removesuffix("_pct") + "_rate" if c.endswith("_pct") else c for c in frame.columns])


def _formats(frame: pl.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, dtype in frame.schema.items():
        if name.endswith(("_rate", "_share")):
            out[name] = PERCENT_FORMAT
        elif name.endswith(("_per_month", "_per_year")):
            out[name] = MONEY_FORMAT
        elif dtype.is_integer() and not name.endswith("rank"):
            out[name] = COUNT_FORMAT
    return out


def _sheet(book: Any, title: str, frame: pl.DataFrame, links: Mapping[str, str]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    sheet.append(list(frame.columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    formats = _formats(frame)
    name_col = frame.columns.index("customer_name") + 1 if "customer_name" in frame.columns else None
    ids = frame.get_column("customer_id").to_list() if "customer_id" in frame.columns else []
    for r, row in enumerate(frame.iter_rows(), start=2):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            if value is None:
                continue
            cell.value = value if not hasattr(value, "isoformat") else value.isoformat()
            if isinstance(cell.value, str):
                cell.data_type = "s"          # text stays text: "=..." is never a formula
            column = frame.columns[c - 1]
            if column in formats and isinstance(value, (int, float)) and not isinstance(value, bool):
                cell.number_format = formats[column]
        if name_col is not None and ids and (href := links.get(ids[r - 2])):
            cell = sheet.cell(row=r, column=name_col)
            cell.hyperlink = href
            cell.font = Font(color=LINK_FONT_COLOR, underline="single")
    sheet.freeze_panes = "A2" if name_col is None else f"{get_column_letter(name_col + 1)}2"
    if frame.width:
        sheet.auto_filter.ref = f"A1:{get_column_letter(frame.width)}{max(frame.height + 1, 1)}"
    for c, column in enumerate(frame.columns, start=1):
        longest = max([len(column)] + [len(str(v)) for v in frame.get_column(column).head(200).to_list()
                                       if v is not None])
        sheet.column_dimensions[get_column_letter(c)].width = min(60, max(8, longest + 2))


def write_workbook(analysis: Analysis, target: Path, links: Mapping[str, str],
                   sheets: Sequence[str] = (SHEET_ACTIONS, SHEET_CUSTOMERS)) -> Path:
    """Write the workbook to `target` (atomically): the action list and the customer table, names linked to
    `links` (customer id -> report path relative to the workbook's folder). Returns `target`."""
    from openpyxl import Workbook

    book = Workbook()
    if book.active is not None:
        book.remove(book.active)
    if SHEET_ACTIONS in sheets:
        _sheet(book, SHEET_ACTIONS, _action_sheet(analysis), links)
    if SHEET_CUSTOMERS in sheets:
        _sheet(book, SHEET_CUSTOMERS, customer_table(analysis), links)
    with atomic_path(target) as part:
        book.save(part)
    return target
