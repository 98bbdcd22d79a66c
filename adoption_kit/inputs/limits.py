"""Bounds checked on a file's raw bytes before anything decodes them: memory stays within a small multiple of
the file's size whatever it holds (issue 17, item 3).

- `check_raw_sizes`: a JSON page with a run of more than MAX_FIELD_BYTES bytes without a quote (a giant field)
  or a delimited file with a line longer than MAX_LINE_BYTES is refused with one line, before decoding.
- `many_distinct_keys`: whether a JSON page's records use more distinct keys than any export has, so that
  polars' native reader (one column per key, for every record) must not see it; the Python reader keeps
  only the documented fields instead.
"""
from __future__ import annotations

import mmap
import re

from adoption_kit.errors import InputFileError

MAX_FIELD_BYTES = 1 << 20      # 1 MiB: no Partner Center field comes near (names and codes are refused over 1,000)
MAX_LINE_BYTES = 4 << 20       # 4 MiB: an export row is a few hundred bytes; an activity row a few thousand
MAX_DISTINCT_KEYS = 512        # the largest export has about 40 fields; envelopes and links add a few
_CHUNK = 4 << 20
_FIRST_CONTENT = re.compile(rb"[^\xef\xbb\xbf\xff\xfe\x00 \t\r\n]")   # past byte-order marks and blank space


def _longest_run_without(data: bytes | mmap.mmap, stops: bytes) -> tuple[int, int]:
    """(length, start) of the longest run of bytes holding none of `stops`, in chunks (bounded memory)."""
    import numpy as np  # here, not at module level: report kernels that read a bundle never need it

    octets = np.frombuffer(data, dtype=np.uint8)
    best, best_start, last = 0, 0, -1
    for offset in range(0, octets.size, _CHUNK):
        chunk = octets[offset:offset + _CHUNK]
        hits = np.flatnonzero(np.isin(chunk, np.frombuffer(stops, dtype=np.uint8))) + offset
        if hits.size == 0:
            continue
        edges = np.concatenate(([last], hits))
        gaps = np.diff(edges) - 1
        at = int(np.argmax(gaps))
        if gaps[at] > best:
            best, best_start = int(gaps[at]), int(edges[at]) + 1
        last = int(hits[-1])
    if octets.size - 1 - last > best:
        best, best_start = octets.size - 1 - last, last + 1
    return best, best_start


def _may_hold_run_over(data: bytes | mmap.mmap, stops: bytes, limit: int) -> bool:
    """False when no run of more than `limit` bytes without any of `stops` can exist: every aligned block of
    limit // 2 bytes holds a stop (a longer run would contain a whole block). A few C-speed finds per block,
    so the exact scan runs only on the rare file that has a block without one."""
    block = max(limit // 2, 1)
    for start in range(0, len(data) - block + 1, block):
        if not any(data.find(stop, start, start + block) >= 0 for stop in (bytes([b]) for b in stops)):
            return True
    return False


def check_raw_sizes(data: bytes | mmap.mmap, name: str) -> None:
    """Refuse a giant field (JSON) or line (delimited text) before decoding it. `data`: the bytes, or a map of
    the file."""
    first = _FIRST_CONTENT.search(data)
    body = data[first.start():first.start() + 64] if first else b""
    if body[:1] in (b"{", b"["):
        if not _may_hold_run_over(data, b'"', MAX_FIELD_BYTES):
            return
        length, start = _longest_run_without(data, b'"')
        if length > MAX_FIELD_BYTES:
            raise InputFileError.single(
                name, f"holds a field of over {MAX_FIELD_BYTES >> 20} MiB (near byte {start:,}), which no Partner "
                      f"Center page has", "download the page again; the file is damaged or not an export")
        return
    if not _may_hold_run_over(data, b"\r\n", MAX_LINE_BYTES):
        return
    length, start = _longest_run_without(data, b"\r\n")
    if length > MAX_LINE_BYTES:
        raise InputFileError.single(
            name, f"has a line of over {MAX_LINE_BYTES >> 20} MiB (starting at byte {start:,}), which no export "
                  f"row is", "download the export again; the file is damaged or not an export")


def many_distinct_keys(data: bytes, limit: int = MAX_DISTINCT_KEYS) -> bool:
    """Whether the JSON text uses more than `limit` distinct object keys, told by a fingerprint of each key
    (its length, first and last 8 bytes) in one vectorised pass; an underestimate only for keys crafted to
    share length, start and end."""
    import numpy as np

    octets = np.frombuffer(data, dtype=np.uint8)
    if octets.size < 4:
        return False
    quotes = np.flatnonzero(octets == 0x22)
    if quotes.size < 2:
        return False
    padded = np.concatenate([octets, np.zeros(16, dtype=np.uint8)])
    after = padded[quotes + 1]
    closing_at = np.flatnonzero((after == 0x3A) | ((after == 0x20) & (padded[quotes + 2] == 0x3A)))
    closing_at = closing_at[closing_at > 0]
    if closing_at.size <= limit:
        return False
    closing, opening = quotes[closing_at], quotes[closing_at - 1]
    lengths = closing - opening - 1
    window = np.arange(8)
    head = padded[(opening + 1)[:, None] + window]
    tail = padded[np.maximum(closing - 8, 0)[:, None] + window]
    head[window[None, :] >= lengths[:, None]] = 0
    tail[window[None, :] < (8 - lengths)[:, None]] = 0
    fingerprint = (head.view(np.uint64).ravel() * np.uint64(0x9E3779B97F4A7C15)) \
        ^ (tail.view(np.uint64).ravel() * np.uint64(0xC2B2AE3D27D4EB4F)) ^ lengths.astype(np.uint64)
    return np.unique(fingerprint).size > limit
