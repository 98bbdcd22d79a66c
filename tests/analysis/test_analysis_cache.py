"""The analysis cache: `prepare` of unchanged files, parameters and code is read back, frame for frame, and any
change to them computes again (adoption_kit.analysis.analysis_cache, store.FrameCache)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import polars as pl
import pytest

from adoption_kit import analysis
from adoption_kit.config import SAMPLE_DIR, Thresholds


@pytest.fixture()
def cached(tmp_path, monkeypatch) -> Path:
    """A copy of the sample, with the analysis cache on in a folder of its own."""
    monkeypatch.setenv("ADOPTION_KIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADOPTION_KIT_ANALYSIS_CACHE", "on")
    data = tmp_path / "data"
    shutil.copytree(SAMPLE_DIR, data)
    return data


def _count_loads(monkeypatch) -> list[Path]:
    loads: list[Path] = []
    real_load = analysis.load

    def counting_load(path, **kwargs):
        loads.append(path)
        return real_load(path, **kwargs)

    monkeypatch.setattr(analysis, "load", counting_load)
    return loads


def _assert_same(first: analysis.Analysis, second: analysis.Analysis) -> None:
    for part in ("metrics", "book"):
        for field in dataclasses.fields(getattr(first, part)):
            a, b = getattr(getattr(first, part), field.name), getattr(getattr(second, part), field.name)
            if isinstance(a, pl.DataFrame):
                assert a.schema == b.schema and a.equals(b), f"{part}.{field.name}"   # row order included
            else:
                assert a == b, f"{part}.{field.name}"
    assert first.ranking.equals(second.ranking)
    for name in ("thresholds", "processed_at_min", "processed_at_max", "sources", "warnings", "meta"):
        assert getattr(first, name) == getattr(second, name), name


def test_an_unchanged_folder_is_read_back_frame_for_frame(cached, monkeypatch):
    loads = _count_loads(monkeypatch)
    (cached / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")   # skipped, with a warning
    first = analysis.prepare(cached)
    second = analysis.prepare(cached)
    assert len(loads) == 1                      # the second came from the cache
    assert first.book.history_workloads.height and first.warnings   # a real book: history and loader warnings
    _assert_same(first, second)


@pytest.mark.parametrize("change", ["file", "thresholds", "as_of", "today", "new file"])
def test_any_change_computes_again(cached, monkeypatch, change):
    loads = _count_loads(monkeypatch)
    analysis.prepare(cached)
    kwargs: dict = {}
    if change == "file":   # one count changed in one page: the bytes differ, the name does not
        page = next(cached.glob("license-deployment-page-1.json"))
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace('"licensesSold":', '"licensesSold":1', 1), encoding="utf-8")
    elif change == "new file":
        (cached / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    elif change == "thresholds":
        kwargs["thresholds"] = Thresholds(deploy=0.7)
    elif change == "as_of":
        kwargs["as_of"] = "2026-10-15"
    else:
        kwargs["today"] = "2026-11-20"
    again = analysis.prepare(cached, **kwargs)
    assert len(loads) == 2
    _assert_same(again, analysis.prepare(cached, **kwargs))   # and that one is cached in turn
    assert len(loads) == 2


def test_a_damaged_entry_is_a_miss_and_is_rewritten(cached, monkeypatch, tmp_path):
    loads = _count_loads(monkeypatch)
    first = analysis.prepare(cached)
    (frame,) = [p for p in (tmp_path / "cache" / "analyses").rglob("metrics_customers.parquet")]
    frame.write_bytes(frame.read_bytes()[:-20] + b"\0" * 20)
    second = analysis.prepare(cached)
    assert len(loads) == 2
    _assert_same(first, second)
    analysis.prepare(cached)
    assert len(loads) == 2


def test_off_and_pseudonymized_runs_always_compute(cached, monkeypatch, tmp_path):
    from adoption_kit.privacy import PseudonymKey

    loads = _count_loads(monkeypatch)
    key = PseudonymKey(tmp_path / "key", b"k" * 32)
    analysis.prepare(cached, pseudonym_key=key)
    analysis.prepare(cached, pseudonym_key=key)
    monkeypatch.setenv("ADOPTION_KIT_ANALYSIS_CACHE", "off")
    analysis.prepare(cached)
    analysis.prepare(cached)
    assert len(loads) == 4
    assert not (tmp_path / "cache" / "analyses").exists()


def test_only_the_most_recent_analyses_are_kept(cached, monkeypatch, tmp_path):
    for deploy in (0.5, 0.6, 0.7, 0.75, 0.8):
        analysis.prepare(cached, thresholds=Thresholds(deploy=deploy))
    entries = [p for p in (tmp_path / "cache" / "analyses").iterdir() if not p.name.startswith(".")]
    assert len(entries) == analysis.ANALYSES_KEPT
