"""What the notebooks call: parameters to a computed analysis (from exports or a saved Parquet bundle) and its slices; no charts, no printing."""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from adoption_kit import __version__, schema
from adoption_kit.activity import ACTIVITY_CUSTOMER_COLUMNS, ACTIVITY_WORKLOAD_COLUMNS
from adoption_kit.config import PROJECT_ROOT, Thresholds
from adoption_kit.errors import ParameterError, UnknownCustomerError
from adoption_kit.loaders import Exports, load_exports
from adoption_kit.metrics import Metrics, compute, load_exclusions, low_adoption_ranking

BUNDLE_TABLES = ("workloads", "products", "customers", "portfolio", "ranking")
# Exact figures from user activity (adoption_kit.activity): always written, empty without activity; a bundle
# written before they existed reads as "no activity".
ACTIVITY_TABLES = {"activity_workloads": ACTIVITY_WORKLOAD_COLUMNS, "activity_customers": ACTIVITY_CUSTOMER_COLUMNS}
BUNDLE_META = "meta.json"
_GUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


@dataclass(frozen=True)
class Analysis:
    """Everything a report shows: the metric frames, the ranking, and where the figures came from."""

    metrics: Metrics
    ranking: pl.DataFrame
    thresholds: Thresholds
    processed_at_min: datetime | None
    processed_at_max: datetime | None
    sources: tuple[dict, ...] = ()          # {"path", "kind", "rows", "sha256"} per input file
    warnings: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    @property
    def customers(self) -> pl.DataFrame:
        return self.metrics.customers

    @property
    def activity_workloads(self) -> pl.DataFrame:
        """Exact per customer x workload figures from user activity (empty when there is none)."""
        return self.metrics.activity_workloads

    @property
    def activity_customers(self) -> pl.DataFrame:
        """Exact per-customer figures from user activity (empty when there is none)."""
        return self.metrics.activity_customers

    @property
    def portfolio(self) -> dict:
        """The one-row portfolio frame as a dict (empty dict for an empty portfolio)."""
        rows = self.metrics.portfolio.to_dicts()
        return rows[0] if rows else {}


@dataclass(frozen=True)
class CustomerView:
    """One customer's rows and where it stands in the portfolio."""

    customer: dict
    products: pl.DataFrame
    workloads: pl.DataFrame
    usage_percentile: float | None       # share of customers (0-100) with a lower usage rate
    deployment_percentile: float | None
    rank: int | None                     # position in the low-adoption ranking, if listed
    activity_workloads: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(ACTIVITY_WORKLOAD_COLUMNS))
    activity_customer: dict | None = None   # the customer's activity_customers row; None without user activity


def resolve_path(path: str | Path) -> Path:
    """Resolve a notebook path parameter: absolute stays, relative is taken from the project folder (not the cwd)."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (PROJECT_ROOT / candidate)


def make_thresholds(deploy: float, adopt: float, upsell: float) -> Thresholds:
    """Thresholds from notebook parameters, with a clear error for values that are not fractions."""
    return Thresholds(deploy=deploy, adopt=adopt, upsell=upsell)


def select_snapshot(exports: Exports, as_of: str = "latest") -> Exports:
    """Keep each customer's newest snapshot on or before `as_of` (YYYY-MM-DD, end of that day UTC), or the newest."""
    if as_of in ("", "latest", None):
        return exports.latest()
    try:
        cutoff = datetime.strptime(as_of, "%Y-%m-%d").replace(hour=23, minute=59, second=59, tzinfo=timezone.utc)
    except ValueError:
        raise ParameterError(f"as_of={as_of!r} is not a date; write 'latest' or YYYY-MM-DD") from None

    def upto(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("processed_at") <= cutoff)

    selected = replace(exports, deployment=upto(exports.deployment), usage=upto(exports.usage),
                       activity=exports.activity.filter(pl.col("report_refresh_date") <= cutoff.date()))
    if selected.deployment.is_empty() and selected.usage.is_empty():
        first = exports.snapshots[0] if exports.snapshots else None
        raise ParameterError(f"as_of={as_of}: no export is that old (the oldest processedDateTime is "
                             f"{first:%Y-%m-%d}); choose a later date or 'latest'")
    return selected.latest()


def prepare(data_path: str | Path = "data/sample", *, metrics_bundle: str | Path = "", as_of: str = "latest",
            thresholds: Thresholds = Thresholds(), exclusions_path: str | Path = "",
            customer_id: str | None = None, pseudonym_key=None) -> Analysis:
    """Load and compute, or read a bundle that `adoption-kit report` computed once for the whole run.

    With a bundle and a `customer_id`, only that customer's workload and product rows are read.
    With a `pseudonym_key` (adoption_kit.privacy.PseudonymKey), names and tenant ids are replaced by tokens
    right after loading (the key's local name lookup is updated), so nothing downstream sees them.
    """
    if metrics_bundle:
        return read_bundle(resolve_path(metrics_bundle), customer_id=customer_id)
    exports = load_exports(resolve_path(data_path))
    if pseudonym_key is not None:
        from adoption_kit.privacy import pseudonymize, update_mapping

        update_mapping(pseudonym_key, exports)
        exports = pseudonymize(exports, pseudonym_key)
    exports = select_snapshot(exports, as_of)
    exclusions = load_exclusions(resolve_path(exclusions_path) if exclusions_path else None)
    metrics = compute(exports, thresholds=thresholds, exclusions=exclusions)
    processed = pl.concat([exports.deployment.select("processed_at"), exports.usage.select("processed_at")])
    return Analysis(
        metrics=metrics,
        ranking=low_adoption_ranking(metrics.customers),
        thresholds=thresholds,
        processed_at_min=processed.get_column("processed_at").min(),
        processed_at_max=processed.get_column("processed_at").max(),
        sources=tuple({"path": str(f.path), "kind": f.kind, "rows": f.rows, "sha256": f.sha256}
                      for f in exports.files),
        warnings=exports.warnings,
        meta={"as_of": as_of or "latest", "kit_version": __version__,
              **({"pseudonymized": True} if pseudonym_key is not None else {})},
    )


# ---------------------------------------------------------------------------
# The bundle: computed once per report run, read in slices by each notebook
# ---------------------------------------------------------------------------


def write_bundle(analysis: Analysis, folder: str | Path) -> Path:
    """Write the analysis as Parquet tables plus meta.json into `folder` (replaced file by file)."""
    from adoption_kit.outputs import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"workloads": analysis.metrics.workloads, "products": analysis.metrics.products,
              "customers": analysis.metrics.customers, "portfolio": analysis.metrics.portfolio,
              "ranking": analysis.ranking, "activity_workloads": analysis.metrics.activity_workloads,
              "activity_customers": analysis.metrics.activity_customers}
    for name, frame in tables.items():
        if name in ("workloads", "products", "activity_workloads", "activity_customers"):
            # Sorted by customer so that a one-customer read skips most row groups by their statistics.
            frame = frame.sort("customer_id", maintain_order=True)
        with atomic_path(folder / f"{name}.parquet") as temporary:
            frame.write_parquet(temporary, statistics=True, row_group_size=50_000)
    meta = {
        **analysis.meta,
        "thresholds": {"deploy": analysis.thresholds.deploy, "adopt": analysis.thresholds.adopt,
                       "upsell": analysis.thresholds.upsell},
        "processed_at_min": _iso(analysis.processed_at_min),
        "processed_at_max": _iso(analysis.processed_at_max),
        "sources": list(analysis.sources),
        "warnings": list(analysis.warnings),
    }
    with atomic_path(folder / BUNDLE_META) as temporary:
        temporary.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    return folder


def read_bundle(folder: str | Path, *, customer_id: str | None = None) -> Analysis:
    """Read a bundle; with `customer_id`, read only that customer's workload and product rows."""
    folder = Path(folder)
    missing = [f"{name}.parquet" for name in BUNDLE_TABLES if not (folder / f"{name}.parquet").is_file()]
    if not (folder / BUNDLE_META).is_file():
        missing.append(BUNDLE_META)
    if missing:
        raise ParameterError(f"{folder}: not a metrics bundle (missing {', '.join(missing)}); "
                             f"leave metrics_bundle empty to compute from data_path")
    meta = json.loads((folder / BUNDLE_META).read_text(encoding="utf-8"))

    def table(name: str, sliced: bool) -> pl.DataFrame:
        scan = pl.scan_parquet(folder / f"{name}.parquet")
        if sliced and customer_id is not None:
            scan = scan.filter(pl.col("customer_id") == customer_id.strip().lower())
        return scan.collect()

    products = table("products", True)
    thresholds = Thresholds(**meta["thresholds"])
    activity = {name: table(name, True) if (folder / f"{name}.parquet").is_file() else schema.empty_frame(columns)
                for name, columns in ACTIVITY_TABLES.items()}
    metrics = Metrics(workloads=table("workloads", True), products=products,
                      customers=table("customers", False), portfolio=table("portfolio", False),
                      excluded=products.filter(pl.col("excluded")), thresholds=thresholds, **activity)
    return Analysis(
        metrics=metrics,
        ranking=table("ranking", False),
        thresholds=thresholds,
        processed_at_min=_parse_iso(meta.get("processed_at_min")),
        processed_at_max=_parse_iso(meta.get("processed_at_max")),
        sources=tuple(meta.get("sources", ())),
        warnings=tuple(meta.get("warnings", ())),
        meta={k: v for k, v in meta.items() if k not in ("sources", "warnings")},
    )


# ---------------------------------------------------------------------------
# Slices and facts the notebooks narrate
# ---------------------------------------------------------------------------


def validate_customer_id(customer_id: str) -> str:
    """A customer id parameter must be a tenant GUID; anything else is refused before it reaches a notebook."""
    normalised = str(customer_id).strip().strip("{}").lower()
    if not pl.Series([normalised]).str.contains(_GUID_PATTERN).item():
        raise ParameterError(f"customer_id {str(customer_id)[:60]!r} is not a tenant id (a GUID such as "
                             f"0112a436-b14e-4888-967b-ca4bb2cf1234)")
    return normalised


def find_customer(customers: pl.DataFrame, customer_id: str) -> dict:
    """The customer's row, or an UnknownCustomerError naming the closest ids and names."""
    wanted = validate_customer_id(customer_id)
    match = customers.filter(pl.col("customer_id") == wanted)
    if match.height:
        return match.row(0, named=True)
    ids = customers.get_column("customer_id").to_list()
    close = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.6)
    names = dict(zip(ids, customers.get_column("customer_name").to_list()))
    hint = ("; closest: " + ", ".join(f"{c} ({names[c]})" for c in close)) if close else ""
    raise UnknownCustomerError(f"customer {wanted} is not in the data ({customers.height} customers){hint}")


def customer_view(analysis: Analysis, customer_id: str) -> CustomerView:
    """One customer's products and workloads, its percentiles among all customers and its ranking position."""
    customer = find_customer(analysis.customers, customer_id)
    wanted = customer["customer_id"]
    ranked = analysis.ranking.filter(pl.col("customer_id") == wanted)
    activity_customer = analysis.activity_customers.filter(pl.col("customer_id") == wanted)
    return CustomerView(
        customer=customer,
        products=analysis.metrics.products.filter(pl.col("customer_id") == wanted),
        workloads=analysis.metrics.workloads.filter(pl.col("customer_id") == wanted),
        usage_percentile=percentile_of(analysis.customers, "usage_rate", customer["usage_rate"]),
        deployment_percentile=percentile_of(analysis.customers, "deployment_rate", customer["deployment_rate"]),
        rank=ranked.get_column("rank").item() if ranked.height else None,
        activity_workloads=analysis.activity_workloads.filter(pl.col("customer_id") == wanted),
        activity_customer=activity_customer.row(0, named=True) if activity_customer.height else None,
    )


def percentile_of(customers: pl.DataFrame, column: str, value: float | None) -> float | None:
    """Share of customers (0-100) whose `column` is strictly lower than `value`, plus half of the ties."""
    if value is None:
        return None
    rates = customers.get_column(column).drop_nulls()
    if rates.is_empty():
        return None
    below = (rates < value).sum()
    ties = (rates == value).sum()
    return 100.0 * (below + 0.5 * ties) / rates.len()


def staleness_warning(processed_at_max: datetime | None, *, now: datetime | None = None,
                      stale_after_days: int = 45) -> str | None:
    """A sentence when the data is older than `stale_after_days`, else None."""
    if processed_at_max is None:
        return "The exports carry no processedDateTime: their age is unknown."
    now = now or datetime.now(timezone.utc)
    age = (now - processed_at_max).days
    if age > stale_after_days:
        return (f"The data was processed on {processed_at_max:%Y-%m-%d}, {age} days ago (more than "
                f"{stale_after_days}): download fresh exports from Partner Center before acting on it.")
    return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
