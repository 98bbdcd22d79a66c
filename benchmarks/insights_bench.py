"""Benchmark: a 13-month, 20,000-customer Insights OfficeUsage download, kit load vs a bare polars read.

Run:  .venv/bin/python benchmarks/insights_bench.py [--customers 20000] [--repeat 5] [--keep DIR] [--no-write]

The download is the Insights sample's OfficeUsage.tsv (adoption_kit.sample.insights, seed 1: 13 months x 5
workloads per tenant, tab-separated with IsDuplicateRowForPGA, as exports.md section 1.6 describes), alone in
its folder. Timed, best of --repeat alternating runs each (page cache warm for both):

  bare:  pl.read_csv(file, separator="\\t")          (polars defaults otherwise)
  kit:   load_exports(folder)                       (delimiter sniffing, every check, the month parse, PGA
                                                    repeats dropped, overlap check, OneDrive merge, the mapping
                                                    onto the licence frames, sha256 of the file)

The target is at most 2x (issue 14). Writes its section of BENCHMARKS.md (between the `insights-bench` markers)
unless --no-write.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from markdown_section import replace_section  # noqa: E402 - a sibling script module

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
START, END = "<!-- insights-bench:start -->", "<!-- insights-bench:end -->"


def main(argv: list[str] | None = None) -> int:
    from adoption_kit.inputs import load_exports
    from adoption_kit.sample.insights import insights_frames

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5, help="alternating bare/kit runs; the best of each counts")
    parser.add_argument("--keep", type=Path, default=None, help="write the file here (reused) instead of a temp dir")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    os.environ.setdefault("ADOPTION_KIT_CACHE", "off")

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "OfficeUsage.tsv"
        if not path.is_file():
            start = time.perf_counter()
            insights_frames(args.customers, 1)["OfficeUsage.tsv"].write_csv(path, separator="\t")
            print(f"generated in {time.perf_counter() - start:.1f} s")
        size_mb = path.stat().st_size / 1e6
        pl.read_csv(path, separator="\t")   # warm the page cache
        bare_times, kit_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            frame = pl.read_csv(path, separator="\t")
            bare_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            exports = load_exports(folder)
            kit_times.append(time.perf_counter() - start)
        assert exports.usage.get_column("customer_id").n_unique() == args.customers
        assert len(exports.snapshots) == 13
        bare, kit = min(bare_times), min(kit_times)
        pairs = sorted(k / b for k, b in zip(kit_times, bare_times))
        median_pair, load = pairs[len(pairs) // 2], os.getloadavg()[0]
        print(f"file: {frame.height:,} rows, {args.customers:,} customers x 13 months, {size_mb:,.0f} MB; "
              f"{pl.thread_pool_size()} polars threads, load average {load:.2f}")
        print(f"bare pl.read_csv(file), best of {args.repeat}: {bare:.2f} s")
        print(f"kit load_exports(folder), best of {args.repeat}: {kit:.2f} s")
        print(f"ratio kit / bare: {kit / bare:.2f}x (target <= 2x); median of paired runs {median_pair:.2f}x")
        steps = profile_steps(folder)
        for label, seconds in steps:
            print(f"  {label}: {seconds:.2f} s")
        if not args.no_write:
            write_section(section(args.customers, frame.height, size_mb, args.repeat, bare, kit, median_pair, load,
                                  steps))
            print(f"wrote {BENCHMARKS_MD}")
    return 0


# (label, function as cProfile names it): the steps of load_exports on this file, by cumulative time
_STEPS = (          ("schema check and conversion (normalise_files)", "normalise.py:normalise_files"),
          ("  of which distinct values per column", "normalise.py:_distinct_values"),
          ("  of which the trim (on distinct values where it can)", "normalise.py:_trim_mapped"),
          ("Insights mapping (resolve_insights)", "insights.py:resolve_insights"),
          ("  of which overlap/uniqueness check", "insights.py:_surely_unique"),
          ("  of which usage rows (OneDrive merge, licence columns)", "insights.py:_office_usage"),
          ("partial re-download check (partial_snapshots)", "inventory.py:partial_snapshots"),
          ("customer-name conflicts (_name_conflicts)", "duplicates.py:_name_conflicts"))


def profile_steps(folder: Path) -> list[tuple[str, float]]:
    """One profiled load_exports: the cumulative seconds of each step of _STEPS (profiling adds a little)."""
    import cProfile
    import pstats
    from concurrent.futures import ThreadPoolExecutor

    from adoption_kit.inputs import load_exports
    from adoption_kit.inputs.load import _read_raw_export

    with ThreadPoolExecutor(max_workers=1) as helper:   # the reader thread's work, timed on its own
        start = time.perf_counter()
        _read_raw_export(folder / "OfficeUsage.tsv", helper).digest.result()
        found = [("file parse, from the file in place, SHA-256 beside it (_read_raw_export)",
                  time.perf_counter() - start)]
    profiler = cProfile.Profile()
    profiler.runcall(load_exports, folder)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for label, where in _STEPS:
        total = sum(v[3] for (file, _, name), v in stats.items() if f"{Path(file).name}:{name}" == where)
        found.append((label, total))
    return found


def section(customers: int, rows: int, size_mb: float, repeat: int, bare: float, kit: float, median_pair: float,
            load: float, steps: list[tuple[str, float]]) -> str:
    verdict = "within" if kit / bare <= 2 else "over"
    return "\n".join([
        START,
        "## A 13-month Insights OfficeUsage download (issue 14)",
        "",
        f"`benchmarks/insights_bench.py`, {datetime.now(timezone.utc):%Y-%m-%d}: the Insights sample's OfficeUsage "
        f"download for {customers:,} customers x 13 months x 5 workloads ({rows:,} rows, {size_mb:,.0f} MB, "
        f"tab-separated). Bare = `pl.read_csv(file, separator=\"\\t\")`; kit = `load_exports(folder)` (every check, "
        f"month parse, PGA repeats, overlap check, OneDrive merge, mapping onto the licence frames, sha256). "
        f"Best of {repeat} alternating runs each, page cache warm, parsed-file cache off.",
        "",
        "| measure | seconds |",
        "|---|---|",
        f"| bare `pl.read_csv` | {bare:.2f} |",
        f"| kit `load_exports` | {kit:.2f} |",
        f"| **kit / bare** | **{kit / bare:.2f}x** ({verdict} the 2x target; median of paired runs "
        f"{median_pair:.2f}x) |",
        "",
        "Where the kit's time goes (one profiled run, cumulative seconds):",
        "",
        *[f"- {label}: {seconds:.2f} s" for label, seconds in steps],
        "",
        "Built since the first measurement (3.55x): counts parsed as whole numbers while reading, with the "
        "checked text path as the fallback for a file whose counts polars does not take as written; converted "
        "columns that equal their text (lower-case ids) not looked up; the Office key's uniqueness told by one "
        "combined hash. Then (2026-12-03; the same code measured 1.34 s against a bare 0.39 s that morning): the "
        "trim moved from every cell to the distinct values of the repetitive columns (normalise), those distinct "
        "values taken in one parallel select, the file parsed by polars from its path with the checks on a "
        "read-only map of it (no copy of its bytes), and the OneDrive merge's shared workloads told from the "
        "distinct names.",
        "",
        "Why the target is still missed, measured: the SHA-256 the manifest and the parsed cache need costs 0.12 s "
        "of wall time on this 2-core machine (the load takes 0.74 s with it stubbed out), since polars keeps both "
        "cores busy while it runs beside the parse; and every remaining step is one hash pass over a million "
        "rows of text (the distinct values, the id lookup, the OneDrive merge, the re-download and name checks), "
        "each about twice as slow inside the load as on its own, from page faults: polars' allocator hands "
        "freed memory back to the system at once (jemalloc's muzzy decay is 0), and the next step faults it in "
        "again. Measured with `_RJEM_MALLOC_CONF=dirty_decay_ms:30000,muzzy_decay_ms:30000` the load takes "
        "0.68-0.76 s against 0.87-0.96 s (the bare read 0.24-0.29 s); not set by the kit, because it is "
        "process-wide and raises resident memory, which issue 19 bounds. The next levers (not built): "
        "customer ids as categoricals through the load, so that each hash pass hashes integers; the checks "
        "that only need distinct (month, tenant) and (tenant, name) pairs taken in one pass.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {pl.thread_pool_size()} polars threads, "
        f"polars {pl.__version__}; load average {load:.1f} while measuring (other jobs were running: treat single "
        f"runs as noisy).",
        END,
    ])


def write_section(text_section: str) -> None:
    replace_section(BENCHMARKS_MD, START, END, text_section)


if __name__ == "__main__":
    raise SystemExit(main())
