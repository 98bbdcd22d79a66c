"""The malformed and hostile input corpus (tests/corpus/): every case through `validate` and `metrics`,
as cases.toml says.

Each case either loads with its documented warning(s) and figures, or fails with one line per problem naming
the file, the row/column and the fix, exit code 2, no traceback and nothing written.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest

from adoption_kit.cli import main

CORPUS = Path(__file__).parents[1] / "corpus"
CASES: dict[str, dict] = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))
LOADERS = {"deployment JSON", "deployment CSV", "usage JSON", "usage CSV", "subscriptions CSV", "subscriptions JSON",
           "activity CSV", "activity JSON", "Insights OfficeUsage TSV", "Insights OfficeUsage CSV",
           "Insights DynamicsUsage CSV"}

sys.path.insert(0, str(CORPUS))
import make_corpus  # noqa: E402


def _loaders(case: dict) -> set[str]:
    return {part.strip() for part in case["loader"].split(",")}


def test_corpus_table_folders_and_generator_agree():
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert set(CASES) == folders == set(make_corpus.CASES)
    assert len(CASES) >= 40
    covered = set().union(*(_loaders(c) for c in CASES.values()))
    assert LOADERS <= covered, LOADERS - covered
    for name, case in CASES.items():
        assert case["outcome"] in ("ok", "error"), name
        assert _loaders(case) <= LOADERS | {"any"}, name
        if case["outcome"] == "error":
            assert case["errors"] and case["lines"] >= 1, name
        else:
            assert "warnings" in case, name


def test_corpus_files_are_what_the_generator_writes(tmp_path):
    """The committed bytes (UTF-16, Windows-1252, BOMs...) are reproducible: `python tests/corpus/make_corpus.py`."""
    make_corpus.write(tmp_path)
    written = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(CORPUS).as_posix(): p.read_bytes() for p in CORPUS.rglob("*")
                 if p.is_file() and p.parent != CORPUS and "__pycache__" not in p.parts}
    assert written.keys() == committed.keys()
    assert [name for name in written if written[name] != committed[name]] == []


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_case(name, tmp_path, capsys):
    case = CASES[name]
    folder = CORPUS / name
    out_dir = tmp_path / "out"
    out = out_dir / "customers.csv"
    code_v, out_v, err_v = _run(["validate", str(folder)], capsys)
    code_m, out_m, err_m = _run(["metrics", str(folder), "--level", "customer", "--out", str(out)], capsys)
    for text in (out_v, err_v, out_m, err_m):
        assert "Traceback" not in text

    if case["outcome"] == "error":
        assert (code_v, code_m) == (2, 2), (out_v, err_v)
        for err in (err_v, err_m):
            lines = err.strip().splitlines()
            assert len(lines) == case["lines"], lines
            for line in lines:
                assert line.startswith(f"error: {folder}"), line          # names the file (or the folder)
                assert "; fix: " in line, line
            for expected in case["errors"]:
                assert expected in err, (expected, err)
        assert not out.exists() and not (out_dir.exists() and any(out_dir.iterdir()))
        assert out_v == "" and out_m == ""
        return

    assert (code_v, code_m) == (0, 0), (err_v, err_m)
    printed = [line for line in out_v.splitlines() if line.startswith("warning: ")]
    shown = [line for line in err_m.splitlines() if line.startswith("warning: ")]
    assert printed == shown                       # metrics shows the same warnings as validate
    assert len(printed) == len(case["warnings"]), printed
    for expected in case["warnings"]:
        assert any(expected in line for line in printed), (expected, printed)
    frame = pl.read_csv(out, infer_schema_length=None)
    if "rows" in case:
        assert frame.height == case["rows"]
    for figure in case.get("figures", []):
        match = frame.filter(pl.col("customer_id") == figure["customer"])
        assert match.height == 1, figure
        value = match.get_column(figure["column"])[0]
        expected = figure["value"]
        if expected == "":
            assert value is None, (figure, value)
        elif isinstance(expected, float):
            assert value == pytest.approx(expected), (figure, value)
        else:
            assert value == expected, (figure, value)


def test_activity_user_names_never_reach_the_metrics(tmp_path, capsys):
    folder = CORPUS / "activity_valid_with_hostile_user_names"
    report = (folder / make_corpus.activity_path()).read_text(encoding="utf-8-sig").splitlines()
    names = set()
    for line in report[1:]:
        cells = line.split(",")
        names.update({cells[1], cells[2]})
    names |= {"<img src=x onerror=alert(1)>@contoso.com", "Zoë <script>alert(2)</script>"}
    for level in ("workload", "product", "customer", "portfolio"):
        out = tmp_path / f"{level}.csv"
        assert main(["metrics", str(folder), "--level", level, "--out", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        assert not [n for n in names if n and n in text], level
        assert "User 00" not in text and "onmicrosoft" not in text
    capsys.readouterr()


@pytest.mark.kernel
def test_one_customer_portfolio_renders_end_to_end(tmp_path):
    """A 1-customer book through the real report templates: medians of one, one-point charts, a ranking of one."""
    from adoption_kit.render import find_unsafe_html, render_reports

    result = render_reports(CORPUS / "one_customer_portfolio", tmp_path / "reports", workers=2, today="2026-11-20",
                            progress=False)
    assert result.exit_code == 0, [r.describe_error() for r in result.failures]
    assert result.count("rendered") == 3
    for report in result.reports:
        page = (result.run_dir / report.job.html).read_text(encoding="utf-8")
        assert find_unsafe_html(page) == [] and report.headline, report.job.html
    portfolio = next(r for r in result.reports if r.job.kind == "portfolio")
    assert portfolio.headline["customers"] == 1
