"""Pseudonymized outputs: customer names and tenant ids replaced by stable keyed tokens;
the key and the name lookup stay in a local folder."""
from __future__ import annotations

import csv
import hashlib
import hmac
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from adoption_kit.compute.metrics import Metrics
from adoption_kit.errors import InputFileError, ParameterError
from adoption_kit.inputs import Exports, Inventory, LoadedFile
from adoption_kit.store import csv_bytes, restore_formula_cell
from adoption_kit.values import GUID_IN_TEXT, normalise_guid, strip_paths

# Where the key lives unless --pseudonym-key says otherwise: the user's configuration folder, never the reports.
KEY_FILE_NAME = "pseudonym.key"
MAPPING_SUFFIX = "-map.csv"          # pseudonym.key -> pseudonym-map.csv, beside the key
TOKEN_PREFIX = "Customer-"
TOKEN_HEX = 8                        # "Customer-1a2b3c4d"; 12 for customers whose first 8 collide in one book
_KEY_HEX = re.compile(r"^[0-9a-fA-F]{32,}$")

T = TypeVar("T")


def default_key_path() -> Path:
    """~/.config/adoption-kit/pseudonym.key ($XDG_CONFIG_HOME is honoured)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config).expanduser() / "adoption-kit" / KEY_FILE_NAME


@dataclass(frozen=True)
class PseudonymKey:
    """A secret key and where it lives. Same key, same tenant id -> same token, in every run."""

    path: Path
    secret: bytes

    def __repr__(self) -> str:          # never print the secret
        return f"PseudonymKey(path={str(self.path)!r}, key_id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        """A short fingerprint of the key (not the key): tells which key made a report."""
        return hashlib.sha256(b"adoption-kit key id:" + self.secret).hexdigest()[:12]

    @property
    def mapping_path(self) -> Path:
        """The local lookup `token,pseudo_customer_id,customer_id,customer_name`, beside the key."""
        return self.path.with_name(self.path.stem + MAPPING_SUFFIX)

    def digest(self, customer_id: str) -> str:
        normalised = normalise_guid(str(customer_id))
        return hmac.new(self.secret, normalised.encode("utf-8"), hashlib.sha256).hexdigest()

    def token(self, customer_id: str, length: int = TOKEN_HEX) -> str:
        """'Customer-' + the first 8 hex digits of HMAC-SHA256(key, lower-case tenant id)."""
        return TOKEN_PREFIX + self.digest(customer_id)[:length]

    def pseudo_id(self, customer_id: str) -> str:
        """A GUID-shaped stand-in for the tenant id (the first 32 hex digits of the same HMAC)."""
        h = self.digest(customer_id)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def key_path(path: str | Path | None = None) -> Path:
    """Where the key of `load_key(path)` lives (resolved), without reading or creating anything."""
    return (Path(path).expanduser() if path else default_key_path()).resolve()


def load_key(path: str | Path | None = None, *, create: bool = True) -> PseudonymKey:
    """Read the key file (64 hex digits), creating it (mode 0600, folder 0700) with 32 random bytes if missing."""
    file = key_path(path)
    if not file.exists():
        if not create:
            raise ParameterError(f"{file}: no pseudonym key there")
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            handle = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:          # created meanwhile by another run: use it
            pass
        else:
            with os.fdopen(handle, "w", encoding="ascii") as stream:
                stream.write(secrets.token_hex(32) + "\n")
    if file.is_dir():
        raise ParameterError(f"{file}: is a folder; --pseudonym-key takes a key file")
    try:
        text = file.read_text(encoding="ascii", errors="replace").strip()
    except OSError as error:
        raise ParameterError(f"{file}: cannot read the pseudonym key ({error.strerror or error})") from None
    if not _KEY_HEX.match(text):
        raise ParameterError(f"{file}: not a pseudonym key (expected at least 32 hexadecimal digits); "
                             f"point --pseudonym-key at the key file the kit created, or at a missing file "
                             f"to create a new key")
    return PseudonymKey(file, bytes.fromhex(text[: len(text) // 2 * 2]))


def refuse_inside(key: PseudonymKey | Path, folder: str | Path, what: str, *, recursive: bool = True) -> None:
    """The key and its name lookup must never sit in a folder that is shared (the reports; with
    `recursive=False`, only directly in it). `key` may be a key file's path (`key_path`), so that the check
    runs before `load_key` creates anything."""
    folder = Path(folder).expanduser().resolve()
    file = key.path if isinstance(key, PseudonymKey) else Path(key)
    for path in (file, file.with_name(file.stem + MAPPING_SUFFIX)):
        if path == folder or (folder in path.parents if recursive else path.parent == folder):
            raise ParameterError(f"{path} is inside {what} {folder}: the pseudonym key and its name lookup must "
                                 f"stay out of what you share; keep the default key "
                                 f"({default_key_path()}) or choose --pseudonym-key elsewhere")


def refuse_key_in_outputs(key: PseudonymKey | Path, folder: str | Path, what: str) -> None:
    """`refuse_inside` for any output folder: anywhere under it, except that the default key (the user's
    configuration folder, often under an output folder such as the home folder) is refused only directly in it."""
    file = key.path if isinstance(key, PseudonymKey) else Path(key)
    refuse_inside(file, folder, what, recursive=file != default_key_path().resolve())


# ---------------------------------------------------------------------------
# Replacing names and ids
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Pseudonyms:
    """Tenant id (lower case) -> token and pseudo id, for the customers of one book."""

    tokens: Mapping[str, str]
    ids: Mapping[str, str]

    @classmethod
    def for_ids(cls, key: PseudonymKey, customer_ids: Iterable[str]) -> Pseudonyms:
        ids = sorted({normalise_guid(str(c)) for c in customer_ids if c})
        short = {c: key.token(c) for c in ids}
        counts = Counter(short.values())
        clashes = {t for t, n in counts.items() if n > 1}
        tokens = {c: (key.token(c, TOKEN_HEX + 4) if short[c] in clashes else short[c]) for c in ids}
        return cls(tokens, {c: key.pseudo_id(c) for c in ids})

    def frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """customer_name -> token and customer_id -> pseudo id, where those columns exist."""
        if "customer_id" not in frame.columns:
            return frame
        ids = pl.col("customer_id").str.strip_chars("{}").str.to_lowercase()
        columns = []
        if "customer_name" in frame.columns:
            columns.append(pl.when(pl.col("customer_id").is_null()).then(pl.col("customer_name"))
                           .otherwise(ids.replace_strict(dict(self.tokens), default=None,
                                                         return_dtype=pl.String)).alias("customer_name"))
        columns.append(ids.replace_strict(dict(self.ids), default=None, return_dtype=pl.String).alias("customer_id"))
        return frame.with_columns(columns)

    def text(self, text: str, names: Mapping[str, str]) -> str:
        """A message with every tenant id, known customer name and absolute path replaced."""
        def guid(match: re.Match) -> str:
            lowered = match.group(1).lower()
            return self.ids.get(lowered, match.group(0))

        text = GUID_IN_TEXT.sub(guid, text)
        text = strip_paths(text)
        for name in sorted(names, key=len, reverse=True):
            token = names[name]
            for form in _forms(name):
                text = text.replace(form, token)
        return text


def _forms(name: str) -> list[str]:
    """How a name may be written in a message: as is, repr-escaped, or clipped to 60 characters."""
    clipped = name if len(name) <= 60 else name[:59] + "…"
    forms = {name, repr(name)[1:-1], clipped, repr(clipped)[1:-1]}
    return sorted((f for f in forms if f), key=len, reverse=True)


def pseudonymize(obj: T, key: PseudonymKey, pseudonyms: Pseudonyms | None = None) -> T:
    """The same object with customer names replaced by tokens and tenant ids by pseudo ids.

    Accepts a polars DataFrame, a `metrics.Metrics` or an `inputs.Exports` (whose warnings and file paths
    are scrubbed too: a warning that would still name a customer is replaced by a neutral line). Pure.
    """
    if isinstance(obj, pl.DataFrame):
        if pseudonyms is None:
            ids = obj.get_column("customer_id").drop_nulls().to_list() if "customer_id" in obj.columns else []
            pseudonyms = Pseudonyms.for_ids(key, ids)
        return pseudonyms.frame(obj)  # type: ignore[return-value]
    if isinstance(obj, Metrics):
        frames = _frames(obj)
        if pseudonyms is None:
            pseudonyms = Pseudonyms.for_ids(key, _ids(*frames.values()))
        return replace(obj, **{name: pseudonyms.frame(frame) for name, frame in frames.items()})  # type: ignore
    if isinstance(obj, Exports):
        frames = _frames(obj)
        if pseudonyms is None:
            pseudonyms = Pseudonyms.for_ids(key, _ids(*frames.values()))
        names = _all_names(obj, pseudonyms)
        files = tuple(LoadedFile(Path(f"input-{i:03d}{f.path.suffix.lower()}"), f.kind, f.rows, f.sha256)
                      for i, f in enumerate(obj.files, start=1))
        renamed = {str(f.path): str(p.path) for f, p in zip(obj.files, files)}

        def source(frame: pl.DataFrame) -> pl.DataFrame:
            frame = pseudonyms.frame(frame)
            if "source_file" in frame.columns:
                frame = frame.with_columns(pl.col("source_file").replace(renamed))
            return frame

        warnings = tuple(_scrubbed(w, pseudonyms, names) for w in obj.warnings)
        # The inventory keeps what it says in words only through the scrubbed warnings: its skipped files, pages
        # and partial snapshots name real paths (tenant-id folders among them).
        inventory = Inventory(read=files, missing=obj.inventory.missing)
        changes: dict[str, Any] = {name: source(frame) for name, frame in frames.items()}
        return replace(obj, **changes, files=files, warnings=warnings, inventory=inventory)
    raise TypeError(f"pseudonymize: cannot pseudonymize a {type(obj).__name__}")


def _frames(obj: Any) -> dict[str, pl.DataFrame]:
    """Every DataFrame field of a dataclass (feeds added later are covered too)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj) if isinstance(getattr(obj, f.name), pl.DataFrame)}


def _ids(*frames: pl.DataFrame) -> list[str]:
    return [c for frame in frames if "customer_id" in frame.columns
            for c in frame.get_column("customer_id").drop_nulls().unique().to_list()]


def _all_names(exports: Any, pseudonyms: Pseudonyms) -> dict[str, str]:
    """Every name any feed gives a customer (older spellings too) -> that customer's token."""
    names: dict[str, str] = {}
    for frame in _frames(exports).values():
        if "customer_name" not in frame.columns or "customer_id" not in frame.columns:
            continue
        pairs = frame.select("customer_id", "customer_name").drop_nulls().unique()
        for customer_id, name in pairs.iter_rows():
            token = pseudonyms.tokens.get(normalise_guid(customer_id))
            if token and name.strip():
                names[name] = token
    return names


_NAME_COLUMNS = {"customername", "companyname", "displayname", "userprincipalname"}
_QUOTED_VALUE = re.compile(r"value '(?:[^'\\]|\\.)*'")


def pseudonymized_error(error: InputFileError, key: PseudonymKey) -> InputFileError:
    """A loading error as a pseudonymized run may print it: every tenant id as its pseudo id, and the value
    of a name column withheld (no name lookup exists yet when loading failed)."""
    def guid(match: re.Match) -> str:
        return key.pseudo_id(match.group(1))

    problems = []
    for problem in error.problems:
        text, fix = GUID_IN_TEXT.sub(guid, problem.problem), GUID_IN_TEXT.sub(guid, problem.fix)
        if problem.column and "".join(c for c in problem.column.casefold() if c.isalnum()) in _NAME_COLUMNS:
            text = _QUOTED_VALUE.sub("value (withheld: pseudonymized run)", text)
        problems.append(replace(problem, file=GUID_IN_TEXT.sub(guid, problem.file), problem=text, fix=fix))
    return InputFileError(problems)


def _scrubbed(warning: str, pseudonyms: Pseudonyms, names: Mapping[str, str]) -> str:
    text = pseudonyms.text(warning, names)
    if any(len(name) >= 4 and name in text for name in names):   # a form the replacement did not foresee
        return "a loader warning that would name a customer is withheld (pseudonymized run)"
    return text


# ---------------------------------------------------------------------------
# The local name lookup (beside the key, never in the reports)
# ---------------------------------------------------------------------------
def update_mapping(key: PseudonymKey, exports: Any) -> Path:
    """Merge this book's customers into the key's lookup CSV (mode 0600): token, pseudo id, tenant id, name."""
    pseudonyms = Pseudonyms.for_ids(key, _ids(exports.deployment, exports.usage))
    latest = (pl.concat([exports.deployment.select("customer_id", "customer_name", "processed_at"),
                         exports.usage.select("customer_id", "customer_name", "processed_at")])
              .drop_nulls("customer_id").sort("processed_at")
              .group_by("customer_id", maintain_order=True).agg(pl.col("customer_name").drop_nulls().last()))
    rows: dict[str, dict[str, str]] = {}
    target = key.mapping_path
    if target.is_file():
        with target.open(encoding="utf-8", newline="") as stream:
            for row in csv.DictReader(stream):
                if row.get("customer_id"):
                    rows[row["customer_id"]] = {k: _unneutralised(v or "") for k, v in row.items() if k}
    for customer_id, name in latest.iter_rows():
        rows[customer_id] = {"token": pseudonyms.tokens[customer_id], "pseudo_customer_id": pseudonyms.ids[customer_id],
                             "customer_id": customer_id, "customer_name": name or ""}
    frame = pl.DataFrame(sorted(rows.values(), key=lambda r: (r["token"], r["customer_id"])),
                         schema={"token": pl.String, "pseudo_customer_id": pl.String, "customer_id": pl.String,
                                 "customer_name": pl.String})
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(csv_bytes(frame))
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def _unneutralised(value: str) -> str:
    """A cell as it was before `store.neutralise_formulas` prefixed it."""
    return restore_formula_cell(value)
