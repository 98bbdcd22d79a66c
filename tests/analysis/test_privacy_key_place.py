"""A pseudonym key refused for its place is never created there: checked before anything is written, anywhere
under the output folder, for `metrics` and `report` (--dry-run included)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adoption_kit.cli import main

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus"))
import make_corpus as mc  # noqa: E402


@pytest.fixture()
def book(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "deployment.json").write_bytes(mc.page(mc.book_deployment()))
    (folder / "usage.json").write_bytes(mc.page(mc.book_usage()))
    return folder


@pytest.mark.parametrize("where", ["out/pseudonym.key", "out/keys/deep/pseudonym.key"])
@pytest.mark.parametrize("command", [["metrics", "--level", "customer", "--out", "{out}/customers.csv"],
                                     ["report", "--out", "{out}", "--dry-run"],
                                     ["report", "--out", "{out}"]])
def test_a_key_inside_the_outputs_is_refused_and_never_written(book, tmp_path, capsys, where, command):
    out = tmp_path / "out"
    key = tmp_path / where
    argv = [part.format(out=out) for part in command]
    code = main([argv[0], str(book), *argv[1:], "--pseudonym-key", str(key)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "must stay out of what you share" in lines[0], lines
    assert not key.exists() and not key.with_name("pseudonym-map.csv").exists()
    assert not out.exists() or not any(out.rglob("*"))            # nothing at all written


def test_a_key_beside_the_outputs_is_fine(book, tmp_path, capsys):
    key = tmp_path / "keys" / "pseudonym.key"
    assert main(["metrics", str(book), "--level", "customer", "--out", str(tmp_path / "out" / "c.csv"),
                 "--pseudonym-key", str(key)]) == 0
    assert key.is_file() and key.with_name("pseudonym-map.csv").is_file()
    capsys.readouterr()


def test_loading_errors_of_a_pseudonymized_run_carry_no_tenant_id_or_name(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    long_name = "Contoso " + "x" * 1200          # refused: longer than any real name
    (folder / "deployment.json").write_bytes(mc.page([mc.deployment(customerName=long_name),
                                                      mc.deployment(mc.T2, licensesSold=-5)]))
    (folder / "usage.json").write_bytes(mc.page(mc.book_usage()))
    key = tmp_path / "keys" / "pseudonym.key"
    code = main(["metrics", str(folder), "--level", "customer", "--out", str(tmp_path / "out" / "c.csv"),
                 "--pseudonym-key", str(key)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ")
    assert mc.T1.lower() not in err.lower() and mc.T2.lower() not in err.lower()
    assert "xxxxxxxx" not in err and "Contoso" not in err
