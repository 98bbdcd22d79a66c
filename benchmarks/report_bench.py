"""Benchmark of `adoption-kit report`: per-report seconds against the papermill floor, 1 vs 2 workers, unchanged rerun.

    .venv/bin/python benchmarks/report_bench.py            # the full measurement (~20 min on 2 cores)
    .venv/bin/python benchmarks/report_bench.py --quick    # a smaller one while developing

The floor is a papermill run of a notebook that only imports the kit (`adoption_kit.analysis`,
`adoption_kit.report.charts`): kernel start + imports. Per-report cost is a customer report's time in its
worker (papermill execution of the customer template + HTML export + writes), read from the run
manifest. Wall figures include the run's fixed costs (load + compute once, worker start).

Writes benchmarks/out/report_bench.json and the report section of BENCHMARKS.md (between the
`report-bench` markers, so other benchmarks can share the file). A script, not a timed test.
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

from markdown_section import replace_section  # noqa: E402 - a sibling script module

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "report"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
START, END = "<!-- report-bench:start -->", "<!-- report-bench:end -->"
TARGETS = {"sample_ratio": 1.5, "book_ratio": 2.0, "speedup": 1.8, "rerun_share": 0.05}


def floor_seconds(repeat: int) -> tuple[list[float], list[float]]:
    """papermill runs of a one-cell notebook importing the kit, one after another."""
    import nbformat
    import papermill

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import adoption_kit.analysis\nimport adoption_kit.report.charts")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = OUT / "floor.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    from adoption_kit.render.execute import _kernel_manager_class  # the kernel's stderr (TCP warning) out of the way

    times, cpu = [], []
    with open(os.devnull, "wb") as sink:
        for _ in range(repeat):
            started = time.perf_counter()
            with _TreeCPU() as meter:
                papermill.execute_notebook(str(path), None, progress_bar=False, request_save_on_cell_execute=False,
                                           kernel_manager_class=_kernel_manager_class(sink))
            times.append(time.perf_counter() - started)
            cpu.append(meter.total())
    return times, cpu


class _TreeCPU:
    """CPU seconds of this process and every descendant (forkserver, workers, kernels), sampled from /proc.

    Workers are children of the forkserver, not of this process, so os.times() never sees them. Each
    process's last sample counts (a process's final ~0.2 s can be missed). Less sensitive to other load
    on the machine than wall time. Linux only; elsewhere `total()` is None.
    """

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.interval, self.seen, self.stop = interval, {}, threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _TreeCPU:
        self.start = os.times()
        if Path("/proc/self/stat").exists():
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self.stop.set()
        self.end = os.times()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                # ppid, (pid, start time) as a key that survives pid reuse, utime + stime
                stats[int(entry.name)] = (int(fields[1]), fields[19], (int(fields[11]) + int(fields[12])) / self.tick)
        mine, grew = {os.getpid()}, True
        while grew:
            grew = False
            for pid, (ppid, _start, _cpu) in stats.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    grew = True
        for pid in mine - {os.getpid()}:
            key = (pid, stats[pid][1])
            self.seen[key] = max(self.seen.get(key, 0.0), stats[pid][2])

    def total(self) -> float | None:
        if not self.thread.ident:
            return None
        own = (self.end.user + self.end.system) - (self.start.user + self.start.system)
        return own + sum(self.seen.values())


def timed_run(data: Path, out: Path, *, workers: int, customers: list[str] | None, force: bool,
              fresh_kernels: bool = False) -> dict:
    from adoption_kit.render import render_reports

    started = time.perf_counter()
    with _TreeCPU() as meter:
        result = render_reports(data, out, customers=customers, workers=workers, force=force, progress=False,
                                fresh_kernels=fresh_kernels)
    wall, cpu = time.perf_counter() - started, meter.total() or 0.0
    if result.failures:
        raise SystemExit("benchmark run failed: " + "; ".join(r.describe_error() for r in result.failures))
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    reports = [r for r in manifest["reports"] if r["outcome"] == "rendered"]
    customer = [r["duration_s"] for r in reports if r["kind"] == "customer"]
    return {
        "workers": workers, "wall_s": wall, "cpu_s": cpu, "cpu_per_report_s": cpu / max(len(reports), 1),
        "reports": len(reports), "current": result.count("current"),
        "customer_reports": len(customer),
        "customer_job_s": statistics.mean(customer) if customer else None,
        "customer_job_median_s": statistics.median(customer) if customer else None,
        "wall_per_report_s": wall / max(len(reports), 1),
        "breakdown": breakdown(result.run_dir, [r for r in reports if r["kind"] == "customer"]),
    }


def breakdown(run_dir: Path, reports: list[dict]) -> dict:
    """Where a customer report's time goes: kernel start + papermill, each template cell, export + writes."""
    cells: dict[str, list[float]] = {}
    overhead, export = [], []
    for report in reports:
        notebook = json.loads((run_dir / report["notebook"]).read_text(encoding="utf-8"))
        executed = notebook["metadata"]["papermill"]["duration"] or 0.0
        spent = 0.0
        for cell in notebook["cells"]:
            duration = (cell.get("metadata", {}).get("papermill") or {}).get("duration") or 0.0
            if cell["cell_type"] == "code":
                first = next((line.strip() for line in "".join(cell["source"]).splitlines()
                              if line.strip() and not line.strip().startswith("#")), "")
                cells.setdefault(first[:60], []).append(duration)
                spent += duration
        overhead.append(executed - spent)
        export.append(report["duration_s"] - executed)
    mean = statistics.mean
    top = sorted(((mean(v), k) for k, v in cells.items()), reverse=True)[:6]
    return {"kernel_start_and_papermill_s": mean(overhead) if overhead else None,
            "export_and_writes_s": mean(export) if export else None,
            "cells": [{"cell": k, "mean_s": round(v, 3)} for v, k in top]}


def book_customers(data: Path, count: int) -> list[str]:
    """A fixed, spread-out subset of a book's customers (every k-th by id)."""
    from adoption_kit.analysis import prepare

    ids = sorted(prepare(data).customers.get_column("customer_id").to_list())
    step = max(1, len(ids) // count)
    return ids[::step][:count]


def warm_vs_fresh(data: Path, count: int, workers: list[int]) -> dict:
    """The warm and the fresh-kernel renderer on the same `count` customers of `data`, in this one process run."""
    customers = book_customers(data, count)
    figures: dict = {"data": str(data), "customers": len(customers)}
    for w in workers:
        for mode in ("warm", "fresh"):
            run = timed_run(data, OUT / f"wvf-{mode}-w{w}", workers=w, customers=customers, force=True,
                            fresh_kernels=mode == "fresh")
            run.pop("breakdown", None)
            figures[f"{mode}_w{w}"] = run
            print(f"{mode} kernels, {w} worker(s): {run['reports']} reports in {run['wall_s']:.1f} s wall "
                  f"({run['wall_per_report_s']:.2f} s/report), CPU {run['cpu_s']:.1f} s "
                  f"({run['cpu_per_report_s']:.2f} s/report), customer job mean {run['customer_job_s']:.2f} s",
                  flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-vs-fresh", type=int, default=0, metavar="N",
                        help="only the warm and the fresh-kernel renderer side by side on N customers of --data")
    parser.add_argument("--data", type=Path, default=None, help="exports folder for --warm-vs-fresh "
                        "(default: the sample)")
    parser.add_argument("--workers", type=int, action="append", default=None,
                        help="worker counts for --warm-vs-fresh (repeat; default 1 and 2)")
    parser.add_argument("--quick", action="store_true", help="8 sample customers, 8 book customers, 2 floor runs")
    parser.add_argument("--book-size", type=int, default=20_000)
    parser.add_argument("--book-customers", type=int, default=24)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)

    from adoption_kit import __version__
    from adoption_kit.config import SAMPLE_DIR
    from adoption_kit.sample.generator import write_sample

    if args.warm_vs_fresh:
        figures = warm_vs_fresh(args.data or SAMPLE_DIR, args.warm_vs_fresh, args.workers or [1, 2])
        target = OUT.parent / "report_warm_vs_fresh.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"wrote {target}")
        return 0

    sample_subset = None
    book_count = args.book_customers
    repeat = 5
    if args.quick:
        from adoption_kit.analysis import prepare

        sample_subset = sorted(prepare(SAMPLE_DIR).customers.get_column("customer_id").to_list())[:8]
        book_count, repeat = 8, 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    figures: dict = {"kit_version": __version__, "python": platform.python_version(), "cores": cores,
                     "load_before": os.getloadavg()[0],
                     "machine": f"{platform.system()} {platform.machine()}, {cores} cores",
                     "date": time.strftime("%Y-%m-%d"), "quick": args.quick}

    print("floor: papermill, one cell importing adoption_kit.analysis and adoption_kit.report.charts ...", flush=True)
    floor_runs, floor_cpu = floor_seconds(repeat)
    figures["floor_runs_s"] = floor_runs
    figures["floor_s"] = statistics.median(floor_runs)
    figures["floor_cpu_s"] = statistics.median(floor_cpu)
    print(f"  floor {figures['floor_s']:.2f} s (runs: {', '.join(f'{t:.2f}' for t in floor_runs)})", flush=True)

    def adjacent_floor(run: dict, before: list[float]) -> None:
        """The floor measured just before and just after a run: the same machine load as the run, roughly."""
        after, _ = floor_seconds(2)
        run["floor_adjacent_runs_s"] = before + after
        run["floor_adjacent_s"] = statistics.median(before + after)
        print(f"  floor around this run {run['floor_adjacent_s']:.2f} s", flush=True)

    sample_out = OUT / "sample"
    for workers in (1, 2):
        print(f"sample, {workers} worker(s) ...", flush=True)
        before, _ = floor_seconds(2)
        figures[f"sample_w{workers}"] = run = timed_run(SAMPLE_DIR, sample_out, workers=workers,
                                                        customers=sample_subset, force=True)
        adjacent_floor(run, before)
        print(f"  {run['reports']} reports in {run['wall_s']:.1f} s; customer report {run['customer_job_s']:.2f} s",
              flush=True)
    print("sample, unchanged rerun ...", flush=True)
    figures["sample_rerun"] = rerun = timed_run(SAMPLE_DIR, sample_out, workers=2, customers=sample_subset,
                                                force=False)
    print(f"  {rerun['current']} current, {rerun['reports']} rendered in {rerun['wall_s']:.2f} s", flush=True)

    book = OUT / f"book-{args.book_size}"
    if not (book / "subscriptions.csv").is_file():
        print(f"writing a {args.book_size:,}-customer book ...", flush=True)
        write_sample(book, customers=args.book_size, seed=1, page_size=10000)
    subset = book_customers(book, book_count)
    for workers in (1, 2):
        print(f"{args.book_size:,}-customer book, {len(subset)} customers, {workers} worker(s) ...", flush=True)
        before, _ = floor_seconds(2)
        figures[f"book_w{workers}"] = run = timed_run(book, OUT / "book-reports", workers=workers,
                                                      customers=subset, force=True)
        adjacent_floor(run, before)
        print(f"  {run['reports']} reports in {run['wall_s']:.1f} s; customer report {run['customer_job_s']:.2f} s",
              flush=True)

    figures["load_after"] = os.getloadavg()[0]
    figures["verdict"] = verdict(figures)
    (OUT / "report_bench.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    section = markdown(figures, book_size=args.book_size)
    print(section)
    if not args.no_write:
        write_section(section)
        print(f"wrote {BENCHMARKS_MD}")
    return 0


def verdict(f: dict) -> dict:
    s1, s2, b1, b2 = f["sample_w1"], f["sample_w2"], f["book_w1"], f["book_w2"]
    return {   # per-report ratios against the floor measured around the same run
        "sample_ratio": s1["customer_job_s"] / s1["floor_adjacent_s"],
        "book_ratio": b1["customer_job_s"] / b1["floor_adjacent_s"],
        "sample_speedup": s1["wall_s"] / s2["wall_s"],
        "book_speedup": b1["wall_s"] / b2["wall_s"],
        "rerun_share": f["sample_rerun"]["wall_s"] / s2["wall_s"],
    }


def markdown(f: dict, *, book_size: int) -> str:
    v, floor = f["verdict"], f["floor_s"]
    s1, s2, b1, b2, rr = f["sample_w1"], f["sample_w2"], f["book_w1"], f["book_w2"], f["sample_rerun"]

    def ok(good: bool) -> str:
        return "met" if good else "**not met**"

    def cpu(run: dict) -> str:
        return f"{run['cpu_per_report_s']:.2f} s ({run['cpu_per_report_s'] / f['floor_cpu_s']:.2f}x)"

    def vs(run: dict) -> str:
        return f"{run['customer_job_s'] / run['floor_adjacent_s']:.2f}x (floor {run['floor_adjacent_s']:.2f} s)"

    rows = [
        ("Floor: papermill, notebook importing the kit (start of the benchmark)", f"{floor:.2f} s", "", "1.00x", ""),
        ("Sample, customer report, 1 worker", f"{s1['customer_job_s']:.2f} s", f"{s1['wall_per_report_s']:.2f} s",
         vs(s1), f"<= {TARGETS['sample_ratio']}x: {ok(v['sample_ratio'] <= TARGETS['sample_ratio'])}"),
        ("Sample, customer report, 2 workers", f"{s2['customer_job_s']:.2f} s", f"{s2['wall_per_report_s']:.2f} s",
         vs(s2), ""),
        (f"{book_size:,}-customer book, customer report, 1 worker", f"{b1['customer_job_s']:.2f} s",
         f"{b1['wall_per_report_s']:.2f} s", vs(b1),
         f"<= {TARGETS['book_ratio']}x: {ok(v['book_ratio'] <= TARGETS['book_ratio'])}"),
        (f"{book_size:,}-customer book, customer report, 2 workers", f"{b2['customer_job_s']:.2f} s",
         f"{b2['wall_per_report_s']:.2f} s", vs(b2), ""),
    ]
    lines = [
        START,
        "## `adoption-kit report` (benchmarks/report_bench.py)",
        "",
        f"Measured {f['date']} on {f['machine']}, Python {f['python']}, adoption-kit {f['kit_version']}"
        + (" (quick run)" if f["quick"] else "") + ". Command: `make bench-report` "
        "(= `.venv/bin/python benchmarks/report_bench.py`).",
        "",
        "Per report = a customer report's time in its worker (papermill execution of "
        "`20-customer-insights.ipynb` + HTML export + atomic writes), mean over the run's customer reports. "
        "Wall / report = the whole run (load and compute once, worker start, portfolio and low-adoption "
        "reports, index, manifest) divided by the reports rendered. vs floor: against the floor measured just "
        "before and after the same run (median of 4), so both see about the same load from other work.",
        "",
        "| Measurement | Per report | Wall / report | vs floor | Target |",
        "|---|---:|---:|---:|---|",
        *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows],
        "",
        "CPU / report: CPU seconds of the whole run (this process, forkserver, workers, kernels; sampled from "
        f"/proc) per report rendered, against the floor's {f['floor_cpu_s']:.2f} CPU seconds. Other load on the "
        "machine moves them far less than wall time.",
        "",
        "| Run | Reports | Wall | CPU / report (vs floor CPU) | Result | Target |",
        "|---|---:|---:|---:|---|---|",
        f"| Sample, 1 worker | {s1['reports']} | {s1['wall_s']:.1f} s | {cpu(s1)} | | |",
        f"| Sample, 2 workers | {s2['reports']} | {s2['wall_s']:.1f} s | {cpu(s2)} | {v['sample_speedup']:.2f}x one "
        f"worker | >= {TARGETS['speedup']}x: {ok(v['sample_speedup'] >= TARGETS['speedup'])} |",
        f"| Book subset, 1 worker | {b1['reports']} | {b1['wall_s']:.1f} s | {cpu(b1)} | | |",
        f"| Book subset, 2 workers | {b2['reports']} | {b2['wall_s']:.1f} s | {cpu(b2)} | {v['book_speedup']:.2f}x one "
        f"worker | >= {TARGETS['speedup']}x: {ok(v['book_speedup'] >= TARGETS['speedup'])} |",
        f"| Sample, unchanged rerun | {rr['current']} current | {rr['wall_s']:.2f} s | | "
        f"{v['rerun_share'] * 100:.1f}% of the 2-worker run | < 5%: {ok(v['rerun_share'] < TARGETS['rerun_share'])} |",
        "",
        "Where a customer report's time goes (sample, 1 worker, mean seconds): kernel start + papermill "
        f"{s1['breakdown']['kernel_start_and_papermill_s']:.2f}, export + writes "
        f"{s1['breakdown']['export_and_writes_s']:.2f}; slowest cells: "
        + "; ".join(f"`{c['cell']}` {c['mean_s']:.2f}" for c in s1["breakdown"]["cells"]) + ".",
        "",
        "Same on the book (1 worker): kernel start + papermill "
        f"{b1['breakdown']['kernel_start_and_papermill_s']:.2f}, export + writes "
        f"{b1['breakdown']['export_and_writes_s']:.2f}; slowest cells: "
        + "; ".join(f"`{c['cell']}` {c['mean_s']:.2f}" for c in b1["breakdown"]["cells"]) + ".",
        "",
        f"Floor runs: {', '.join(f'{t:.2f}' for t in f['floor_runs_s'])} s (median used). "
        f"1-minute load average {f['load_before']:.2f} before, {f['load_after']:.2f} after: on a shared "
        "machine other work shows up in every figure here.",
        END,
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    replace_section(BENCHMARKS_MD, START, END, section)


if __name__ == "__main__":
    sys.exit(main())
