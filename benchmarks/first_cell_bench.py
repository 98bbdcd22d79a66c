"""Issue 19: the portfolio notebook's first cell (its derived-values cell: imports, checks, `analysis.prepare`) on a
large book, cold, with the parsed cache filled, and with the analysis cache filled too.

    .venv/bin/python benchmarks/first_cell_bench.py FOLDER [--repeat 2] [--write]
    make bench-first-cell [BOOK=folder]    # default: a 200,000-customer sample book, generated if missing

Each run is a fresh interpreter executing the notebook's own parameters cell (with `data_path` set to FOLDER) and
then its first code cell after it, as papermill's kernel would, timed from the start of that cell. The caches live
in a temporary folder of this run ($ADOPTION_KIT_CACHE), so "cold" is cold. Prints one JSON line per run and the
median per state; `--write` puts them in BENCHMARKS.md. A script, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "reports" / "10-portfolio-overview.ipynb"
START, END = "<!-- first-cell-bench:start -->", "<!-- first-cell-bench:end -->"

RUNNER = """
import json, resource, sys, time
parameters, cell, folder = json.loads(sys.argv[1])
namespace = {}
exec(parameters, namespace)
namespace["data_path"] = folder
started = time.perf_counter()
exec(cell, namespace)
seconds = time.perf_counter() - started
result = namespace["result"]
print(json.dumps({"seconds": round(seconds, 2), "customers": result.customers.height,
                  "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def cells() -> tuple[str, str]:
    """The source of the parameters cell and of the code cell after it."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    index = next(i for i, c in enumerate(code) if "parameters" in c.get("metadata", {}).get("tags", []))
    return "".join(code[index]["source"]), "".join(code[index + 1]["source"])


def run(folder: Path, cache: Path, analysis_cache: bool) -> dict:
    env = {**os.environ, "ADOPTION_KIT_CACHE": str(cache),
           "ADOPTION_KIT_ANALYSIS_CACHE": "on" if analysis_cache else "off"}
    out = subprocess.run([sys.executable, "-c", RUNNER, json.dumps([*cells(), str(folder)])], env=env, cwd=ROOT,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeat", type=int, default=2, help="warm runs per state (the median counts)")
    parser.add_argument("--write", action="store_true", help="write the figures into BENCHMARKS.md")
    args = parser.parse_args(argv)
    folder = args.folder.resolve()
    size_gb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e9
    figures: dict[str, list[dict]] = {"cold (no cache)": [], "parsed cache filled": [],
                                      "parsed and analysis caches filled": []}
    with tempfile.TemporaryDirectory(prefix="first-cell-") as temporary:
        cache = Path(temporary) / "cache"
        figures["cold (no cache)"].append(run(folder, cache, analysis_cache=True))   # fills both caches
        for _ in range(args.repeat):
            figures["parsed cache filled"].append(run(folder, cache, analysis_cache=False))
            figures["parsed and analysis caches filled"].append(run(folder, cache, analysis_cache=True))
        for state, runs in figures.items():
            for one in runs:
                print(json.dumps({"state": state, **one}))
    medians = {state: statistics.median(r["seconds"] for r in runs) for state, runs in figures.items()}
    peaks = {state: max(r["peak_mib"] for r in runs) for state, runs in figures.items()}
    customers = figures["cold (no cache)"][0]["customers"]
    for state in figures:
        print(f"{state}: {medians[state]:.1f} s, peak {peaks[state]:,} MiB")
    if args.write:
        from markdown_section import replace_section

        rows = "\n".join(f"| {state} | {medians[state]:.1f} s | {peaks[state]:,} MiB |" for state in figures)
        section = "\n".join([
            START, "### The portfolio notebook's first cell on a large book (issue 19; `make bench-first-cell`)", "",
            f"`benchmarks/first_cell_bench.py {args.folder} --repeat {args.repeat}`, {date.today()}: "
            f"{customers:,} customers, {size_gb:.1f} GB of pages; the notebook's parameters cell and its first "
            f"code cell (imports, checks, `analysis.prepare`) in a fresh interpreter per run, median of "
            f"{args.repeat} warm runs. Machine: {platform.machine()}, {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} after.", "",
            "| state | first cell | peak resident |", "|---|---:|---:|", rows, "",
            "Cold fills both caches (the analysis cache's write is part of that time). With the parsed cache alone "
            "the cell still checks every page's cached rows again and computes every metric and the book over "
            "time; with the analysis cache it lists the folder, hashes every file (the key: about 1 s for 2 GB on "
            "two threads), and reads the frames back, checksum first (analysis.analysis_cache). Target: at most "
            "20 s warm.", "", END])
        replace_section(ROOT / "BENCHMARKS.md", START, END, section)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
