"""HTML size and render time per report of run folders (from their manifest.json), side by side: what the live
charts, the content policy and the table script cost (issue 16).

Usage: .venv/bin/python benchmarks/html_cost.py RUN_FOLDER_BEFORE RUN_FOLDER_AFTER [...]
(run folders of `adoption-kit report` on the same data and selection, e.g. data/sample --customer ... ).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _reports(run: Path) -> dict[str, tuple[int, float]]:
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    return {r["html"]: ((run / r["html"]).stat().st_size, r["duration_s"] or 0.0) for r in manifest["reports"]}


def main(runs: list[Path]) -> int:
    tables = [_reports(r) for r in runs]
    names = sorted(set().union(*tables))
    print(f"{'report':58}" + "".join(f"{f'run {i + 1} KB':>11}{'s':>7}" for i in range(len(runs))))
    for name in names:
        row = "".join(f"{t[name][0] / 1024:>11.0f}{t[name][1]:>7.1f}" if name in t else f"{'-':>11}{'-':>7}"
                      for t in tables)
        print(f"{name[:58]:58}{row}")
    for i, run in enumerate(runs, 1):
        index = (run / "index.html").stat().st_size / 1024
        assets = sum(p.stat().st_size for p in (run / "_assets").glob("*")) / 1024 if (run / "_assets").is_dir() else 0
        total = sum(s for s, _ in tables[i - 1].values()) / 1024
        seconds = sum(d for _, d in tables[i - 1].values())
        print(f"run {i}: {run}: reports {total:,.0f} KB, index {index:.0f} KB, _assets {assets:,.0f} KB, "
              f"report time {seconds:.1f} s in total")
    return 0


if __name__ == "__main__":
    sys.exit(main([Path(a) for a in sys.argv[1:]]))
