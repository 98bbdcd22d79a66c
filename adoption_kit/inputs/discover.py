"""Which files to read (folders expanded, hidden ones skipped) and what export kind each is, from its header."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.schema import ExportKind, header_key

DATA_SUFFIXES = frozenset({".json", ".csv", ".tsv", ".txt"})
_KIND_BY_NAME = {kind.name: kind for kind in schema.EXPORT_KINDS}
_INSIGHTS_DISTINCTIVE = ((schema.INSIGHTS_OFFICE, schema.INSIGHTS_OFFICE.signature),
                         (schema.INSIGHTS_DYNAMICS, frozenset({"activeseats", "skuid"})),
                         (schema.INSIGHTS_SEATS, schema.INSIGHTS_SEATS.signature))


def find_export_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into the data files to read, sorted for determinism."""
    return find_export_files_and_warnings(paths)[0]


def find_export_files_and_warnings(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """`find_export_files` and the warnings of the walk (links not followed, compressed files skipped:
    inputs.walk); an unreadable sub-folder is an error."""
    from adoption_kit.inputs.walk import walk_data_folder

    found: list[Path] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files, walk_problems, walk_warnings = walk_data_folder(path, DATA_SUFFIXES)
            found.extend(files)
            problems.extend(walk_problems)
            warnings.extend(walk_warnings)
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(path), "no such file or folder", "check the path"))
    if problems:
        raise InputFileError(problems)
    return found, warnings


def detect_kind(columns: Iterable[str], name: str) -> ExportKind:
    """Tell the export kind from its header keys, not from the file name."""
    keys = {header_key(c) for c in columns}
    # Insights downloads first (OfficeUsage has WorkloadName too); one distinctive field picks the kind, so that a
    # download missing the other is told what is missing rather than "not recognised".
    for insights_kind, distinctive in _INSIGHTS_DISTINCTIVE:
        if keys & distinctive:
            return insights_kind
    # One distinctive field is enough to pick the kind; the schema check then names whatever else is missing.
    usage_hits = len(keys & {"workloadcode", "workloadname", "licensesqualified", "licensesactive",
                             "licenseactive"})
    deployment_hits = len(keys & schema.DEPLOYMENT.signature)
    if deployment_hits or usage_hits:
        return schema.USAGE if usage_hits > deployment_hits else schema.DEPLOYMENT
    has_id = bool(keys & {"id", "subscriptionid"})
    if "status" in keys and has_id and keys & {"quantity", "licensecount", "offername", "productname"}:
        return schema.SUBSCRIPTIONS
    if schema.ACTIVITY.signature <= keys:
        return schema.ACTIVITY
    elif schema.PRICE_LIST.signature <= keys:
        return schema.PRICE_LIST
    elif schema.SUPPORT_TICKETS.signature <= keys:
        return schema.SUPPORT_TICKETS
    elif schema.SKU_CATALOG.signature <= keys:   # Microsoft's product catalog: used, never refused
        return schema.SKU_CATALOG
    else:
        shown = ", ".join(list(columns)[:8])
        problem = f"is not a recognised Partner Center export (columns: {shown})"
    raise InputFileError.single(name, problem,
                                "give the licenses deployment, licenses usage or subscriptions export, or an "
                                "Insights OfficeUsage, DynamicsUsage or seats download, or move this file out "
                                "of the folder")
