"""SHA-256 of files, folders and JSON values: the parts of a report's fingerprint and the manifest's input hashes."""
from __future__ import annotations

import hashlib
from pathlib import Path

from adoption_kit.config import DEFAULT_EXCLUSIONS_FILE
from adoption_kit.values import file_sha256


def _packaged_exclusions_sha256() -> str:
    return file_sha256(DEFAULT_EXCLUSIONS_FILE)


def _tree_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()
