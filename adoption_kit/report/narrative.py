"""Report text for the notebooks: HTML fragments with every data value escaped, plain-text twins, and the headline figures; pure except `headline`."""
from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis, CustomerView, staleness_warning
from adoption_kit.config import Thresholds
from adoption_kit.errors import ParameterError
from adoption_kit.compute.metrics import CAUSES, NEXT_STEPS, SEGMENTS
from adoption_kit.report.notebooks import strip_paths, work_queue_columns

# The executed notebook's cell tagged `headline` holds one display_data output of this MIME type: a flat
# JSON object of figures (str, int, float, bool or null values) that the report index reads.
HEADLINE_MIME = "application/json"
HEADLINE_TAG = "headline"

# Short names of the over-100% causes (the long explanations are metrics.NEXT_STEPS["data_check:<cause>"]).
CAUSE_LABELS: Mapping[str, str] = {
    "duplicate_subscription": "duplicate subscription",
    "trial": "open trial",
    "turnover": "user turnover (leavers still counted)",
    "unexplained": "no cause in the data",
    "yammer": "Yammer (Viva Engage) activity",
}
SEGMENT_MEANINGS: Mapping[str, str] = {
    "data_check": "figures to verify first (usage over 100%, nothing sold, or more assigned than sold)",
    "deploy": "licenses bought but not assigned",
    "adopt": "licenses assigned but not used",
    "upsell": "(almost) everything deployed and used",
    "healthy": "on track",
}

# Highlight colours: Okabe-Ito vermillion / orange / reddish purple (as the charts), light enough for dark text.
_LOW_DEPLOY_CSS = "background-color: rgba(213, 94, 0, 0.22); font-weight: bold"
_LOW_USAGE_CSS = "background-color: rgba(230, 159, 0, 0.30); font-weight: bold"
_OVER_100_CSS = "background-color: rgba(204, 121, 167, 0.30); font-weight: bold"
_BOX_CSS = "border-left: 4px solid {colour}; padding: 0.4em 0.8em; margin: 0.4em 0; background: {background}"
_WARN_COLOURS = {"colour": "#D55E00", "background": "rgba(213, 94, 0, 0.08)"}
_INFO_COLOURS = {"colour": "#0072B2", "background": "rgba(0, 114, 178, 0.06)"}
# MathJax (JupyterLab, nbconvert's HTML) would typeset "$...$" inside customer names; these classes stop it.
_WRAPPER = '<div class="adoption-kit tex2jax_ignore mathjax_ignore">{}</div>'
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


# ---------------------------------------------------------------------------
# The display object and formatting
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Fragment:
    """HTML for notebooks and HTML reports, with a plain-text twin (text/plain: readable diffs in nbval, logs)."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def __repr__(self) -> str:
        return self.text


def esc(value: Any) -> str:
    """HTML-escape a data value (quotes too); None -> 'n/a'."""
    return html.escape("n/a" if value is None else str(value), quote=True)


def format_pct(value: float | None, digits: int = 1) -> str:
    """0.8137 -> '81.4%'; None or NaN -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.{digits}f}%"


def format_int(value: int | None) -> str:
    """8145 -> '8,145'; None -> 'n/a'."""
    return "n/a" if value is None else f"{int(value):,}"


def format_date(value: datetime | None) -> str:
    return "unknown" if value is None else f"{value:%Y-%m-%d}"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{format_int(count)} {word if count == 1 else (many or word + 's')}"


def _fragment(parts: Iterable[str], text: Iterable[str]) -> Fragment:
    return Fragment(_WRAPPER.format("".join(parts)), "\n".join(text))


def _box(inner_html: str, colours: Mapping[str, str]) -> str:
    return f'<div style="{_BOX_CSS.format(**colours)}">{inner_html}</div>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str = "",
           numeric: Sequence[int] = ()) -> tuple[str, list[str]]:
    """An HTML table (every cell escaped) and its plain-text lines."""
    head = "".join(f'<th style="text-align: {"right" if i in numeric else "left"}">{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f'<td style="text-align: {"right" if i in numeric else "left"}">{esc(v)}</td>'
                        for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    cap = f'<caption style="caption-side: top; text-align: left">{esc(caption)}</caption>' if caption else ""
    markup = f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return markup, _text_table(headers, rows, caption)


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> list[str]:
    cells = [[str(h) for h in headers]] + [["n/a" if v is None else str(v) for v in row] for row in rows]
    widths = [min(60, max(len(r[i]) for r in cells)) for i in range(len(headers))]
    lines = [caption] if caption else []
    for n, row in enumerate(cells):
        lines.append(" | ".join(c.ljust(w) if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, widths))
                     .rstrip())
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return lines


def _fill(template: str, counts: Mapping[str, Any]) -> str:
    """A NEXT_STEPS text with `{name}` replaced by counts['licenses_<name>'] (thousands separated)."""
    return _PLACEHOLDER.sub(lambda m: format_int(counts.get(f"licenses_{m[1]}")), template)


def threshold_text(thresholds: Thresholds) -> str:
    return (f"deploy {format_pct(thresholds.deploy, 0)}, adopt {format_pct(thresholds.adopt, 0)}, "
            f"upsell {format_pct(thresholds.upsell, 0)}")


# ---------------------------------------------------------------------------
# Every report: where the data comes from, and how old it is
# ---------------------------------------------------------------------------
def data_summary(analysis: Analysis, *, requested: Thresholds | None = None) -> Fragment:
    """Source files by kind, processedDateTime, snapshot and thresholds used, exclusions, loader warnings; no paths."""
    kinds: dict[str, int] = {}
    for source in analysis.sources:
        kinds[source.get("kind", "unknown")] = kinds.get(source.get("kind", "unknown"), 0) + 1
    files = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none listed"
    first, last = analysis.processed_at_min, analysis.processed_at_max
    processed = format_date(last) if first == last or first is None else f"{format_date(first)} to {format_date(last)}"
    excluded = analysis.portfolio.get("excluded_products") or 0
    bundle = bool(analysis.meta.get("thresholds"))
    items = [
        ("Export files", f"{sum(kinds.values())} ({files})"),
        ("Data processed (processedDateTime, UTC)", processed),
        ("Snapshot", str(analysis.meta.get("as_of", "latest"))),
        ("Thresholds", threshold_text(analysis.thresholds)),
        ("Excluded from the ratios", plural(excluded, "product row")),
    ]
    if bundle:
        items.append(("Computed", "once for this report run (metrics bundle)"))
    notes = [strip_paths(w) for w in analysis.warnings]
    if requested is not None and requested != analysis.thresholds:
        notes.insert(0, f"The metrics bundle was computed with thresholds {threshold_text(analysis.thresholds)}; "
                        f"the parameters asked for {threshold_text(requested)}. The bundle's thresholds are used "
                        f"throughout this report.")
    rows = "".join(f"<tr><th style=\"text-align: left\">{esc(k)}</th><td style=\"text-align: left\">{esc(v)}</td></tr>" for k, v in items)
    parts = [f"<table>{rows}</table>"]
    text = [f"{k}: {v}" for k, v in items]
    if notes:
        parts.append(_box("<b>Loader notes</b><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>",
                          _WARN_COLOURS))
        text += [f"Note: {n}" for n in notes]
    return _fragment(parts, text)


def staleness(analysis: Analysis, *, now: datetime, stale_after_days: int) -> Fragment:
    """The data's age against `now`: a warning box when older than `stale_after_days` (variable text: not checked)."""
    warning = staleness_warning(analysis.processed_at_max, now=now, stale_after_days=stale_after_days)
    last = analysis.processed_at_max
    if last is not None and now < last:
        warning = (f"'today' ({now:%Y-%m-%d}) is before the data's processedDateTime ({last:%Y-%m-%d}): "
                   f"check the today parameter.")
    if warning:
        return _fragment([_box(f"<b>Stale data.</b> {esc(warning)}", _WARN_COLOURS)], [f"WARNING: {warning}"])
    age = (now - last).days
    line = (f"Data processed on {last:%Y-%m-%d}, {plural(age, 'day')} before {now:%Y-%m-%d} "
            f"(a warning shows after {stale_after_days}).")
    return _fragment([_box(esc(line), _INFO_COLOURS)], [line])


# ---------------------------------------------------------------------------
# Portfolio overview
# ---------------------------------------------------------------------------
def portfolio_headline(analysis: Analysis) -> Fragment:
    """The headline figures: customers, licenses sold/assigned/active, portfolio and median-customer rates."""
    p = analysis.portfolio
    rows = [
        ("Customers", format_int(p.get("customers", 0))),
        ("Products (customer x product, included)", format_int(p.get("products", 0))),
        ("Licenses sold", format_int(p.get("licenses_sold", 0))),
        ("Licenses assigned", format_int(p.get("licenses_assigned", 0))),
        ("Qualified users", format_int(p.get("licenses_qualified", 0))),
        ("Active users", format_int(p.get("licenses_active", 0))),
        ("Deployment (assigned / sold)", format_pct(p.get("deployment_rate"))),
        ("Usage (active / qualified)", format_pct(p.get("usage_rate"))),
        ("Median customer deployment", format_pct(p.get("median_customer_deployment_rate"))),
        ("Median customer usage", format_pct(p.get("median_customer_usage_rate"))),
        ("Idle licenses (unassigned + inactive)", format_int(p.get("licenses_idle", 0))),
        ("Data processed (UTC)", format_date(analysis.processed_at_max)),
    ]
    markup, text = _table(["Figure", "Value"], rows, numeric=[1])
    return _fragment([markup], text)


def portfolio_story(analysis: Analysis) -> Fragment:
    """Two sentences for the portfolio, every number from the frames."""
    p = analysis.portfolio
    counts = segment_frame(analysis)
    by = {r["segment"]: r for r in counts.to_dicts()}
    sentence1 = (f"Across {plural(p.get('customers', 0), 'customer')}, {format_pct(p.get('deployment_rate'))} of "
                 f"the {format_int(p.get('licenses_sold', 0))} licenses sold are assigned and "
                 f"{format_pct(p.get('usage_rate'))} of {format_int(p.get('licenses_qualified', 0))} qualified "
                 f"users are active; the median customer is at {format_pct(p.get('median_customer_deployment_rate'))} "
                 f"deployment and {format_pct(p.get('median_customer_usage_rate'))} usage.")
    sentence2 = (f"{plural(by['deploy']['customers'], 'customer')} should assign licenses "
                 f"({format_int(by['deploy']['licenses_unassigned'])} unassigned), "
                 f"{format_int(by['adopt']['customers'])} should drive adoption "
                 f"({format_int(by['adopt']['licenses_inactive'])} inactive), "
                 f"{format_int(by['upsell']['customers'])} are ready for an upsell conversation and "
                 f"{format_int(by['data_check']['customers'])} need a data check first; "
                 f"the low-adoption list ranks {plural(analysis.ranking.height, 'account')}.")
    return _fragment([f"<p>{esc(sentence1)}</p><p>{esc(sentence2)}</p>"], [sentence1, sentence2])


def over_100_frame(analysis: Analysis) -> pl.DataFrame:
    """One row per customer x product with a workload over 100% (included products): figures and causes."""
    wl = analysis.metrics.workloads.filter(pl.col("inflated").fill_null(False) & ~pl.col("excluded").fill_null(False))
    products = analysis.metrics.products.select(
        "customer_id", "product_id", pl.col("usage_rate").alias("product_usage_rate"),
        pl.col("inflated").alias("product_inflated"), "licenses_sold")
    return (
        wl.sort("workload")
        .with_columns(pl.format("{} {}", pl.col("workload"),
                                pl.format("{}%", (pl.col("usage_rate") * 100).round(0).cast(pl.Int64)))
                      .alias("_workload"),
                      (pl.col("licenses_active") - pl.col("licenses_qualified")).alias("_excess"))
        .group_by("customer_id", "customer_name", "product_id", "product_name")
        .agg(pl.col("_workload").str.join(", ").alias("workloads_over_100"),
             pl.col("licenses_qualified").max(), pl.col("licenses_active").max(),
             pl.col("_excess").max().alias("excess_active"),
             pl.col("inflation_causes").str.split(";").list.explode(keep_nulls=False, empty_as_null=False).unique().sort().str.join(";")
             .alias("inflation_causes"))
        .join(products, on=["customer_id", "product_id"], how="left")
        .sort(["excess_active", "customer_name", "customer_id", "product_name", "product_id"],
              descending=[True, False, False, False, False], nulls_last=True)
    )


def over_100_table(analysis: Analysis, *, top_n: int) -> Fragment:
    """The rows over 100% (largest excess first, at most `top_n`) with their likely cause and what it means."""
    frame = over_100_frame(analysis)
    if frame.is_empty():
        line = "No usage over 100%: every workload has at most as many active users as qualified users."
        return _fragment([f"<p>{esc(line)}</p>"], [line])
    causes_all = frame.get_column("inflation_causes").str.split(";").explode().value_counts(sort=True)
    by_cause = dict(zip(causes_all.get_column("inflation_causes").to_list(),
                        causes_all.get_column("count").to_list()))
    shown = frame.head(top_n)
    rows = []
    for r in shown.to_dicts():
        causes = (r["inflation_causes"] or "unexplained").split(";")
        note = "" if r["product_inflated"] else " (not in the product's usage)"
        rows.append([r["customer_name"], r["product_name"], r["workloads_over_100"] + note,
                     format_pct(r["product_usage_rate"]), format_int(r["licenses_active"]),
                     format_int(r["licenses_qualified"]), ", ".join(CAUSE_LABELS.get(c, c) for c in causes)])
    caption = (f"{plural(frame.height, 'product')} with usage over 100%"
               + (f", the {format_int(shown.height)} with the most excess active users shown" if shown.height < frame.height else ""))
    markup, text = _table(["Customer", "Product", "Workloads over 100%", "Product usage", "Active (max)",
                           "Qualified", "Likely cause"], rows, caption=caption, numeric=[3, 4, 5])
    explain = [(CAUSE_LABELS[c], by_cause[c], NEXT_STEPS[f"data_check:{c}"]) for c in CAUSES if c in by_cause]
    items = "".join(f"<li><b>{esc(label)}</b> ({esc(plural(n, 'product'))}): {esc(why)}</li>" for label, n, why in explain)
    return _fragment([markup, f"<p><b>Why usage can exceed 100%</b></p><ul>{items}</ul>"],
                     text + ["Why usage can exceed 100%:"] + [f"- {label} ({plural(n, 'product')}): {why}"
                                                            for label, n, why in explain])


def segment_frame(analysis: Analysis) -> pl.DataFrame:
    """Customers, licenses and idle licenses per segment, every segment present (zeros included), in SEGMENTS order."""
    sums = ["licenses_sold", "licenses_assigned", "licenses_qualified", "licenses_active",
            "licenses_unassigned", "licenses_inactive", "licenses_idle"]
    counts = analysis.customers.group_by("segment").agg(pl.len().cast(pl.Int64).alias("customers"),
                                                        *[pl.col(c).sum().cast(pl.Int64) for c in sums])
    base = pl.DataFrame({"segment": list(SEGMENTS), "_order": list(range(len(SEGMENTS)))})
    return (base.join(counts, on="segment", how="left")
            .with_columns(pl.col("customers", *sums).fill_null(0))
            .sort("_order").drop("_order"))


def segment_next_step(segment: str, counts: Mapping[str, Any], analysis: Analysis) -> str:
    """What to do with a whole segment: NEXT_STEPS filled with the segment's totals; data_check by reason."""
    if counts["customers"] == 0:
        return "No customer in this segment."
    if segment != "data_check":
        return _fill(NEXT_STEPS[segment], counts)
    checks = analysis.customers.filter(pl.col("segment") == "data_check")
    over = checks.filter(pl.col("inflated").fill_null(False))
    reasons = []
    if over.height:
        causes = over.get_column("inflation_causes").fill_null("unexplained").str.split(";").explode()
        per = causes.value_counts(sort=True)
        listed = ", ".join(f"{n} {CAUSE_LABELS.get(c, c)}" for c, n in
                           sorted(zip(per.get_column("inflation_causes").to_list(), per.get_column("count").to_list())))
        reasons.append(f"{plural(over.height, 'customer')} with usage over 100% ({listed}; see the table above)")
    rest = checks.filter(~pl.col("inflated").fill_null(False))
    no_sold = rest.filter(pl.col("licenses_sold") == 0).height
    over_assigned = rest.filter((pl.col("licenses_sold") > 0) & (pl.col("deployment_rate") > 1)).height
    if no_sold:
        reasons.append(f"{plural(no_sold, 'customer')} with no licenses sold through you")
    if over_assigned:
        reasons.append(f"{plural(over_assigned, 'customer')} with more licenses assigned than sold through you "
                       f"(licenses bought elsewhere)")
    return "Verify the figures before acting: " + "; ".join(reasons) + "."


def segment_table(analysis: Analysis) -> Fragment:
    """Customers per segment with their licenses, idle licenses and the next step for the segment."""
    frame = segment_frame(analysis)
    total = max(int(frame.get_column("customers").sum()), 1)
    rows = []
    for r in frame.to_dicts():
        rows.append([r["segment"], SEGMENT_MEANINGS[r["segment"]], format_int(r["customers"]),
                     format_pct(r["customers"] / total, 0), format_int(r["licenses_sold"]),
                     format_int(r["licenses_idle"]), segment_next_step(r["segment"], r, analysis)])
    markup, text = _table(["Segment", "Meaning", "Customers", "Share", "Licenses sold", "Idle licenses",
                           "Next step"], rows, numeric=[2, 3, 4, 5],
                          caption=f"Thresholds: {threshold_text(analysis.thresholds)}; the first matching "
                                  f"rule wins, from data_check to healthy.")
    return _fragment([markup], text)


def portfolio_figures(analysis: Analysis) -> dict[str, Any]:
    """Flat headline figures of the portfolio report (for the report index)."""
    p = analysis.portfolio
    segments = {f"customers_{r['segment']}": r["customers"] for r in segment_frame(analysis).to_dicts()}
    return {
        "report": "portfolio-overview",
        "customers": p.get("customers", 0),
        "licenses_sold": p.get("licenses_sold", 0),
        "licenses_assigned": p.get("licenses_assigned", 0),
        "licenses_active": p.get("licenses_active", 0),
        "licenses_idle": p.get("licenses_idle", 0),
        "deployment_rate": _round(p.get("deployment_rate")),
        "usage_rate": _round(p.get("usage_rate")),
        "median_customer_deployment_rate": _round(p.get("median_customer_deployment_rate")),
        "median_customer_usage_rate": _round(p.get("median_customer_usage_rate")),
        **segments,
        "products_over_100": over_100_frame(analysis).height,
        "low_adoption_accounts": analysis.ranking.height,
        **book_figures(analysis),
        **_common_figures(analysis),
    }


# ---------------------------------------------------------------------------
# Customer insights
# ---------------------------------------------------------------------------
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
        ("Licenses sold / assigned", f"{format_int(c['licenses_sold'])} / {format_int(c['licenses_assigned'])}"),
        ("Active / qualified users", f"{format_int(c['licenses_active'])} / {format_int(c['licenses_qualified'])}"),
        ("Deployment", f"{format_pct(c['deployment_rate'])}: {_standing(view.deployment_percentile, 'deployment')}"),
        ("Usage", f"{format_pct(c['usage_rate'])}: {_standing(view.usage_percentile, 'usage')}"),
        ("Idle licenses", format_int(c["licenses_idle"])),
        ("Low-adoption ranking", rank),
    ]
    markup = "".join(f"<tr><th style=\"text-align: left\">{esc(k)}</th><td style=\"text-align: left\">{esc(v)}</td></tr>" for k, v in rows)
    return _fragment([f"<table>{markup}</table>"], [f"{k}: {v}" for k, v in rows])


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
    return styled_table(frame, uuid="customer_products", caption=caption, pct=["Deployment", "Usage"],
                        ints=["Sold", "Assigned", "Qualified", "Active"], thresholds=thresholds)


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
                      f"({format_int(p['licenses_active'])} active of {format_int(p['licenses_qualified'])} qualified); "
                      f"likely cause: {', '.join(CAUSE_LABELS.get(c, c) for c in causes)}",
                      " ".join(NEXT_STEPS.get(f"data_check:{c}", "") for c in causes)))
    product_inflated = {p["product_id"] for p in included.filter(pl.col("inflated").fill_null(False)).to_dicts()}
    quiet = view.workloads.filter(pl.col("inflated").fill_null(False) & ~pl.col("excluded").fill_null(False)
                                  & ~pl.col("product_id").is_in(list(product_inflated)))
    for w in quiet.sort("product_name", "workload").to_dicts():
        causes = (w["inflation_causes"] or "unexplained").split(";")
        flags.append((f"{w['workload']} usage over 100% on {w['product_name']}: {format_pct(w['usage_rate'])} "
                      f"({format_int(w['licenses_active'])} active of {format_int(w['licenses_qualified'])} qualified); "
                      f"likely cause: {', '.join(CAUSE_LABELS.get(c, c) for c in causes)}",
                      " ".join(NEXT_STEPS.get(f"data_check:{c}", "") for c in causes)
                      + " The product's usage leaves this workload out, so it is not counted as over 100%."))
    for p in included.filter(pl.col("licenses_sold") == 0).to_dicts():
        flags.append((f"No licenses of {p['product_name']} sold through you",
                      _fill(NEXT_STEPS["data_check:no_sold"], p)))
    for p in included.filter((pl.col("licenses_sold") > 0) & (pl.col("licenses_assigned") > pl.col("licenses_sold"))).to_dicts():
        flags.append((f"More {p['product_name']} licenses assigned than sold through you "
                      f"({format_int(p['licenses_assigned'])} assigned, {format_int(p['licenses_sold'])} sold)",
                      _fill(NEXT_STEPS["data_check:over_assigned"], p)))
    for p in included.filter(pl.col("qualified_conflict").fill_null(False)).to_dicts():
        flags.append((f"Workload rows of {p['product_name']} disagree on qualified users",
                      "The usage export gives different qualified counts per workload; the largest is used. "
                      "Download a fresh usage export if this persists."))
    for p in included.filter((pl.col("licenses_sold") > 0) & (pl.col("deployment_rate") < thresholds.deploy)).to_dicts():
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
    products = view.products.filter(~pl.col("excluded")).sort(["licenses_sold", "product_name"], descending=[True, False])
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


# ---------------------------------------------------------------------------
# Low-adoption accounts
# ---------------------------------------------------------------------------
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


def ranking_table(analysis: Analysis, *, top_n: int) -> Fragment:
    """The first `top_n` ranked accounts: rates as %, below-threshold rates highlighted, idle licenses, next step."""
    ranked = work_queue_columns(analysis, analysis.ranking.sort("rank").head(top_n))
    currency = analysis.book.settings.get("currency")
    frame = ranked.select(
        pl.col("rank").alias("Rank"), pl.col("customer_name").alias("Customer"),
        pl.col("segment").alias("Segment"),
        pl.col("deployment_rate").alias("Deployment"), pl.col("usage_rate").alias("Usage"),
        pl.col("licenses_sold").alias("Sold"), pl.col("licenses_idle").alias("Idle"),
        pl.col("idle_share").alias("Idle share"),
        pl.col("days_to_renewal").alias("Seats change in (days)"),
        pl.col("renewal_queue_rank").alias("Renewal queue #"),
        pl.col("idle_cost_per_month").map_elements(lambda v: format_money(v, currency), return_dtype=pl.String)
        .fill_null("n/a").alias("Idle cost / month"),
        pl.when(pl.col("support_heavy")).then(pl.lit("how-to heavy")).when(pl.col("support_heavy").not_())
        .then(pl.lit("no")).otherwise(pl.lit("n/a")).alias("Support"),
        pl.col("next_step").alias("Next step"),
    )
    t = analysis.thresholds
    caption = (f"Top {format_int(ranked.height)} of {plural(analysis.ranking.height, 'low-adoption account')}; "
               f"bold and shaded: deployment under {format_pct(t.deploy, 0)} or usage under "
               f"{format_pct(t.adopt, 0)}. Idle = unassigned + assigned but inactive licenses. Seats change in: days "
               f"until the account's next renewal (the renewal queue orders by it); Support: how-to tickets per 100 "
               f"active users at or above the threshold.")
    return styled_table(frame, uuid="low_adoption", caption=caption, pct=["Deployment", "Usage", "Idle share"],
                        ints=["Rank", "Sold", "Idle", "Seats change in (days)", "Renewal queue #"], thresholds=t)


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
        line = "No CSV written (action_csv is empty)."
    else:
        line = (f"Wrote {plural(written.rows, 'account')} to {shown}: UTF-8 CSV for a CRM import; text that a "
                f"spreadsheet would run as a formula starts with an apostrophe.")
    return _fragment([f"<p>{esc(line)}</p>"], [line])


# ---------------------------------------------------------------------------
# Styled tables (the markup pandas' Styler writes, built here: no pandas import in a report kernel)
# ---------------------------------------------------------------------------
# Styler's HTML escaping (markupsafe's): & < > ' " -> entities.
_CELL_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"})


def _cell_escape(value: str) -> str:
    return value.translate(_CELL_ESCAPES)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _css_block(selectors: str, css: str) -> str:
    props = "".join(f"  {name.strip()}: {value.strip()};\n"
                    for name, value in (p.split(":", 1) for p in css.split(";") if p.strip()))
    return f"{selectors} {{\n{props}}}\n"


def styled_table(frame: pl.DataFrame, *, uuid: str, caption: str, pct: Sequence[str] = (),
                 ints: Sequence[str] = (), thresholds: Thresholds | None = None) -> Fragment:
    """A styled HTML table: every text cell, header and the caption HTML-escaped, % and thousands formatted.

    With `thresholds`, a 'Deployment' cell under thresholds.deploy, a 'Usage' cell under thresholds.adopt
    and any rate over 100% are bold and shaded. `uuid` fixes the element ids, so the HTML is the same run
    to run (nbval compares it). The markup is what pandas' Styler writes for the same table (ids, classes,
    one <style> block; a test compares the two), built without pandas: importing pandas would cost a
    customer report's kernel more than half a second.
    """
    columns = frame.columns
    right = {c for c in (*pct, *ints) if c in columns}
    highlight: dict[int, tuple[float, str]] = {}
    if thresholds is not None:
        for column, limit, css in (("Deployment", thresholds.deploy, _LOW_DEPLOY_CSS),
                                   ("Usage", thresholds.adopt, _LOW_USAGE_CSS)):
            if column in columns:
                highlight[columns.index(column)] = (limit, css)

    def shown(column: str, value: Any) -> str:
        if _missing(value):
            return "n/a"
        if column in pct:
            return format_pct(value)
        if column in ints:
            return format_int(value)
        if isinstance(value, float):
            return f"{value:.6f}"
        return str(value)

    rows = frame.rows()
    text_rows = [[shown(c, v) for c, v in zip(columns, row)] for row in rows]
    t = f"T_{uuid}"
    styles = [f"#{t} td {{\n  vertical-align: top;\n}}\n", f"#{t}  th {{\n  vertical-align: top;\n}}\n",
              f"#{t} caption {{\n  caption-side: top;\n  text-align: left;\n}}\n"]
    styles += [f"#{t} .col{i} {{\n  text-align: {'right' if c in right else 'left'};\n}}\n"
               for i, c in enumerate(columns)]
    by_css: dict[str, list[str]] = {}  # in order of first use, row by row (as Styler groups them)
    body = []
    for r, (row, texts) in enumerate(zip(rows, text_rows)):
        cells = []
        for c, (value, text) in enumerate(zip(row, texts)):
            if c in highlight and (css := _rate_css(value, *highlight[c])):
                by_css.setdefault(css, []).append(f"#{t}_row{r}_col{c}")
            cells.append(f'      <td id="{t}_row{r}_col{c}" class="data row{r} col{c}" >{_cell_escape(text)}</td>\n')
        body.append("    <tr>\n" + "".join(cells) + "    </tr>\n")
    styles += [_css_block(", ".join(selectors), css) for css, selectors in by_css.items()]
    head = "".join(f'      <th id="{t}_level0_col{i}" class="col_heading level0 col{i}" >{_cell_escape(c)}</th>\n'
                   for i, c in enumerate(columns))
    caption_line = f"  <caption>{esc(caption)}</caption>\n" if caption else ""
    markup = (f'<style type="text/css">\n{"".join(styles)}</style>\n<table id="{t}">\n{caption_line}'
              f"  <thead>\n    <tr>\n{head}    </tr>\n  </thead>\n"
              f"  <tbody>\n{''.join(body)}  </tbody>\n</table>\n")
    return _fragment([markup], _text_table(list(columns), text_rows, caption))


def _rate_css(value: Any, limit: float, low_css: str) -> str:
    if _missing(value):
        return ""
    if value > 1:
        return _OVER_100_CSS
    return low_css if value < limit else ""


# ---------------------------------------------------------------------------
# Headline figures for the report index
# ---------------------------------------------------------------------------
def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), digits)


def _common_figures(analysis: Analysis) -> dict[str, Any]:
    t = analysis.thresholds
    return {
        "data_processed": format_date(analysis.processed_at_max) if analysis.processed_at_max else None,
        "deploy_threshold": t.deploy,
        "adopt_threshold": t.adopt,
        "upsell_threshold": t.upsell,
    }


def headline_bundle(figures: Mapping[str, Any]) -> dict[str, Any]:
    """The MIME bundle of the headline output: HEADLINE_MIME -> the flat figures, text/plain -> one per line."""
    if not isinstance(figures, Mapping) or not figures:
        raise ParameterError("headline figures must be a non-empty dict")
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        if not isinstance(key, str):
            raise ParameterError(f"headline figure names must be text, not {key!r}")
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ParameterError(f"headline figure {key!r} must be text, a number, true/false or null, "
                                 f"not {type(value).__name__}")
        flat[key] = value
    return {HEADLINE_MIME: flat, "text/plain": "\n".join(f"{k}: {v}" for k, v in flat.items())}


def headline(figures: Mapping[str, Any]) -> None:
    """Display the headline figures as display_data (HEADLINE_MIME): the last cell of each template, tagged `headline`."""
    from IPython.display import display

    display(headline_bundle(figures), raw=True)


# ---------------------------------------------------------------------------
# Exact usage from user activity (Microsoft 365 active-user detail), beside Partner Center's lower bound
# ---------------------------------------------------------------------------
def exact_usage(view: CustomerView, analysis: Analysis | None = None) -> Fragment:
    """The customer's usage on both bases, side by side: exact (from user activity, when the customer's
    active-user detail report was loaded) and Partner Center's (a lower bound from its workload rows);
    per workload, the over-100% evidence, and what concealed names prevent. Counts only, never names."""
    from adoption_kit.compute.activity import EXACT_BASIS, LOWER_BOUND_BASIS, concealment_note

    c = view.customer
    pc_line = (f"Partner Center: {format_pct(c['usage_rate'])} ({format_int(c['licenses_active'])} active of "
               f"{format_int(c['licenses_qualified'])} qualified), a {LOWER_BOUND_BASIS}.")
    a = view.activity_customer
    if a is None:
        line = (f"Usage basis: {LOWER_BOUND_BASIS} only. {pc_line} No Microsoft 365 active-user detail report "
                f"was loaded for this customer; with one (in a folder named after the tenant id), the report "
                f"shows the exact 28-day usage.")
        return _fragment([f"<p>{esc(line)}</p>"], [line])
    refresh, start = a["report_refresh_date"], a["window_start"]
    headline_text = (f"Exact usage: {format_pct(a['usage_rate_exact'])} ({format_int(a['active_users_any_workload'])} "
                     f"of {format_int(a['licensed_users'])} licensed users active on a workload they are licensed "
                     f"for between {start:%Y-%m-%d} and {refresh:%Y-%m-%d}), {EXACT_BASIS}.")
    period = ""
    processed = analysis.processed_at_max if analysis is not None else None
    if processed is not None:
        gap = abs((processed.date() - refresh).days)
        period = (f"Partner Center's figures were processed on {processed:%Y-%m-%d}"
                  + (f", {plural(gap, 'day')} from the activity report's refresh date: the periods differ."
                     if gap > 3 else ", the same period."))
    pc = (view.workloads.filter(~pl.col("excluded").fill_null(False))
          .group_by("workload").agg(pl.col("licenses_active").sum(), pl.col("licenses_qualified").sum()))
    pc_rows = {r["workload"]: r for r in pc.to_dicts()}
    rows = []
    for w in view.activity_workloads.to_dicts():
        p = pc_rows.get(w["workload"])
        evidence = [f"{plural(w['deleted_active_users'], 'deleted user')} still active"
                    if w["deleted_active_users"] else "",
                    f"{plural(w['assigned_in_window_users'], 'licence')} assigned in the window"
                    if w["assigned_in_window_users"] else "",
                    f"{plural(w['active_unlicensed_users'], 'user')} active without its licence"
                    if w["active_unlicensed_users"] else ""]
        rows.append([w["workload"],
                     f"{format_int(w['active_entitled_users'])} / {format_int(w['entitled_users'])}",
                     format_pct(w["usage_rate"]),
                     f"{format_int(p['licenses_active'])} / {format_int(p['licenses_qualified'])}" if p else "n/a",
                     format_pct(p["licenses_active"] / p["licenses_qualified"])
                     if p and p["licenses_qualified"] else "n/a",
                     "; ".join(e for e in evidence if e) or "none"])
    markup, table_text = _table(
        ["Workload", "Exact: active / licensed", "Exact usage", "Partner Center: active / qualified",
         "Partner Center usage", "Evidence in the activity"], rows, numeric=[1, 2, 3, 4],
        caption=f"Per workload, {EXACT_BASIS} beside Partner Center's rows (summed over the customer's products)")
    notes = []
    if a["deleted_active_users"] or a["assigned_in_window_users"]:
        notes.append(f"Turnover in the window: {plural(a['deleted_active_users'], 'deleted user')} with activity "
                     f"and {plural(a['assigned_in_window_users'], 'user')} given a licence inside it. Partner "
                     f"Center can count a leaver and their successor on one licence, which pushes its usage "
                     f"over 100%; the exact figure counts current licensed users only.")
    if a["yammer_unlicensed_active_users"]:
        notes.append(f"{plural(a['yammer_unlicensed_active_users'], 'user')} used Yammer (Viva Engage) without a "
                     f"Yammer licence: Yammer beyond entitlement, not a licence shortage.")
    concealed = concealment_note(a)
    if concealed:
        notes.append(concealed)
    parts = [f"<p>{esc(headline_text)}</p>", f"<p>{esc(pc_line)} {esc(period)}</p>", markup]
    text = [headline_text, f"{pc_line} {period}".rstrip()] + table_text
    if notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
        text += [f"- {n}" for n in notes]
    return _fragment(parts, text)


def exact_usage_figures(view: CustomerView) -> dict[str, Any]:
    """Flat figures for the report index: the exact usage and its basis (None without user activity)."""
    from adoption_kit.compute.activity import EXACT_BASIS, LOWER_BOUND_BASIS

    a = view.activity_customer
    return {
        "usage_basis": EXACT_BASIS if a else LOWER_BOUND_BASIS,
        "usage_rate_exact": _round(a["usage_rate_exact"]) if a else None,
        "licensed_users_exact": a["licensed_users"] if a else None,
        "active_users_exact": a["active_users_any_workload"] if a else None,
        "concealed_names": bool(a["concealed_names"]) if a else None,
    }


# ---------------------------------------------------------------------------
# The book over time and the work queue (Analysis.book: adoption_kit.compute.history, adoption_kit.compute.worklist)
# ---------------------------------------------------------------------------
def format_money(value: float | None, currency: str | None) -> str:
    """5832.0, 'USD' -> 'USD 5,832.00'; None -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{currency + ' ' if currency else ''}{value:,.2f}"


def format_points(change: float | None) -> str:
    """A rate change in percentage points: -0.25 -> '-25.0 pts'; None -> 'n/a'."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "n/a"
    return f"{change * 100:+.1f} pts"


def _paragraph(line: str) -> Fragment:
    return _fragment([f"<p>{esc(line)}</p>"], [line])


def _latest_flags(history_workloads: pl.DataFrame) -> pl.DataFrame:
    """Flagged rows of each customer's newest period, strongest first."""
    from adoption_kit.compute.history import latest_period

    return (latest_period(history_workloads).filter(pl.col("trend_flag").is_not_null())
            .sort([pl.col("robust_z").abs(), "customer_name", "product_name", "workload"],
                  descending=[True, False, False, False], nulls_last=True))


def trends_summary(analysis: Analysis, *, top_n: int) -> Fragment:
    """The portfolio across snapshots, and the sudden drops and spikes of the latest period with their figures."""
    book = analysis.book
    p = book.history_portfolio
    if p.height < 2:
        return _paragraph("One snapshot only (one processedDateTime): no trend yet. Keep the older exports side by "
                          "side with the new ones (or add Partner Center exports of earlier months) to see changes.")
    first, last = p.row(0, named=True), p.row(p.height - 1, named=True)
    settings = book.settings
    line = (f"{plural(p.height, 'snapshot')} from {format_date(first['processed_at'])} to "
            f"{format_date(last['processed_at'])}: portfolio usage {format_pct(first['usage_rate'])} -> "
            f"{format_pct(last['usage_rate'])} ({format_points(_diff(last['usage_rate'], first['usage_rate']))}), "
            f"deployment {format_pct(first['deployment_rate'])} -> {format_pct(last['deployment_rate'])} "
            f"({format_points(_diff(last['deployment_rate'], first['deployment_rate']))}).")
    from adoption_kit.compute.history import latest_period

    flags = _latest_flags(book.history_workloads)
    guarded = latest_period(book.history_workloads).filter(pl.col("guarded")).height
    method = (f"A change is flagged when its robust z-score against every customer's change on the same workload "
              f"and period is {settings.get('z_threshold', 3.5):g} or more in size (median and median absolute "
              f"deviation, so one outlier cannot hide another) and it moves at least "
              f"{format_pct(settings.get('min_change', 0.05), 0).rstrip('%')} points; rows with fewer than "
              f"{settings.get('min_qualified', 10)} qualified users are not judged ({plural(guarded, 'row')} in the "
              f"latest period).")
    drops = flags.filter(pl.col("trend_flag") == "drop").height
    spikes = flags.height - drops
    summary = (f"Since the previous export: {plural(drops, 'sudden drop')} and {plural(spikes, 'spike')} "
               f"in workload usage." if flags.height else "Since the previous export: no sudden drop or spike.")
    parts, text = [f"<p>{esc(line)}</p><p>{esc(summary)} {esc(method)}</p>"], [line, f"{summary} {method}"]
    if flags.height:
        rows = [[r["customer_name"], r["product_name"], r["workload"], r["trend_flag"],
                 format_pct(r["previous_usage_rate"]), format_pct(r["usage_rate"]), format_points(r["usage_change"]),
                 f"{format_int(r['previous_licenses_active'])} -> {format_int(r['licenses_active'])} of "
                 f"{format_int(r['licenses_qualified'])}", f"{r['robust_z']:+.1f}"]
                for r in flags.head(top_n).to_dicts()]
        markup, table_text = _table(["Customer", "Product", "Workload", "Flag", "Usage before", "Usage now", "Change",
                                     "Active users", "Robust z"], rows, numeric=[4, 5, 6, 8],
                                    caption=f"Sudden changes since each customer's previous export"
                                            + (f" (the {format_int(top_n)} strongest of {format_int(flags.height)})"
                                               if flags.height > top_n else ""))
        parts.append(markup)
        text += table_text
    return _fragment(parts, text)


def _diff(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


def segment_changes_table(analysis: Analysis, *, top_n: int) -> Fragment:
    """Customers whose segment changed since their previous export: before, now, and the rates behind it."""
    from adoption_kit.compute.history import segment_changes

    if analysis.book.history_portfolio.height < 2:
        return _paragraph("One snapshot only: no segment changes to show.")
    changes = segment_changes(analysis.book.history_customers)
    if changes.is_empty():
        return _paragraph("No customer changed segment since its previous export.")
    rows = [[r["customer_name"], r["previous_segment"], r["segment"],
             f"{format_pct(r['previous_deployment_rate'])} -> {format_pct(r['deployment_rate'])}",
             f"{format_pct(r['previous_usage_rate'])} -> {format_pct(r['usage_rate'])}",
             format_date(r["previous_processed_at"])] for r in changes.head(top_n).to_dicts()]
    markup, text = _table(["Customer", "Segment before", "Segment now", "Deployment", "Usage", "Previous export"],
                          rows, caption=f"{plural(changes.height, 'customer')} changed segment since the previous "
                                        f"export" + (f"; the first {format_int(top_n)} shown" if changes.height > top_n
                                                     else ""))
    return _fragment([markup], text)


def renewal_queue_table(analysis: Analysis, *, top_n: int) -> Fragment:
    """The work queue: low-adoption products ordered by the day their seats can change, soonest first."""
    book = analysis.book
    if not book.settings.get("subscriptions_loaded"):
        return _paragraph("No subscriptions export was loaded: renewal dates are unknown. Add the Partner Center "
                          "subscriptions export (commitmentEndDate, autoRenewEnabled, termDuration) to the data folder.")
    queue = book.renewals.filter(pl.col("queued")).sort("queue_rank")
    horizon = book.settings.get("horizon_days", 60)
    soon = queue.filter(pl.col("in_horizon")).height
    line = (f"{plural(queue.height, 'product')} in segments deploy or adopt have a subscription of yours; "
            f"{format_int(soon)} of them can change seats within {horizon} days of {book.today} (renewal of an "
            f"annual or 3-year commitment, a monthly term, or no commitment end). Act on those first: after the "
            f"date, annual seats are locked for another term. Order: soonest change first, then more idle licences.")
    if queue.is_empty():
        return _paragraph(line)
    rows = [[r["queue_rank"], r["customer_name"], r["product_name"], r["segment"], format_pct(r["deployment_rate"]),
             format_pct(r["usage_rate"]), format_int(r["licenses_idle"]), str(r["change_at"]),
             format_int(r["days_to_change"]), r["term"], "yes" if r["auto_renew"] else "no" if r["auto_renew"] is False
             else "n/a", r["change_rule"]] for r in queue.head(top_n).to_dicts()]
    markup, text = _table(["#", "Customer", "Product", "Segment", "Deployment", "Usage", "Idle", "Seats can change",
                           "In days", "Term", "Auto-renew", "Rule"], rows, numeric=[0, 4, 5, 6, 8],
                          caption=f"Renewal queue: the first {format_int(min(top_n, queue.height))} of "
                                  f"{format_int(queue.height)}")
    return _fragment([f"<p>{esc(line)}</p>", markup], [line] + text)


def own_seats_summary(analysis: Analysis, *, top_n: int) -> Fragment:
    """Licences on the partner's own subscriptions against Partner Center's totals, and where others sold seats."""
    book = analysis.book
    if not book.settings.get("subscriptions_loaded"):
        return _paragraph("No subscriptions export was loaded: the partner's own share of the seats is unknown.")
    own = book.own_seats
    matched = own.filter(pl.col("own_quantity").is_not_null())
    sold = int(matched.get_column("licenses_sold").sum()) if matched.height else 0
    mine = int(matched.get_column("own_quantity").sum()) if matched.height else 0
    unmatched = own.filter(pl.col("own_quantity").is_null())
    line = (f"Partner Center's totals include licences bought from other partners or directly from Microsoft. On the "
            f"{plural(matched.height, 'product')} with a subscription of yours, {format_int(mine)} of "
            f"{format_int(sold)} licences sold are yours ({format_pct(mine / sold if sold else None)}); "
            f"{plural(unmatched.height, 'product')} {'has' if unmatched.height == 1 else 'have'} no subscription of "
            f"yours at all.")
    partial = matched.filter(pl.col("own_share") < 1).sort(["other_quantity", "customer_name"], descending=[True, False])
    if partial.is_empty():
        return _paragraph(line)
    rows = [[r["customer_name"], r["product_name"], format_int(r["licenses_sold"]), format_int(r["own_quantity"]),
             format_int(r["other_quantity"]), format_pct(r["own_share"])] for r in partial.head(top_n).to_dicts()]
    markup, text = _table(["Customer", "Product", "Sold (all partners)", "Yours", "Elsewhere", "Your share"], rows,
                          numeric=[2, 3, 4, 5], caption="Products where others hold part of the seats")
    return _fragment([f"<p>{esc(line)}</p>", markup], [line] + text)


def idle_cost_summary(analysis: Analysis, *, top_n: int) -> Fragment:
    """Idle licences in money (per month and per year) by customer, and the products without a price, listed."""
    book = analysis.book
    if not book.settings.get("prices_loaded"):
        return _paragraph("No price list was loaded: idle licences are not valued. Add a prices.csv "
                          "(productId, productName, unitPricePerMonth, currency) to the data folder.")
    currency = book.settings.get("currency")
    valued = book.idle_cost
    month = float(valued.get_column("idle_cost_per_month").sum()) if valued.height else 0.0
    idle = int(valued.get_column("licenses_idle").sum()) if valued.height else 0
    line = (f"{format_int(idle)} idle licences with a price (unassigned + assigned but inactive) cost "
            f"{format_money(month, currency)} per month, {format_money(month * 12, currency)} per year.")
    customers = (book.idle_cost_customers.filter(pl.col("idle_cost_per_month") > 0)
                 .join(analysis.customers.select("customer_id", "customer_name", "segment"), on="customer_id", how="left")
                 .sort(["idle_cost_per_month", "customer_name"], descending=[True, False]))
    parts, text = [f"<p>{esc(line)}</p>"], [line]
    if customers.height:
        rows = [[r["customer_name"], r["segment"], format_int(r["priced_idle_licenses"]),
                 format_money(r["idle_cost_per_month"], currency), format_money(r["idle_cost_per_year"], currency),
                 format_int(r["unpriced_idle_licenses"])] for r in customers.head(top_n).to_dicts()]
        markup, table_text = _table(["Customer", "Segment", "Idle licences (priced)", "Per month", "Per year",
                                     "Idle without a price"], rows, numeric=[2, 3, 4, 5],
                                    caption=f"Idle cost by customer: the {format_int(min(top_n, customers.height))} "
                                            f"largest of {format_int(customers.height)}")
        parts.append(markup)
        text += table_text
    parts_unpriced, text_unpriced = _unpriced(book.unpriced)
    return _fragment(parts + parts_unpriced, text + text_unpriced)


def _unpriced(unpriced: pl.DataFrame) -> tuple[list[str], list[str]]:
    if unpriced.is_empty():
        line = "Every product held has a price."
        return [f"<p>{esc(line)}</p>"], [line]
    line = (f"Not valued (no price in the price list, so never counted as zero): "
            f"{plural(unpriced.height, 'product')} with {format_int(int(unpriced.get_column('licenses_idle').sum()))} "
            f"idle licences. Add their prices to value them.")
    rows = [[r["product_name"], r["product_id"], format_int(r["customers"]), format_int(r["licenses_idle"])]
            for r in unpriced.to_dicts()]
    markup, text = _table(["Product without a price", "productId", "Customers", "Idle licences"], rows, numeric=[2, 3])
    return [f"<p>{esc(line)}</p>", markup], [line] + text


def support_signal(analysis: Analysis, *, top_n: int) -> Fragment:
    """Accounts with many how-to tickets per 100 active users, beside their adoption segment, with the next step."""
    from adoption_kit.compute.worklist import SUPPORT_NEXT_STEP

    book = analysis.book
    if not book.settings.get("tickets_loaded"):
        return _paragraph("No support-ticket file was loaded: the support signal is off. Add a support-tickets.csv "
                          "(customerTenantId, ticketId, openedDate, category) to the data folder.")
    s = book.settings
    support = book.support
    heavy = support.filter(pl.col("support_heavy"))
    window = support.row(0, named=True) if support.height else {"window_start": None, "window_end": book.today}
    how_to = int(support.get_column("how_to_tickets").sum()) if support.height else 0
    line = (f"{format_int(how_to)} how-to tickets between {window['window_start']} and {window['window_end']} "
            f"({s.get('window_days', 90)} days). {plural(heavy.height, 'account')} "
            f"{'reaches' if heavy.height == 1 else 'reach'} "
            f"{s.get('threshold_per_100', 10.0):g} or more how-to tickets per 100 active users (with at least "
            f"{s.get('min_tickets', 3)} tickets).")
    if heavy.is_empty():
        return _paragraph(line)
    rows = [[r["customer_name"], r["segment"], format_int(r["how_to_tickets"]), format_int(r["active_users"]),
             f"{r['how_to_per_100']:.1f}", format_int(r["break_fix_tickets"])] for r in heavy.head(top_n).to_dicts()]
    markup, text = _table(["Customer", "Adoption segment", "How-to tickets", "Active users", "How-to per 100 users",
                           "Break-fix tickets"], rows, numeric=[2, 3, 4, 5], caption="Support-heavy accounts")
    step = f"Next step for these accounts: {SUPPORT_NEXT_STEP}"
    return _fragment([f"<p>{esc(line)}</p>", markup, f"<p>{esc(step)}</p>"], [line] + text + [step])


def book_figures(analysis: Analysis) -> dict[str, Any]:
    """Flat headline figures of the book over time and the work queue (portfolio report, index)."""
    from adoption_kit.compute.history import segment_changes

    book = analysis.book
    flags = _latest_flags(book.history_workloads)
    queue = book.renewals.filter(pl.col("queued"))
    valued = book.idle_cost
    month = float(valued.get_column("idle_cost_per_month").sum()) if valued.height else None
    return {
        "snapshots": book.history_portfolio.height or (1 if analysis.processed_at_max else 0),
        "trend_drops": flags.filter(pl.col("trend_flag") == "drop").height,
        "trend_spikes": flags.filter(pl.col("trend_flag") == "spike").height,
        "segment_changes": segment_changes(book.history_customers).height if book.history_portfolio.height > 1 else 0,
        "renewal_queue": queue.height,
        "renewal_queue_in_horizon": queue.filter(pl.col("in_horizon")).height,
        "idle_cost_per_month": round(month, 2) if month is not None and book.settings.get("prices_loaded") else None,
        "currency": book.settings.get("currency"),
        "unpriced_products": book.unpriced.height,
        "support_heavy_accounts": book.support.filter(pl.col("support_heavy")).height,
    }


# Customer insights: its trend, renewals and own share, idle cost and support
def customer_trend_text(view: CustomerView) -> Fragment:
    """The customer's change since its previous export: segment, rates, and each flagged workload."""
    rows = view.book.history_customers.sort("processed_at")
    if rows.height < 2:
        return _paragraph("One snapshot of this customer only: no trend yet.")
    now = rows.row(rows.height - 1, named=True)
    moved = (f"segment {now['previous_segment']} -> {now['segment']}" if now["segment_changed"]
             else f"segment {now['segment']} (unchanged)")
    line = (f"Since {format_date(now['previous_processed_at'])}: {moved}; usage {format_pct(now['previous_usage_rate'])}"
            f" -> {format_pct(now['usage_rate'])} ({format_points(now['usage_change'])}), deployment "
            f"{format_pct(now['previous_deployment_rate'])} -> {format_pct(now['deployment_rate'])} "
            f"({format_points(now['deployment_change'])}); {plural(rows.height, 'snapshot')} in all.")
    flags = _latest_flags(view.book.history_workloads)
    items = [f"{r['trend_flag'].capitalize()} on {r['workload']} ({r['product_name']}): {format_pct(r['previous_usage_rate'])}"
             f" -> {format_pct(r['usage_rate'])} ({format_points(r['usage_change'])}, robust z {r['robust_z']:+.1f})"
             for r in flags.to_dicts()]
    from adoption_kit.compute.history import latest_period

    guarded = latest_period(view.book.history_workloads).filter(pl.col("guarded")).height
    if guarded:
        items.append(f"{plural(guarded, 'workload row')} with fewer than "
                     f"{view.book.settings.get('min_qualified', 10)} qualified users: changes not judged")
    if not items:
        items = ["No sudden drop or spike on any workload."]
    return _fragment([f"<p>{esc(line)}</p><ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"],
                     [line] + [f"- {i}" for i in items])


def customer_renewals(view: CustomerView) -> Fragment:
    """The customer's products with a subscription of the partner: when seats can change, and the own share."""
    book = view.book
    if not book.settings.get("subscriptions_loaded"):
        return _paragraph("No subscriptions export was loaded: renewal dates and the share of seats sold by you are "
                          "unknown.")
    own = {r["product_id"]: r for r in book.own_seats.to_dicts()}
    renewals = {r["product_id"]: r for r in book.renewals.to_dicts()}
    products = view.products.filter(~pl.col("excluded")).sort(["licenses_sold", "product_name"], descending=[True, False])
    rows = []
    for p in products.to_dicts():
        r, o = renewals.get(p["product_id"]), own.get(p["product_id"], {})
        rows.append([p["product_name"], p["segment"], format_int(p["licenses_sold"]),
                     format_int(o.get("own_quantity")), format_pct(o.get("own_share")),
                     str(r["change_at"]) if r else "n/a", format_int(r["days_to_change"]) if r else "n/a",
                     r["change_rule"] if r else "no subscription of yours: bought elsewhere",
                     f"#{r['queue_rank']}" if r and r["queue_rank"] else "not queued"])
    markup, text = _table(["Product", "Segment", "Sold (all partners)", "Yours", "Your share", "Seats can change",
                           "In days", "Rule", "Renewal queue"], rows, numeric=[2, 3, 4, 6],
                          caption=f"Renewals as of {book.today}")
    return _fragment([markup], text)


def customer_idle_cost(view: CustomerView) -> Fragment:
    """The customer's idle licences in money, and its products without a price (listed, never valued at zero)."""
    book = view.book
    if not book.settings.get("prices_loaded"):
        return _paragraph("No price list was loaded: idle licences are not valued.")
    currency = book.settings.get("currency")
    priced = {r["product_id"]: r for r in book.idle_cost.to_dicts()}
    rows, unpriced = [], []
    for p in view.products.filter(~pl.col("excluded")).sort("product_name").to_dicts():
        r = priced.get(p["product_id"])
        if r is None:
            unpriced.append(p)
            continue
        rows.append([p["product_name"], format_int(r["licenses_idle"]), format_money(r["unit_price_per_month"], currency),
                     format_money(r["idle_cost_per_month"], currency), format_money(r["idle_cost_per_year"], currency)])
    total = book.customer("idle_cost_customers", view.customer["customer_id"]) or {}
    line = (f"Idle licences cost {format_money(total.get('idle_cost_per_month'), currency)} per month, "
            f"{format_money(total.get('idle_cost_per_year'), currency)} per year"
            + (f"; {plural(len(unpriced), 'product')} without a price ("
               + ", ".join(f"{p['product_name']}: {format_int(p['licenses_idle'])} idle" for p in unpriced)
               + ") not valued." if unpriced else "."))
    parts, text = [f"<p>{esc(line)}</p>"], [line]
    if rows:
        markup, table_text = _table(["Product", "Idle licences", "Price per month", "Idle per month", "Idle per year"],
                                    rows, numeric=[1, 2, 3, 4])
        parts.append(markup)
        text += table_text
    return _fragment(parts, text)


def customer_support(view: CustomerView) -> Fragment:
    """The customer's how-to tickets per 100 active users, its segment, and the next step when above the threshold."""
    book = view.book
    if not book.settings.get("tickets_loaded"):
        return _paragraph("No support-ticket file was loaded: no support signal.")
    s = book.customer("support", view.customer["customer_id"])
    if s is None:
        return _paragraph("No support figures for this customer.")
    rate = "n/a (no active user)" if s["how_to_per_100"] is None else f"{s['how_to_per_100']:.1f}"
    line = (f"{plural(s['how_to_tickets'], 'how-to ticket')}, {format_int(s['break_fix_tickets'])} break-fix and "
            f"{format_int(s['other_tickets'])} other between {s['window_start']} and {s['window_end']}: {rate} how-to "
            f"tickets per 100 active users ({format_int(s['active_users'])} active); adoption segment {s['segment']}.")
    if s["support_heavy"]:
        step = f"Support-heavy (threshold {book.settings.get('threshold_per_100', 10.0):g} per 100). {s['support_next_step']}"
        return _fragment([f"<p>{esc(line)}</p>", _box(f"<b>Next step.</b> {esc(step)}", _WARN_COLOURS)], [line, step])
    return _paragraph(line + " Below the support-heavy threshold.")


def customer_book_figures(view: CustomerView) -> dict[str, Any]:
    """Flat figures for the report index: change since the previous export, renewal, own share, idle cost, support."""
    book = view.book
    cid = view.customer["customer_id"]
    rows = book.history_customers.sort("processed_at")
    now = rows.row(rows.height - 1, named=True) if rows.height > 1 else None
    renewal = book.customer("customer_renewals", cid) or {}
    own = book.customer("own_seats_customers", cid) or {}
    cost = book.customer("idle_cost_customers", cid) or {}
    support = book.customer("support", cid) or {}
    return {
        "segment_before": now["previous_segment"] if now else None,
        "usage_change_points": round(now["usage_change"] * 100, 1) if now and now["usage_change"] is not None else None,
        "trend_flags": _latest_flags(book.history_workloads).height,
        "days_to_renewal": renewal.get("days_to_renewal"),
        "renewal_queue_rank": renewal.get("queue_rank"),
        "own_share": _round(own.get("own_share")),
        "idle_cost_per_month": round(cost["idle_cost_per_month"], 2) if cost.get("idle_cost_per_month") is not None else None,
        "support_heavy": support.get("support_heavy"),
    }
