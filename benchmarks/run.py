"""Run the project's benchmarks (`make bench`): each is a script in benchmarks/ that writes its section of
BENCHMARKS.md.

    .venv/bin/python benchmarks/run.py            # every benchmark below, in order
    .venv/bin/python benchmarks/run.py report     # only the named ones; extra arguments after `--` go to each

Add a benchmark by adding its script to BENCHMARKS.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "report": HERE / "report_bench.py",   # adoption-kit report: per-report cost vs papermill floor, workers, rerun
    "activity": HERE / "activity_bench.py",   # 1,000,000-user activity report: kit load + exact metrics vs bare read
    "pipeline": HERE / "pipeline_bench.py",   # bare read vs kit pipeline vs pandas, peak memory, 1k/20k/200k customers
    "insights": HERE / "insights_bench.py",   # 13-month, 20,000-customer OfficeUsage download: kit load vs bare read
}


def main(argv: list[str]) -> int:
    names, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    status = 0
    for name in names or list(BENCHMARKS):
        print(f"==> benchmark: {name}", flush=True)
        status = subprocess.call([sys.executable, str(BENCHMARKS[name]), *extra]) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
