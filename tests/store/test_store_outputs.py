"""Output places are checked before anything is loaded, as one line with exit 2 (issue 17, item 6): an --out
inside the data folder, a file where a folder is expected (and the reverse), a read-only folder, a full disk;
a write that fails later (disk filled meanwhile) is one line too."""
from __future__ import annotations

import errno
import shutil
import sys
from pathlib import Path

import pytest

from adoption_kit import store
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


@pytest.fixture()
def no_loading(monkeypatch):
    """Fail the test if any export is read: the checks come first."""
    from adoption_kit.inputs import load as loader

    def refuse(*args, **kwargs):
        raise AssertionError("an export was read before the output check")
    monkeypatch.setattr(loader, "_read_raw_export", refuse)


def _one_error(argv: list[str], capsys) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "; fix: " in lines[0], captured
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_metrics_out_inside_the_data_folder(book, capsys, no_loading):
    line = _one_error(["metrics", str(book), "--level", "customer", "--out", str(book / "out" / "c.csv")], capsys)
    assert "is inside the data folder" in line and not (book / "out").exists()


def test_report_out_inside_the_data_folder(book, capsys, no_loading):
    line = _one_error(["report", str(book), "--out", str(book / "reports"), "--dry-run"], capsys)
    assert "is inside the data folder" in line


def test_report_out_is_a_file_and_metrics_out_is_a_folder(book, tmp_path, capsys, no_loading):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert "is a file; fix: give a folder" in _one_error(["report", str(book), "--out", str(tmp_path / "file")],
                                                           capsys)
    assert "is a folder; fix:" in _one_error(["metrics", str(book), "--level", "customer", "--out",
                                             str(tmp_path)], capsys)
    assert "is a file, not a folder" in _one_error(["metrics", str(book), "--level", "customer", "--out",
                                                   str(tmp_path / "file" / "c.csv")], capsys)


def test_a_read_only_out(book, tmp_path, capsys, monkeypatch, no_loading):
    monkeypatch.setattr(store.os, "access", lambda path, mode: False)   # as for a user (root may write anywhere)
    line = _one_error(["report", str(book), "--out", str(tmp_path / "reports")], capsys)
    assert f"{tmp_path} is not writable" in line


def test_a_full_disk(book, tmp_path, capsys, monkeypatch, no_loading):
    monkeypatch.setattr(store.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 << 30, 10 << 30, 1 << 20))
    line = _one_error(["metrics", str(book), "--level", "customer", "--out", str(tmp_path / "c.csv")], capsys)
    assert "only 1 MB left on that disk" in line


def test_a_disk_filling_during_the_write_is_one_line(book, tmp_path, capsys, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_bytes", full)
    line = _one_error(["metrics", str(book), "--level", "customer", "--out", str(tmp_path / "c.csv")], capsys)
    assert "cannot be written (No space left on device)" in line and not (tmp_path / "c.csv").exists()
