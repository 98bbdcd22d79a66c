"""The parsed-input cache: normalised rows of files already read, keyed by content and loader version."""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from pathlib import Path

import polars as pl

from adoption_kit import __version__, schema
from adoption_kit.config import PARSED_CACHE_DIR
from adoption_kit.inputs.discover import _KIND_BY_NAME
from adoption_kit.inputs.normalise import _COLUMNS_BY_KIND
from adoption_kit.schema import ExportKind
from adoption_kit.values import sources_sha256

CACHE_OFF = ("off", "0", "no", "false")   # values of the cache variables that turn a cache off
_CACHE_FORMAT = 2   # 2: the metadata holds the SHA-256 of the Parquet bytes


def _source_files() -> list[tuple[str, Path]]:
    """(name, path) of the files whose source is part of the loader version: every module of this package,
    sorted by name so that the version is the same on every machine, then schema.py."""
    root = Path(schema.__file__).parent
    modules = Path(__file__).parent.rglob("*.py")
    return sorted((p.relative_to(root).as_posix(), p) for p in modules) + [("schema.py", Path(schema.__file__))]


def loader_version() -> str:
    """The version of the code that turns an export into normalised rows: any change to it is a new version."""
    prefix = b"%d|%s|%s|" % (_CACHE_FORMAT, __version__.encode(), pl.__version__.encode())
    return sources_sha256(prefix, _source_files())[:16]


class ParsedCache:
    """Normalised rows of export files, as Parquet, keyed by the file's SHA-256 and the loader's own version
    (`loader_version`: the kit version, the source of every module of adoption_kit.inputs and of the schema,
    polars' version): a rerun on unchanged files reads them instead of parsing JSON again. Holds the same data
    as the exports themselves.

    Entries are written atomically and never trusted blindly: the metadata carries the SHA-256 of the
    Parquet bytes, checked before polars sees them, and an entry that fails any check or whose reading raises
    anything (a polars panic included) is a miss: deleted, named once in `notes` (the loader shows them as
    warnings), and rewritten from the export by this run. A file whose check warned about dates after today
    is not cached (today moves). Writing is best effort: a read-only or full disk only means no cache.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.version = loader_version()
        self.notes: list[str] = []   # one line per damaged entry found by this run
        self._lock = threading.Lock()

    def _paths(self, digest: str) -> tuple[Path, Path]:
        stem = self.folder / digest[:2] / f"{digest}-{self.version}"
        return stem.with_suffix(".parquet"), stem.with_suffix(".json")

    def read(self, digest: str, name: str) -> tuple[ExportKind, pl.DataFrame, list[str]] | None:
        frame_path, meta_path = self._paths(digest)
        try:
            text = meta_path.read_bytes().decode("utf-8")
        except OSError:
            return None   # not cached yet, or no usable cache folder: a plain miss
        except UnicodeDecodeError:
            self._damaged(name, frame_path, meta_path, "metadata is not UTF-8")
            return None
        try:
            return self._checked(name, frame_path, text)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:   # noqa: BLE001 - polars raises pyo3's PanicException, a BaseException
            why = str(error).splitlines()[0][:120] if str(error).strip() else type(error).__name__
            self._damaged(name, frame_path, meta_path, why)
            return None

    def _checked(self, name: str, frame_path: Path, meta_text: str) -> tuple[ExportKind, pl.DataFrame, list[str]]:
        meta = json.loads(meta_text)
        kind = _KIND_BY_NAME[meta["kind"]]
        warnings = meta["warnings"]
        if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
            raise ValueError("warnings are not a list of texts")
        data = frame_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise ValueError("checksum mismatch")
        frame = pl.read_parquet(io.BytesIO(data))
        if frame.height != meta["rows"] or frame.columns[1:] != list(_COLUMNS_BY_KIND[kind.name]):
            raise ValueError("rows or columns differ from the metadata")
        frame = frame.with_columns(source_file=pl.lit(name, dtype=pl.String))
        return kind, frame, [name + w for w in warnings]

    def _damaged(self, name: str, frame_path: Path, meta_path: Path, why: str) -> None:
        """Forget a damaged entry (this run rewrites it) and note it once."""
        for path in (meta_path, frame_path):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        with self._lock:
            self.notes.append(f"{name}: its parsed-cache entry was damaged ({why}); read the file again and "
                              f"rewrote the entry")
        return None

    def write(self, digest: str, name: str, kind: ExportKind, frame: pl.DataFrame, warnings: list[str]) -> None:
        """Store one file's normalised rows and its warnings (written as suffixes of its name)."""
        frame_path, meta_path = self._paths(digest)
        try:
            buffer = io.BytesIO()
            frame.write_parquet(buffer, compression="lz4")
            data = buffer.getvalue()
            checksum = hashlib.sha256(data).hexdigest()
            frame_path.parent.mkdir(parents=True, exist_ok=True)
            # Parquet first, then the metadata that vouches for it: a reader never finds metadata without its data.
            for path, write in ((frame_path, lambda t: t.write_bytes(data)),
                                (meta_path, lambda t: t.write_text(json.dumps(
                                    {"kind": kind.name, "rows": frame.height, "sha256": checksum,
                                     "warnings": [w[len(name):] for w in warnings]}), encoding="utf-8"))):
                temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                write(temporary)
                os.replace(temporary, path)
        except (OSError, pl.exceptions.PolarsError):
            return


def parsed_cache_folder() -> Path | None:
    """The parsed cache's folder: config.PARSED_CACHE_DIR, or the folder in the ADOPTION_KIT_CACHE environment
    variable; None when that variable is "off" (no cache at all: analysis.analysis_cache follows it too)."""
    setting = os.environ.get("ADOPTION_KIT_CACHE", "").strip()
    if setting.lower() in CACHE_OFF:
        return None
    return Path(setting).expanduser() if setting else PARSED_CACHE_DIR


def parsed_cache() -> ParsedCache | None:
    """The cache `load_exports` uses (in `parsed_cache_folder`); None when caching is off."""
    folder = parsed_cache_folder()
    return None if folder is None else ParsedCache(folder)
