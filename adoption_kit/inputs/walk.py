"""Walking a data folder without surprises (issue 17, item 8): nothing is skipped silently and nothing outside
the folder is read.

- a sub-folder that cannot be listed is an error (its exports would be missing, not zero);
- a symbolic link is followed only when it stays inside the data folder and leads to a file; one leading
  outside (its target is never opened, so no message can echo it), a dangling one and one to a folder are
  each named in a warning and skipped;
- a compressed export (.gz, .zip, as Partner Center serves downloads) is named in a warning and skipped: the
  kit reads the unpacked files.
Hidden files and folders (name starting with ".") are skipped, as before.
"""
from __future__ import annotations

import os
from pathlib import Path

from adoption_kit.errors import Problem

COMPRESSED_SUFFIXES = frozenset({".gz", ".zip", ".bz2", ".xz", ".7z"})


def walk_data_folder(folder: Path, suffixes: frozenset[str]) -> tuple[list[Path], list[Problem], list[str]]:
    """(data files sorted, problems, warnings) of `folder`, recursively."""
    root = folder.resolve()
    files: list[Path] = []
    problems: list[Problem] = []
    warnings: list[str] = []

    def unreadable(error: OSError) -> None:
        problems.append(Problem(str(error.filename or folder), f"this folder cannot be read "
                                f"({error.strerror or error})", "check its permissions, or move it out of the "
                                "data folder"))

    for current, dirs, names in os.walk(folder, onerror=unreadable, followlinks=False):
        here = Path(current)
        for name in list(dirs):
            if name.startswith("."):
                dirs.remove(name)
            elif (here / name).is_symlink():
                dirs.remove(name)
                warnings.append(f"{here / name}: a symbolic link to a folder; not followed (copy the exports into "
                                f"the data folder instead)")
        for name in names:
            path = here / name
            if name.startswith("."):
                continue
            suffix = path.suffix.lower()
            if suffix in COMPRESSED_SUFFIXES and Path(name[:-len(suffix)]).suffix.lower() in suffixes | {""}:
                warnings.append(f"{path}: a compressed export ({suffix}); skipped (unpack it into the data folder, "
                                f"the kit reads .json, .csv and .tsv files)")
                continue
            if suffix not in suffixes:
                continue
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    warnings.append(f"{path}: a symbolic link whose target does not exist; skipped")
                    continue
                if root not in target.parents:
                    warnings.append(f"{path}: a symbolic link to a file outside the data folder; not followed "
                                    f"(copy the file into the data folder instead)")
                    continue
                if not target.is_file():
                    continue
            files.append(path)
    return sorted(files), problems, warnings
