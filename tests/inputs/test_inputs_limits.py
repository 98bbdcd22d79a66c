"""Memory bounds on legal but hostile inputs: a page whose records each carry a key of their own, a giant field,
a giant line (issue 17, item 3). Peak memory itself is measured by `make bench-json`, not asserted here."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from adoption_kit.errors import InputFileError
from adoption_kit.inputs import load_exports
from adoption_kit.inputs.json_pages import _read_json_records
from adoption_kit.inputs.limits import MAX_FIELD_BYTES, MAX_LINE_BYTES, many_distinct_keys

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus"))
import make_corpus as mc  # noqa: E402


def test_distinct_key_fingerprint():
    assert not many_distinct_keys(mc.page([mc.deployment()] * 2000))
    assert not many_distinct_keys(mc.page([mc.deployment()] * 2000, indent=2))
    assert many_distinct_keys(mc.page([mc.deployment(**{f"extra{i}": i}) for i in range(2000)]))
    assert many_distinct_keys(mc.page([mc.deployment(**{f"x{i:05d}y": 1}) for i in range(2000)], indent=2))


def test_a_page_with_a_key_of_its_own_per_record_keeps_the_documented_fields_only(tmp_path):
    records = [mc.deployment(mc.T1 if i % 2 else mc.T2, productId=f"{i:08X}-B296-42F0-B197-1E91E994B900",
                             productName=f"PRODUCT {i}", **{f"extra{i}": i}) for i in range(2000)]
    text = mc.page(records).decode("utf-8")
    frame = _read_json_records(text, "deployment.json")
    assert frame is not None and frame.height == 2000
    assert set(frame.columns) == set(mc.DEPLOYMENT_FIELDS)           # no column per extra key
    (tmp_path / "deployment.json").write_bytes(mc.page(records))
    (tmp_path / "usage.json").write_bytes(mc.page(mc.book_usage()))
    exports = load_exports(tmp_path)
    assert exports.deployment.height == 2000
    assert exports.deployment.get_column("licenses_sold").sum() == 1000 * 10 + 1000 * 5


def test_a_page_of_unknown_keys_is_still_named_by_its_first_keys(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"Value": [{f"k{i}": i for i in range(600)}]}), encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        load_exports(tmp_path)
    assert "is not a recognised Partner Center export (columns: k0, k1, k2" in str(error.value)


def test_a_giant_json_field_is_refused_before_decoding(tmp_path):
    (tmp_path / "deployment.json").write_bytes(mc.page([mc.deployment(customerName="x" * (MAX_FIELD_BYTES + 10))]))
    with pytest.raises(InputFileError) as error:
        load_exports(tmp_path)
    assert len(error.value.problems) == 1
    assert "holds a field of over 1 MiB (near byte " in str(error.value)


def test_a_giant_csv_line_is_refused_before_decoding(tmp_path):
    header = ",".join(mc.DEPLOYMENT_FIELDS)
    (tmp_path / "deployment.csv").write_text(header + "\r\n" + "y" * (MAX_LINE_BYTES + 1) + "\r\n", encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        load_exports(tmp_path)
    assert "has a line of over 4 MiB (starting at byte " in str(error.value)


def _longest_run(data: bytes, stops: bytes) -> int:
    best = run = 0
    for octet in data:
        run = 0 if octet in stops else run + 1
        best = max(best, run)
    return best


def test_the_block_shortcut_never_misses_a_long_run():
    """The shortcut may answer "maybe" too often, never "no" when a run over the limit exists: checked against
    a byte-by-byte count on random data with a small limit, and on the edge cases (run at the start, the end,
    exactly limit, limit + 1)."""
    import random

    from adoption_kit.inputs.limits import _may_hold_run_over

    rng = random.Random(14)
    limit = 8
    cases = [b"x" * (limit + 1), b"\n" + b"x" * (limit + 1), b"x" * (limit + 1) + b"\n", b"x" * limit + b"\n" * 3,
             (b"x" * limit + b"\n") * 5, b""]
    cases += [bytes(rng.choice(b"ab\r\n" if rng.random() < 0.5 else b"abcdefg\n") for _ in range(rng.randrange(60)))
              for _ in range(3000)]
    for data in cases:
        if _longest_run(data, b"\r\n") > limit:
            assert _may_hold_run_over(data, b"\r\n", limit), data
    # and it lets the usual file through without the exact scan
    assert not _may_hold_run_over((b"a,b,c\r\n" * 1000), b"\r\n", 16)
