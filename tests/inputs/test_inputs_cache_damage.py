"""The parsed cache cannot lie: bits flipped anywhere in a cached entry give the cold run's results, a warning
naming the file once, and a rewritten entry."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from adoption_kit.cli import main
from adoption_kit.inputs.cache import ParsedCache

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus"))
import make_corpus as mc  # noqa: E402


def _book(folder: Path) -> None:
    folder.mkdir()
    # Many customers, so that a flipped bit could move a row to another customer if it were trusted.
    tenants = [f"{i:08X}-B14E-4888-967B-CA4BB2CF1234" for i in range(1, 60)]
    (folder / "deployment.json").write_bytes(mc.page(
        [mc.deployment(t, customerName=f"Customer {i}", licensesSold=10 + i, licensesDeployed=5 + i % 5)
         for i, t in enumerate(tenants)]))
    (folder / "usage.json").write_bytes(mc.page(
        [mc.usage(t, "EXO", customerName=f"Customer {i}", licensesActive=i % 5, licensesQualified=5 + i % 5)
         for i, t in enumerate(tenants)]))


def _metrics(data: Path, out: Path, capsys) -> tuple[int, bytes, list[str]]:
    code = main(["metrics", str(data), "--level", "customer", "--out", str(out)])
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning")]
    return code, out.read_bytes() if out.exists() else b"", warnings


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file() and p.suffix in (".parquet", ".json"))


@pytest.mark.parametrize("seed", range(6))
def test_flipped_bits_in_cached_files_give_the_cold_run(tmp_path, monkeypatch, capsys, seed):
    monkeypatch.setenv("ADOPTION_KIT_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    _book(data)
    cold = _metrics(data, tmp_path / "cold.csv", capsys)
    assert cold[0] == 0 and cold[2] == []
    entries = _entries(tmp_path / "cache")
    assert len(entries) == 4                              # two files: Parquet + metadata each
    assert _metrics(data, tmp_path / "warm.csv", capsys) == cold   # a clean hit changes nothing

    rng = random.Random(seed)
    damaged = entries[seed % len(entries)]
    octets = bytearray(damaged.read_bytes())
    for _ in range(1 + seed):                             # one to six flipped bits
        position = rng.randrange(len(octets))
        octets[position] ^= 1 << rng.randrange(8)
    damaged.write_bytes(bytes(octets))

    code, csv, warnings = _metrics(data, tmp_path / "after.csv", capsys)
    assert (code, csv) == cold[:2]
    assert len(warnings) == 1, warnings                    # named once...
    assert warnings[0].startswith(f"warning: {data}") and "parsed-cache entry was damaged" in warnings[0]
    assert _metrics(data, tmp_path / "again.csv", capsys) == cold   # ...and once rewritten, silent again
    assert len(_entries(tmp_path / "cache")) == 4


def test_a_panic_while_reading_an_entry_is_a_miss(tmp_path, monkeypatch):
    """polars panics raise pyo3's PanicException, a BaseException: still a miss, never a crash."""
    import polars as pl

    cache = ParsedCache(tmp_path)
    from adoption_kit import schema
    frame = pl.DataFrame(schema={"source_file": pl.String, **schema.DEPLOYMENT_COLUMNS})
    cache.write("ab" * 32, "x", schema.DEPLOYMENT, frame, [])

    class Panic(BaseException):
        pass

    def panic(*args, **kwargs):
        raise Panic("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(pl, "read_parquet", panic)
    assert cache.read("ab" * 32, "x") is None
    assert len(cache.notes) == 1 and "unwrap" in cache.notes[0]
    assert list(tmp_path.rglob("*.parquet")) == []         # forgotten: this run rewrites it


def test_keyboard_interrupt_while_reading_is_not_swallowed(tmp_path, monkeypatch):
    import polars as pl

    from adoption_kit import schema
    cache = ParsedCache(tmp_path)
    frame = pl.DataFrame(schema={"source_file": pl.String, **schema.DEPLOYMENT_COLUMNS})
    cache.write("cd" * 32, "x", schema.DEPLOYMENT, frame, [])

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl, "read_parquet", interrupt)
    with pytest.raises(KeyboardInterrupt):
        cache.read("cd" * 32, "x")
