"""Build adoption_kit/data/sku_catalog.json from Microsoft's "Product names and service plan identifiers for
licensing" CSV (https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference, "Download").

    python tools/build_sku_catalog.py PATH/TO/the.csv [--date YYYY-MM-DD] [--source TEXT]

Reads the CSV as Microsoft publishes it (UTF-8 or Windows-1252, header drift such as `String_ Id`, quoted names
with commas), keeps one entry per SKU GUID (lower case) with its String_Id, current display name and known
names (derived from the String_Id, plus the documented legacy names in adoption_kit.inputs.catalog), and
records where and when the CSV came from. The output is sorted, so a rebuild from the same CSV is identical.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import date, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adoption_kit.inputs.catalog import PACKAGED_CATALOG_FILE, entries_from_microsoft_rows  # noqa: E402

DEFAULT_SOURCE = ("Microsoft, 'Product names and service plan identifiers for licensing' CSV "
                  "(learn.microsoft.com/entra/identity/users/licensing-service-plan-reference)")


def read_rows(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--date", default=None, help="date of the CSV (default: the file's modification day)")
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=PACKAGED_CATALOG_FILE)
    args = parser.parse_args(argv)
    entries = entries_from_microsoft_rows(read_rows(args.csv))
    if not entries:
        print(f"{args.csv}: no rows with a GUID and String_Id; is this Microsoft's licensing CSV?", file=sys.stderr)
        return 2
    day = args.date or date.fromtimestamp(args.csv.stat().st_mtime, timezone.utc).isoformat()
    out = {"source": args.source, "source_file": args.csv.name, "source_date": day,
           "generated_by": "tools/build_sku_catalog.py",
           "note": "One entry per SKU: guid (lower case, Partner Center productId), string_id, display_name, "
                   "names (display name, String_Id, its words, documented legacy names).",
           "skus": entries}
    args.output.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.output}: {len(entries)} SKUs from {args.csv.name} ({day})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
