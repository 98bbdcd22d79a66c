"""Benchmark: a 1,000,000-user Microsoft 365 active-user detail file, kit load + exact metrics vs a bare polars read.

Run:  .venv/bin/python benchmarks/activity_bench.py [--users 1000000] [--repeat 5] [--keep DIR]

The file is generated deterministically (seed 1) in the exact getOffice365ActiveUserDetail shape
(shared/reference/exports.md section 3: UTF-8 with BOM, True/False, YYYY-MM-DD, empty = null) inside a
folder named after its tenant id, next to a one-customer deployment and usage page so that the kit can
map it to a known customer. Timed, best of --repeat runs each (page cache warm for both):

  bare:  pl.read_csv(file)                                  (polars defaults)
  kit:   load_exports(folder) + activity_tables (activity_workloads and activity_customers)
         (every check, the GUID-folder mapping, the sha256 of each file, the 28-day window)

Runs alternate (bare, kit, bare, kit, ...) so that both see the same machine load; prints the best time
of each and kit / bare. The target is at most 2x (issue 5, item 8). Writes its section of BENCHMARKS.md
(between the `activity-bench` markers, so other benchmarks share the file) unless --no-write.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
from markdown_section import replace_section  # noqa: E402 - a sibling script module

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
START, END = "<!-- activity-bench:start -->", "<!-- activity-bench:end -->"
TENANT = "5A1D0C7E-3B2F-4E6A-9C8D-1F2E3D4C5B6A"
REFRESH = date(2026, 11, 1)
HEADER = ("Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
          "Has Exchange License", "Has OneDrive License", "Has SharePoint License",
          "Has Skype For Business License", "Has Yammer License", "Has Teams License",
          "Exchange Last Activity Date", "OneDrive Last Activity Date", "SharePoint Last Activity Date",
          "Skype For Business Last Activity Date", "Yammer Last Activity Date", "Teams Last Activity Date",
          "Exchange License Assign Date", "OneDrive License Assign Date", "SharePoint License Assign Date",
          "Skype For Business License Assign Date", "Yammer License Assign Date", "Teams License Assign Date",
          "Assigned Products")
WORKLOADS = ("Exchange", "OneDrive", "SharePoint", "Skype For Business", "Yammer", "Teams")
PRODUCTS = ("OFFICE 365 E3", "MICROSOFT 365 E3", "MICROSOFT 365 E3+ENTERPRISE MOBILITY + SECURITY E5",
            "MICROSOFT 365 BUSINESS STANDARD", "OFFICE 365 E3+MICROSOFT TEAMS PHONE STANDARD")
# probability that a licensed user was active in the last 90 days, per workload
ACTIVE_SHARE = (0.92, 0.70, 0.55, 0.05, 0.15, 0.85)


def write_activity_file(path: Path, users: int, seed: int = 1) -> Path:
    """Write a deterministic active-user detail CSV of `users` rows (concealed names) to `path`."""
    rng = np.random.default_rng(seed)
    u = rng.random((users, 20))
    # 32 upper-case hex characters per user: the concealed-name tokens, vectorised
    raw = rng.integers(0, 256, size=(users, 16), dtype=np.uint8)
    hex_digits = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
    hexed_bytes = np.empty((users, 32), dtype=np.uint8)
    hexed_bytes[:, 0::2] = hex_digits[raw >> 4]
    hexed_bytes[:, 1::2] = hex_digits[raw & 0x0F]
    hexed = pl.Series(hexed_bytes.view("S32").ravel()).cast(pl.String)
    deleted = u[:, 0] < 0.01
    licensed = u[:, 1] < 0.95
    refresh = np.datetime64(REFRESH.isoformat())

    def day_text(offsets: np.ndarray, present: np.ndarray) -> pl.Series:
        days = (refresh - offsets.astype("timedelta64[D]")).astype("datetime64[D]")
        text = pl.Series(np.datetime_as_string(days, unit="D"))
        return pl.select(pl.when(pl.Series(present)).then(text)).to_series()

    def flag(values: np.ndarray) -> pl.Series:
        return pl.select(pl.when(pl.Series(values)).then(pl.lit("True")).otherwise(pl.lit("False"))).to_series()

    columns: dict[str, pl.Series] = {
        "Report Refresh Date": pl.Series([REFRESH.isoformat()] * users),
        "User Principal Name": hexed,
        "Display Name": hexed,
        "Is Deleted": flag(deleted),
        "Deleted Date": day_text(np.floor(u[:, 2] * 60), deleted),
    }
    for i, w in enumerate(WORKLOADS):
        has = licensed & (u[:, 3 + i] < (0.3 if w in ("Skype For Business",) else 0.97))
        columns[f"Has {w} License"] = flag(has)
    for i, w in enumerate(WORKLOADS):
        active = u[:, 9 + i] < ACTIVE_SHARE[i]
        columns[f"{w} Last Activity Date"] = day_text(np.floor(u[:, 9 + i] / ACTIVE_SHARE[i] * 90), active)
    for i, w in enumerate(WORKLOADS):
        columns[f"{w} License Assign Date"] = day_text(np.floor(u[:, 15 + (i % 5)] * 1500), licensed)
    columns["Assigned Products"] = pl.select(
        pl.when(pl.Series(licensed)).then(pl.Series(PRODUCTS).gather(np.floor(u[:, 19] * len(PRODUCTS)).astype(int)))
    ).to_series()
    out = pl.DataFrame({name: columns[name] for name in HEADER})
    path.parent.mkdir(parents=True, exist_ok=True)
    out.write_csv(path, include_bom=True)
    return path


def write_partner_center_pages(folder: Path) -> None:
    """One deployment and one usage page for the tenant, so that the activity file maps to a known customer."""
    common = {"processedDateTime": f"{REFRESH.isoformat()}T00:00:00", "serviceCode": "o365",
              "serviceName": "Microsoft Office 365", "channel": "reseller", "customerTenantId": TENANT,
              "customerName": "Benchmark Tenant Ltd", "productId": "05E9A617-0261-4CEE-BB44-138D3EF5D965",
              "productName": "MICROSOFT 365 E3"}
    deployment = [{**common, "licensesDeployed": 950_000, "licensesSold": 1_000_000}]
    usage = [{**common, "workloadCode": code, "workloadName": name, "licensesActive": 500_000,
              "licensesQualified": 950_000} for code, name in (("EXO", "Exchange"), ("SPO", "SharePoint"))]
    for name, records in (("license-deployment-page-1.json", deployment), ("license-usage-page-1.json", usage)):
        (folder / name).write_text(json.dumps({"Value": records, "@nextLink": None, "TotalCount": len(records)}),
                                   encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from adoption_kit.compute.activity import activity_tables
    from adoption_kit.inputs import load_exports

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="alternating bare/kit runs; the best of each counts")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the files here (reused when already there) instead of a temp dir")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        write_partner_center_pages(folder)
        path = folder / "activity" / TENANT / "ActiveUserDetail.csv"
        if not path.is_file() or pl.read_csv(path, columns=[0]).height != args.users:
            start = time.perf_counter()
            write_activity_file(path, args.users)
            print(f"generated in {time.perf_counter() - start:.1f} s")
        size_mb = path.stat().st_size / 1e6

        def kit():
            exports = load_exports(folder)
            return activity_tables(exports.activity)

        pl.read_csv(path)  # warm the page cache
        bare_times, kit_times = [], []
        for _ in range(args.repeat):   # alternate, so that both see the same machine load
            start = time.perf_counter()
            frame = pl.read_csv(path)
            bare_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            workloads, customers = kit()
            kit_times.append(time.perf_counter() - start)
        assert frame.height == args.users and customers.get_column("users").item() == args.users
        bare, kit_time = min(bare_times), min(kit_times)
        pairs = sorted(k / b for k, b in zip(kit_times, bare_times))
        load = os.getloadavg()[0]
        median_pair = pairs[len(pairs) // 2]
        print(f"file: {args.users:,} users, {size_mb:,.0f} MB; {pl.thread_pool_size()} polars threads, "
              f"load average {load:.2f}")
        print(f"bare pl.read_csv(file), best of {args.repeat}:            {bare:.2f} s")
        print(f"kit load_exports + activity_tables, best of {args.repeat}: {kit_time:.2f} s")
        print(f"ratio kit / bare: {kit_time / bare:.2f}x (target <= 2x); median of paired runs {median_pair:.2f}x")
        print(customers.select("licensed_users", "active_users_any_workload", "usage_rate_exact",
                               "concealed_names"))
        if not args.no_write:
            write_section(section(args.users, size_mb, args.repeat, bare, kit_time, median_pair, load))
            print(f"wrote {BENCHMARKS_MD}")
    return 0


def section(users: int, size_mb: float, repeat: int, bare: float, kit: float, median_pair: float,
            load: float) -> str:
    verdict = "within" if kit / bare <= 2 else "over"
    return "\n".join([
        START,
        "## Exact usage from a 1,000,000-user activity report (issue 5)",
        "",
        f"`benchmarks/activity_bench.py`, {datetime.now(timezone.utc):%Y-%m-%d}: a deterministic "
        f"{users:,}-user Microsoft 365 active-user detail CSV ({size_mb:,.0f} MB, concealed names, UTF-8 with BOM) "
        f"in its tenant folder. Bare = `pl.read_csv(file)` with polars defaults; kit = `load_exports(folder)` "
        f"(every check, the tenant-folder mapping, sha256 of the file) + `activity_tables` (exact per-workload "
        f"and per-customer figures). Best of {repeat} alternating runs each, page cache warm.",
        "",
        "| measure | seconds |",
        "|---|---|",
        f"| bare `pl.read_csv` | {bare:.2f} |",
        f"| kit load + exact metrics | {kit:.2f} |",
        f"| **kit / bare** | **{kit / bare:.2f}x** ({verdict} the 2x target; median of paired runs "
        f"{median_pair:.2f}x) |",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {pl.thread_pool_size()} polars threads, "
        f"polars {pl.__version__}; load average {load:.1f} while measuring (other jobs were running: "
        f"treat single runs as noisy). Where the time goes: polars parses the dates and booleans while it "
        f"reads (`inputs.activity._read_activity_typed`, about the bare read), the checks and the Assigned Products "
        f"split about 0.15 s, sha256 runs in a thread alongside the parse, the exact figures about 0.15 s "
        f"(one pass; per-customer row runs summed without a hash group_by).",
        END,
    ])


def write_section(text_section: str) -> None:
    replace_section(BENCHMARKS_MD, START, END, text_section)


if __name__ == "__main__":
    raise SystemExit(main())
