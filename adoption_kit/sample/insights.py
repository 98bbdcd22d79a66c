"""A deterministic synthetic book in the shape of the Partner Center Insights downloads (`adoption-kit sample
--format insights`): 13 months of OfficeUsage (tab-separated, as the portal gives it, with the API's
IsDuplicateRowForPGA column), DynamicsUsage (CSV, as the API gives it) and the seats report (CSV).

Planted cases (customer index: what the kit must show):
  0 Yammer beyond seats: Yammer MAU 150% of PAU every month (workload inflated, cause yammer; customer not).
  1 Teams drop: Teams usage 90% for 12 months, 20% in the newest (a history drop).
  2 Unexplained over 100%: Exchange MAU = PAU + 5 (inflated, unexplained).
  3 PGA repeats: every row repeated for a second partner location, IsDuplicateRowForPGA true (counted once).
  4 Low adopter: about 10% on every workload.
  5 Dynamics grace period: two subscriptions of one SKU, one In Grace Period; active above available.
  6 Dynamics free SKU: a free SKU beside a paid one (excluded from the ratios).
Every even customer has seats-report rows (deployment known); the odd ones have none (deployment unknown).
Customers 5, 6 and every tenth customer have Dynamics rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from adoption_kit.errors import ParameterError

NEWEST_MONTH = (2026, 10)   # the month before the REST sample's processedDateTime (2026-11-01)
MONTHS = 13
OFFICE_WORKLOADS = ("Exchange Online", "SharePoint", "OneDrive", "Teams", "Yammer")
OFFICE_FIELDS = ("CustomerTenantId", "CustomerTpid", "WorkloadName", "Month", "PaidAvailableUnits",
                 "MonthlyActiveUsers", "CustomerName", "CustomerMarket", "CustomerSegment", "MPNId", "PartnerName",
                 "PartnerLocation", "PartnerAttributionType", "IsDuplicateRowForPGA")
DYNAMICS_FIELDS = ("SubscriptionId", "SubscriptionStartDate", "SubscriptionEndDate", "SubscriptionStatus", "Month",
                   "RevSumDivisionName", "RevSumCategoryName", "SKU", "SKUId", "FreeVsPaidSKU", "SalesModel",
                   "DetailedSalesModel", "CustomerName", "CustomerTenantId", "CustomerTpid", "CustomerSegment",
                   "CustomerMarket", "MPNId", "PartnerName", "PartnerLocation", "PartnerAttachType", "AvailableSeats",
                   "AssignedSeats", "ActiveSeats", "DeploymentOpportunity", "ActiveUsagePercent")
SALES_SKU = ("Dynamics 365 Sales Enterprise", "1e1a282c-9c54-43a2-9310-98ef728faace")
FREE_SKU = ("Dynamics 365 Marketing Free", "8f0c5670-4e56-4892-b06d-91c085d7004f")
PLANTED_NAMES = ("Planted Yammer Beyond Seats", "Planted Teams Drop", "Planted Unexplained Over 100",
                 "Planted PGA Repeats", "Planted Low Adopter", "Planted Dynamics Grace", "Planted Dynamics Free")


def months(newest: tuple[int, int] = NEWEST_MONTH, count: int = MONTHS) -> list[str]:
    """The `count` months ending at `newest`, oldest first, as YYYY-MM."""
    year, month = newest
    index = year * 12 + month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def _tenants(n: int, rng: np.random.Generator) -> list[str]:
    raw = rng.integers(0, 2**63 - 1, size=(n, 2), dtype=np.int64)
    out = []
    for hi, lo in raw:
        h = f"{int(hi):016x}{int(lo):016x}"
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}".upper())
    return out


def insights_frames(customers: int = 50, seed: int = 7) -> dict[str, pl.DataFrame]:
    """The three downloads as all-text frames: {"OfficeUsage.tsv": ..., "DynamicsUsage.csv": ...,
    "SeatsSubscriptionsAndRevenue.csv": ...}."""
    if not isinstance(customers, int) or customers < len(PLANTED_NAMES):
        raise ParameterError(f"--customers must be at least {len(PLANTED_NAMES)} for the Insights sample")
    rng = np.random.default_rng(seed)
    n, labels, w = customers, months(), len(OFFICE_WORKLOADS)
    tenants = _tenants(n, rng)
    names = [PLANTED_NAMES[i] if i < len(PLANTED_NAMES) else f"Insights Customer {i:05d}" for i in range(n)]
    seats = rng.integers(5, 300, size=n)
    growth = rng.integers(0, 3, size=(n, MONTHS)).cumsum(axis=1) - 12   # a few seats more over the year
    pau = np.maximum(seats[:, None] + growth, 1)                          # n x months
    rate = rng.uniform(0.3, 0.95, size=(n, w))                            # per customer x workload
    noise = rng.normal(0, 0.03, size=(n, MONTHS, w))
    usage = np.clip(rate[:, None, :] + noise, 0.0, 1.0)                   # n x months x workloads
    usage[4] = np.clip(0.1 + noise[4], 0.0, 1.0)                          # low adopter
    teams = OFFICE_WORKLOADS.index("Teams")
    usage[1, :, teams], usage[1, -1, teams] = 0.9, 0.2                    # Teams drop in the newest month
    pau_w = np.repeat(pau[:, :, None], w, axis=2)
    pau_w[:, :, OFFICE_WORKLOADS.index("OneDrive")] = np.maximum(pau - 1, 1)   # OneDrive's own count
    mau = np.rint(pau_w * usage).astype(np.int64)
    mau[0, :, OFFICE_WORKLOADS.index("Yammer")] = np.rint(pau[0] * 1.5)  # Yammer beyond seats
    mau[2, :, OFFICE_WORKLOADS.index("Exchange Online")] = pau[2] + 5     # unexplained over 100%

    c_idx = np.repeat(np.arange(n), MONTHS * w)
    m_idx = np.tile(np.repeat(np.arange(MONTHS), w), n)
    w_idx = np.tile(np.arange(w), n * MONTHS)
    tenant_s = pl.Series(tenants)
    name_s = pl.Series(names)
    office = pl.DataFrame({
        "CustomerTenantId": tenant_s.gather(c_idx), "CustomerTpid": pl.Series(c_idx + 100000).cast(pl.String),
        "WorkloadName": pl.Series(OFFICE_WORKLOADS).gather(w_idx), "Month": pl.Series(labels).gather(m_idx),
        "PaidAvailableUnits": pau_w.reshape(-1), "MonthlyActiveUsers": mau.reshape(-1),
        "CustomerName": name_s.gather(c_idx),
    }).with_columns(
        pl.lit("GB").alias("CustomerMarket"), pl.lit("SMB").alias("CustomerSegment"),
        pl.lit("1234567").alias("MPNId"), pl.lit("Example Partner").alias("PartnerName"),
        pl.lit("GB").alias("PartnerLocation"), pl.lit("Transacting").alias("PartnerAttributionType"),
        pl.lit("False").alias("IsDuplicateRowForPGA"))
    repeats = office.filter(pl.col("CustomerTenantId") == tenants[3]).with_columns(
        pl.lit("US").alias("PartnerLocation"), pl.lit("True").alias("IsDuplicateRowForPGA"))
    office = pl.concat([office, repeats]).select(OFFICE_FIELDS).with_columns(pl.all().cast(pl.String))

    dyn_rows = []
    dynamics_customers = sorted({5, 6, *range(0, n, 10)})
    for i in dynamics_customers:
        base = int(rng.integers(5, 40))
        subs = [("A", "Active", SALES_SKU, base, "Paid")]
        if i == 5:
            subs.append(("B", "In Grace Period", SALES_SKU, 5, "Paid"))
        if i == 6:
            subs.append(("F", "Active", FREE_SKU, 100, "Free"))
        for m, label in enumerate(labels):
            for suffix, status, (sku, sku_id), available, free in subs:
                assigned = min(available, int(available * 0.8) + m % 2)
                active = available + 4 if i == 5 else int(assigned * 0.7)
                if suffix == "F":
                    assigned, active = 20, 5
                dyn_rows.append({
                    "SubscriptionId": f"{tenants[i][:8]}-{suffix}", "SubscriptionStartDate": "2025-01-01",
                    "SubscriptionEndDate": "2027-01-01" if status == "Active" else "2026-11-15",
                    "SubscriptionStatus": status, "Month": f"{label}-01", "RevSumDivisionName": "Dynamics",
                    "RevSumCategoryName": "Dynamics 365", "SKU": sku, "SKUId": sku_id, "FreeVsPaidSKU": free,
                    "SalesModel": "CSP", "DetailedSalesModel": "CSP Indirect", "CustomerName": names[i],
                    "CustomerTenantId": tenants[i], "CustomerTpid": str(100000 + i), "CustomerSegment": "SMB",
                    "CustomerMarket": "GB", "MPNId": "1234567", "PartnerName": "Example Partner",
                    "PartnerLocation": "GB", "PartnerAttachType": "Transacting", "AvailableSeats": available,
                    "AssignedSeats": assigned, "ActiveSeats": active, "DeploymentOpportunity": available - assigned,
                    "ActiveUsagePercent": round(100 * active / available, 2)})
    dynamics = pl.DataFrame(dyn_rows).select(DYNAMICS_FIELDS).with_columns(pl.all().cast(pl.String))

    seat_rows = []
    for i in range(0, n, 2):
        for m, label in enumerate(labels):
            sold = int(pau[i, m])
            assigned = int(sold * (0.5 if i == 4 else 0.9))
            seat_rows.append({"CustomerTenantId": tenants[i], "CustomerName": names[i], "Month": label,
                              "SKU": "Microsoft 365 Business Standard", "ProductPartNumber": "O365_BUSINESS_PREMIUM",
                              "SubscriptionState": "Active", "IsAutoRenew": "True", "TotalSoldSeats": sold,
                              "TotalAssignedSeats": assigned})
    seats_frame = pl.DataFrame(seat_rows).with_columns(pl.all().cast(pl.String))
    return {"OfficeUsage.tsv": office, "DynamicsUsage.csv": dynamics, "SeatsSubscriptionsAndRevenue.csv": seats_frame}


def write_insights_sample(out_dir: Path | str, *, customers: int = 50, seed: int = 7) -> list[Path]:
    """Write the Insights sample into `out_dir` (created); returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in insights_frames(customers, seed).items():
        path = out / name
        frame.write_csv(path, separator="\t" if name.endswith(".tsv") else ",", line_terminator="\r\n")
        written.append(path)
    return written
