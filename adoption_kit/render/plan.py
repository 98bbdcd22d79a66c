"""Planning a run: the report jobs (template, parameters, output name, fingerprint) for the selected customers."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adoption_kit import __version__
from adoption_kit.analysis import find_customer, staleness_warning
from adoption_kit.compute.metrics import SEGMENTS
from adoption_kit.config import REPORT_TEMPLATES_DIR, TEMPLATE_FILES, Thresholds
from adoption_kit.errors import ParameterError
from adoption_kit.render.audience import CUSTOMER_FACING_DIR, check_audience, customer_bundle
from adoption_kit.render.hashing import _packaged_exclusions_sha256, _tree_sha256
from adoption_kit.render.layout import (
    ACTION_CSV,
    BUNDLE_DIR,
    LOW_ADOPTION_NAME,
    PORTFOLIO_NAME,
    TEMPLATES_DIR,
    TITLES,
)
from adoption_kit.report.links import (  # noqa: F401  (output_name, slugify, SLUG_MAX: re-exported by render)
    CUSTOMERS_DIR,
    SLUG_MAX,
    _customer_names,
    output_name,
    slugify,
)
from adoption_kit.values import file_sha256, json_sha256, parse_today

if TYPE_CHECKING:  # pragma: no cover
    from adoption_kit.analysis import Analysis


# Parameters that name files of this run (the fingerprint covers their content, not their location).
_LOCATION_PARAMETERS = ("data_path", "metrics_bundle", "exclusions_path", "action_csv")


@dataclass(frozen=True, eq=False)
class ReportJob:
    """One notebook to render: which template, with which parameters, to which files."""

    kind: str                      # "portfolio" | "low_adoption" | "customer"
    name: str                      # output stem relative to the run folder, e.g. "customers/acme-ltd-1a2b3c4d"
    title: str
    template: Path
    parameters: dict[str, Any]     # exactly what papermill receives
    fingerprint: str               # sha256 of inputs, parameters, kit version and templates
    customer_id: str | None = None
    customer_name: str | None = None
    segment: str | None = None
    html_only: bool = False        # no executed .ipynb beside the HTML (render_reports(html_only=True))

    @property
    def html(self) -> str:
        return f"{self.name}.html"

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.html,) if self.html_only else (self.html, self.notebook)


# ---------------------------------------------------------------------------
# Output names
# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------
def plan_reports(analysis: Analysis, run_dir: str | Path, *, data_path: str | Path,
                 customers: Sequence[str] | None = None, segments: Sequence[str] | None = None,
                 thresholds: Thresholds = Thresholds(), as_of: str = "latest",
                 exclusions_path: str | Path | None = None, top_n: int | None = None,
                 stale_after_days: int | None = None, today: str = "",
                 templates_dir: str | Path = REPORT_TEMPLATES_DIR, pseudonym: str | None = None,
                 audience: str = "internal") -> list[ReportJob]:
    """The reports of one run: the portfolio overview, the low-adoption list, then one report per selected customer.

    `customers` are tenant ids or customer names (exact, ignoring case: `analysis.resolve_customer`), each in the data;
    `segments` keeps the customers in those segments (both given: customers in the list AND in a segment).
    None selects every customer. `top_n` / `stale_after_days` of None leave the template's default.
    Customers are ordered by name, then id. `pseudonym` (the key id of a pseudonymized analysis) is part of
    every fingerprint. `audience="customer"` plans only the customer reports, for the customer
    (adoption_kit.render.audience): under for-customer/, each reading its own one-customer bundle.
    Raises ParameterError before anything runs.
    """
    audience = check_audience(audience)
    run_dir = Path(run_dir).resolve()
    templates_dir = Path(templates_dir).resolve()
    templates = {kind: templates_dir / file for kind, file in TEMPLATE_FILES.items()}
    missing = [str(path) for path in templates.values() if not path.is_file()]
    if missing:
        raise ParameterError(f"report template(s) not found: {', '.join(missing)}")
    wanted_segments = _check_segments(segments)
    wanted_ids = None
    if customers:
        wanted_ids = []
        for raw in customers:
            # a tenant id or a customer name, resolved to the tenant id: only GUIDs reach a notebook parameter
            customer_id = find_customer(analysis.customers, raw)["customer_id"]   # UnknownCustomerError: closest
            if customer_id not in wanted_ids:
                wanted_ids.append(customer_id)

    rows = analysis.customers.select("customer_id", "customer_name", "segment").to_dicts()
    selected = [row for row in rows
                if (wanted_ids is None or row["customer_id"] in wanted_ids)
                and (wanted_segments is None or row["segment"] in wanted_segments)]
    selected.sort(key=lambda row: ((row["customer_name"] or "").casefold(), row["customer_id"]))
    names = _customer_names(rows)

    exclusions = Path(exclusions_path).resolve() if exclusions_path else None
    common: dict[str, Any] = {
        "data_path": str(Path(data_path).resolve()),
        "metrics_bundle": str(run_dir / BUNDLE_DIR),
        "as_of": as_of or "latest",
        "deploy_threshold": float(thresholds.deploy),
        "adopt_threshold": float(thresholds.adopt),
        "upsell_threshold": float(thresholds.upsell),
        "exclusions_path": str(exclusions) if exclusions else "",
        "today": (today or "").strip(),
    }
    if top_n is not None:
        common["top_n"] = top_n
    if stale_after_days is not None:
        common["stale_after_days"] = stale_after_days

    # A report also changes when the data crosses the staleness limit (its warning appears).
    now = parse_today(today)
    stale = staleness_warning(analysis.processed_at_max, now=now,
                              stale_after_days=45 if stale_after_days is None else stale_after_days) is not None
    basis = {
        "kit_version": __version__,
        "html_template": _tree_sha256(TEMPLATES_DIR),
        "inputs": sorted(source["sha256"] for source in analysis.sources),
        "exclusions": file_sha256(exclusions) if exclusions else "packaged:" + _packaged_exclusions_sha256(),
        "stale": stale,
        "pseudonym": pseudonym,
    }
    template_hashes = {kind: file_sha256(path) for kind, path in templates.items()}

    def job(kind: str, name: str, title: str, extra: Mapping[str, Any], row: Mapping[str, Any] | None = None):
        parameters = {**common, **extra}
        fingerprint = json_sha256({**basis, "kind": kind, "template": template_hashes[kind],
                                    "parameters": {k: v for k, v in parameters.items()
                                                   if k not in _LOCATION_PARAMETERS}})
        return ReportJob(kind=kind, name=name, title=title, template=templates[kind], parameters=parameters,
                         fingerprint=fingerprint,
                         customer_id=row["customer_id"] if row else None,
                         customer_name=row["customer_name"] if row else None,
                         segment=row["segment"] if row else None)

    if audience == "customer":
        # The kernel gets the customer's own bundle, and no path to the book's data or bundle.
        return [job("customer", CUSTOMER_FACING_DIR + names[row["customer_id"]].removeprefix(CUSTOMERS_DIR),
                    row["customer_name"] or row["customer_id"],
                    {"customer_id": row["customer_id"], "audience": "customer",
                     "data_path": str(customer_bundle(run_dir, row["customer_id"])),
                     "metrics_bundle": str(customer_bundle(run_dir, row["customer_id"]))}, row)
                for row in selected]
    jobs = [
        job("portfolio", PORTFOLIO_NAME, TITLES["portfolio"], {}),
        job("low_adoption", LOW_ADOPTION_NAME, TITLES["low_adoption"], {"action_csv": str(run_dir / ACTION_CSV)}),
    ]
    for row in selected:
        jobs.append(job("customer", names[row["customer_id"]], row["customer_name"] or row["customer_id"],
                        {"customer_id": row["customer_id"]}, row))
    return jobs


def _check_segments(segments: Sequence[str] | None) -> set[str] | None:
    if not segments:
        return None
    wanted = {part.strip() for value in segments for part in str(value).split(",") if part.strip()}
    unknown = sorted(wanted - set(SEGMENTS))
    if unknown:
        raise ParameterError(f"unknown segment(s) {', '.join(map(repr, unknown))}; "
                             f"choose from {', '.join(SEGMENTS)}")
    return wanted or None
