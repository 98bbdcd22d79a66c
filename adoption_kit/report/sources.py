"""Every report: where the data comes from (files, processedDateTime, thresholds, loader notes), and how old it is."""
from __future__ import annotations

from datetime import datetime

from adoption_kit.analysis import Analysis, staleness_warning
from adoption_kit.compute.insights import source_lines
from adoption_kit.config import Thresholds
from adoption_kit.report.format import (
    _INFO_COLOURS,
    _WARN_COLOURS,
    Fragment,
    _box,
    _fragment,
    esc,
    format_date,
    plural,
    threshold_text,
)
from adoption_kit.report.paths import strip_paths


def data_summary(analysis: Analysis, *, requested: Thresholds | None = None) -> Fragment:
    """Source files by kind, processedDateTime, snapshot and thresholds used, exclusions, loader warnings; no paths."""
    kinds: dict[str, int] = {}
    for source in analysis.sources:
        kinds[source.get("kind", "unknown")] = kinds.get(source.get("kind", "unknown"), 0) + 1
    files = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(kinds.items())) or "none listed"
    first, last = analysis.processed_at_min, analysis.processed_at_max
    processed = format_date(last) if first == last or first is None else f"{format_date(first)} to {format_date(last)}"
    excluded = analysis.portfolio.get("excluded_products") or 0
    bundle = bool(analysis.meta.get("thresholds"))
    items = [
        ("Export files", f"{sum(kinds.values())} ({files})"),
        ("Data processed (UTC)", processed),
        ("Snapshot", _snapshot(analysis.meta.get("as_of", "latest"))),
        ("Thresholds", threshold_text(analysis.thresholds)),
        ("Excluded from the ratios", plural(excluded, "product row")),
    ]
    # Insights downloads: which source and basis each figure has (nothing added for a REST-only book)
    items += [(f"Source: {figure}", where) for figure, where in source_lines(set(kinds))]
    if bundle:
        items.append(("Computed", "once for this run of the reports"))
    notes = [strip_paths(w) for w in analysis.warnings]
    if requested is not None and requested != analysis.thresholds:
        notes.insert(0, f"The metrics bundle was computed with thresholds {threshold_text(analysis.thresholds)}; "
                        f"the parameters asked for {threshold_text(requested)}. The bundle's thresholds are used "
                        f"throughout this report.")
    rows = "".join(f"<tr><th style=\"text-align: left\">{esc(k)}</th><td style=\"text-align: left\">{esc(v)}</td></tr>"
                   for k, v in items)
    parts = [f"<table>{rows}</table>"]
    text = [f"{k}: {v}" for k, v in items]
    if notes:
        parts.append(_box("<b>Loader notes</b><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>",
                          _WARN_COLOURS))
        text += [f"Note: {n}" for n in notes]
    return _fragment(parts, text)


def _snapshot(as_of: object) -> str:
    """'the newest export of each customer' for the default, else 'the newest export on or before <date>'."""
    text = str(as_of or "latest")
    return "the newest export of each customer" if text == "latest" else f"the newest export on or before {text}"


def staleness(analysis: Analysis, *, now: datetime, stale_after_days: int) -> Fragment:
    """The data's age against `now`: a warning box when older than `stale_after_days` (variable text: not checked)."""
    warning = staleness_warning(analysis.processed_at_max, now=now, stale_after_days=stale_after_days)
    last = analysis.processed_at_max
    if last is not None and now < last:
        warning = (f"'today' ({now:%Y-%m-%d}) is before the data's processedDateTime ({last:%Y-%m-%d}): "
                   f"check the today parameter.")
    if warning:
        return _fragment([_box(f"<b>Stale data.</b> {esc(warning)}", _WARN_COLOURS)], [f"WARNING: {warning}"])
    assert last is not None   # staleness_warning always has a sentence when processed_at_max is None
    age = (now - last).days
    line = (f"Data processed on {last:%Y-%m-%d}, {plural(age, 'day')} before {now:%Y-%m-%d} "
            f"(a warning shows after {stale_after_days}).")
    return _fragment([_box(esc(line), _INFO_COLOURS)], [line])
