"""Reading the bundled exports the plain way (json.load, following @nextLink), for tests whose expected figures are
worked out from the raw records rather than from the kit's own loaders."""
from __future__ import annotations

import json
from pathlib import Path


def raw_records(folder: Path, feed: str, month: str | None = None) -> list[dict]:
    """Every record of one feed ("deployment" or "usage"): the newest snapshot, or the older one of `month`
    (YYYY-MM), page after page until @nextLink is null."""
    stem = f"license-{feed}-page" if month is None else f"license-{feed}-{month}-page"
    records, page = [], 1
    while True:
        envelope = json.loads((folder / f"{stem}-{page}.json").read_text(encoding="utf-8"))
        records.extend(envelope["Value"])
        if envelope["@nextLink"] is None:
            return records
        page += 1
