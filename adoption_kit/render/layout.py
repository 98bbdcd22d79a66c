"""The run folder's names: which template renders which report, and the files a run writes
(all relative to <out>/<as-of date>/)."""
from __future__ import annotations

from collections.abc import Mapping

from adoption_kit.config import PACKAGE_DIR
from adoption_kit.report.links import CUSTOMERS_DIR  # noqa: F401  (re-exported: the run folder's layout)

# ---------------------------------------------------------------------------
# Names: templates in, files out (all relative to the run folder <out>/<as-of date>/)
# ---------------------------------------------------------------------------
TITLES: Mapping[str, str] = {"portfolio": "Portfolio overview", "low_adoption": "Low-adoption accounts"}
PORTFOLIO_NAME = "portfolio-overview"
LOW_ADOPTION_NAME = "low-adoption-accounts"
ACTION_CSV = "low-adoption-accounts.csv"
WORKBOOK = "adoption-lists.xlsx"    # --xlsx: the action list and the customer table (report.workbook)
BUNDLE_DIR = "_bundle"          # the metrics computed once per run; each notebook reads its slice
FAILED_DIR = "_failed"          # executed notebooks of failed reports, to see the failing cell
STATE_DIR = ".state"            # one small JSON per report: fingerprint, headline, duration
MANIFEST = "manifest.json"
INDEX = "index.html"
LOCK = ".lock"

TEMPLATES_DIR = PACKAGE_DIR / "templates"
