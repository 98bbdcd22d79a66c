"""What the notebooks call: parameters to a computed analysis (from exports or a saved Parquet bundle) and its slices;
no charts, no printing."""
from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl

from adoption_kit import __version__, schema
from adoption_kit.compute import worklist
from adoption_kit.compute.activity import ACTIVITY_CUSTOMER_COLUMNS, ACTIVITY_WORKLOAD_COLUMNS
from adoption_kit.compute.history import (
    HISTORY_CUSTOMER_COLUMNS,
    HISTORY_PORTFOLIO_COLUMNS,
    HISTORY_WORKLOAD_COLUMNS,
    snapshot_history,
)
from adoption_kit.compute.metrics import Metrics, compute, load_exclusions, low_adoption_ranking
from adoption_kit.compute.worklist import (
    CUSTOMER_RENEWAL_COLUMNS,
    IDLE_COST_COLUMNS,
    IDLE_COST_CUSTOMER_COLUMNS,
    OWN_SEAT_COLUMNS,
    RENEWAL_COLUMNS,
    SUPPORT_COLUMNS,
    UNPRICED_COLUMNS,
    customer_renewals,
    idle_cost,
    idle_cost_by_customer,
    own_seats,
    own_seats_by_customer,
    renewal_queue,
    support_load,
)
from adoption_kit.config import PARSED_CACHE_DIR, PROJECT_ROOT, Thresholds
from adoption_kit.errors import InputFileError, ParameterError, UnknownCustomerError
from adoption_kit.inputs import Exports, load_exports
from adoption_kit.inputs.cache import CACHE_OFF, loader_version, parsed_cache_folder
from adoption_kit.inputs.discover import find_export_files_and_warnings
from adoption_kit.inputs.inventory import find_workbooks
from adoption_kit.privacy import (
    PseudonymKey,
    pseudonymize,
    pseudonymized_error,
    refuse_key_in_outputs,
    update_mapping,
)
from adoption_kit.store import FrameCache, Written, atomic_path, check_output, write_table
from adoption_kit.values import (
    GUID_PATTERN,
    end_of_day,
    file_sha256,
    is_guid,
    iso,
    json_sha256,
    max_datetime,
    min_datetime,
    normalise_guid,
    parse_day,
    sources_sha256,
)

ANALYSIS_CACHE_ENV = "ADOPTION_KIT_ANALYSIS_CACHE"   # off: prepare always computes (the parsed cache still works)
ANALYSES_KEPT = 3   # analyses the cache keeps, the most recently used
BUNDLE_TABLES = ("workloads", "products", "customers", "portfolio", "ranking")
# Exact figures from user activity (adoption_kit.compute.activity): always written, empty without activity; a bundle
# written before they existed reads as "no activity".
ACTIVITY_TABLES = {"activity_workloads": ACTIVITY_WORKLOAD_COLUMNS, "activity_customers": ACTIVITY_CUSTOMER_COLUMNS}
BUNDLE_META = "meta.json"
# The book over time and the work queue (Book): table -> columns. Product-level tables are sliced by customer
# like workloads; the customer-level ones are read whole (the portfolio needs them). Missing in a bundle
# written before they existed: read as empty.
BOOK_TABLES: dict[str, dict] = {
    "history_workloads": HISTORY_WORKLOAD_COLUMNS, "history_customers": HISTORY_CUSTOMER_COLUMNS,
    "history_portfolio": HISTORY_PORTFOLIO_COLUMNS, "renewals": RENEWAL_COLUMNS,
    "customer_renewals": CUSTOMER_RENEWAL_COLUMNS, "own_seats": OWN_SEAT_COLUMNS,
    "own_seats_customers": {"customer_id": pl.String, "licenses_sold": pl.Int64, "own_quantity": pl.Int64,
                            "own_share": pl.Float64},
    "idle_cost": IDLE_COST_COLUMNS, "idle_cost_customers": IDLE_COST_CUSTOMER_COLUMNS,
    "unpriced": UNPRICED_COLUMNS, "support": SUPPORT_COLUMNS,
}
SLICED_BOOK_TABLES = ("history_workloads", "renewals", "own_seats", "idle_cost")


def _empty_book_table(name: str) -> pl.DataFrame:
    return schema.empty_frame(BOOK_TABLES[name])


@dataclass(frozen=True)
class Book:
    """The partner's book over time and this week's work queue
    (adoption_kit.compute.history, adoption_kit.compute.worklist).

    Frames are empty when their input is missing: one snapshot (history), no subscriptions export
    (renewals, own seats), no price list (idle cost; `unpriced` then lists nothing), no ticket file
    (support). `today` is the day the queue is for: the `today` parameter, else the newest processedDateTime.
    `settings` holds the parameters used and which optional inputs were loaded.
    """

    history_workloads: pl.DataFrame = field(default_factory=lambda: _empty_book_table("history_workloads"))
    history_customers: pl.DataFrame = field(default_factory=lambda: _empty_book_table("history_customers"))
    history_portfolio: pl.DataFrame = field(default_factory=lambda: _empty_book_table("history_portfolio"))
    renewals: pl.DataFrame = field(default_factory=lambda: _empty_book_table("renewals"))
    customer_renewals: pl.DataFrame = field(default_factory=lambda: _empty_book_table("customer_renewals"))
    own_seats: pl.DataFrame = field(default_factory=lambda: _empty_book_table("own_seats"))
    own_seats_customers: pl.DataFrame = field(default_factory=lambda: _empty_book_table("own_seats_customers"))
    idle_cost: pl.DataFrame = field(default_factory=lambda: _empty_book_table("idle_cost"))
    idle_cost_customers: pl.DataFrame = field(default_factory=lambda: _empty_book_table("idle_cost_customers"))
    unpriced: pl.DataFrame = field(default_factory=lambda: _empty_book_table("unpriced"))
    support: pl.DataFrame = field(default_factory=lambda: _empty_book_table("support"))
    today: date | None = None
    settings: dict = field(default_factory=dict)

    @property
    def snapshots(self) -> int:
        return self.history_portfolio.height

    def customer(self, name: str, customer_id: str) -> dict | None:
        """One customer's row of a customer-level table (None when it has none)."""
        rows = getattr(self, name).filter(pl.col("customer_id") == customer_id)
        return rows.row(0, named=True) if rows.height else None


def build_book(exports: Exports, metrics: Metrics, *, thresholds: Thresholds = Thresholds(), exclusions=None,
               today: date | None = None) -> Book:
    """The Book of `exports` (every snapshot up to the one `metrics` was computed from) with kit defaults.

    `today` None: the newest processedDateTime of the metrics (so a report of old data stays the same).
    """
    if today is None:
        newest = max_datetime(metrics.portfolio.get_column("processed_at_max")) if metrics.portfolio.height else None
        today = newest.date() if newest is not None else datetime.now(timezone.utc).date()
    history = snapshot_history(exports, thresholds=thresholds, exclusions=exclusions, current=metrics)
    renewals = renewal_queue(metrics.products, exports.subscriptions, today=today)
    own = own_seats(metrics.products, exports.subscriptions)
    has_prices = exports.prices.height > 0
    valued, unpriced = idle_cost(metrics.products, exports.prices)
    if not has_prices:
        unpriced = _empty_book_table("unpriced")
    has_tickets = any(f.kind == schema.SUPPORT_TICKETS.name for f in exports.files) or exports.tickets.height > 0
    support = support_load(metrics.customers, exports.tickets, today=today) if has_tickets \
        else _empty_book_table("support")
    currency = exports.prices.get_column("currency")[0] if has_prices else None
    return Book(
        history_workloads=history.workloads, history_customers=history.customers,
        history_portfolio=history.portfolio if history.portfolio.height > 1 else _empty_book_table("history_portfolio"),
        renewals=renewals, customer_renewals=customer_renewals(renewals), own_seats=own,
        own_seats_customers=own_seats_by_customer(own), idle_cost=valued,
        idle_cost_customers=idle_cost_by_customer(metrics.products, valued) if has_prices
        else _empty_book_table("idle_cost_customers"),
        unpriced=unpriced, support=support, today=today,
        settings={**history.settings, "horizon_days": worklist.DEFAULT_HORIZON_DAYS,
                  "window_days": worklist.DEFAULT_WINDOW_DAYS, "threshold_per_100": worklist.DEFAULT_THRESHOLD_PER_100,
                  "min_tickets": worklist.DEFAULT_MIN_TICKETS, "currency": currency, "prices_loaded": has_prices,
                  "tickets_loaded": has_tickets, "subscriptions_loaded": exports.subscriptions.height > 0},
    )


def history_window(exports: Exports, as_of: str = "latest") -> Exports:
    """Every snapshot on or before `as_of` (YYYY-MM-DD, end of that day UTC; 'latest': all), for the history."""
    if as_of in ("", "latest", None):
        return exports
    cutoff = end_of_day(parse_day(as_of, "as_of"))
    return replace(exports, deployment=exports.deployment.filter(pl.col("processed_at") <= cutoff),
                   usage=exports.usage.filter(pl.col("processed_at") <= cutoff))



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
    book: Book = field(default_factory=Book)   # trends, renewals, own seats, idle cost, support

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
    book: Book = field(default_factory=Book)  # the Book's tables sliced to this customer


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
        cutoff = end_of_day(parse_day(as_of, "as_of"))
    except ParameterError:
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


def load(data_path: str | Path | Iterable[str | Path], *, pseudonym_key: PseudonymKey | None = None) -> Exports:
    """The exports of `data_path` (a folder, a file, or several; relative to the working directory), every
    snapshot; names and tenant ids replaced
    by tokens right after loading when a `pseudonym_key` is given (its local name lookup is updated), so that
    nothing downstream sees them. The first step of every entry point (notebooks, `metrics`, `report`)."""
    try:
        exports = load_exports(data_path)
    except InputFileError as error:
        if pseudonym_key is None:
            raise
        raise pseudonymized_error(error, pseudonym_key) from None   # messages carry tokens, as the outputs do
    if pseudonym_key is not None:
        update_mapping(pseudonym_key, exports)
        exports = pseudonymize(exports, pseudonym_key)
    return exports


def prepare(data_path: str | Path = "data/sample", *, metrics_bundle: str | Path = "", as_of: str = "latest",
            thresholds: Thresholds = Thresholds(), exclusions_path: str | Path = "",
            customer_id: str | None = None, pseudonym_key: PseudonymKey | None = None,
            today: str = "") -> Analysis:
    """Load and compute, or read a bundle that `adoption-kit report` computed once for the whole run.

    With a bundle and a `customer_id`, only that customer's workload and product rows are read.
    `today` (YYYY-MM-DD, or "" for the newest processedDateTime) is the day of the renewal queue and the
    support window (Analysis.book); a bundle keeps the day it was computed for.
    With a `pseudonym_key` (adoption_kit.privacy.PseudonymKey), names and tenant ids are replaced by tokens
    right after loading (see `load`).

    The analysis of the same files (their bytes), parameters and kit code computed earlier today is read from the
    analysis cache (`analysis_cache`) instead: the same frames, row for row. Never with a pseudonym key (loading
    also updates its local name lookup).
    """
    if metrics_bundle:
        return read_bundle(resolve_path(metrics_bundle), customer_id=customer_id)
    cache = analysis_cache() if pseudonym_key is None else None
    key = _analysis_key(resolve_path(data_path), as_of=as_of, thresholds=thresholds,
                        exclusions_path=exclusions_path, today=today) if cache is not None else None
    if cache is not None and key is not None:
        hit = cache.read(key)
        if hit is not None:
            cached = _analysis_from_cache(*hit)
            if cached is not None:
                return cached
    analysis = _prepare(data_path, as_of=as_of, thresholds=thresholds, exclusions_path=exclusions_path,
                        pseudonym_key=pseudonym_key, today=today)
    if cache is not None and key is not None:
        stored = _analysis_for_cache(analysis)
        if stored is not None:
            cache.write(key, *stored)
    return analysis


def _prepare(data_path: str | Path, *, as_of: str, thresholds: Thresholds, exclusions_path: str | Path,
             pseudonym_key: PseudonymKey | None, today: str) -> Analysis:
    everything = load(resolve_path(data_path), pseudonym_key=pseudonym_key)
    exports = select_snapshot(everything, as_of)
    exclusions = load_exclusions(resolve_path(exclusions_path) if exclusions_path else None)
    metrics = compute(exports, thresholds=thresholds, exclusions=exclusions)
    book = build_book(history_window(everything, as_of), metrics, thresholds=thresholds, exclusions=exclusions,
                      today=_book_day(today))
    processed = pl.concat([exports.deployment.select("processed_at"), exports.usage.select("processed_at")])
    return Analysis(
        metrics=metrics,
        ranking=low_adoption_ranking(metrics.customers),
        thresholds=thresholds,
        processed_at_min=min_datetime(processed.get_column("processed_at")),
        processed_at_max=max_datetime(processed.get_column("processed_at")),
        sources=tuple({"path": str(f.path), "kind": f.kind, "rows": f.rows, "sha256": f.sha256}
                      for f in exports.files),
        warnings=exports.warnings,
        meta={"as_of": as_of or "latest", "kit_version": __version__,
              **({"pseudonymized": True} if pseudonym_key is not None else {})},
        book=book,
    )


# ---------------------------------------------------------------------------
# The analysis cache: `prepare` of unchanged files read back instead of computed again
# ---------------------------------------------------------------------------


def analysis_cache() -> FrameCache | None:
    """Where `prepare` keeps its last few analyses: `analyses/` beside the parsed cache (`.cache/analyses`, or
    `$ADOPTION_KIT_CACHE/analyses`). None when $ADOPTION_KIT_CACHE or $ADOPTION_KIT_ANALYSIS_CACHE is off."""
    folder = parsed_cache_folder()
    if folder is None or os.environ.get(ANALYSIS_CACHE_ENV, "").strip().lower() in CACHE_OFF:
        return None
    return FrameCache((folder.parent if folder == PARSED_CACHE_DIR else folder) / "analyses", keep=ANALYSES_KEPT)


@functools.lru_cache(maxsize=1)
def _pipeline_version() -> str:
    """The version of everything between the files and the Analysis: the loader's (inputs, schema, polars),
    every module of compute and the modules around it, and the packaged data (catalog, exclusions)."""
    package = Path(__file__).parent
    sources = [*sorted((package / "compute").rglob("*.py")),
               *(package / f"{name}.py" for name in ("analysis", "privacy", "store", "values", "config", "schema")),
               *sorted(p for p in (package / "data").rglob("*") if p.is_file() and "fonts" not in p.parts)]
    return sources_sha256(f"{loader_version()}|{__version__}|".encode(),
                          ((path.relative_to(package).as_posix(), path) for path in sources))


def _analysis_key(data_path: Path, *, as_of: str, thresholds: Thresholds, exclusions_path: str | Path,
                  today: str) -> str | None:
    """The cache key of a `prepare`: the kit's code, every parameter, today's date (the loader warns about
    dates after today), and the path and SHA-256 of every file the load would read or list as skipped. None
    when the folder cannot be listed or an exclusions file is missing: `prepare` then reports it as usual."""
    try:
        files, walk_warnings = find_export_files_and_warnings([data_path])
        workbooks = [str(skipped.path) for skipped in find_workbooks([data_path])]
        exclusions = resolve_path(exclusions_path) if exclusions_path else None
        listed = files + ([exclusions] if exclusions is not None else [])
        with ThreadPoolExecutor(max_workers=2) as hashers:   # hashlib releases the GIL: two files at once
            digests = list(hashers.map(file_sha256, listed))
    except (InputFileError, OSError):
        return None
    parts = {"pipeline": _pipeline_version(), "day": datetime.now(timezone.utc).date().isoformat(),
             "data_path": str(data_path), "as_of": as_of, "today": today,
             "thresholds": [thresholds.deploy, thresholds.adopt, thresholds.upsell],
             "exclusions": str(exclusions) if exclusions is not None else None,
             "files": [[str(path), digest] for path, digest in zip(listed, digests)],
             "walk_warnings": walk_warnings, "workbooks": workbooks}
    return json_sha256(parts)


_METRIC_FRAMES = ("workloads", "products", "customers", "portfolio", "excluded", "activity_workloads",
                  "activity_customers")


def _analysis_for_cache(analysis: Analysis) -> tuple[dict[str, pl.DataFrame], dict] | None:
    """(frames, record) that `_analysis_from_cache` turns back into the same Analysis; None when a part would
    not come back exactly as it is (a value JSON does not keep), so that nothing inexact is ever cached."""
    frames = {f"metrics_{name}": getattr(analysis.metrics, name) for name in _METRIC_FRAMES}
    frames["ranking"] = analysis.ranking
    frames.update({f"book_{name}": getattr(analysis.book, name) for name in BOOK_TABLES})
    record = {
        "thresholds": _thresholds_record(analysis.thresholds),
        "metrics_thresholds": _thresholds_record(analysis.metrics.thresholds),
        "processed_at": [iso(analysis.processed_at_min) if analysis.processed_at_min else None,
                         iso(analysis.processed_at_max) if analysis.processed_at_max else None],
        "sources": list(analysis.sources), "warnings": list(analysis.warnings), "meta": analysis.meta,
        "book_today": analysis.book.today.isoformat() if analysis.book.today else None,
        "book_settings": analysis.book.settings,
    }
    try:
        if json.loads(json.dumps(record)) != record:
            return None
    except (TypeError, ValueError):
        return None
    rebuilt = _analysis_from_cache(frames, record)
    if rebuilt is None or (rebuilt.processed_at_min, rebuilt.processed_at_max) != (analysis.processed_at_min,
                                                                                  analysis.processed_at_max):
        return None
    return frames, record


def _thresholds_record(thresholds: Thresholds) -> list[float]:
    return [thresholds.deploy, thresholds.adopt, thresholds.upsell]


def _analysis_from_cache(frames: dict[str, pl.DataFrame], record: dict) -> Analysis | None:
    try:
        thresholds = Thresholds(*record["thresholds"])
        metrics = Metrics(**{name: frames[f"metrics_{name}"] for name in _METRIC_FRAMES},
                          thresholds=Thresholds(*record["metrics_thresholds"]))
        book = Book(**{name: frames[f"book_{name}"] for name in BOOK_TABLES},
                    today=date.fromisoformat(record["book_today"]) if record["book_today"] else None,
                    settings=record["book_settings"])
        low, high = record["processed_at"]
        return Analysis(metrics=metrics, ranking=frames["ranking"], thresholds=thresholds,
                        processed_at_min=_parse_iso(low), processed_at_max=_parse_iso(high),
                        sources=tuple(record["sources"]), warnings=tuple(record["warnings"]), meta=record["meta"],
                        book=book)
    except (KeyError, TypeError, ValueError):
        return None


METRIC_LEVELS = {"workload": "workloads", "product": "products", "customer": "customers", "portfolio": "portfolio"}


def write_metrics(paths: Iterable[str | Path], *, level: str, out: str | Path,
                  thresholds: Thresholds = Thresholds(), exclusions: str | Path | None = None,
                  pseudonym_key: PseudonymKey | None = None) -> Written:
    """Load exports, compute metrics at `level` (workload, product, customer, portfolio) of each customer's
    newest snapshot and write them (`adoption-kit metrics`); the loader's warnings ride along in the result.

    With `pseudonym_key`, customer names and tenant ids are replaced by tokens before anything is computed.
    """
    if level not in METRIC_LEVELS:
        raise ParameterError(f"unknown level '{level}'; use one of {', '.join(METRIC_LEVELS)}")
    paths = list(paths)
    check_output(out, paths, folder=False)
    if pseudonym_key is not None:
        refuse_key_in_outputs(pseudonym_key, Path(out).expanduser().resolve().parent, "the output folder")
    exports = load(list(paths), pseudonym_key=pseudonym_key).latest()
    metrics = compute(exports, thresholds=thresholds, exclusions=load_exclusions(exclusions))
    written = write_table(getattr(metrics, METRIC_LEVELS[level]), out)
    return Written(written.path, written.rows, tuple(exports.warnings), tuple(exports.inventory.lines()))


def _book_day(today: str) -> date | None:
    if not isinstance(today, str):
        raise ParameterError(f"today={today!r} must be a text date YYYY-MM-DD, or empty")
    if not today.strip():
        return None
    try:
        return parse_day(today, "today")
    except ParameterError:
        raise ParameterError(f"today={today!r} is not a date; write YYYY-MM-DD, or leave it empty") from None


# ---------------------------------------------------------------------------
# The bundle: computed once per report run, read in slices by each notebook
# ---------------------------------------------------------------------------


def write_bundle(analysis: Analysis, folder: str | Path) -> Path:
    """Write the analysis as Parquet tables plus meta.json into `folder` (replaced file by file)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"workloads": analysis.metrics.workloads, "products": analysis.metrics.products,
              "customers": analysis.metrics.customers, "portfolio": analysis.metrics.portfolio,
              "ranking": analysis.ranking, "activity_workloads": analysis.metrics.activity_workloads,
              "activity_customers": analysis.metrics.activity_customers}
    tables.update({f"book_{name}": getattr(analysis.book, name) for name in BOOK_TABLES})
    for name, frame in tables.items():
        if name in ("workloads", "products", "activity_workloads", "activity_customers") \
                or name.removeprefix("book_") in SLICED_BOOK_TABLES:
            # Sorted by customer so that a one-customer read skips most row groups by their statistics.
            frame = frame.sort("customer_id", maintain_order=True)
        with atomic_path(folder / f"{name}.parquet") as temporary:
            frame.write_parquet(temporary, statistics=True, row_group_size=50_000)
    meta = {
        **analysis.meta,
        "thresholds": {"deploy": analysis.thresholds.deploy, "adopt": analysis.thresholds.adopt,
                       "upsell": analysis.thresholds.upsell},
        "processed_at_min": iso(analysis.processed_at_min),
        "processed_at_max": iso(analysis.processed_at_max),
        "sources": list(analysis.sources),
        "warnings": list(analysis.warnings),
        "book": {"today": analysis.book.today.isoformat() if analysis.book.today else None,
                 "settings": analysis.book.settings},
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
    if customer_id is not None and not is_guid(customer_id):   # a customer name: its tenant id
        names = pl.read_parquet(folder / "customers.parquet", columns=["customer_id", "customer_name"])
        customer_id = resolve_customer(names, customer_id)

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
    book_meta = meta.get("book") or {}
    book = Book(**{name: table(f"book_{name}", name in SLICED_BOOK_TABLES)
                   if (folder / f"book_{name}.parquet").is_file() else _empty_book_table(name)
                   for name in BOOK_TABLES},
                today=date.fromisoformat(book_meta["today"]) if book_meta.get("today") else None,
                settings=book_meta.get("settings", {}))
    return Analysis(
        metrics=metrics,
        ranking=table("ranking", False),
        thresholds=thresholds,
        processed_at_min=_parse_iso(meta.get("processed_at_min")),
        processed_at_max=_parse_iso(meta.get("processed_at_max")),
        sources=tuple(meta.get("sources", ())),
        warnings=tuple(meta.get("warnings", ())),
        meta={k: v for k, v in meta.items() if k not in ("sources", "warnings", "book")},
        book=book,
    )


# ---------------------------------------------------------------------------
# Slices and facts the notebooks narrate
# ---------------------------------------------------------------------------


def validate_customer_id(customer_id: str) -> str:
    """A customer id parameter must be a tenant GUID; anything else is refused before it reaches a notebook."""
    normalised = normalise_guid(str(customer_id))
    if re.fullmatch(GUID_PATTERN, normalised) is None:
        raise ParameterError(f"customer_id {str(customer_id)[:60]!r} is not a tenant id (a GUID such as "
                             f"0112a436-b14e-4888-967b-ca4bb2cf1234)")
    return normalised


# A customer name given instead of a tenant id: letters (any script), digits, spaces and the punctuation of
# company names. Nothing that could mean code in a notebook parameter (quotes, backslashes, braces, ...); a
# name is resolved to its tenant id before any parameter reaches papermill anyway.
_PLAIN_NAME = re.compile(r"[^\W_][\w .,&'()+/@!#%:-]{0,199}")


def validate_customer_ref(customer: str) -> str:
    """A `--customer` / `customer_id` value: a tenant GUID (normalised) or a plain customer name (trimmed);
    anything else is refused before a file is read or a notebook runs."""
    text = str(customer).strip()
    if is_guid(text):
        return normalise_guid(text)
    if _PLAIN_NAME.fullmatch(text) is None:
        raise ParameterError(f"customer {text[:60]!r} is not a tenant id (a GUID such as "
                             f"0112a436-b14e-4888-967b-ca4bb2cf1234) nor a plain customer name (letters, digits, "
                             f"spaces and . , & ' ( ) + / @ ! # % : -)")
    return " ".join(text.split())


def resolve_customer(customers: pl.DataFrame, customer: str) -> str:
    """The tenant id of `customer`: a tenant GUID, or a customer name matched exactly, ignoring case and runs of
    spaces. An unknown one raises UnknownCustomerError listing the closest ids and names; a name that several
    tenants share raises ParameterError listing their ids."""
    wanted = validate_customer_ref(customer)
    if is_guid(wanted):
        return wanted
    key = wanted.casefold()
    names = customers.select("customer_id", "customer_name").unique().sort("customer_id")
    folded = names.with_columns(pl.col("customer_name").str.replace_all(r"\s+", " ").str.strip_chars()
                                .str.to_lowercase().alias("_key"))
    hits = folded.filter(pl.col("_key") == key.lower())
    if hits.height == 1:
        return hits.get_column("customer_id")[0]
    if hits.height > 1:
        raise ParameterError(f"customer name {wanted!r} belongs to {hits.height} tenants "
                             f"({', '.join(hits.get_column('customer_id').to_list())}); give the tenant id")
    by_key = {k: (i, n) for i, n, k in folded.iter_rows() if k is not None}
    close = difflib.get_close_matches(key.lower(), list(by_key), n=3, cutoff=0.5)
    hint = ("; closest: " + ", ".join(f"{by_key[c][0]} ({by_key[c][1]})" for c in close)) if close else ""
    raise UnknownCustomerError(f"customer {wanted!r} is not a tenant id or a customer name in the data "
                               f"({customers.height} customers){hint}")


def find_customer(customers: pl.DataFrame, customer_id: str) -> dict:
    """The customer's row (`customer_id`: a tenant id, or a customer name: see resolve_customer), or an
    UnknownCustomerError naming the closest ids and names."""
    wanted = resolve_customer(customers, customer_id)
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
    # A customer-facing slice (adoption_kit.report.audience) holds one customer: its percentiles were computed
    # among all customers before slicing.
    peer = analysis.meta.get("peer") if analysis.meta.get("audience") == "customer" else None
    return CustomerView(
        customer=customer,
        products=analysis.metrics.products.filter(pl.col("customer_id") == wanted),
        workloads=analysis.metrics.workloads.filter(pl.col("customer_id") == wanted),
        usage_percentile=(peer["usage_percentile"] if peer
                          else percentile_of(analysis.customers, "usage_rate", customer["usage_rate"])),
        deployment_percentile=(peer["deployment_percentile"] if peer
                               else percentile_of(analysis.customers, "deployment_rate", customer["deployment_rate"])),
        rank=ranked.get_column("rank").item() if ranked.height else None,
        activity_workloads=analysis.activity_workloads.filter(pl.col("customer_id") == wanted),
        activity_customer=activity_customer.row(0, named=True) if activity_customer.height else None,
        book=replace(analysis.book, **{name: getattr(analysis.book, name).filter(pl.col("customer_id") == wanted)
                                       for name, columns in BOOK_TABLES.items() if "customer_id" in columns}),
    )


def percentile_of(customers: pl.DataFrame, column: str, value: float | None) -> float | None:
    """Share of customers (0-100) whose `column` is strictly lower than `value`, plus half of the ties."""
    if value is None:
        return None
    rates = customers.get_column(column).drop_nulls()
    if rates.is_empty():
        return None
    below = int((rates < value).sum())   # a boolean column's sum: a count
    ties = int((rates == value).sum())
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


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
