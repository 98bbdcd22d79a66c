"""The inputs inventory: every file read (by kind), every file skipped (with its reason), the kinds missing,
and the completeness of paged feeds and snapshots. Never silent: each finding is also one warning line.

What is skipped rather than refused: files that are plainly not exports the kit reads (an Excel workbook
beside the CSVs, the kit's own output CSVs, a delimited file of unknown columns, a partner-level aggregate
feed without customers, another Microsoft Graph report). A file that looks like an export but cannot be read
stays an error (see load.py).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import polars as pl

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.schema import header_key

if TYPE_CHECKING:  # pragma: no cover - typing only
    from adoption_kit.inputs.exports import LoadedFile

# A snapshot that holds fewer than this share of the customers of the feed's previous snapshot is reported
# as a partial re-download (load_exports(partial_snapshot_share=...)).
PARTIAL_SNAPSHOT_SHARE = 0.5
WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls"})
_MAX_LISTED = 5

_DEPLOYMENT_FEED = "GET /v1/analytics/commercial/deployment/license"
_USAGE_FEED = "GET /v1/analytics/commercial/usage/license"
# Columns only the kit's own outputs have (metrics CSVs, low-adoption-accounts.csv), as header keys.
_KIT_OUTPUT_KEYS = frozenset({"deploymentrate", "usagerate", "deploymentpct", "usagepct", "licensesidle",
                              "licensesunassigned", "licensesinactive", "nextstep", "priorityscore"})
_PRORATED_KEYS = {"prorateddeploymentpercent": "PartnerLicensesDeploymentInsights",
                  "proratedlicensesusagepercent": "PartnerLicensesUsageInsights"}
_CUSTOMER_KEYS = frozenset({"customertenantid", "customerid", "customername"})


class SkipFile(InputFileError):
    """A file that is not an export the kit reads: listed in the inventory and warned about, not refused.

    An InputFileError, so that reading the one file on its own (read_export_file) still refuses it."""

    def __init__(self, path: str, reason: str, fix: str, group: str = ""):
        super().__init__([Problem(path, reason, fix)])
        self.skipped = SkippedFile(Path(path), reason, fix, group)


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str          # what the file is, e.g. "is an Excel workbook"
    fix: str             # what to do instead
    group: str = ""      # files of one group share one warning line (partner-level aggregates)

    def line(self) -> str:
        return f"{self.path}: skipped, {self.reason}; {self.fix}"


@dataclass(frozen=True)
class MissingKind:
    kind: str            # "deployment" | "usage"
    consequence: str     # e.g. "deployment % unknown, not 0"
    fix: str

    def line(self) -> str:
        return f"{self.kind}: no licenses {self.kind} export among the files read: {self.consequence}; {self.fix}"


@dataclass(frozen=True)
class PageEnvelope:
    """What an API page says about its query: TotalCount/totalCount and @nextLink (None: key absent)."""

    total_count: int | None
    next_link: str | None
    has_next_key: bool


@dataclass(frozen=True)
class FeedCompleteness:
    """One feed x snapshot of saved API pages: rows read against the query's TotalCount, dangling @nextLinks."""

    feed: str
    snapshot: datetime | None
    pages: tuple[str, ...]
    rows: int
    total_count: int | None
    dangling: tuple[tuple[str, str], ...] = ()   # (page file, its @nextLink) with no later page beside it

    @property
    def complete(self) -> bool:
        return not self.dangling and (self.total_count is None or self.rows >= self.total_count)

    def line(self) -> str:
        when = f"{self.snapshot:%Y-%m-%d %H:%M} UTC" if self.snapshot is not None else "one snapshot"
        counts = (f"{self.rows} of {self.total_count} row(s) (TotalCount) read over {len(self.pages)} page(s)"
                  if self.total_count is not None else f"{self.rows} row(s) read over {len(self.pages)} page(s)")
        if self.dangling:
            page, link = self.dangling[0]
            return (f"{page}: the {self.feed} feed of {when} is a partial download: {counts}; this page's "
                    f"@nextLink is not null but no later page of the feed is beside it; download the next "
                    f"page again ({link}) and save it in the same folder")
        return (f"{self.pages[0]}: the {self.feed} feed of {when} is a partial download: {counts}; "
                f"customers or products are missing: download the feed's pages again "
                f"({', '.join(self.pages[:_MAX_LISTED])}{' ...' if len(self.pages) > _MAX_LISTED else ''})")

    def as_dict(self) -> dict:
        return {"feed": self.feed, "snapshot": None if self.snapshot is None else self.snapshot.isoformat(),
                "pages": list(self.pages), "rows": self.rows, "total_count": self.total_count,
                "dangling": [{"page": p, "next_link": n} for p, n in self.dangling], "complete": self.complete}


@dataclass(frozen=True)
class SnapshotCoverage:
    """A snapshot that holds only a small share of the customers of the same feed's previous snapshot."""

    feed: str
    snapshot: datetime
    previous: datetime
    customers: int           # customers of the previous snapshot also in this one
    previous_customers: int
    files: tuple[str, ...]

    def line(self) -> str:
        share = self.customers / self.previous_customers
        files = ", ".join(self.files[:_MAX_LISTED]) + (" ..." if len(self.files) > _MAX_LISTED else "")
        return (f"{self.feed}: the snapshot of {self.snapshot:%Y-%m-%d %H:%M} UTC holds {self.customers} of the "
                f"{self.previous_customers} customer(s) ({share:.0%}) of the previous one "
                f"({self.previous:%Y-%m-%d %H:%M} UTC), from {files}: a partial re-download; each customer's "
                f"newest rows are used, so those customers' figures come from it and the others' from the "
                f"previous snapshot; download the whole feed again, or move those files out")

    def as_dict(self) -> dict:
        return {"feed": self.feed, "snapshot": self.snapshot.isoformat(), "previous": self.previous.isoformat(),
                "customers": self.customers, "previous_customers": self.previous_customers,
                "files": list(self.files)}


@dataclass(frozen=True)
class Inventory:
    """What `load_exports` found: read files by kind, skipped files with reasons, missing kinds, completeness.

    `warning_lines()` are the lines that also go into Exports.warnings; `lines()` is validate's listing."""

    read: tuple[LoadedFile, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    missing: tuple[MissingKind, ...] = ()
    pages: tuple[FeedCompleteness, ...] = ()          # every paged feed x snapshot, complete or not
    partial_snapshots: tuple[SnapshotCoverage, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def incomplete_pages(self) -> tuple[FeedCompleteness, ...]:
        return tuple(p for p in self.pages if not p.complete)

    def warning_lines(self) -> list[str]:
        lines = [f"{p.file}: {p.problem}; {p.fix}" for p in skipped_problems(self.skipped)]
        lines.extend(m.line() for m in self.missing)
        lines.extend(p.line() for p in self.incomplete_pages)
        lines.extend(s.line() for s in self.partial_snapshots)
        return lines

    def lines(self) -> list[str]:
        """validate's listing: every file read with its kind and rows, every file skipped with its reason."""
        out = []
        for file in self.read:
            out.append(f"  read    {file.kind:<14} {file.rows:>9} row(s)  {file.path}")
        for skipped in self.skipped:
            out.append(f"  skipped {'':<14} {'':>16}  {skipped.path} ({skipped.reason})")
        return out

    def as_dict(self) -> dict:
        """JSON-ready form (for a manifest or a report's data section)."""
        return {
            "read": [{"path": str(f.path), "kind": f.kind, "rows": f.rows} for f in self.read],
            "skipped": [{"path": str(s.path), "reason": s.reason, "fix": s.fix} for s in self.skipped],
            "missing": [{"kind": m.kind, "consequence": m.consequence} for m in self.missing],
            "pages": [p.as_dict() for p in self.pages],
            "partial_snapshots": [s.as_dict() for s in self.partial_snapshots],
        }


# ---------------------------------------------------------------------------
# Files that are skipped
# ---------------------------------------------------------------------------


def skipped_problems(skipped: Iterable[SkippedFile]) -> list[Problem]:
    """One line per skipped file, except the files of one group (partner-level aggregates): one line for all,
    where the group's first file would be."""
    files = list(skipped)
    groups: dict[str, list[SkippedFile]] = {}
    for file in files:
        if file.group:
            groups.setdefault(file.group, []).append(file)
    lines: list[Problem] = []
    for file in files:
        members = groups.get(file.group, [])
        if not file.group:
            lines.append(Problem(str(file.path), f"skipped, {file.reason}", file.fix))
        elif members[0] is file:
            names = ", ".join(str(m.path) for m in members[:_MAX_LISTED]) + (" ..." if len(members) > _MAX_LISTED
                                                                              else "")
            lines.append(Problem(names, f"skipped, {file.reason}", file.fix))
    return lines


def find_workbooks(paths: Iterable[str | Path]) -> list[SkippedFile]:
    """Excel workbooks inside the given folders (the reader never opens them): skipped with the fix."""
    found = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            continue
        for p in sorted(path.rglob("*")):
            if p.suffix.lower() in WORKBOOK_SUFFIXES and p.is_file() \
                    and not any(part.startswith(".") for part in p.relative_to(path).parts):
                found.append(SkippedFile(p, "is an Excel workbook, which the kit does not read",
                                         "open it in Excel and save it as CSV UTF-8 (File > Save As) in this "
                                         "folder, or give the JSON or CSV file as downloaded"))
    return found


def skip_reason(columns: list[str], name: str) -> SkipFile | None:
    """The skip for a file whose columns say it is not an export the kit reads (checked before its kind)."""
    keys = {header_key(c) for c in columns}
    if keys & _KIT_OUTPUT_KEYS and "processeddatetime" not in keys:
        return SkipFile(name, "is an adoption-kit output, not an export",
                        "keep the kit's outputs out of the data folder (it reads Partner Center and "
                        "Microsoft Graph exports only)")
    aggregates = [resource for key, resource in _PRORATED_KEYS.items() if key in keys]
    if aggregates and not keys & _CUSTOMER_KEYS:
        return SkipFile(name, "partner-level aggregate feeds (PartnerLicensesDeploymentInsights / "
                              "PartnerLicensesUsageInsights: no customers at all), so nothing per customer can "
                              "come from them",
                        f"download the per-customer feeds instead: licenses deployment ({_DEPLOYMENT_FEED}) "
                        f"and licenses usage ({_USAGE_FEED})", group="partner-aggregates")
    graph = _other_graph_report(keys)
    if graph:
        return SkipFile(name, f"is the Microsoft Graph {graph}, not the Microsoft 365 active-user detail report "
                              f"(getOffice365ActiveUserDetail) the kit reads",
                        "export Reports > Usage > Microsoft 365 > Active users (user details) into the tenant's "
                        "folder, or move this file out")
    return None


def _other_graph_report(keys: set[str]) -> str:
    """The Graph report a header belongs to when it is a related one (exports.md section 3), else ""."""
    if "teamchatmessagecount" in keys or "privatechatmessagecount" in keys:
        return "Teams user activity detail report (getTeamsUserActivityUserDetail)"
    if "reportperiod" not in keys:
        return ""
    if "reportdate" in keys:
        return "active user counts report (getOffice365ActiveUserCounts)"
    if "userprincipalname" in keys:
        return "per-workload user activity detail report (it has a Report Period column)"
    if any(k.endswith("inactive") for k in keys):
        return "services user counts report (getOffice365ServicesUserCounts)"
    return "usage report (it has a Report Period column)"


def unknown_format(columns: list[str], name: str) -> SkipFile:
    shown = ", ".join(list(columns)[:8])
    return SkipFile(name, f"is not a recognised Partner Center export (columns: {shown})",
                    "give the licenses deployment, licenses usage or subscriptions export; this file was not read")


def missing_kinds(kinds_read: set[str]) -> list[MissingKind]:
    """The licence feeds with no file among those read, and what that means for the figures.

    Insights downloads count too: Dynamics 365 usage and the seats report give deployment figures, Office 365
    and Dynamics 365 usage give usage figures (a folder of Office 365 usage alone has no deployment figure).
    """
    missing = []
    if not kinds_read & {"deployment", schema.INSIGHTS_DYNAMICS.name, schema.INSIGHTS_SEATS.name}:
        missing.append(MissingKind("deployment", "licenses sold and assigned, and deployment %, are unknown "
                                                 "(deployment % unknown, not 0)",
                                   f"add the licenses deployment download ({_DEPLOYMENT_FEED}), or the Insights "
                                   f"seats report (SeatsSubscriptionsAndRevenue) beside Insights usage downloads"))
    if not kinds_read & {"usage", schema.INSIGHTS_OFFICE.name, schema.INSIGHTS_DYNAMICS.name}:
        missing.append(MissingKind("usage", "licenses qualified and active are unknown (usage % unknown)",
                                   f"add the licenses usage download ({_USAGE_FEED})"))
    return missing


# ---------------------------------------------------------------------------
# Paged feeds: TotalCount and @nextLink
# ---------------------------------------------------------------------------
_TOTAL_RE = re.compile(rb'"(?i:totalcount)"\s*:\s*(\d+)')
_NEXT_RE = re.compile(rb'"@(?i:(?:odata\.)?nextlink)"\s*:\s*(null|"((?:[^"\\]|\\.)*)")')
_ENVELOPE_WINDOW = 65536


def page_envelope(body: bytes) -> PageEnvelope | None:
    """TotalCount and @nextLink of a UTF-8 API page, from its first and last 64 KiB (the envelope keys sit
    before or after the record list; a record never holds these keys). None for a page without either."""
    windows = (body,) if len(body) <= 2 * _ENVELOPE_WINDOW else (body[:_ENVELOPE_WINDOW], body[-_ENVELOPE_WINDOW:])
    total: re.Match[bytes] | None = None
    next_match: re.Match[bytes] | None = None
    for window in windows:
        total = total or _TOTAL_RE.search(window)
        next_match = next_match or _NEXT_RE.search(window)
    if total is None and next_match is None:
        return None
    link: str | None = None
    if next_match is not None and next_match.group(1) != b"null":
        link = next_match.group(2).decode("utf-8", errors="replace").replace("\\/", "/")
    return PageEnvelope(int(total.group(1)) if total else None, link, next_match is not None)


def _skip_of(link: str) -> int | None:
    values = {k.lower(): v for k, v in parse_qs(urlsplit(link).query).items()}
    try:
        return int(values["skip"][0]) if "skip" in values else int(values["$skip"][0])
    except (KeyError, ValueError, IndexError):
        return None


def page_completeness(loaded: Iterable[LoadedFile], envelopes: dict[str, PageEnvelope],
                      snapshot_of: dict[str, datetime]) -> list[FeedCompleteness]:
    """Per feed and snapshot, the saved pages' rows against TotalCount, and @nextLinks with no later page.

    Identical copies of a page count once. A page's skip offset is known only from the @nextLink of the
    page before it, so the dangling link is the one with the largest skip (or, without skips, the group
    holding no last page, i.e. no page whose @nextLink is null)."""
    groups: dict[tuple[str, datetime | None], list[LoadedFile]] = {}
    for file in loaded:
        name = str(file.path)
        if name in envelopes and file.kind in ("deployment", "usage"):
            groups.setdefault((file.kind, snapshot_of.get(name)), []).append(file)
    found = []
    for (feed, snapshot), files in groups.items():
        unique = list({f.sha256: f for f in files}.values())
        rows = sum(f.rows for f in unique)
        totals = [t for f in unique if (t := envelopes[str(f.path)].total_count) is not None]
        links = [(str(f.path), envelopes[str(f.path)].next_link) for f in unique]
        dangling: list[tuple[str, str]] = []
        if all(link is not None for _, link in links) and all(envelopes[p].has_next_key for p, _ in links):
            with_skip = [(s, p, link) for p, link in links if link and (s := _skip_of(link)) is not None]
            last = max(with_skip)[1:] if with_skip else links[-1]
            dangling.append((last[0], str(last[1])))
        found.append(FeedCompleteness(feed, snapshot, tuple(str(f.path) for f in unique), rows,
                                      max(totals) if totals else None, tuple(dangling)))
    return found


# ---------------------------------------------------------------------------
# Snapshots: a re-download of a few customers
# ---------------------------------------------------------------------------


def partial_snapshots(frame: pl.DataFrame, feed: str, share: float = PARTIAL_SNAPSHOT_SHARE) -> list[SnapshotCoverage]:
    """Snapshots of one feed holding some, but under `share`, of the customers of the feed's previous snapshot
    (a snapshot sharing no customer with it holds other customers, and re-downloads none)."""
    if frame.is_empty():
        return []
    pairs = frame.select("processed_at", "customer_id").unique()
    snapshots = pairs.get_column("processed_at").unique().sort().to_list()
    if len(snapshots) < 2:
        return []
    covered = _overlaps(pairs, snapshots)
    found = []
    base: int | None = None
    for i, snapshot in enumerate(snapshots):
        if base is not None:
            shared, before = covered(i, base), covered(base, base)
            if not shared:   # other customers only (a new customer's first rows): nothing re-downloaded
                continue
            if shared < share * before:
                files = frame.filter(pl.col("processed_at") == snapshot).get_column("source_file").unique().sort()
                found.append(SnapshotCoverage(feed, snapshot, snapshots[base], shared, before, tuple(files)))
                continue   # a partial snapshot is not the base of the next comparison
        base = i
    return found


def _overlaps(pairs: pl.DataFrame, snapshots: list) -> Callable[[int, int], int]:
    """covered(i, j): the customers in both snapshot i and snapshot j (i == j: in snapshot i). One bit per
    snapshot in each customer's mask when there are at most 62 snapshots; sets otherwise."""
    if len(snapshots) <= 62:
        import numpy as np  # here: report kernels that only read a bundle never need it

        index = pl.DataFrame({"processed_at": snapshots, "_bit": [1 << i for i in range(len(snapshots))]},
                             schema={"processed_at": pairs.schema["processed_at"], "_bit": pl.Int64})
        masks = (pairs.join(index, on="processed_at").group_by("customer_id").agg(pl.col("_bit").sum())
                 .get_column("_bit").to_numpy())
        return lambda i, j: int(np.count_nonzero((masks & ((1 << i) | (1 << j))) == ((1 << i) | (1 << j))))
    by_snapshot = {s: set(c) for s, c in pairs.group_by("processed_at").agg(pl.col("customer_id")).iter_rows()}
    return lambda i, j: len(by_snapshot[snapshots[i]] & by_snapshot[snapshots[j]])
