"""Issue 8 benchmark: bare polars read vs the kit's whole pipeline vs a plain-pandas version, with peak memory, at three book sizes.

    .venv/bin/python benchmarks/pipeline_bench.py                 # 1,000 / 20,000 / 200,000 customers
    .venv/bin/python benchmarks/pipeline_bench.py --sizes 1000 20000 --no-pandas

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
import subprocess
import sys
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
frames = [pl.read_json(p).select(pl.col("Value").explode()).unnest("Value") for p in sorted(folder.glob("license-*.json"))]
frames.append(pl.read_csv(folder / "subscriptions.csv"))
ROWS = sum(f.height for f in frames)
""",
    "kit": """
from adoption_kit.analysis import prepare
result = prepare(FOLDER)
ROWS = result.metrics.workloads.height
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
print(json.dumps({{"seconds": seconds, "rows": ROWS,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def book(customers: int) -> Path:
    folder = OUT / f"book-{customers}"
    stamp = folder / ".complete"
    if not stamp.exists():
        subprocess.run([str(ROOT / ".venv/bin/adoption-kit"), "sample", str(folder), "--customers", str(customers),
                        "--seed", "1", "--page-size", "10000"], check=True)
        stamp.touch()
    return folder


def measure(step: str, folder: Path) -> dict:
    code = RUNNER.format(body=STEPS[step])
    result = subprocess.run([sys.executable, "-c", code, str(folder), str(HERE)], capture_output=True, text=True,
                            cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"{step} on {folder.name} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def input_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) / 2**20


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) on log(rows): 1.0 is linear growth."""
    xs, ys = [math.log(x) for x, _ in points], [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000, 200000])
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas comparison")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best is kept")
    args = parser.parse_args(argv)

    rows = []
    for customers in args.sizes:
        folder = book(customers)
        steps = ["bare", "kit"] + ([] if args.no_pandas else ["pandas"])
        found = {}
        for step in steps:
            runs = [measure(step, folder) for _ in range(args.repeat)]
            found[step] = min(runs, key=lambda r: r["seconds"])
            print(f"{customers:>7} customers  {step:<6} {found[step]['seconds']:8.2f} s  "
                  f"peak {found[step]['peak_mib']:8.0f} MiB", flush=True)
        rows.append({"customers": customers, "input_mib": input_mib(folder), **found})

    write_section(rows, args)
    return 0


def write_section(rows: list[dict], args: argparse.Namespace) -> None:
    lines = [MARK_START, "## The whole pipeline at three book sizes (issue 8)", "",
             f"`.venv/bin/python benchmarks/pipeline_bench.py {' '.join(sys.argv[1:])}`".rstrip() + f", {date.today()}. "
             "Bare = polars reading every JSON page and the subscriptions CSV (the floor). Kit = "
             "`analysis.prepare(folder)`: load and check every file, latest snapshot, metrics, segments, "
             "ranking. Pandas = `benchmarks/pandas_reference.py`, the same core metrics written plainly in pandas. "
             "Each measurement is a fresh process; peak = its maximum resident memory.", "",
             "| customers | usage rows | input MiB | bare s | kit s | kit / bare | pandas s | pandas / kit | "
             "kit peak MiB | peak / input |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pandas_s = r.get("pandas", {}).get("seconds")
        lines.append(
            f"| {r['customers']:,} | {r['kit']['rows']:,} | {r['input_mib']:.0f} | {r['bare']['seconds']:.2f} | "
            f"{r['kit']['seconds']:.2f} | {r['kit']['seconds'] / r['bare']['seconds']:.2f}x | "
            + (f"{pandas_s:.2f} | {pandas_s / r['kit']['seconds']:.1f}x | " if pandas_s else "— | — | ")
            + f"{r['kit']['peak_mib']:.0f} | {r['kit']['peak_mib'] / r['input_mib']:.2f}x |")
    if len(rows) >= 2:
        kit_slope = slope([(r["kit"]["rows"], r["kit"]["seconds"]) for r in rows])
        bare_slope = slope([(r["kit"]["rows"], r["bare"]["seconds"]) for r in rows])
        lines += ["", f"Growth (log-log slope of seconds on usage rows, 1.0 = linear): kit {kit_slope:.2f}, "
                      f"bare read {bare_slope:.2f}."]
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
