"""Benchmark: peak memory of reading hostile but legal JSON pages (issue 17, item 3).

Run:  .venv/bin/python benchmarks/json_memory_bench.py [--records 16000] [--field-mib 256]   (`make bench-json`)

Each case is loaded by `adoption_kit.inputs.load_exports` in a fresh child process (parsed cache off), and
the child's own peak resident set size (VmHWM of /proc/self/status, printed by the child) and the wall
time are printed:

  imports:     the interpreter with adoption_kit.inputs (polars, numpy) imported, nothing read: the floor

  plain:       a deployment page of --records records with the documented fields only
  wide:        the same page where every record carries one extra key of its own (16,000 distinct keys):
               before issue 17, a column per key (6.4 GB, 37 s); the target is under 200 MB
  long field:  a one-record page whose customerName is --field-mib MiB long (refused before decoding)

Prints figures only (no timing assert; the test suite checks behaviour, not speed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANT = "0112A436-B14E-4888-967B-CA4BB2CF{:04X}"
E3 = "6FD2C87F-B296-42F0-B197-1E91E994B900"

CHILD = """
import sys
from adoption_kit.errors import AdoptionKitError
from adoption_kit.inputs import load_exports
try:
    if sys.argv[1] != "-":
        exports = load_exports(sys.argv[1])
        print("loaded", exports.deployment.height, "rows")
    else:
        print("imports only")
except AdoptionKitError as error:
    print("refused:", str(error).splitlines()[0][-90:])
# VmHWM is this process image's own high-water mark (ru_maxrss would carry the parent's across exec).
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def record(i: int, **extra: object) -> dict:
    return {"processedDateTime": "2026-11-01T00:00:00", "serviceCode": "o365", "serviceName": "Microsoft Office 365",
            "channel": "reseller", "customerTenantId": TENANT.format(i % 65536), "customerName": f"Customer {i}",
            "productId": E3, "productName": "OFFICE 365 ENTERPRISE E3", "licensesDeployed": 8, "licensesSold": 10,
            **extra}


def write_case(folder: Path, name: str, records: list[dict]) -> Path:
    case = folder / name
    case.mkdir()
    with (case / "deployment.json").open("w", encoding="utf-8") as stream:
        json.dump({"Value": records, "@nextLink": None, "TotalCount": len(records)}, stream)
    return case


def measure(case: Path) -> tuple[float, float, str]:
    """(peak RSS in MB, seconds, the child's one-line outcome) of loading `case` in a fresh process."""
    env = {**os.environ, "ADOPTION_KIT_CACHE": "off", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", CHILD, str(case)], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or len(lines) != 2:
        return float("nan"), seconds, (run.stderr.strip().splitlines() or ["failed"])[-1][:100]
    return int(lines[1]) / 1024, seconds, lines[0]   # VmHWM is in KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=16_000)
    parser.add_argument("--field-mib", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="json-memory-bench-") as tmp:
        folder = Path(tmp)
        plain = [record(i) for i in range(args.records)]
        cases = [("imports", Path("-")), ("plain", write_case(folder, "plain", plain)),
                 ("wide", write_case(folder, "wide", [record(i, **{f"extra{i}": i}) for i in range(args.records)])),
                 ("long field", write_case(folder, "long", [record(0, customerName="x" * (args.field_mib << 20))]))]
        print(f"{'case':<11} {'page MB':>8} {'peak RSS MB':>12} {'seconds':>8}  outcome")
        for label, case in cases:
            size = (case / "deployment.json").stat().st_size / 1e6 if case.name != "-" else 0.0
            peak, seconds, outcome = measure(case)
            print(f"{label:<11} {size:8.1f} {peak:12.0f} {seconds:8.1f}  {outcome}")


if __name__ == "__main__":
    main()
