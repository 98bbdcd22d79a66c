"""A customer report's four static charts, measured in the packaged "Adoption Kit Sans" vs the installed DejaVu Sans.

    .venv/bin/python benchmarks/chart_font_bench.py [--data FOLDER] [--customers N] [--repeat R] [--write]
    make bench-charts

Builds the charts of N customers with the kit's own calls (the ones the customer template makes: products,
workloads, trend, quadrant with density cells), then draws each static SVG with vl-convert twice, interleaved R
times: with the kit's font stack (its measuring font first) and with the same stack without it (DejaVu Sans
first, as before issue 18's font change). Reports the median milliseconds per chart and per report, and checks
that both give the same SVG but for the font name (the same layout). `--write` puts the figures in BENCHMARKS.md.
A script, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "## Static chart drawing: the measuring font (issue 18", "<!-- chart-font-bench:end -->"


def _replace_font(value: object, old: str, new: str) -> object:
    if isinstance(value, dict):
        return {k: _replace_font(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_font(v, old, new) for v in value]
    return new if value == old else value


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import vl_convert as vlc
    from markdown_section import replace_section

    from adoption_kit import analysis
    from adoption_kit.config import SAMPLE_DIR
    from adoption_kit.report import charts
    from adoption_kit.report.charts.common import FONT_STACK, report_style
    from adoption_kit.report.charts.fonts import MEASURE_FONT_FAMILY, register_measure_font
    from adoption_kit.report.charts.interactive import vl_version
    from adoption_kit.report.charts.offline import chart_safe

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write the figures into BENCHMARKS.md")
    args = parser.parse_args(argv)

    result = analysis.prepare(args.data)
    tenants = result.customers.sort("customer_id").get_column("customer_id").to_list()[:args.customers]
    old_stack = FONT_STACK.split(", ", 1)[1]
    specs: list[tuple[str, dict]] = []
    for tenant in tenants:
        built = {
            "products": charts.product_bars(result.metrics.products, tenant, result.thresholds),
            "workloads": charts.workload_usage_bars(result.metrics.workloads, tenant, result.thresholds),
            "trend": charts.customer_trend(result.book.history_workloads, tenant, result.thresholds),
            "quadrant": charts.adoption_quadrant(result.customers, result.thresholds, highlight=tenant,
                                                 max_points=200, crowded="density"),
        }
        specs += [(kind, report_style(chart_safe(chart.to_dict()))) for kind, chart in built.items()]

    version = vl_version()
    vlc.vegalite_to_svg(specs[0][1], vl_version=version)   # start-up paid before timing
    assert register_measure_font(), "the measuring font's files are missing (tools/build_measure_font.py)"
    timings: dict[str, dict[str, list[float]]] = {"measuring font": {}, "DejaVu Sans": {}}
    layout_differs = 0
    for _ in range(args.repeat):
        for kind, spec in specs:
            old = _replace_font(spec, FONT_STACK, old_stack)
            started = time.perf_counter()
            new_svg = vlc.vegalite_to_svg(spec, vl_version=version)
            timings["measuring font"].setdefault(kind, []).append(time.perf_counter() - started)
            started = time.perf_counter()
            old_svg = vlc.vegalite_to_svg(old, vl_version=version)
            timings["DejaVu Sans"].setdefault(kind, []).append(time.perf_counter() - started)
            layout_differs += new_svg.replace(FONT_STACK, old_stack) != old_svg

    kinds = [kind for kind, _ in specs[:4]]
    rows = {font: {kind: statistics.median(values[kind]) * 1000 for kind in kinds} for font, values in timings.items()}
    per_report = {font: sum(row.values()) for font, row in rows.items()}
    figures = {
        "data": str(args.data), "customers": len(tenants), "repeat": args.repeat,
        "ms_median": {font: {k: round(v) for k, v in row.items()} for font, row in rows.items()},
        "ms_per_report": {font: round(v) for font, v in per_report.items()},
        "speedup": round(per_report["DejaVu Sans"] / per_report["measuring font"], 2),
        "charts_with_another_layout": layout_differs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures, indent=1))
    if args.write:
        table = "\n".join(f"| {kind} | {rows['DejaVu Sans'][kind]:.0f} ms | {rows['measuring font'][kind]:.0f} ms |"
                          for kind in kinds)
        section = (
            f"{START}; `make bench-charts`)\n\n"
            f"`benchmarks/chart_font_bench.py --customers {len(tenants)} --repeat {args.repeat}`, {date.today()}, "
            f"{figures['machine']}, load {figures['load_before']} before. vl-convert drawing the four static charts "
            f"of a customer report ({len(tenants)} customers of `{Path(args.data).name}`, median of "
            f"{args.repeat} interleaved runs each): measured in the installed DejaVu Sans (the stack before) and in "
            f"the packaged {MEASURE_FONT_FAMILY} (DejaVu Sans's glyphs and widths, report.charts.fonts).\n\n"
            "| chart | DejaVu Sans first | measuring font first |\n|---|---:|---:|\n"
            f"{table}\n| **per report** | **{per_report['DejaVu Sans']:.0f} ms** | "
            f"**{per_report['measuring font']:.0f} ms** |\n\n"
            f"{figures['speedup']}x faster; charts whose SVG differs but for the font name: {layout_differs} of "
            f"{len(specs) * args.repeat}.\n{END}")
        replace_section(ROOT / "BENCHMARKS.md", START, END, section)
    return 1 if layout_differs else 0


if __name__ == "__main__":
    sys.exit(main())
