"""Benchmark (issue 18): rendering every customer's report of a large book; warm vs fresh kernels, a timed run of
thousands of reports, and the size of what a run writes.

    .venv/bin/python benchmarks/report_scale_bench.py                      # everything (~80 min on 2 cores)
    .venv/bin/python benchmarks/report_scale_bench.py --phase sizes        # file sizes on the sample (~2 min)
    .venv/bin/python benchmarks/report_scale_bench.py --phase side-by-side --customers 200
    .venv/bin/python benchmarks/report_scale_bench.py --phase many --many 2000

Phases (each writes benchmarks/out/report_scale/<phase>.json; the BENCHMARKS.md section is made from the JSON files
present, so phases can be run apart):
  sizes         the sample's 50 customers rendered with the defaults: each customer report's HTML and notebook,
                the run folder per customer (with and without `--html-only`)
  side-by-side  the warm and the fresh-kernel renderer on the same --customers customers of the 20,000-customer
                book (`adoption-kit sample --customers 20000 --seed 1 --page-size 10000`), 1 and 2 workers: wall
                and CPU seconds per report (CPU of every process of the run, sampled from /proc)
  many          a timed run of --many customer reports of that book, 2 workers, warm kernels, the defaults: wall,
                CPU, disk, and the 20,000-report time it implies; then its unchanged rerun
A script, not a timed test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_section import replace_section  # noqa: E402 - a sibling script module
from report_bench import _TreeCPU, book_customers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "report_scale"
BOOK = ROOT / "benchmarks" / "out" / "report" / "book-20000"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
START, END = "<!-- report-scale-bench:start -->", "<!-- report-scale-bench:end -->"
HTML_TARGET, RUN_TARGET = 150_000, 300_000          # bytes: a customer's HTML; the run folder per customer


def _book() -> Path:
    if not (BOOK / "subscriptions.csv").is_file():
        from adoption_kit.sample.generator import write_sample

        print(f"writing the 20,000-customer book into {BOOK} ...", flush=True)
        write_sample(BOOK, customers=20_000, seed=1, page_size=10_000)
    return BOOK


def _du(path: Path) -> int:
    """Bytes of every file under `path` (apparent sizes)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _run(data: Path, out: Path, *, customers: list[str] | None, workers: int, fresh: bool = False,
         force: bool = True, **options) -> dict:
    from adoption_kit.render import render_reports

    started = time.perf_counter()
    with _TreeCPU() as meter:
        result = render_reports(data, out, customers=customers, workers=workers, force=force, progress=False,
                                fresh_kernels=fresh, **options)
    wall, cpu = time.perf_counter() - started, meter.total() or 0.0
    if result.failures:
        raise SystemExit("benchmark run failed: " + "; ".join(r.describe_error() for r in result.failures[:3]))
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    rendered = [r for r in manifest["reports"] if r["outcome"] == "rendered"]
    jobs = [r["duration_s"] for r in rendered if r["kind"] == "customer"]
    return {"run_dir": str(result.run_dir), "workers": workers, "kernels": "fresh" if fresh else "warm",
            "wall_s": wall, "cpu_s": cpu, "reports": len(rendered), "customer_reports": len(jobs),
            "current": result.count("current"),
            "wall_per_report_s": wall / max(len(rendered), 1), "cpu_per_report_s": cpu / max(len(rendered), 1),
            "customer_job_mean_s": statistics.mean(jobs) if jobs else None,
            "customer_job_median_s": statistics.median(jobs) if jobs else None}


def sizes() -> dict:
    from adoption_kit.config import SAMPLE_DIR

    figures: dict = {}
    for label, options in (("default", {}), ("html_only", {"html_only": True})):
        out = OUT / f"sizes-{label}"
        run = _run(SAMPLE_DIR, out, customers=None, workers=2, **options)
        run_dir = Path(run["run_dir"])
        customers = sorted((run_dir / "customers").glob("*.html"))
        html = [p.stat().st_size for p in customers]
        notebooks = [p.with_suffix(".ipynb").stat().st_size for p in customers if p.with_suffix(".ipynb").is_file()]
        figures[label] = {
            "customers": len(customers), "html_median": statistics.median(html), "html_max": max(html),
            "notebook_median": statistics.median(notebooks) if notebooks else 0,
            "notebook_max": max(notebooks) if notebooks else 0,
            "customers_dir_per_customer": _du(run_dir / "customers") / len(customers),
            "run_folder": _du(run_dir), "run_folder_per_customer": _du(run_dir) / len(customers),
            "shared": {name: _du(run_dir / name) if (run_dir / name).is_dir() else (run_dir / name).stat().st_size
                       for name in ("_assets", "_bundle", ".state", "portfolio-overview.html",
                                    "portfolio-overview.ipynb", "low-adoption-accounts.html", "index.html")
                       if (run_dir / name).exists()},
            "wall_s": run["wall_s"],
        }
        print(f"sizes, {label}: customer HTML median {figures[label]['html_median'] / 1e3:.0f} KB, max "
              f"{figures[label]['html_max'] / 1e3:.0f} KB; notebook median "
              f"{figures[label]['notebook_median'] / 1e3:.0f}"
              f" KB; run folder {figures[label]['run_folder_per_customer'] / 1e3:.0f} KB per customer", flush=True)
    return figures


def side_by_side(count: int, workers: list[int]) -> dict:
    book = _book()
    customers = book_customers(book, count)
    figures: dict = {"customers": len(customers), "runs": {}}
    for w in workers:
        for fresh in (False, True):
            run = _run(book, OUT / f"sbs-{'fresh' if fresh else 'warm'}-w{w}", customers=customers, workers=w,
                       fresh=fresh)
            figures["runs"][f"{run['kernels']}_w{w}"] = run
            print(f"{run['kernels']} kernels, {w} worker(s): {run['reports']} reports in {run['wall_s']:.1f} s wall "
                  f"({run['wall_per_report_s']:.2f} s/report), CPU {run['cpu_per_report_s']:.2f} s/report, customer "
                  f"job mean {run['customer_job_mean_s']:.2f} s", flush=True)
    return figures


def many(count: int) -> dict:
    book = _book()
    customers = book_customers(book, count)
    out = OUT / "many"
    run = _run(book, out, customers=customers, workers=2)
    run_dir = Path(run["run_dir"])
    htmls = sorted((run_dir / "customers").glob("*.html"))
    run["disk"] = {"run_folder": _du(run_dir), "customers_dir": _du(run_dir / "customers"),
                   "per_customer_all": _du(run_dir) / len(htmls),
                   "html_median": statistics.median(p.stat().st_size for p in htmls),
                   "html_max": max(p.stat().st_size for p in htmls)}
    print(f"{run['reports']} reports in {run['wall_s']:.0f} s wall, CPU {run['cpu_s']:.0f} s; "
          f"disk {run['disk']['run_folder'] / 1e6:.0f} MB "
          f"({run['disk']['per_customer_all'] / 1e3:.0f} KB per customer)",
          flush=True)
    rerun = _run(book, out, customers=customers, workers=2, force=False)
    run["rerun_wall_s"] = rerun["wall_s"]
    print(f"unchanged rerun: {rerun['current']} current in {rerun['wall_s']:.1f} s", flush=True)
    return run


def section() -> str:
    found = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in OUT.glob("*.json")}
    meta = found.get("meta", {})
    lines = [START, "## Every customer's report of a large book (issue 18; `make bench-report`)", "",
             "`benchmarks/report_scale_bench.py`"
             + (f", {meta.get('date')}, {meta.get('machine')}, adoption-kit {meta.get('kit_version')}" if meta else "")
             + ". Warm = one kernel per worker, report after report (the default); fresh = `--fresh-kernels`. CPU = "
             "every process of the run (this one, the forkserver, workers, kernels), sampled from /proc.", ""]
    if "sizes" in found:
        s = found["sizes"]["default"]
        h = found["sizes"]["html_only"]
        lines += ["### File sizes on the sample (50 customers, the defaults)", "",
                  "| measure | figure | target |", "|---|---:|---|",
                  f"| customer report HTML, median / max | {s['html_median'] / 1e3:.0f} / {s['html_max'] / 1e3:.0f} KB "
                  f"| <= {HTML_TARGET / 1e3:.0f} KB: {'met' if s['html_max'] <= HTML_TARGET else '**not met**'} |",
                  f"| customer notebook (.ipynb), median / max | {s['notebook_median'] / 1e3:.0f} / "
                  f"{s['notebook_max'] / 1e3:.0f} KB | |",
                  "| customers/ folder per customer (HTML + notebook) | "
                  f"{s['customers_dir_per_customer'] / 1e3:.0f} KB "
                  f"| |",
                  f"| whole run folder per customer | {s['run_folder_per_customer'] / 1e3:.0f} KB | <= "
                  f"{RUN_TARGET / 1e3:.0f} KB: "
                  f"{'met' if s['run_folder_per_customer'] <= RUN_TARGET else '**not met**'} |",
                  f"| the same with `--html-only` | {h['run_folder_per_customer'] / 1e3:.0f} KB | |",
                  "",
                  "Shared by the run (default): " + ", ".join(f"{k} {v / 1e3:.0f} KB" for k, v in s["shared"].items())
                  + ". On the sample the shared files are a large part of the per-customer figure (50 customers); "
                    "on a large book they vanish into it (the 2,000-report run below).", ""]
    if "side-by-side" in found:
        f = found["side-by-side"]
        runs = f["runs"]
        lines += [f"### Warm vs fresh kernels, the same {f['customers']} customers of the 20,000-customer book", "",
                  "| renderer | workers | reports | wall | wall / report | CPU / report | customer job (mean) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in runs.values():
            lines.append(f"| {r['kernels']} | {r['workers']} | {r['reports']} | {r['wall_s']:.0f} s | "
                         f"{r['wall_per_report_s']:.2f} s | {r['cpu_per_report_s']:.2f} s | "
                         f"{r['customer_job_mean_s']:.2f} s |")
        ratios = []
        for w in (1, 2):
            warm, fresh = runs.get(f"warm_w{w}"), runs.get(f"fresh_w{w}")
            if warm and fresh:
                ratios.append(f"{w} worker(s): warm {fresh['wall_per_report_s'] / warm['wall_per_report_s']:.1f}x "
                              f"faster per report (wall), {fresh['cpu_per_report_s'] / warm['cpu_per_report_s']:.1f}x "
                              f"less CPU")
        if runs.get("warm_w1") and runs.get("warm_w2"):
            ratios.append(f"2 workers vs 1 (warm): {runs['warm_w1']['wall_s'] / runs['warm_w2']['wall_s']:.2f}x "
                          f"(target >= 1.8x)")
        lines += ["", "; ".join(ratios) + ". Target: warm at least 10x faster per report than fresh "
                  "(<= 0.4 s wall per report with 2 workers).", ""]
    if "many" in found:
        m = found["many"]
        d = m["disk"]
        per = (m["wall_s"]) / m["reports"]
        lines += [f"### A timed run of {m['customer_reports']:,} customer reports (2 workers, warm, the defaults)", "",
                  f"- wall {m['wall_s'] / 60:.1f} min for {m['reports']:,} reports ({per:.2f} s per report, load, "
                  f"compute and bundle included), CPU {m['cpu_s'] / 60:.1f} min ({m['cpu_per_report_s']:.2f} s per "
                  f"report); customer job mean {m['customer_job_mean_s']:.2f} s in its worker",
                  f"- implied for all 20,000 customer reports: {20_000 * per / 3600:.1f} h (target <= 2.5 h)",
                  f"- disk: run folder {d['run_folder'] / 1e6:.0f} MB, "
                  f"{d['per_customer_all'] / 1e3:.0f} KB per customer "
                  f"(target <= 300 KB); customer HTML median {d['html_median'] / 1e3:.0f} KB, max "
                  f"{d['html_max'] / 1e3:.0f} KB",
                  f"- unchanged rerun: {m['rerun_wall_s']:.0f} s, {100 * m['rerun_wall_s'] / m['wall_s']:.1f}% of the "
                  f"run (target <= 5%)", ""]
    lines.append(END)
    return "\n".join(lines)


def write_section(text_section: str) -> None:
    replace_section(BENCHMARKS_MD, START, END, text_section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", action="append", choices=("sizes", "side-by-side", "many"), default=None)
    parser.add_argument("--customers", type=int, default=200, help="customers of the side-by-side runs")
    parser.add_argument("--workers", type=int, action="append", default=None, help="side-by-side worker counts")
    parser.add_argument("--many", type=int, default=2000, help="customer reports of the timed run")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    from adoption_kit import __version__

    OUT.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    (OUT / "meta.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "kit_version": __version__,
                                               "machine": f"{platform.machine()}, {cores} cores"}), encoding="utf-8")
    for phase in args.phase or ["sizes", "side-by-side", "many"]:
        if phase == "sizes":
            figures = sizes()
        elif phase == "side-by-side":
            figures = side_by_side(args.customers, args.workers or [1, 2])
        else:
            figures = many(args.many)
        figures["load_average_after"] = os.getloadavg()[0]
        (OUT / f"{phase}.json").write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    text = section()
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"wrote {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
