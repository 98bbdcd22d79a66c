"""SHA-256 of files, folders and JSON values: the parts of a report's fingerprint and the manifest's input hashes."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from adoption_kit.config import DEFAULT_EXCLUSIONS_FILE


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _packaged_exclusions_sha256() -> str:
    return _file_sha256(DEFAULT_EXCLUSIONS_FILE)


def _tree_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(_file_sha256(path).encode())
    return digest.hexdigest()


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()
