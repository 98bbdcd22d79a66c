"""Issue 8 benchmark: bare polars read vs the kit's whole pipeline vs a plain-pandas version, with peak memory,
at three book sizes.

    .venv/bin/python benchmarks/pipeline_bench.py                 # 1,000 / 20,000 / 200,000 customers (~15 min)
    .venv/bin/python benchmarks/pipeline_bench.py --sizes 1000 20000 --no-pandas --no-notebook
    .venv/bin/python benchmarks/pipeline_bench.py --sizes 200000 400000 1000000 --no-pandas   # issue 19 (hours)

Each measurement runs in its own subprocess, so its peak memory (ru_maxrss) is its own. Books are generated once
per size into benchmarks/out/ (git-ignored) by the kit's deterministic sample generator. Writes its section of
BENCHMARKS.md between the pipeline-bench markers.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
MARK_START, MARK_END = "<!-- pipeline-bench:start -->", "<!-- pipeline-bench:end -->"

# The body of each measurement; run as `python -c` in a fresh interpreter.
STEPS = {
    "bare": """
import polars as pl
from pathlib import Path
folder = Path(FOLDER)
frames = [pl.read_json(p).select(pl.col("Value").explode()).unnest("Value") for p in sorted(folder.glob("*.json"))]
frames += [pl.read_csv(p) for p in sorted(folder.rglob("*.csv"))]
ROWS = sum(f.height for f in frames)
""",
    "kit": """
from adoption_kit.inputs import load_exports
from adoption_kit.compute.metrics import compute, low_adoption_ranking
exports = load_exports(FOLDER)
loaded = time.perf_counter()
metrics = compute(exports.latest())
ranking = low_adoption_ranking(metrics.customers)
EXTRA = {"load_seconds": loaded - start, "compute_seconds": time.perf_counter() - loaded}
ROWS = exports.usage.height
""",
    "prepare": """
from adoption_kit.analysis import prepare
result = prepare(FOLDER)
ROWS = result.metrics.workloads.height
""",
    # The portfolio notebook as an analyst runs it (papermill; the kernel computes from the exports).
    "notebook": """
import tempfile
import papermill
from pathlib import Path
from adoption_kit.config import PROJECT_ROOT
out = Path(tempfile.mkdtemp()) / "portfolio.ipynb"
papermill.execute_notebook(str(PROJECT_ROOT / "notebooks/reports/10-portfolio-overview.ipynb"), str(out),
                           parameters={"data_path": FOLDER}, kernel_name="python3", cwd=str(PROJECT_ROOT),
                           progress_bar=False)
import nbformat
cells = [(c.get("id", ""), c.metadata.get("papermill", {}).get("duration") or 0.0, c.source.splitlines()[0][:70])
         for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
EXTRA = {"cells": sorted(cells, key=lambda c: -c[1])[:4]}
ROWS = 0
""",
    # The scheduled report: compute once, portfolio + low-adoption list + one customer's report.
    "report": """
import tempfile
from adoption_kit.inputs import load_exports
from adoption_kit.render import render_reports
first = load_exports(FOLDER).deployment.get_column("customer_id")[0]
start = time.perf_counter()   # the report only, not the look-up of a customer id above
outcome = render_reports(FOLDER, tempfile.mkdtemp(), customers=[first], workers=1)
failed = [r.job for r in outcome.reports if r.outcome != "rendered"]
assert not failed, failed
ROWS = len(outcome.reports)
""",
    "pandas": """
import sys
sys.path.insert(0, HERE)
from pandas_reference import pandas_metrics
from pathlib import Path
out = pandas_metrics(Path(FOLDER))
ROWS = len(out["workloads"])
""",
}

RUNNER = """
import json, resource, sys, time
FOLDER, HERE = sys.argv[1], sys.argv[2]
start = time.perf_counter()
{body}
seconds = time.perf_counter() - start
usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
# peak: the largest resident set of this process or of any child (a notebook's kernel, a report worker)
print(json.dumps({{"seconds": seconds, "rows": ROWS, "peak_mib": max(usage.ru_maxrss, children.ru_maxrss) / 1024,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
                  "extra": globals().get("EXTRA")}}))
"""


def book(customers: int) -> Path:
    folder = OUT / f"book-{customers}"
    stamp = folder / ".complete"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "adoption_kit.cli", "sample", str(folder), "--customers", str(customers),
                        "--seed", "1", "--page-size", "10000"], check=True)
        stamp.touch()
    return folder


def measure(step: str, folder: Path, cache: Path, max_rss_gib: float = 0.0) -> dict:
    """One step in a fresh interpreter, with `cache` as its parsed-input cache (ADOPTION_KIT_CACHE).

    With `max_rss_gib`, a watchdog stops the step (and its children) when their resident set passes it, so that
    a book too large for the machine is reported as over the cap instead of waking the out-of-memory killer on a
    shared machine: the result then holds "over_cap" and the seconds until it was stopped."""
    import psutil  # a dependency of jupyter, in the lock file

    code = RUNNER.format(body=STEPS[step])
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code, str(folder), str(HERE)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "ADOPTION_KIT_CACHE": str(cache)})
    stopped: dict = {}

    def watch() -> None:
        try:
            tree = psutil.Process(process.pid)
            while process.poll() is None:
                rss = sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)])
                stopped["peak_mib"] = max(stopped.get("peak_mib", 0.0), rss / 2**20)
                if max_rss_gib and rss > max_rss_gib * 2**30:
                    stopped["seconds"] = time.perf_counter() - started
                    for p in [*tree.children(recursive=True), tree]:
                        p.kill()
                    return
                time.sleep(0.5)
        except psutil.NoSuchProcess:
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = process.communicate()
    watcher.join()
    if "seconds" in stopped:
        print(f"{step} on {folder.name}: stopped at {stopped['peak_mib']:,.0f} MiB resident after "
              f"{stopped['seconds']:.0f} s (--max-rss-gib {max_rss_gib:g})", flush=True)
        return {"over_cap": True, "seconds": stopped["seconds"], "peak_mib": stopped["peak_mib"],
                "cpu_seconds": float("nan"), "rows": 0, "extra": None}
    if process.returncode:
        raise SystemExit(f"{step} on {folder.name} failed:\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def input_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) / 2**20


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) on log(rows): 1.0 is linear growth."""
    xs, ys = [math.log(x) for x, _ in points], [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000, 200000])
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas comparison")
    parser.add_argument("--max-rss-gib", type=float, default=15.0,
                        help="stop a step whose resident set passes this many GiB and report it as over the cap "
                             "(0: no cap); default 15, for a shared 24 GB machine")
    parser.add_argument("--no-notebook", action="store_true",
                        help="skip the portfolio notebook and the report on the largest size")
    args = parser.parse_args(argv)

    rows = []
    for customers in args.sizes:
        folder = book(customers)
        cache = OUT / f"cache-{customers}"
        shutil.rmtree(cache, ignore_errors=True)   # the first kit run reads every file: cold
        steps = ["bare", "kit", "kit_warm", "prepare_cold", "prepare"] + ([] if args.no_pandas else ["pandas"])
        if customers == max(args.sizes) and not args.no_notebook:
            steps += ["notebook", "report"]
        found = {}
        for step in steps:
            # prepare_cold: its own empty cache (the kit runs above filled `cache`); prepare: warm
            step_cache = OUT / f"cache-{customers}-cold" if step == "prepare_cold" else cache
            shutil.rmtree(OUT / f"cache-{customers}-cold", ignore_errors=True)
            found[step] = measure({"kit_warm": "kit", "prepare_cold": "prepare"}.get(step, step), folder, step_cache,
                                  args.max_rss_gib)
            print(f"{customers:>7} customers  {step:<9} {found[step]['seconds']:8.2f} s  "
                  f"cpu {found[step]['cpu_seconds']:8.2f} s  peak {found[step]['peak_mib']:8.0f} MiB", flush=True)
        rows.append({"customers": customers, "input_mib": input_mib(folder), **found})

    (OUT / "pipeline_bench.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    write_section(rows, args)
    return 0


def write_section(rows: list[dict], args: argparse.Namespace) -> None:
    lines = [MARK_START, "## The whole pipeline by book size (issues 8 and 19)", "",
             "`make bench-pipeline` (= `"
             + f"{' '.join(['.venv/bin/python', 'benchmarks/pipeline_bench.py', *sys.argv[1:]])}"
             + f"`), {date.today()}. Books from `adoption-kit sample --customers N "
             "--seed 1 --page-size 10000` (three monthly snapshots, API JSON pages of 10,000 records, subscriptions, "
             "prices, tickets, three activity reports). Each measurement is one run in a fresh process; peak = the "
             "largest resident set of that process or its children.", "",
             "- **bare**: polars reading every JSON page (`pl.read_json` + explode/unnest) and every CSV "
             "(`pl.read_csv`): the floor.",
             "- **kit, cold**: `load_exports` (every check, all snapshots) + `compute(exports.latest())` (metrics, "
             "segments, inflation causes) + `low_adoption_ranking`, with an empty parsed-input cache.",
             "- **kit, warm**: the same again, the cache filled by the cold run (the files are hashed, not parsed).",
             "- **prepare**: `analysis.prepare(folder)` (warm cache): the above plus the book over time (metrics of "
             "every snapshot, changes, robust z-scores), renewals, own seats, idle cost, support load, exact usage "
             "from activity: what a notebook or a report computes.",
             "- **pandas**: `benchmarks/pandas_reference.py`, the same core metrics written plainly in pandas "
             "(`json.load` per page, `DataFrame`, groupby), newest snapshot per customer.", "",
             "| customers | usage rows | input MiB | bare s | kit cold s | cold / bare | kit warm s | warm / bare | "
             "prepare warm s | pandas s | pandas / cold | pandas / warm | cold peak MiB | peak / input |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if any(r[s].get("over_cap") for s in ("bare", "kit", "kit_warm")):
            lines.append(f"| {r['customers']:,} | — | {r['input_mib']:.0f} | " + " | ".join(
                ["over cap" if r[s].get("over_cap") else f"{r[s]['seconds']:.2f}" for s in ("bare", "kit")]
                + ["—"] * 9) + " |")
            continue
        bare, cold, warm = r["bare"]["seconds"], r["kit"]["seconds"], r["kit_warm"]["seconds"]
        pandas_s = r.get("pandas", {}).get("seconds")
        peak = max(r["kit"]["peak_mib"], r["kit_warm"]["peak_mib"])
        lines.append(
            f"| {r['customers']:,} | {r['kit']['rows']:,} | {r['input_mib']:.0f} | {bare:.2f} | {cold:.2f} | "
            f"{cold / bare:.2f}x | {warm:.2f} | {warm / bare:.2f}x | {r['prepare']['seconds']:.2f} | "
            + (f"{pandas_s:.2f} | {pandas_s / cold:.1f}x | {pandas_s / warm:.1f}x | " if pandas_s else "— | — | — | ")
            + f"{peak:.0f} | {peak / r['input_mib']:.2f}x |")
    lines += ["", "CPU seconds (all threads and child processes) of the same runs, which other work on the machine "
                  "moves less than wall time:", "",
              "| customers | bare | kit cold | kit warm | prepare | pandas |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['customers']:,} | " + " | ".join(
            f"{r[s]['cpu_seconds']:.1f}" if s in r and not r[s].get("over_cap") else "—"
            for s in ("bare", "kit", "kit_warm", "prepare", "pandas"))
            + " |")
    lines += ["", "Each step on its own (issue 19): wall s / CPU s / peak MiB. *load* and *compute* are the two halves "
                  "of the kit run (`load_exports`; `compute(exports.latest())` + ranking, timed inside it; the peak "
                  "is the run's); *prepare* is `analysis.prepare(folder)`, cold with an empty cache of its own, "
                  "warm with the cache the kit runs filled. *over cap*: stopped by the benchmark's watchdog when "
                  f"its resident set passed {args.max_rss_gib:g} GiB (`--max-rss-gib`), before the machine ran out.",
              "", "| customers | load cold | compute (cold run) | load warm | compute (warm run) | prepare cold | "
                  "prepare warm | prepare cold / bare | prepare warm / bare |", "|---|---|---|---|---|---|---|---|---|"]

    def cell(found: dict | None, part: str = "") -> str:
        if not found:
            return "—"
        if found.get("over_cap"):
            return f"over cap ({found['peak_mib']:,.0f} MiB after {found['seconds']:.0f} s)"
        seconds = (found.get("extra") or {}).get(f"{part}_seconds", found["seconds"]) if part else found["seconds"]
        cpu = f" / {found['cpu_seconds']:.1f}" if not part else ""
        return f"{seconds:.1f}{cpu} / {found['peak_mib']:,.0f}"

    for r in rows:
        bare = r["bare"]["seconds"]
        ratios = [f"{r[s]['seconds'] / bare:.2f}x" if s in r and not r[s].get("over_cap") else "—"
                  for s in ("prepare_cold", "prepare")]
        lines.append(f"| {r['customers']:,} | {cell(r.get('kit'), 'load')} | {cell(r.get('kit'), 'compute')} | "
                     f"{cell(r.get('kit_warm'), 'load')} | {cell(r.get('kit_warm'), 'compute')} | "
                     f"{cell(r.get('prepare_cold'))} | {cell(r.get('prepare'))} | {' | '.join(ratios)} |")
    complete = [r for r in rows if not any(isinstance(v, dict) and v.get("over_cap") for v in r.values())]
    if len(complete) < len(rows):
        lines += ["", "Growth below: over the sizes where no step was over the cap ("
                  + ", ".join(f"{r['customers']:,}" for r in complete) + ")."]
    if len(complete) >= 2:
        def growth(step: str) -> float:
            return slope([(r["kit"]["rows"], r[step]["seconds"]) for r in complete if step in r])
        def growth_top(step: str) -> float:   # the two largest sizes: fixed start-up costs no longer count
            return slope([(r["kit"]["rows"], r[step]["seconds"]) for r in complete[-2:] if step in r])
        steps = [("kit cold", "kit"), ("kit warm", "kit_warm"), ("prepare cold", "prepare_cold"),
                 ("prepare warm", "prepare"), ("bare read", "bare")]
        lines += ["", f"Growth (log-log slope of seconds on usage rows; 1.0 = linear, below 1 = fixed costs still "
                      f"count): from {complete[0]['customers']:,} to {complete[-1]['customers']:,} customers "
                      + ", ".join(f"{label} {growth(step):.2f}" for label, step in steps)
                      + f"; from {complete[-2]['customers']:,} to {complete[-1]['customers']:,} "
                      + ", ".join(f"{label} {growth_top(step):.2f}" for label, step in steps) + "."]
    largest = rows[-1]
    if "notebook" in largest and not largest["notebook"].get("over_cap"):
        lines += ["", f"On the {largest['customers']:,}-customer book (warm cache): the portfolio notebook "
                      f"(`notebooks/reports/10-portfolio-overview.ipynb`, papermill, kernel start to last cell) ran in "
                      f"{largest['notebook']['seconds']:.1f} s with a peak of "
                      f"{largest['notebook']['peak_mib']:,.0f} MiB; "
                      f"`render_reports` for the portfolio, the low-adoption list and one customer (1 worker, from "
                      f"loading to index.html) in {largest['report']['seconds']:.1f} s, peak "
                      f"{largest['report']['peak_mib']:,.0f} MiB."]
        cells = (largest["notebook"].get("extra") or {}).get("cells") or []
        if cells:
            lines += ["", "The notebook's slowest cells (seconds): " + "; ".join(
                f"`{first_line}` {seconds:.1f}" for _, seconds, first_line in cells) + "."]
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
                  f"load average at the end {os.getloadavg()[0]:.1f}.", MARK_END]
    section = "\n".join(lines)
    target = ROOT / "BENCHMARKS.md"
    text = target.read_text(encoding="utf-8") if target.exists() else "# Benchmarks\n"
    if MARK_START in text:
        head, rest = text.split(MARK_START, 1)
        text = head + section + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    target.write_text(text, encoding="utf-8")
    print(f"wrote the pipeline section of {target}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
