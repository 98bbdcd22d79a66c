"""Paths and defaults anchored to the installed package; it resolves locations and never reads or writes data."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

PACKAGE_DIR: Path = Path(__file__).resolve().parent
PROJECT_ROOT: Path = PACKAGE_DIR.parent
PACKAGE_DATA_DIR: Path = PACKAGE_DIR / "data"
DATA_DIR: Path = PROJECT_ROOT / "data"
SAMPLE_DIR: Path = DATA_DIR / "sample"
REPORTS_DIR: Path = PROJECT_ROOT / "reports"
NOTEBOOKS_DIR: Path = PROJECT_ROOT / "notebooks"
REPORT_TEMPLATES_DIR: Path = NOTEBOOKS_DIR / "reports"
# The report templates in REPORT_TEMPLATES_DIR, by the kind of report each renders (one list for the notebooks'
# parameter checks, nbval and `adoption-kit report`); a report's name is its file stem without the order prefix.
TEMPLATE_FILES: Mapping[str, str] = MappingProxyType({
    "portfolio": "10-portfolio-overview.ipynb",
    "customer": "20-customer-insights.ipynb",
    "low_adoption": "30-low-adoption-accounts.ipynb",
})
DEFAULT_EXCLUSIONS_FILE: Path = PACKAGE_DATA_DIR / "excluded_skus.csv"
# Whether report charts carry a PNG copy beside their SVG (JupyterLab shows only the PNG of an untrusted notebook;
# the HTML never uses it): "0" leaves it out. `adoption-kit report` sets it in each report's kernel.
NOTEBOOK_PNG_ENV = "ADOPTION_KIT_NOTEBOOK_PNG"
# Normalised rows of export files already read (inputs.ParsedCache); ADOPTION_KIT_CACHE=DIR or off overrides.
PARSED_CACHE_DIR: Path = PROJECT_ROOT / ".cache" / "parsed"


@dataclass(frozen=True)
class Thresholds:
    """Segment thresholds as fractions (0.8 = 80 %); the first segment whose rule applies wins.

    data_check: usage_rate > 1 or licenses_sold == 0
    deploy:     deployment_rate < deploy
    adopt:      usage_rate < adopt
    upsell:     deployment_rate >= upsell and usage_rate >= upsell
    healthy:    everything else
    """

    deploy: float = 0.80
    adopt: float = 0.60
    upsell: float = 0.90

    def __post_init__(self) -> None:
        for name in ("deploy", "adopt", "upsell"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                from adoption_kit.errors import ParameterError

                raise ParameterError(
                    f"threshold {name}={value!r} is not a fraction between 0 and 1; "
                    f"write 0.8 for 80 %"
                )


DEFAULT_THRESHOLDS = Thresholds()
