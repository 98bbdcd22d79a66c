"""index.html: the run's reports, their headline figures and this week's work queue (Jinja, autoescaped, offline)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import jinja2
import polars as pl

from adoption_kit import __version__
from adoption_kit.render.csp import finish_page
from adoption_kit.render.layout import ACTION_CSV, MANIFEST, TEMPLATES_DIR
from adoption_kit.render.results import RunResult, _error_line, _now_iso
from adoption_kit.report.format import format_money_tile
from adoption_kit.report.headline import CUSTOMER_COLUMNS, tiles_for
from adoption_kit.store import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from adoption_kit.analysis import Analysis


INDEX_TEMPLATE = "run-index.html.j2"


def _write_index(result: RunResult, analysis: Analysis) -> None:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["figure"] = format_figure
    environment.filters["label"] = _label
    reports = [r for r in result.reports if r.outcome != "failed"]
    books = [r for r in reports if r.job.kind != "customer"]
    customers = sorted((r for r in reports if r.job.kind == "customer"),
                       key=lambda r: ((r.job.customer_name or "").casefold(), r.job.customer_id or ""))
    present = {key for r in customers for key in r.headline}
    columns = [(key, heading) for key, heading in CUSTOMER_COLUMNS if key in present]
    links = {r.job.customer_id: r.job.html for r in customers if r.job.customer_id is not None}
    tiles = {r.job.name: [_tile(r, key, label, note, links) for key, label, note in tiles_for(r.job.kind, r.headline)]
             for r in books}
    page = environment.get_template(INDEX_TEMPLATE).render(
        kit_version=__version__, generated_at=_now_iso(), run_date=result.run_dir.name,
        processed_min=_shown_time(analysis.processed_at_min), processed_max=_shown_time(analysis.processed_at_max),
        thresholds=analysis.thresholds, books=books, tiles=tiles, customers=customers, columns=columns,
        failures=result.failures, action_csv=ACTION_CSV if (result.run_dir / ACTION_CSV).is_file() else None,
        queue=_work_queue(analysis, links),
        counts={k: result.count(k) for k in ("rendered", "current", "failed", "earlier")},
        error_line=_error_line, manifest=MANIFEST)
    with atomic_path(result.index_path) as part:
        part.write_text(finish_page(page, charts=False), encoding="utf-8")   # the policy; sortable tables


def _tile(report: Any, key: str, label: str, note: str, links: Mapping[str, str]) -> dict[str, Any]:
    """One headline tile: its label, the figure as shown (a rate as %, money with its currency), a note, a link."""
    figures = report.headline
    value = figures.get(key)
    shown = format_figure(value, key)
    if key.endswith("_per_month") and value is not None:   # as on the reports' own tiles: whole units
        shown = format_money_tile(value, figures.get("currency"))
    if key == "accounts" and figures.get("customers") is not None:
        note = f"of {format_figure(figures['customers'])} customers (segments deploy and adopt)"
    href = links.get(figures.get("top_customer_id") or "") if key == "top_customer_name" else None
    return {"label": label, "value": shown, "note": note, "href": href, "text": isinstance(value, str)}


def _label(key: str) -> str:
    return key.replace("_", " ")


QUEUE_ROWS = 15


def _work_queue(analysis: Analysis, links: Mapping[str, str]) -> dict[str, Any]:
    """This week's queue for the index: the first renewal-queue rows (low adoption, seats that can change
    soonest) with their idle cost, and the support-heavy accounts; links to rendered customer reports."""
    book = analysis.book
    currency = book.settings.get("currency")
    costs = {(r["customer_id"], r["product_id"]): r["idle_cost_per_month"] for r in book.idle_cost.to_dicts()}
    queue = book.renewals.filter(pl.col("queued")).sort("queue_rank")
    rows = []
    for r in queue.head(QUEUE_ROWS).to_dicts():
        cost = costs.get((r["customer_id"], r["product_id"]))
        rows.append({"rank": r["queue_rank"], "customer": r["customer_name"] or r["customer_id"],
                     "href": links.get(r["customer_id"]), "product": r["product_name"], "segment": r["segment"],
                     "usage": format_figure(r["usage_rate"], "usage_rate"), "idle": format_figure(r["licenses_idle"]),
                     "change_at": str(r["change_at"]), "days": format_figure(r["days_to_change"]),
                     "cost": f"{currency} {cost:,.2f}" if cost is not None else "n/a"})
    heavy = [{"customer": r["customer_name"] or r["customer_id"], "href": links.get(r["customer_id"]),
              "segment": r["segment"], "rate": f"{r['how_to_per_100']:.1f}"}
             for r in book.support.filter(pl.col("support_heavy")).to_dicts()]
    return {"rows": rows, "queued": queue.height, "today": str(book.today) if book.today else None,
            "horizon": book.settings.get("horizon_days"), "support": heavy,
            "subscriptions": bool(book.settings.get("subscriptions_loaded")),
            "tickets": bool(book.settings.get("tickets_loaded"))}


def format_figure(value: Any, key: str = "") -> str:
    """A headline value for the index: rates as %, whole numbers with thousands separators, n/a for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and key.endswith(("_rate", "_share", "_threshold")):
        return f"{value * 100:.1f}%"
    if isinstance(value, (int, float)) and key.endswith("_points"):
        return f"{value:+.1f}" if value else "0"
    if isinstance(value, (int, float)) and key.endswith(("_per_month", "_per_year")):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
    return str(value)


def _shown_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(timezone.utc) if value.tzinfo else value
    return f"{value:%Y-%m-%d}" if (value.hour, value.minute) == (0, 0) else f"{value:%Y-%m-%d %H:%M} UTC"
