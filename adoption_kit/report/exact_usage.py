"""Exact usage from user activity (Microsoft 365 active-user detail), beside Partner Center's lower bound."""
from __future__ import annotations

from typing import Any

import polars as pl

from adoption_kit.analysis import Analysis, CustomerView
from adoption_kit.compute.activity import EXACT_BASIS, LOWER_BOUND_BASIS, concealment_note
from adoption_kit.report.format import Fragment, _fragment, _table, esc, format_int, format_pct, plural
from adoption_kit.report.headline import _round


def exact_usage(view: CustomerView, analysis: Analysis | None = None) -> Fragment:
    """The customer's usage on both bases, side by side: exact (from user activity, when the customer's
    active-user detail report was loaded) and Partner Center's (a lower bound from its workload rows);
    per workload, the over-100% evidence, and what concealed names prevent. Counts only, never names."""
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
    a = view.activity_customer
    return {
        "usage_basis": EXACT_BASIS if a else LOWER_BOUND_BASIS,
        "usage_rate_exact": _round(a["usage_rate_exact"]) if a else None,
        "licensed_users_exact": a["licensed_users"] if a else None,
        "active_users_exact": a["active_users_any_workload"] if a else None,
        "concealed_names": bool(a["concealed_names"]) if a else None,
    }
