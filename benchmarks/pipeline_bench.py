"""Issue 8 benchmark: bare polars read vs the kit's whole pipeline vs a plain-pandas version, with peak memory,
at three book sizes.

    .venv/bin/python benchmarks/pipeline_bench.py                 # 1,000 / 20,000 / 200,000 customers (~15 min)
    .venv/bin/python benchmarks/pipeline_bench.py --sizes 1000 20000 --no-pandas --no-notebook

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
metrics = compute(exports.latest())
ranking = low_adoption_ranking(metrics.customers)
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
        subprocess.run([str(ROOT / ".venv/bin/adoption-kit"), "sample", str(folder), "--customers", str(customers),
                        "--seed", "1", "--page-size", "10000"], check=True)
        stamp.touch()
    return folder


def measure(step: str, folder: Path, cache: Path) -> dict:
    """One step in a fresh interpreter, with `cache` as its parsed-input cache (ADOPTION_KIT_CACHE)."""
    code = RUNNER.format(body=STEPS[step])
    result = subprocess.run([sys.executable, "-c", code, str(folder), str(HERE)], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "ADOPTION_KIT_CACHE": str(cache)})
    if result.returncode:
        raise SystemExit(f"{step} on {folder.name} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--no-notebook", action="store_true",
                        help="skip the portfolio notebook and the report on the largest size")
    args = parser.parse_args(argv)

    rows = []
    for customers in args.sizes:
        folder = book(customers)
        cache = OUT / f"cache-{customers}"
        shutil.rmtree(cache, ignore_errors=True)   # the first kit run reads every file: cold
        steps = ["bare", "kit", "kit_warm", "prepare"] + ([] if args.no_pandas else ["pandas"])
        if customers == max(args.sizes) and not args.no_notebook:
            steps += ["notebook", "report"]
        found = {}
        for step in steps:
            found[step] = measure("kit" if step == "kit_warm" else step, folder, cache)
            print(f"{customers:>7} customers  {step:<9} {found[step]['seconds']:8.2f} s  "
                  f"cpu {found[step]['cpu_seconds']:8.2f} s  peak {found[step]['peak_mib']:8.0f} MiB", flush=True)
        rows.append({"customers": customers, "input_mib": input_mib(folder), **found})

    (OUT / "pipeline_bench.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    write_section(rows, args)
    return 0


def write_section(rows: list[dict], args: argparse.Namespace) -> None:
    lines = [MARK_START, "## The whole pipeline at three book sizes (issue 8)", "",
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
             "prepare s | pandas s | pandas / cold | pandas / warm | cold peak MiB | peak / input |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
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
            f"{r[s]['cpu_seconds']:.1f}" if s in r else "—" for s in ("bare", "kit", "kit_warm", "prepare", "pandas"))
            + " |")
    if len(rows) >= 2:
        def growth(step: str) -> float:
            return slope([(r["kit"]["rows"], r[step]["seconds"]) for r in rows])
        def growth_top(step: str) -> float:   # the two largest sizes: fixed start-up costs no longer count
            return slope([(r["kit"]["rows"], r[step]["seconds"]) for r in rows[-2:]])
        steps = [("kit cold", "kit"), ("kit warm", "kit_warm"), ("prepare", "prepare"), ("bare read", "bare")]
        lines += ["", f"Growth (log-log slope of seconds on usage rows; 1.0 = linear, below 1 = fixed costs still "
                      f"count): from {rows[0]['customers']:,} to {rows[-1]['customers']:,} customers "
                      + ", ".join(f"{label} {growth(step):.2f}" for label, step in steps)
                      + f"; from {rows[-2]['customers']:,} to {rows[-1]['customers']:,} "
                      + ", ".join(f"{label} {growth_top(step):.2f}" for label, step in steps) + "."]
    largest = rows[-1]
    if "notebook" in largest:
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
