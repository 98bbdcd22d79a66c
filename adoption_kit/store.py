"""Write the kit's tables to files safely (atomic replace, spreadsheet-formula-safe CSV); it computes no metrics."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import polars as pl

from adoption_kit.config import Thresholds
from adoption_kit.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from adoption_kit.privacy import PseudonymKey

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    warnings: tuple[str, ...] = ()   # the loader's warnings, for the caller to show


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename, else it vanishes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    os.chmod(temporary_path, 0o666 & ~_UMASK)   # mkstemp makes 0600; the renamed file gets the usual mode
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe; the value stays readable."""
    risky = pl.col(pl.String).str.contains(r"^[=+\-@\t\r]")
    return frame.with_columns(
        pl.when(risky).then(pl.lit("'") + pl.col(pl.String)).otherwise(pl.col(pl.String)).name.keep())


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Flatten to CSV-friendly types: datetimes as ISO 8601 UTC text, lists joined with ';'."""
    return frame.with_columns(
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.col(pl.List(pl.String)).list.join(";"),
    )


def write_table(frame: pl.DataFrame, out: str | Path) -> Written:
    """Write CSV (formula-safe, UTF-8) or Parquet, chosen by the file suffix, atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ParameterError(f"{out}: unsupported output type '{out.suffix}'; use a .csv or .parquet file name")
    with atomic_path(out) as temporary:
        if suffix == ".csv":
            neutralise_formulas(csv_ready(frame)).write_csv(temporary)
        else:
            frame.write_parquet(temporary)
    return Written(out, frame.height)


def write_metrics(paths: Iterable[str | Path], *, level: str, out: str | Path,
                  thresholds: Thresholds = Thresholds(), exclusions: str | Path | None = None,
                  pseudonym_key: "PseudonymKey | None" = None) -> Written:
    """Load exports, compute metrics at `level` (workload, product, customer, portfolio) and write them.

    With `pseudonym_key` (adoption_kit.privacy), customer names and tenant ids are replaced by tokens before
    anything is computed, and the key's local name lookup is updated.
    """
    from adoption_kit.inputs import load_exports
    from adoption_kit.compute.metrics import compute, load_exclusions

    levels = {"workload": "workloads", "product": "products", "customer": "customers", "portfolio": "portfolio"}
    if level not in levels:
        raise ParameterError(f"unknown level '{level}'; use one of {', '.join(levels)}")
    if pseudonym_key is not None:
        from adoption_kit.privacy import refuse_inside

        refuse_inside(pseudonym_key, Path(out).expanduser().resolve().parent, "the output folder",
                      recursive=False)
    exports = load_exports(paths)
    if pseudonym_key is not None:
        from adoption_kit.privacy import pseudonymize, update_mapping

        update_mapping(pseudonym_key, exports)
        exports = pseudonymize(exports, pseudonym_key)
    exports = exports.latest()
    metrics = compute(exports, thresholds=thresholds, exclusions=load_exclusions(exclusions))
    written = write_table(getattr(metrics, levels[level]), out)
    return Written(written.path, written.rows, tuple(exports.warnings))
