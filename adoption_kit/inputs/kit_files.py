"""Kit-defined optional inputs: the price list and the support tickets (README.md, "The book over time")."""
from __future__ import annotations

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.inputs.convert import _MAX_LISTED_ROWS, _by_file
from adoption_kit.inputs.duplicates import _concat


# ---------------------------------------------------------------------------
# Kit-defined inputs: price list and support tickets (README.md, "The book over time")
# ---------------------------------------------------------------------------
def ticket_category(raw: pl.Expr) -> pl.Expr:
    """A ticket's free-text category folded to schema.TICKET_CATEGORIES by schema.TICKET_KEYWORDS.

    The text is case-folded and every run of characters other than letters and digits becomes one space;
    a keyword matches whole words ("fix" matches "Break/fix", not "prefix"). How-to is tried first.
    """
    words = pl.concat_str(pl.lit(" "), raw.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", " "), pl.lit(" "))
    result = pl.lit("other")
    for category in reversed(list(schema.TICKET_KEYWORDS)):
        hit = pl.any_horizontal([words.str.contains(f" {k} ", literal=True) for k in schema.TICKET_KEYWORDS[category]])
        result = pl.when(hit.fill_null(False)).then(pl.lit(category)).otherwise(result)
    return result


def ticket_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """A ticket file: each ticket's category folded from its free text."""
    return frame.with_columns(category=ticket_category(pl.col("category_raw"))), []


def price_list_rules(frame: pl.DataFrame, headers: dict[str, dict[str, str]]) -> tuple[pl.DataFrame, list[str]]:
    """A price list file: one currency per file (across files, see _resolve_prices)."""
    problems: list[Problem] = []
    for name, part in _by_file(frame):
        currencies = part.get_column("currency").unique().sort().to_list()
        if len(currencies) > 1:
            problems.append(Problem(name, f"holds {len(currencies)} currencies ({', '.join(currencies)}); a "
                                          f"price list has one", "keep one price list per currency, and "
                                          "give the one your customers are billed in",
                                    column=headers[name]["currency"]))
    if problems:
        raise InputFileError(problems)
    return frame, []


def _resolve_prices(frames: list[pl.DataFrame], problems: list[Problem]) -> tuple[pl.DataFrame, list[str]]:
    """All price lists as one: one currency over every file, one price per productId (identical repeats dropped)."""
    prices = _concat(frames, schema.PRICE_COLUMNS)
    if prices.is_empty():
        return schema.empty_frame(schema.PRICE_COLUMNS), []
    warnings: list[str] = []
    currencies = prices.get_column("currency").unique().sort().to_list()
    if len(currencies) > 1:
        files = prices.group_by("currency").agg(pl.col("source_file").first()).sort("currency")
        listed = "; ".join(f"{c} in {f}" for c, f in files.iter_rows())
        problems.append(Problem(files.get_column("source_file")[0], f"the price lists use {len(currencies)} "
                                f"currencies ({listed}); idle cost is added up in one",
                                "give price lists in one currency only"))
        return schema.empty_frame(schema.PRICE_COLUMNS), warnings
    distinct = prices.unique(subset=["product_id", "unit_price_per_month"], keep="first", maintain_order=True)
    if distinct.height < prices.height:
        warnings.append(f"price list: {prices.height - distinct.height} repeated row(s) with the same productId "
                        f"and price ignored")
    conflicts = distinct.filter(pl.len().over("product_id") > 1)
    for group in conflicts.group_by("product_id", maintain_order=True).agg(
            pl.format("{} row {}", pl.col("source_file"), pl.col("_row")).alias("where"),
            pl.col("unit_price_per_month")).head(_MAX_LISTED_ROWS).iter_rows(named=True):
        problems.append(Problem(group["where"][0].split(" row ")[0],
                                f"productId {group['product_id']} has {len(group['where'])} different prices "
                                f"({' vs '.join(f'{p:g}' for p in group['unit_price_per_month'])}) at "
                                f"{', '.join(group['where'])}", "keep one price per product"))
    return distinct.select(list(schema.PRICE_COLUMNS)), warnings


def _resolve_tickets(frames: list[pl.DataFrame], deployment: pl.DataFrame, usage: pl.DataFrame,
                     problems: list[Problem]) -> tuple[pl.DataFrame, list[str]]:
    """All ticket files as one: a ticket id repeated with the same values is dropped (warning), with other
    values it is an error; tickets of tenants absent from the license feeds are kept, with a warning."""
    tickets = _concat(frames, schema.TICKET_COLUMNS)
    if tickets.is_empty():
        return schema.empty_frame(schema.TICKET_COLUMNS), []
    warnings: list[str] = []
    key, values = ["customer_id", "ticket_id"], ["opened_at", "category_raw"]
    distinct = tickets.unique(subset=key + values, keep="first", maintain_order=True)
    if distinct.height < tickets.height:
        warnings.append(f"support tickets: {tickets.height - distinct.height} repeated ticket row(s) ignored "
                        f"(identical repeats)")
    conflicts = distinct.filter(pl.len().over(key) > 1)
    for group in conflicts.group_by(key, maintain_order=True).agg(
            pl.format("{} row {}", pl.col("source_file"), pl.col("_row")).alias("where")).head(
            _MAX_LISTED_ROWS).iter_rows(named=True):
        problems.append(Problem(group["where"][0].split(" row ")[0],
                                f"ticket {group['ticket_id']!r} of customer {group['customer_id']} appears with "
                                f"different dates or categories at {', '.join(group['where'])}",
                                "keep one row per ticket"))
    known = pl.concat([deployment.select("customer_id"), usage.select("customer_id")]).get_column("customer_id")
    unknown = distinct.filter(~pl.col("customer_id").is_in(known.unique().implode()))
    if unknown.height:
        warnings.append(f"support tickets: {unknown.height} ticket(s) of "
                        f"{unknown.get_column('customer_id').n_unique()} "
                        f"tenant id(s) that are in no licenses export; they count for no customer (check the "
                        f"tenant ids, e.g. {unknown.get_column('customer_id')[0].upper()})")
    return distinct.select(list(schema.TICKET_COLUMNS)), warnings
