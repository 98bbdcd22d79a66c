"""Customer insights text: who the customer is, its products, flags and next steps, and the report's figures."""
from __future__ import annotations

from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis, CustomerView
from adoption_kit.compute.metrics import NEXT_STEPS
from adoption_kit.config import Thresholds
from adoption_kit.report import tables
from adoption_kit.report.book import customer_book_figures
from adoption_kit.report.exact_usage import exact_usage_figures
from adoption_kit.report.format import Fragment, _fill, _fragment, esc, format_int, format_known, format_pct, plural
from adoption_kit.report.headline import _common_figures, _round
from adoption_kit.report.labels import CAUSE_LABELS, SEGMENT_MEANINGS


def customer_header(view: CustomerView, analysis: Analysis) -> Fragment:
    """Who the customer is, its segment and figures, and where it stands among all customers."""
    c = view.customer
    ranked = analysis.ranking.height
    rank = (f"#{view.rank} of {format_int(ranked)} on the low-adoption list" if view.rank is not None
            else f"not on the low-adoption list ({format_int(ranked)} accounts)")
    rows = [
        ("Customer", c["customer_name"]),
        ("Tenant id", c["customer_id"]),
        ("Segment", f"{c['segment']}: {SEGMENT_MEANINGS.get(c['segment'], '')}"),
        ("Products (included)", format_int(c["products"])),
        ("Licenses sold / assigned", f"{format_known(c['licenses_sold'])} / {format_known(c['licenses_assigned'])}"
                                     f"{_unknown_note(c, 'products_without_deployment', 'a deployment row')}"),
        ("Active / qualified users", f"{format_known(c['licenses_active'])} / {format_known(c['licenses_qualified'])}"
                                     f"{_unknown_note(c, 'products_without_usage', 'usage rows')}"),
        ("Deployment", f"{_rate(c, 'deployment_rate', 'licenses_sold')}: "
                       f"{_standing(view.deployment_percentile, 'deployment')}"),
        ("Usage", f"{_rate(c, 'usage_rate', 'licenses_qualified')}: {_standing(view.usage_percentile, 'usage')}"),
        ("Idle licenses", format_known(c["licenses_idle"])),
        ("Low-adoption ranking", rank),
    ]
    markup = "".join(f"<tr><th style=\"text-align: left\">{esc(k)}</th>"
                     f"<td style=\"text-align: left\">{esc(v)}</td></tr>" for k, v in rows)
    return _fragment([f"<table>{markup}</table>"], [f"{k}: {v}" for k, v in rows])


def _unknown_note(row: dict[str, Any], column: str, what: str) -> str:
    """' (2 products without a deployment row: unknown, not 0)' when some products lack that feed."""
    n = row.get(column) or 0
    return f" ({plural(n, 'product')} without {what}: unknown, not 0)" if n else ""


def _rate(row: dict[str, Any], rate: str, denominator: str) -> str:
    """A rate, or 'unknown' when its denominator is unknown (no feed row) rather than 0 ('n/a')."""
    return "unknown" if row.get(denominator) is None else format_pct(row.get(rate))


def _standing(percentile: float | None, what: str) -> str:
    if percentile is None:
        return f"no {what} rate, so no place among customers"
    return f"higher than {percentile:.0f}% of customers (percentile {percentile:.0f})"


def customer_products(view: CustomerView, thresholds: Thresholds) -> Fragment:
    """Per product: licenses, deployment % and usage % (below-threshold and over-100% cells highlighted), segment."""
    products = view.products.sort(["excluded", "licenses_sold", "product_name"], descending=[False, True, False])
    frame = products.select(
        pl.col("product_name").alias("Product"),
        pl.col("licenses_sold").alias("Sold"), pl.col("licenses_assigned").alias("Assigned"),
        pl.col("licenses_qualified").alias("Qualified"), pl.col("licenses_active").alias("Active"),
        pl.col("deployment_rate").alias("Deployment"), pl.col("usage_rate").alias("Usage"),
        pl.when(pl.col("excluded")).then(pl.lit("excluded")).otherwise(pl.col("segment")).alias("Segment"),
    )
    caption = (f"{plural(products.height, 'product')}; bold and shaded: deployment under "
               f"{format_pct(thresholds.deploy, 0)}, usage under {format_pct(thresholds.adopt, 0)}, "
               f"or usage over 100% (check the data). Excluded products do not count in the ratios.")
    if products.select(pl.col("licenses_sold", "licenses_qualified").is_null().any()).row(0) != (False, False):
        caption += (" unknown: the product has no deployment row (sold, assigned) or no usage rows (qualified, "
                    "active) in the exports, so those counts are unknown, not 0; its rate then reads n/a.")
    return tables.styled_table(frame, uuid="customer_products", caption=caption, pct=["Deployment", "Usage"],
                        ints=["Sold", "Assigned", "Qualified", "Active"], thresholds=thresholds,
                        unknown=["Sold", "Assigned", "Qualified", "Active"])


def customer_flags(view: CustomerView, thresholds: Thresholds) -> Fragment:
    """The customer's flags, each with the figures and a plain-language explanation (why, what to check)."""
    flags: list[tuple[str, str]] = []
    products = view.products.sort("product_name", "product_id")
    for p in products.filter(pl.col("excluded")).to_dicts():
        flags.append((f"{p['product_name']} is left out of the ratios",
                      f"{p['exclusion_reason'] or 'on the exclusion list'}."))
    included = products.filter(~pl.col("excluded"))
    for p in included.filter(pl.col("inflated").fill_null(False)).to_dicts():
        causes = (p["inflation_causes"] or "unexplained").split(";")
        flags.append((f"Usage over 100% on {p['product_name']}: {format_pct(p['usage_rate'])} "
                      f"({format_int(p['licenses_active'])} active of "
                      f"{format_int(p['licenses_qualified'])} qualified); "
                      f"likely cause: {', '.join(CAUSE_LABELS.get(c, c) for c in causes)}",
                      " ".join(NEXT_STEPS.get(f"data_check:{c}", "") for c in causes)))
    product_inflated = {p["product_id"] for p in included.filter(pl.col("inflated").fill_null(False)).to_dicts()}
    quiet = view.workloads.filter(pl.col("inflated").fill_null(False) & ~pl.col("excluded").fill_null(False)
                                  & ~pl.col("product_id").is_in(list(product_inflated)))
    for w in quiet.sort("product_name", "workload").to_dicts():
        causes = (w["inflation_causes"] or "unexplained").split(";")
        flags.append((f"{w['workload']} usage over 100% on {w['product_name']}: {format_pct(w['usage_rate'])} "
                      f"({format_int(w['licenses_active'])} active of "
                      f"{format_int(w['licenses_qualified'])} qualified); "
                      f"likely cause: {', '.join(CAUSE_LABELS.get(c, c) for c in causes)}",
                      " ".join(NEXT_STEPS.get(f"data_check:{c}", "") for c in causes)
                      + " The product's usage leaves this workload out, so it is not counted as over 100%."))
    for p in included.filter(pl.col("licenses_sold") == 0).to_dicts():
        flags.append((f"No licenses of {p['product_name']} sold through you",
                      _fill(NEXT_STEPS["data_check:no_sold"], p)))
    for p in included.filter(pl.col("licenses_sold").is_null()).to_dicts():
        flags.append((f"No deployment row for {p['product_name']}: licenses sold and assigned are unknown, not 0",
                      NEXT_STEPS["note:no_deployment"]))
    for p in included.filter(pl.col("licenses_qualified").is_null()).to_dicts():
        flags.append((f"No usage rows for {p['product_name']}: qualified and active licenses are unknown, not 0",
                      NEXT_STEPS["note:no_usage"]))
    for p in included.filter((pl.col("licenses_sold") > 0)
                             & (pl.col("licenses_assigned") > pl.col("licenses_sold"))).to_dicts():
        flags.append((f"More {p['product_name']} licenses assigned than sold through you "
                      f"({format_int(p['licenses_assigned'])} assigned, {format_int(p['licenses_sold'])} sold)",
                      _fill(NEXT_STEPS["data_check:over_assigned"], p)))
    for p in included.filter(pl.col("qualified_conflict").fill_null(False)).to_dicts():
        flags.append((f"Workload rows of {p['product_name']} disagree on qualified users",
                      "The usage export gives different qualified counts per workload; the largest is used. "
                      "Download a fresh usage export if this persists."))
    for p in included.filter((pl.col("licenses_sold") > 0)
                             & (pl.col("deployment_rate") < thresholds.deploy)).to_dicts():
        flags.append((f"Deployment of {p['product_name']} under the {format_pct(thresholds.deploy, 0)} threshold: "
                      f"{format_pct(p['deployment_rate'])}",
                      f"{format_int(p['licenses_unassigned'])} of {format_int(p['licenses_sold'])} licenses are not "
                      f"assigned to anyone: they are paid for and unused."))
    low_usage = (pl.col("usage_rate") < thresholds.adopt) & ~pl.col("inflated").fill_null(False)
    for p in included.filter(low_usage).to_dicts():
        flags.append((f"Usage of {p['product_name']} under the {format_pct(thresholds.adopt, 0)} threshold: "
                      f"{format_pct(p['usage_rate'])}",
                      f"{format_int(p['licenses_inactive'])} of {format_int(p['licenses_qualified'])} qualified "
                      f"users were not active in the period of the export."))
    if not flags:
        line = "No flags: no usage over 100%, every included product is at or above the thresholds."
        return _fragment([f"<p>{esc(line)}</p>"], [line])
    items = "".join(f"<li><b>{esc(title)}.</b> {esc(why)}</li>" for title, why in flags)
    return _fragment([f"<p>{esc(plural(len(flags), 'flag'))}:</p><ul>{items}</ul>"],
                     [f"{plural(len(flags), 'flag')}:"] + [f"- {title}. {why}" for title, why in flags])


def no_usage_rows(view: CustomerView) -> Fragment:
    """Said instead of the workload chart when the usage export has no row for the customer."""
    line = (f"The usage export has no row for {view.customer['customer_name']}: no workload usage to show "
            f"(a new customer, or a usage export older than the deployment export).")
    return _fragment([f"<p>{esc(line)}</p>"], [line])


def customer_next_steps(view: CustomerView) -> Fragment:
    """The customer's next step, then each included product's own step when it differs."""
    c = view.customer
    steps = [(f"{c['customer_name']} ({c['segment']})", c["next_step"])]
    seen = {c["next_step"]}
    products = (view.products.filter(~pl.col("excluded"))
                .sort(["licenses_sold", "product_name"], descending=[True, False]))
    for p in products.to_dicts():
        if p["next_step"] and p["next_step"] not in seen:
            steps.append((f"{p['product_name']} ({p['segment']})", p["next_step"]))
            seen.add(p["next_step"])
    items = "".join(f"<li><b>{esc(who)}</b>: {esc(step)}</li>" for who, step in steps)
    return _fragment([f"<ol>{items}</ol>"], [f"{n}. {who}: {step}" for n, (who, step) in enumerate(steps, 1)])


def customer_figures(view: CustomerView, analysis: Analysis) -> dict[str, Any]:
    """Flat headline figures of the customer report (for the report index), with the exact usage when known."""
    c = view.customer
    return {
        "report": "customer-insights",
        "customer_id": c["customer_id"],
        "customer_name": c["customer_name"],
        "segment": c["segment"],
        "products": c["products"],
        "licenses_sold": c["licenses_sold"],
        "licenses_assigned": c["licenses_assigned"],
        "licenses_active": c["licenses_active"],
        "licenses_idle": c["licenses_idle"],
        "deployment_rate": _round(c["deployment_rate"]),
        "usage_rate": _round(c["usage_rate"]),
        "deployment_percentile": _round(view.deployment_percentile, 1),
        "usage_percentile": _round(view.usage_percentile, 1),
        "low_adoption_rank": view.rank,
        "inflated": bool(c["inflated"]),
        **exact_usage_figures(view),
        **customer_book_figures(view),
        **_common_figures(analysis),
    }
