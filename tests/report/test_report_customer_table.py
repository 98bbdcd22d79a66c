"""customer_table(): one row per customer, the same figures as the report index's Customers table."""
from __future__ import annotations

import html
import re

import polars as pl
import pytest
from render_support import _REAL_RUN, ASHSTEAD_ID, HOSTILE_ID, real_run

from adoption_kit.analysis import prepare
from adoption_kit.render import format_figure
from adoption_kit.report.customer_table import CUSTOMER_TABLE_COLUMNS, customer_table
from adoption_kit.report.headline import CUSTOMER_COLUMNS


def _index_rows(page: str) -> tuple[list[str], list[list[str]]]:
    table = page[page.rindex("<table"):page.rindex("</table>")]
    head = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", table)]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.DOTALL):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
        rows.append(cells)
    return head, rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    result = real_run(tmp_path_factory)
    assert result.exit_code == 0
    return result


@pytest.mark.kernel
def test_customer_table_equals_the_index_table(run):
    analysis = prepare(_REAL_RUN["data"], today="2026-11-20")
    table = customer_table(analysis)
    assert table.columns == list(CUSTOMER_TABLE_COLUMNS)
    assert table.height == analysis.customers.height == table.get_column("customer_id").n_unique()
    head, rows = _index_rows(run.index_path.read_text(encoding="utf-8"))
    assert head[:2] == ["Customer", "Segment"] and len(rows) == 2
    by_name = {r["customer_name"]: r for r in table.filter(pl.col("customer_id").is_in([HOSTILE_ID, ASHSTEAD_ID]))
               .to_dicts()}
    for cells in rows:
        name = cells[0].replace("(earlier run)", "").strip()
        row = by_name[name]
        assert cells[1] == row["segment"]
        key_of = {heading: key for key, heading in CUSTOMER_COLUMNS}
        for label, cell in zip(head[2:], cells[2:], strict=True):
            key = key_of[label]
            assert cell == format_figure(row[key], key), (name, key)


def test_customer_table_docstring_names_every_column():
    doc = customer_table.__doc__ or ""
    for column in CUSTOMER_TABLE_COLUMNS:
        assert re.search(rf"\b{column}\b", doc), column


def test_customer_table_pandas():
    analysis = prepare("data/sample")
    frame = customer_table(analysis).to_pandas()
    assert len(frame) == analysis.customers.height and "usage_rate" in frame.columns
