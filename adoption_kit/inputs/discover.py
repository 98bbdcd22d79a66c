"""Which files to read (folders expanded, hidden ones skipped) and what export kind each is, from its header."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from adoption_kit import schema
from adoption_kit.errors import InputFileError, Problem
from adoption_kit.schema import ExportKind, header_key

DATA_SUFFIXES = frozenset({".json", ".csv", ".tsv", ".txt"})
_KIND_BY_NAME = {kind.name: kind for kind in schema.EXPORT_KINDS}


def find_export_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into the data files to read, sorted for determinism."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
                                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(path), "no such file or folder", "check the path"))
    if problems:
        raise InputFileError(problems)
    return found


def detect_kind(columns: Iterable[str], name: str) -> ExportKind:
    """Tell the export kind from its header keys, not from the file name."""
    keys = {header_key(c) for c in columns}
    insights = {"paidavailableunits", "monthlyactiveusers"} <= keys
    # One distinctive field is enough to pick the kind; the schema check then names whatever else is missing.
    usage_hits = len(keys & {"workloadcode", "workloadname", "licensesqualified", "licensesactive",
                             "licenseactive"})
    deployment_hits = len(keys & schema.DEPLOYMENT.signature)
    if (deployment_hits or usage_hits) and not insights:
        return schema.USAGE if usage_hits > deployment_hits else schema.DEPLOYMENT
    has_id = bool(keys & {"id", "subscriptionid"})
    if "status" in keys and has_id and keys & {"quantity", "licensecount", "offername", "productname"}:
        return schema.SUBSCRIPTIONS
    if insights:   # it has WorkloadName too: tell it apart before the usage feed
        problem = "is an Insights Office 365 usage download, which this version does not read yet"
    elif schema.ACTIVITY.signature <= keys:
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
                                "give the licenses deployment, licenses usage or subscriptions export, "
                                "or move this file out of the folder")
