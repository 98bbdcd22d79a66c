"""Low-adoption accounts text: the ranking summary and table, the CSV note, and the report's figures."""
from __future__ import annotations

from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis
from adoption_kit.report import tables
from adoption_kit.report.actions import work_queue_columns
from adoption_kit.report.format import Fragment, _fragment, esc, format_int, format_pct, plural
from adoption_kit.report.headline import _common_figures
from adoption_kit.report.links import report_links


def ranking_summary(analysis: Analysis, *, top_n: int) -> Fragment:
    """How many accounts the list holds, their idle licenses, and how many rows are shown."""
    r = analysis.ranking
    idle = int(r.get_column("licenses_idle").sum()) if r.height else 0
    deploy = r.filter(pl.col("segment") == "deploy").height
    shown = min(top_n, r.height)
    line = (f"{plural(r.height, 'account')} of {plural(analysis.customers.height, 'customer')} need action "
            f"({format_int(deploy)} deploy, {format_int(r.height - deploy)} adopt), with "
            f"{format_int(idle)} idle licenses between them (unassigned + assigned but inactive). "
            f"Ranked by the idle licenses we are confident about (Wilson lower bound at 95%), so large "
            f"accounts come first without hiding small accounts that are mostly idle; the first "
            f"{format_int(shown)} are shown.")
    return _fragment([f"<p>{esc(line)}</p>"], [line])


def ranking_table(analysis: Analysis, *, top_n: int, links: bool = True) -> Fragment:
    """The first `top_n` ranked accounts: rates as %, below-threshold rates highlighted, idle licenses, next step;
    each name links to the customer's report in the run folder (`links=False`: plain names)."""
    ranked = work_queue_columns(analysis, analysis.ranking.sort("rank").head(top_n))
    currency = analysis.book.settings.get("currency")
    cost_heading = f"Idle cost / month ({currency})" if currency else "Idle cost / month"
    frame = ranked.select(
        pl.col("rank").alias("Rank"), pl.col("customer_name").fill_null(pl.col("customer_id")).alias("Customer"),
        pl.col("segment").alias("Segment"),
        pl.col("deployment_rate").alias("Deployment"), pl.col("usage_rate").alias("Usage"),
        pl.col("licenses_idle").alias("Idle"),
        pl.col("idle_cost_per_month").map_elements(lambda v: f"{v:,.0f}", return_dtype=pl.String)
        .fill_null("n/a").alias(cost_heading),
        pl.col("days_to_renewal").alias("Renews in (days)"),
        pl.when(pl.col("support_heavy")).then(pl.lit("how-to heavy")).when(pl.col("support_heavy").not_())
        .then(pl.lit("no")).otherwise(pl.lit("n/a")).alias("Support"),
        pl.col("next_step").alias("Next step"),
    )
    t = analysis.thresholds
    caption = (f"Top {format_int(ranked.height)} of {plural(analysis.ranking.height, 'low-adoption account')}; "
               f"bold and shaded: deployment under {format_pct(t.deploy, 0)} or usage under "
               f"{format_pct(t.adopt, 0)}. Idle = unassigned + assigned but inactive licenses. Renews in: days "
               f"until the account's seats can next change (its soonest subscription renewal); Support: how-to "
               f"tickets per 100 active users at or above the threshold. Click a name for the customer's report; "
               f"licences sold, idle share and the renewal queue position are in the CRM action list.")
    hrefs = report_links(analysis.customers) if links else {}
    return tables.styled_table(frame, uuid="low_adoption", caption=caption, pct=["Deployment", "Usage"],
                               ints=["Rank", "Idle", "Renews in (days)"], thresholds=t,
                               links={"Customer": [hrefs.get(i) for i in ranked.get_column("customer_id")]},
                               widths={"Customer": "min-width: 10rem; overflow-wrap: anywhere",
                                       "Next step": "min-width: 20rem"})


def low_adoption_figures(analysis: Analysis, written_rows: int | None) -> dict[str, Any]:
    """Flat headline figures of the low-adoption report (for the report index)."""
    r = analysis.ranking.sort("rank")
    top = r.row(0, named=True) if r.height else {}
    return {
        "report": "low-adoption-accounts",
        "customers": analysis.customers.height,
        "accounts": r.height,
        "accounts_deploy": r.filter(pl.col("segment") == "deploy").height,
        "accounts_adopt": r.filter(pl.col("segment") == "adopt").height,
        "licenses_idle": int(r.get_column("licenses_idle").sum()) if r.height else 0,
        **_ranked_book_figures(analysis),
        "top_customer_id": top.get("customer_id"),
        "top_customer_name": top.get("customer_name"),
        "csv_rows": written_rows,
        **_common_figures(analysis),
    }


def _ranked_book_figures(analysis: Analysis) -> dict[str, Any]:
    """Of the ranked accounts: how many can change seats within the horizon, and how many are support-heavy."""
    ranked = work_queue_columns(analysis, analysis.ranking.select("customer_id"))
    horizon = analysis.book.settings.get("horizon_days", 60)
    return {
        "accounts_renewing_in_horizon": ranked.filter(pl.col("days_to_renewal") <= horizon).height,
        "accounts_support_heavy": ranked.filter(pl.col("support_heavy").fill_null(False)).height,
    }


def written_note(written: Any, shown: str) -> Fragment:
    """One line saying where the CRM CSV went (`shown` = a path safe to show), or that none was written."""
    if written is None:
        line = "No CSV written (no file name was given for it)."
    else:
        line = (f"Wrote {plural(written.rows, 'account')} to {shown}: UTF-8 CSV for a CRM import; text that a "
                f"spreadsheet would run as a formula starts with an apostrophe.")
    return _fragment([f"<p>{esc(line)}</p>"], [line])
