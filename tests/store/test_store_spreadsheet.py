"""Every CSV the kit writes opened by a real spreadsheet (LibreOffice headless) in comma, semicolon and tab mode:
no cell of any of them may hold a formula, whatever the customer and product names carry."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

from adoption_kit.cli import main
from adoption_kit.store import csv_bytes, neutralise_formula_cell, restore_formula_cell

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus"))
import make_corpus as mc  # noqa: E402

# Payloads a spreadsheet runs as formulas in one separator mode or another (DDE included).
PAYLOADS = ["Acme;=cmd|' /C calc'!A0", ";=1+1", "=2+2", "Tab\t=3+3", "a,=4+4", "@SUM(1+1)", "+5+5",
            "-6+6", "x;\t=7+7", "q;\"=8+8", "'=9+9", "Ltd\r\n=10+10", "ok; -11+11"]
SEPARATORS = {"comma": 44, "semicolon": 59, "tab": 9}


def _pieces(cell: str) -> list[str]:
    return re.split(r"[,;\t\r\n]", cell)


@pytest.mark.parametrize("payload", PAYLOADS + ["plain", "", "Contoso - Sales", "''=x", "\t", ";;"])
def test_neutralised_cell_has_no_formula_start_in_any_piece_and_round_trips(payload):
    cell = neutralise_formula_cell(payload)
    assert restore_formula_cell(cell) == payload
    for piece in _pieces(cell):
        assert not piece.lstrip(' "').startswith(("=", "+", "-", "@")), (payload, cell)


def test_csv_bytes_quotes_every_text_field():
    text = csv_bytes(pl.DataFrame({"name": ["a", "12", None], "n": [1, 2, 3]})).decode()
    assert text.splitlines() == ["name,n", '"a",1', '"12",2', ",3"]
    assert csv_bytes(pl.DataFrame({"a,b": [1], "=x": [2]})).decode().splitlines()[0] == "\"a,b\",'=x"


def _hostile_book(folder: Path) -> None:
    deployment = [mc.deployment(mc.T1, customerName=PAYLOADS[0], productName="OFFICE 365 E3;=1+1"),
                  mc.deployment(mc.T2, customerName=";=1+1\t=2+2", licensesDeployed=1, licensesSold=5)]
    usage = [mc.usage(mc.T1, "EXO", customerName=PAYLOADS[0]), mc.usage(mc.T2, "EXO", customerName=";=1+1\t=2+2",
                                                                        licensesActive=0, licensesQualified=1)]
    folder.mkdir(parents=True)
    (folder / "deployment.json").write_bytes(mc.page(deployment))
    (folder / "usage.json").write_bytes(mc.page(usage))


def _kit_csvs(tmp_path: Path, capsys) -> list[Path]:
    """Every kind of CSV the kit writes: metrics at each level, the low-adoption action CSV, the name lookup."""
    from adoption_kit.analysis import prepare
    from adoption_kit.report.actions import action_list
    from adoption_kit.store import write_table

    data = tmp_path / "data"
    _hostile_book(data)
    out = tmp_path / "csv"
    written = []
    for level in ("workload", "product", "customer", "portfolio"):
        written.append(out / f"{level}.csv")
        assert main(["metrics", str(data), "--level", level, "--out", str(written[-1])]) == 0
    key = tmp_path / "keys" / "pseudonym.key"
    assert main(["metrics", str(data), "--level", "customer", "--out", str(out / "shared.csv"),
                 "--pseudonym-key", str(key)]) == 0
    written += [out / "shared.csv", key.with_name("pseudonym-map.csv")]
    actions = action_list(prepare(str(data)))
    written.append(write_table(actions, out / "low-adoption-accounts.csv").path)
    capsys.readouterr()
    assert all(p.is_file() for p in written)
    assert PAYLOADS[0] in restore_formula_cell(written[-2].read_text(encoding="utf-8"))   # the names are there
    return written


def _cells(ods: Path) -> list[tuple[str, str]]:
    """(attributes, text) of every cell of the first sheet of an .ods file."""
    content = zipfile.ZipFile(ods).read("content.xml").decode("utf-8")
    return re.findall(r"<table:table-cell([^>]*?)(?:/>|>(.*?)</table:table-cell>)", content, re.S)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (libreoffice-calc-nogui) not installed")
def test_no_kit_csv_holds_a_formula_in_any_spreadsheet_separator_mode(tmp_path, capsys):
    files = _kit_csvs(tmp_path, capsys)
    profile = (tmp_path / "lo-profile").as_uri()
    for mode, code in SEPARATORS.items():
        target = tmp_path / mode
        # Tokens: separator, text delimiter ", UTF-8, from line 1, default formats, ..., 13th = evaluate formulas.
        options = f"CSV:{code},34,76,1,,,false,false,false,false,false,-1,true"
        run = subprocess.run(["soffice", f"-env:UserInstallation={profile}", "--headless", "--norestore",
                              "--convert-to", "ods", "--infilter=" + options, "--outdir", str(target),
                              *map(str, files)], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        for csv_file in files:
            ods = target / (csv_file.stem + ".ods")
            assert ods.is_file(), (mode, csv_file, run.stdout, run.stderr)
            cells = _cells(ods)
            assert cells, (mode, csv_file)
            formulas = [(a, t) for a, t in cells if "table:formula" in a]
            assert formulas == [], (mode, csv_file.name, formulas[:3])
