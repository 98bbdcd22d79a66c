"""The run folder's shared JavaScript: _assets/vega-bundle.js (Vega, Vega-Lite and vega-embed, built offline by the
pinned vl-convert) written once per run folder, and the notice naming those libraries and their licences.

The reports load the bundle through the kit's hashed loader (render.csp); a report rendered standalone carries
the bundle inline instead and needs no _assets folder.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from adoption_kit.render.csp import ASSETS_DIR, BUNDLE_FILE
from adoption_kit.report.charts.interactive import bundle_versions, vega_bundle
from adoption_kit.store import atomic_path

NOTICE_FILE = "THIRD-PARTY-NOTICES.txt"
_UW = "BSD-3-Clause, Copyright (c) the University of Washington Interactive Data Lab"
_LICENSES = (
    ("Vega", "vega", _UW),
    ("Vega-Lite", "vega-lite", _UW),
    ("vega-embed", "vega-embed", _UW),
)


def notice() -> str:
    versions = bundle_versions()
    lines = [f"{BUNDLE_FILE}: built offline by vl-convert-python {versions['vl-convert-python']} "
             "(BSD-3-Clause, Copyright 2023 Jon Mease), which bundles:", ""]
    lines += [f"  {name} {versions[key]}: {licence}" for name, key, licence in _LICENSES]
    lines += ["", "  and their dependencies (d3 modules: ISC, Copyright 2010-2023 Mike Bostock; vega-tooltip, "
              "vega-themes, vega-schema-url-parser: BSD-3-Clause, UW Interactive Data Lab; fast-json-patch: MIT; "
              "json-stringify-pretty-compact: MIT; lodash.debounce: MIT; semver: ISC).",
              "", "The BSD-3-Clause licence: redistribution and use in source and binary forms, with or without "
              "modification, are permitted provided that the copyright notice, this list of conditions and the "
              "disclaimer are retained; the names of the copyright holders may not be used to endorse derived "
              "products without permission; THE SOFTWARE IS PROVIDED AS IS, WITHOUT WARRANTY OF ANY KIND.",
              "Full texts: https://github.com/vega/vega/blob/main/LICENSE, "
              "https://github.com/vega/vega-lite/blob/main/LICENSE, "
              "https://github.com/vega/vega-embed/blob/main/LICENSE, "
              "https://github.com/vega/vl-convert/blob/main/LICENSE."]
    return "\n".join(lines) + "\n"


def write_run_assets(run_dir: Path) -> Path:
    """Write <run_dir>/_assets/vega-bundle.js and its notice unless they are already there, byte for byte."""
    folder = Path(run_dir) / ASSETS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in ((BUNDLE_FILE, vega_bundle()), (NOTICE_FILE, notice())):
        target = folder / name
        data = text.encode("utf-8")
        if target.is_file() and hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest():
            continue
        with atomic_path(target) as part:
            part.write_bytes(data)
    return folder / BUNDLE_FILE
