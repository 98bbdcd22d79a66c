"""What `--pdf` adds per report: headless Chromium printing a customer report's HTML, against the report's own cost.

    .venv/bin/python benchmarks/pdf_bench.py [--customers N] [--repeat R]      (flock /work/bench.lock on shared hosts)

Renders N customer reports of the bundled sample for the customer audience without PDFs (the per-report seconds
come from the run manifest: papermill execution + HTML export + writes, in its worker), then prints each HTML to a
PDF with the kit's printer (adoption_kit.render.pdf.print_pdfs, one Chromium per PDF, 1 worker), R times, and
reports seconds per PDF (median, max), the PDF sizes, and the PDF's share of a report's cost. A script, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from adoption_kit import analysis
    from adoption_kit.config import REPORT_TEMPLATES_DIR, SAMPLE_DIR
    from adoption_kit.render import render_reports
    from adoption_kit.render.pdf import PdfJob, print_pdfs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    book = analysis.prepare(SAMPLE_DIR)
    chosen = book.customers.sort("customer_id").get_column("customer_id").to_list()[:args.customers]
    with tempfile.TemporaryDirectory(prefix="pdf-bench-") as folder:
        result = render_reports(SAMPLE_DIR, Path(folder), customers=chosen, workers=1, audience="customer",
                                pdf=False, templates_dir=REPORT_TEMPLATES_DIR, today="2026-11-20", progress=False)
        assert result.exit_code == 0, [r.describe_error() for r in result.failures]
        reports = [r for r in result.reports if r.job.kind == "customer"]
        report_s = [r.duration_s for r in reports]
        jobs = [PdfJob(result.run_dir / r.job.html, result.run_dir / f"{r.job.name}.pdf",
                       f"{r.job.customer_name} · data of {result.run_dir.name}") for r in reports]
        per_pdf: list[float] = []
        for _ in range(args.repeat):
            for job in jobs:
                job.pdf.unlink(missing_ok=True)
                started = time.perf_counter()
                print_pdfs([job], paper="a4", workers=1)
                per_pdf.append(time.perf_counter() - started)
        sizes = [job.pdf.stat().st_size for job in jobs]
    figures = {
        "customers": len(jobs), "repeat": args.repeat,
        "report_s_median": round(statistics.median(report_s), 2),
        "pdf_s_median": round(statistics.median(per_pdf), 2), "pdf_s_max": round(max(per_pdf), 2),
        "pdf_share_of_report": round(statistics.median(per_pdf) / statistics.median(report_s), 2),
        "pdf_kb_median": round(statistics.median(sizes) / 1024), "pdf_kb_max": round(max(sizes) / 1024),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": os.getloadavg()[0],
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
