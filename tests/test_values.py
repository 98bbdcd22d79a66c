"""The typed column extremes of adoption_kit.values: the value polars gives, None for an empty or all-null column."""
from __future__ import annotations

from datetime import date, datetime

import polars as pl

from adoption_kit.values import max_date, max_datetime, max_float, max_int, min_datetime


def test_column_extremes_are_the_polars_values():
    stamps = pl.Series([datetime(2026, 10, 31, 23, 59), None, datetime(2026, 9, 30)])
    assert (min_datetime(stamps), max_datetime(stamps)) == (datetime(2026, 9, 30), datetime(2026, 10, 31, 23, 59))
    assert max_date(pl.Series([date(2026, 11, 1), date(2026, 10, 1)])) == date(2026, 11, 1)
    assert max_int(pl.Series([3, 7, None])) == 7
    assert max_float(pl.Series([0.25, 1.5])) == 1.5


def test_no_value_is_none_not_zero():
    for empty in (pl.Series([], dtype=pl.Datetime), pl.Series([None], dtype=pl.Datetime)):
        assert min_datetime(empty) is None and max_datetime(empty) is None
    assert max_date(pl.Series([], dtype=pl.Date)) is None
    assert max_int(pl.Series([None], dtype=pl.Int64)) is None
    assert max_float(pl.Series([], dtype=pl.Float64)) is None
