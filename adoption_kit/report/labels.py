"""Short names and meanings shown beside the metric codes (over-100% causes, segments)."""
from __future__ import annotations

from collections.abc import Mapping

# Short names of the over-100% causes (the long explanations are metrics.NEXT_STEPS["data_check:<cause>"]).
CAUSE_LABELS: Mapping[str, str] = {
    "duplicate_subscription": "duplicate subscription",
    "trial": "open trial",
    "turnover": "user turnover (leavers still counted)",
    "unchecked_no_subscription_match": "not checked: no subscription matches the product",
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
