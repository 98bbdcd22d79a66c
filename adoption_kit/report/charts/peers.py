"""Where one customer stands among all customers, without naming any: share of customers per 10-point band."""
from __future__ import annotations

from typing import Any

import altair as alt

from adoption_kit.report.charts.common import NEUTRAL_COLOR, RULE_COLOR, _frame, _title

_PEER_COLUMNS = ("rate", "band", "band_index", "share", "this_customer")


def peer_distribution(bands: Any) -> alt.Chart:
    """Bars: % of customers per band of deployment and of usage; the customer's own band outlined and dark.

    `bands` is adoption_kit.report.first_page.peer_bands: aggregates only (no names, ids or customer counts).
    """
    df = _frame(bands, "bands", _PEER_COLUMNS)
    order = df.sort("band_index").get_column("band").unique(maintain_order=True).to_list()
    base = alt.Chart(df).mark_bar(stroke=RULE_COLOR).encode(
        x=alt.X("band:N", sort=order, title="Rate band", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("share:Q", title="% of customers"),
        color=alt.condition("datum.this_customer", alt.value(RULE_COLOR), alt.value(NEUTRAL_COLOR)),
        strokeWidth=alt.condition("datum.this_customer", alt.value(1.5), alt.value(0)),
        tooltip=[alt.Tooltip("rate:N", title="Rate"), alt.Tooltip("band:N", title="Band"),
                 alt.Tooltip("share:Q", title="% of customers")],
    ).properties(width=230, height=170)
    return base.facet(column=alt.Column("rate:N", title=None, sort=["Deployment", "Usage"])).properties(
        title=_title("Where the customer stands among all customers",
                     ["Share of customers per 10-point band; the dark bar is this customer's band."], width=460))
