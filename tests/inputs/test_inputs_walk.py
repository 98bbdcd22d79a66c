"""Walking the data folder: links leaving it are named and not followed (nothing of their target is echoed),
dangling links and compressed exports are named, an unreadable sub-folder is an error (issue 17, item 8)."""
from __future__ import annotations

import gzip
import os
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


def _validate(folder: Path, capsys) -> tuple[int, str, str]:
    code = main(["validate", str(folder)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_link_leaving_the_data_folder_is_named_and_never_read(book, tmp_path, capsys):
    secret = tmp_path / "secret.csv"
    secret.write_text("root:$6$very-secret-hash:19000:0:99999:7:::\n", encoding="utf-8")
    (book / "shadow.csv").symlink_to(secret)
    code, out, err = _validate(book, capsys)
    assert code == 0
    assert f"warning: {book / 'shadow.csv'}: a symbolic link to a file outside the data folder; not followed" in out
    assert "very-secret-hash" not in out + err


def test_dangling_links_folder_links_and_compressed_exports_are_named(book, tmp_path, capsys):
    (book / "gone.json").symlink_to(tmp_path / "nowhere.json")
    (book / "more").symlink_to(tmp_path)
    (book / "usage-2.json.gz").write_bytes(gzip.compress(mc.page(mc.book_usage())))
    code, out, _ = _validate(book, capsys)
    assert code == 0
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3, warnings
    assert any("gone.json: a symbolic link whose target does not exist; skipped" in w for w in warnings)
    assert any("more: a symbolic link to a folder; not followed" in w for w in warnings)
    assert any("usage-2.json.gz: a compressed export (.gz); skipped (unpack it" in w for w in warnings)


def test_a_link_inside_the_data_folder_is_read(book, capsys):
    (book / ".store").mkdir()   # hidden: not walked, but inside the data folder
    (book / "deployment.json").rename(book / ".store" / "deployment.json")
    (book / "deployment-link.json").symlink_to(book / ".store" / "deployment.json")
    code, out, _ = _validate(book, capsys)
    assert code == 0 and "warning" not in out


def test_an_unreadable_sub_folder_is_an_error(book, capsys, monkeypatch):
    locked = book / "activity"
    locked.mkdir()
    if os.geteuid() == 0:   # root lists every folder: make the listing fail as it does for a user
        real_scandir = os.scandir

        def scandir(path):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(locked))
            return real_scandir(path)
        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        code, out, err = _validate(book, capsys)
    finally:
        locked.chmod(0o755)
    assert code == 2
    assert err.strip().splitlines() == [f"error: {locked}: this folder cannot be read (Permission denied); fix: "
                                        f"check its permissions, or move it out of the data folder"]
