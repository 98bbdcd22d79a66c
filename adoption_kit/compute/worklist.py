"""The partner's work queue from the current metrics: renewals, own seats, idle cost and support load;
pure polars, no I/O."""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Final

import polars as pl

if TYPE_CHECKING:  # pragma: no cover - typing only
    from polars._typing import PolarsDataType

from adoption_kit import schema
from adoption_kit.errors import ParameterError
from adoption_kit.values import check_whole_number, product_name_key

__all__ = [
    "CUSTOMER_RENEWAL_COLUMNS", "IDLE_COST_COLUMNS", "IDLE_COST_CUSTOMER_COLUMNS", "OWN_SEAT_COLUMNS",
    "QUEUED_SEGMENTS", "RENEWAL_COLUMNS", "SUPPORT_COLUMNS", "SUPPORT_NEXT_STEP", "UNPRICED_COLUMNS",
    "customer_renewals", "idle_cost", "idle_cost_by_customer", "own_seats", "own_seats_by_customer",
    "renewal_queue", "support_load",
]

DEFAULT_HORIZON_DAYS: Final = 60
DEFAULT_WINDOW_DAYS: Final = 90
DEFAULT_THRESHOLD_PER_100: Final = 10.0
DEFAULT_MIN_TICKETS: Final = 3
# Products whose seats are worth changing: the low-adoption segments (deployment under the deploy threshold:
# unassigned licences; usage under the adopt threshold: assigned but inactive licences).
QUEUED_SEGMENTS: Final = ("deploy", "adopt")
SUPPORT_NEXT_STEP: Final = (
    "Many how-to calls: offer training (in person or online) plus self-service options (short how-to guides, "
    "videos, a FAQ or an internal help page), then check the how-to rate again over the next window."
)
TERMS: Final = {"P1M": "monthly", "P1Y": "annual", "P3Y": "3-year"}
_RULES: Final = {
    "monthly": "monthly term: seats can change at each monthly renewal",
    "annual": "annual commitment: seats can drop only at renewal",
    "3-year": "3-year commitment: seats can drop only at renewal",
    "unknown": "at the commitment end date (the export gives no term)",
    "no_end": "no commitment end date: seats can change any time",
    "ended": "the commitment end date has passed: seats can change now (check the subscription)",
}
_KEY: Final = ["customer_id", "product_id"]

RENEWAL_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "product_id": pl.String, "product_name": pl.String,
    "segment": pl.String, "deployment_rate": pl.Float64, "usage_rate": pl.Float64,
    "licenses_sold": pl.Int64, "licenses_unassigned": pl.Int64, "licenses_inactive": pl.Int64,
    "licenses_idle": pl.Int64,
    "subscriptions": pl.Int64,           # active, non-trial partner subscriptions matched to the product
    "own_quantity": pl.Int64,            # their summed quantity
    "term": pl.String,                   # monthly | annual | 3-year | <raw termDuration> | unknown (of the next one)
    "billing_cycle": pl.String,
    "auto_renew": pl.Boolean,
    "commitment_end_at": schema.UTC_DATETIME,
    "days_to_renewal": pl.Int64,         # commitment end - today in days (negative: passed; null: no end date)
    "change_at": pl.Date,                # the first day some of the product's seats can change
    "days_to_change": pl.Int64,          # change_at - today (0 = now)
    "change_rule": pl.String,
    "in_horizon": pl.Boolean,            # days_to_change <= horizon_days
    "queued": pl.Boolean,                # segment deploy or adopt: worth acting on before the seats renew
    "queue_rank": pl.Int64,              # 1 = act first; null when not queued
}
CUSTOMER_RENEWAL_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "queue_rank": pl.Int64, "renewal_product": pl.String, "change_at": pl.Date,
    "days_to_renewal": pl.Int64, "in_horizon": pl.Boolean,
}
OWN_SEAT_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "product_id": pl.String, "product_name": pl.String,
    "licenses_sold": pl.Int64,
    "own_quantity": pl.Int64,            # null: no active partner subscription for the product
    "other_quantity": pl.Int64,          # max(sold - own, 0): bought from other partners or Microsoft
    "own_share": pl.Float64,             # own / sold; null without a subscription or when sold is 0
}
IDLE_COST_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "product_id": pl.String, "product_name": pl.String,
    "licenses_unassigned": pl.Int64, "licenses_inactive": pl.Int64, "licenses_idle": pl.Int64,
    "unit_price_per_month": pl.Float64, "currency": pl.String,
    "idle_cost_per_month": pl.Float64, "idle_cost_per_year": pl.Float64,
}
UNPRICED_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "product_id": pl.String, "product_name": pl.String, "customers": pl.Int64, "licenses_idle": pl.Int64,
}
IDLE_COST_CUSTOMER_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "idle_cost_per_month": pl.Float64, "idle_cost_per_year": pl.Float64,
    "currency": pl.String, "priced_idle_licenses": pl.Int64, "unpriced_idle_licenses": pl.Int64,
}
SUPPORT_COLUMNS: Final[dict[str, PolarsDataType]] = {
    "customer_id": pl.String, "customer_name": pl.String, "segment": pl.String, "active_users": pl.Int64,
    "how_to_tickets": pl.Int64, "break_fix_tickets": pl.Int64, "other_tickets": pl.Int64,
    "how_to_per_100": pl.Float64,        # 100 x how-to tickets / active users; null with no active user
    "support_heavy": pl.Boolean, "support_next_step": pl.String,
    "window_start": pl.Date, "window_end": pl.Date,
}


def _day(today: date | datetime) -> date:
    if isinstance(today, datetime):
        return today.date()
    if isinstance(today, date):
        return today
    raise ParameterError(f"today={today!r} must be a date (the day the queue is for)")




def _own_subscriptions(subscriptions: pl.DataFrame | None) -> pl.DataFrame:
    """Active, non-trial subscriptions with their product join key (`_pkey`)."""
    columns = {c: schema.SUBSCRIPTION_COLUMNS[c] for c in
               ("customer_id", "subscription_id", "product_name", "product_key", "quantity", "status", "is_trial",
                "billing_cycle", "term_duration", "commitment_end_at", "auto_renew")}
    if subscriptions is None or subscriptions.width == 0:
        return schema.empty_frame({**columns, "_pkey": pl.String})
    missing = [c for c in columns if c not in subscriptions.columns]
    frame = subscriptions.with_columns(pl.lit(None, dtype=columns[c]).alias(c) for c in missing)
    return (frame.select([pl.col(c).cast(t) for c, t in columns.items()])
            .filter((pl.col("status") == "active") & ~pl.col("is_trial").fill_null(False))
            .with_columns(product_name_key(pl.coalesce("product_key", "product_name")).alias("_pkey"))
            .filter(pl.col("_pkey").is_not_null()))


def _included(products: pl.DataFrame) -> pl.DataFrame:
    return products.filter(~pl.col("excluded").fill_null(False)) if "excluded" in products.columns else products


def own_seats(products: pl.DataFrame, subscriptions: pl.DataFrame | None) -> pl.DataFrame:
    """Per included customer x product: the partner's own seats beside Partner Center's total.

    own_quantity = the summed quantity of the customer's active, non-trial subscriptions whose product
    name matches the product's (the join metrics uses for trials and duplicates); null when there is none.
    other_quantity = max(licenses_sold - own, 0): seats from other partners or bought directly from
    Microsoft; own_share = own / licenses_sold (null when own is null or sold is 0; above 1 when the
    subscriptions hold more than Partner Center counts, which is worth a data check).
    """
    subs = _own_subscriptions(subscriptions).group_by("customer_id", "_pkey").agg(
        pl.col("quantity").fill_null(0).sum().cast(pl.Int64).alias("own_quantity"))
    rows = (_included(products).with_columns(product_name_key(pl.col("product_name")).alias("_pkey"))
            .join(subs, on=["customer_id", "_pkey"], how="left")
            .with_columns(
                pl.when(pl.col("own_quantity").is_not_null())
                .then(pl.max_horizontal(pl.col("licenses_sold") - pl.col("own_quantity"), pl.lit(0)))
                .alias("other_quantity"),
                pl.when(pl.col("licenses_sold") > 0).then(pl.col("own_quantity") / pl.col("licenses_sold"))
                .alias("own_share")))
    return rows.select([pl.col(c).cast(t) for c, t in OWN_SEAT_COLUMNS.items()]) \
        .sort("customer_name", "customer_id", "product_name", "product_id", nulls_last=True)


def own_seats_by_customer(own: pl.DataFrame) -> pl.DataFrame:
    """Per customer: own seats summed over its products with a subscription, against all its licences sold;
    own_share null when no product has a partner subscription."""
    return (own.group_by("customer_id")
            .agg(pl.col("licenses_sold").sum().cast(pl.Int64),
                 pl.col("own_quantity").sum().cast(pl.Int64).alias("own_quantity"),
                 pl.col("own_quantity").is_not_null().any().alias("_has"))
            .with_columns(pl.when(pl.col("_has") & (pl.col("licenses_sold") > 0))
                          .then(pl.col("own_quantity") / pl.col("licenses_sold")).alias("own_share"),
                          pl.when(pl.col("_has")).then(pl.col("own_quantity")).alias("own_quantity"))
            .drop("_has").sort("customer_id"))


def renewal_queue(products: pl.DataFrame, subscriptions: pl.DataFrame | None, *, today: date | datetime,
                  horizon_days: int = DEFAULT_HORIZON_DAYS) -> pl.DataFrame:
    """Per included customer x product with an active, non-trial partner subscription: when its seats can
    change next, and the work queue of the low-adoption products ordered by that date.

    Per subscription: days_to_renewal = commitment end date - `today` (calendar days, UTC dates). When the
    seats can change: `commitment_end_at` for any term (P1M: the next monthly renewal; P1Y / P3Y: the end
    of the commitment, before which seats cannot drop; no termDuration in the export: the commitment end
    date); no commitment end date (the export's 9999-..., legacy licence-based subscriptions): today; a
    date already passed: today (flagged in change_rule). The billing cycle does not change this; it is
    shown. A product with several subscriptions takes the soonest (ties: the largest quantity).

    The queue holds the products in segments deploy or adopt (QUEUED_SEGMENTS: unassigned or inactive
    licences), ranked: days_to_change ascending (seats that can change soonest first), then
    licenses_idle descending, usage_rate ascending (null last), customer_name, customer_id, product_name,
    product_id. queue_rank 1 = act first; other rows keep queue_rank null and follow, by days_to_change.
    `in_horizon`: days_to_change <= `horizon_days`. Products without a partner subscription are left out:
    the partner cannot change seats it did not sell (see `own_seats`).
    """
    day = _day(today)
    check_whole_number("horizon_days", horizon_days)
    term = pl.col("term_duration").str.strip_chars().str.to_uppercase()
    subs = _own_subscriptions(subscriptions).with_columns(
        term.replace_strict(TERMS, default=term).fill_null("unknown").alias("term"),
        (pl.col("commitment_end_at").dt.date() - pl.lit(day)).dt.total_days().cast(pl.Int64).alias("days_to_renewal"),
    ).with_columns(
        pl.when(pl.col("days_to_renewal").is_null()).then(pl.lit(_RULES["no_end"]))
        .when(pl.col("days_to_renewal") < 0).then(pl.lit(_RULES["ended"]))
        .otherwise(pl.col("term").replace_strict(_RULES, default=_RULES["unknown"])).alias("change_rule"),
        pl.max_horizontal(pl.col("days_to_renewal").fill_null(0), pl.lit(0)).alias("days_to_change"),
    )
    per_product = (subs.sort("days_to_change", pl.col("quantity").fill_null(0), "subscription_id",
                             descending=[False, True, False], nulls_last=True)
                   .group_by("customer_id", "_pkey", maintain_order=True)
                   .agg(pl.len().cast(pl.Int64).alias("subscriptions"),
                        pl.col("quantity").fill_null(0).sum().cast(pl.Int64).alias("own_quantity"),
                        *[pl.col(c).first() for c in ("term", "billing_cycle", "auto_renew", "commitment_end_at",
                                                       "days_to_renewal", "days_to_change", "change_rule")]))
    rows = (_included(products).with_columns(product_name_key(pl.col("product_name")).alias("_pkey"))
            .join(per_product, on=["customer_id", "_pkey"], how="inner")
            .with_columns(
                (pl.lit(day) + pl.duration(days=pl.col("days_to_change"))).alias("change_at"),
                (pl.col("days_to_change") <= horizon_days).alias("in_horizon"),
                pl.col("segment").is_in(list(QUEUED_SEGMENTS)).alias("queued")))
    order = ["_not_queued", "days_to_change", "licenses_idle", "usage_rate", "customer_name", "customer_id",
             "product_name", "product_id"]
    descending = [False, False, True, False, False, False, False, False]
    rows = rows.with_columns((~pl.col("queued")).alias("_not_queued")).sort(
        order, descending=descending, nulls_last=True).with_columns(
        pl.when(pl.col("queued")).then(pl.col("queued").cast(pl.Int64).cum_sum()).alias("queue_rank"))
    return rows.select([pl.col(c).cast(t) for c, t in RENEWAL_COLUMNS.items()])


def customer_renewals(renewals: pl.DataFrame) -> pl.DataFrame:
    """Per customer: its best place in the queue and the next day some of its seats can change.

    From its queued products when it has any, else from all its products with a partner subscription:
    the soonest change_at (renewal_product names that product; days_to_renewal = its days_to_change).
    """
    ordered = renewals.with_columns((~pl.col("queued")).alias("_nq")).sort(
        "customer_id", "_nq", "days_to_change", pl.col("queue_rank"), nulls_last=True)
    return (ordered.group_by("customer_id", maintain_order=True)
            .agg(pl.col("queue_rank").min(), pl.col("product_name").first().alias("renewal_product"),
                 pl.col("change_at").first(), pl.col("days_to_change").first().alias("days_to_renewal"),
                 pl.col("in_horizon").first())
            .select([pl.col(c).cast(t) for c, t in CUSTOMER_RENEWAL_COLUMNS.items()]))


def idle_cost(products: pl.DataFrame, prices: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Idle licences in money: (valued, unpriced).

    valued: per included customer x product whose product_id is in the price list: idle_cost_per_month =
    licenses_idle (unassigned + inactive) x unit_price_per_month, idle_cost_per_year = 12 x that.
    unpriced: per included product with no price (a `name:` product without an id never has one): the
    customers holding it and their idle licences, which are not valued; never counted as zero. Excluded
    products (free and trial SKUs) are neither valued nor listed.
    """
    priced = (prices if prices is not None and prices.width else schema.empty_frame(schema.PRICE_COLUMNS)) \
        .select(pl.col("product_id").str.to_lowercase(), "unit_price_per_month", "currency")
    rows = _included(products).join(priced, on="product_id", how="left")
    valued = (rows.filter(pl.col("unit_price_per_month").is_not_null())
              .with_columns((pl.col("licenses_idle") * pl.col("unit_price_per_month")).alias("idle_cost_per_month"))
              .with_columns((pl.col("idle_cost_per_month") * 12).alias("idle_cost_per_year"))
              .select([pl.col(c).cast(t) for c, t in IDLE_COST_COLUMNS.items()])
              .sort(["idle_cost_per_month", "customer_name", "customer_id", "product_name"],
                    descending=[True, False, False, False], nulls_last=True))
    unpriced = (rows.filter(pl.col("unit_price_per_month").is_null())
                .group_by("product_id")
                .agg(pl.col("product_name").drop_nulls().first(), pl.col("customer_id").n_unique().alias("customers"),
                     pl.col("licenses_idle").sum())
                .select([pl.col(c).cast(t) for c, t in UNPRICED_COLUMNS.items()])
                .sort(["licenses_idle", "product_name", "product_id"], descending=[True, False, False],
                      nulls_last=True))
    return valued, unpriced


def idle_cost_by_customer(products: pl.DataFrame, valued: pl.DataFrame) -> pl.DataFrame:
    """Per customer with included products: idle cost per month and year (null when none of its products
    has a price), the currency, and its idle licences with and without a price."""
    totals = valued.group_by("customer_id").agg(
        pl.col("idle_cost_per_month").sum(), pl.col("idle_cost_per_year").sum(), pl.col("currency").first(),
        pl.col("licenses_idle").sum().cast(pl.Int64).alias("priced_idle_licenses"))
    idle = _included(products).group_by("customer_id").agg(pl.col("licenses_idle").sum().cast(pl.Int64).alias("_all"))
    return (idle.join(totals, on="customer_id", how="left")
            .with_columns((pl.col("_all") - pl.col("priced_idle_licenses").fill_null(0))
                          .alias("unpriced_idle_licenses"),
                          pl.col("priced_idle_licenses").fill_null(0))
            .select([pl.col(c).cast(t) for c, t in IDLE_COST_CUSTOMER_COLUMNS.items()]).sort("customer_id"))


def support_load(customers: pl.DataFrame, tickets: pl.DataFrame | None, *, today: date | datetime,
                 window_days: int = DEFAULT_WINDOW_DAYS, threshold_per_100: float = DEFAULT_THRESHOLD_PER_100,
                 min_tickets: int = DEFAULT_MIN_TICKETS) -> pl.DataFrame:
    """Per customer: tickets opened in the window, how-to tickets per 100 active users, and the flag.

    Window: the `window_days` calendar days ending on `today`, both ends included (today - (window_days - 1)
    <= opened date (UTC) <= today). active_users = the customer's licenses_active (Partner Center's lower
    bound, so the rate is an upper bound). how_to_per_100 = 100 x how-to tickets / active_users (null with
    no active user). support_heavy: how_to_per_100 >= `threshold_per_100` and at least `min_tickets` how-to
    tickets (one question from a 3-user tenant is not a pattern); those get SUPPORT_NEXT_STEP, beside their
    adoption segment. Tickets of tenants that are not in `customers` count for nobody.
    """
    day = _day(today)
    check_whole_number("window_days", window_days, minimum=1)
    check_whole_number("min_tickets", min_tickets, minimum=1)
    if isinstance(threshold_per_100, bool) or not isinstance(threshold_per_100, (int, float)) or threshold_per_100 < 0:
        raise ParameterError(f"threshold_per_100={threshold_per_100!r} must be a number, 0 or more")
    start = date.fromordinal(day.toordinal() - (window_days - 1))
    frame = tickets if tickets is not None and tickets.width else schema.empty_frame(schema.TICKET_COLUMNS)
    opened = pl.col("opened_at").dt.date()
    counts = (frame.filter((opened >= start) & (opened <= day))
              .group_by("customer_id")
              .agg(*[(pl.col("category") == c).sum().cast(pl.Int64).alias(f"{c.replace('-', '_')}_tickets")
                     for c in schema.TICKET_CATEGORIES]))
    per_100 = pl.when(pl.col("active_users") > 0).then(100.0 * pl.col("how_to_tickets") / pl.col("active_users"))
    heavy = ((pl.col("how_to_per_100") >= threshold_per_100)
             & (pl.col("how_to_tickets") >= min_tickets)).fill_null(False)
    return (customers.select("customer_id", "customer_name", "segment", pl.col("licenses_active").alias("active_users"))
            .join(counts, on="customer_id", how="left")
            .with_columns(pl.col("how_to_tickets", "break_fix_tickets", "other_tickets").fill_null(0))
            .with_columns(per_100.alias("how_to_per_100"))
            .with_columns(heavy.alias("support_heavy"))
            .with_columns(pl.when(pl.col("support_heavy")).then(pl.lit(SUPPORT_NEXT_STEP)).alias("support_next_step"),
                          pl.lit(start).alias("window_start"), pl.lit(day).alias("window_end"))
            .select([pl.col(c).cast(t) for c, t in SUPPORT_COLUMNS.items()])
            .sort(["support_heavy", "how_to_per_100", "customer_name", "customer_id"],
                  descending=[True, True, False, False], nulls_last=True))
