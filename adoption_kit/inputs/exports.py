"""What `load_exports` returns: the normalised frames of one set of export files, and the files read."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from adoption_kit import schema
from adoption_kit.inputs.catalog import SkuCatalog
from adoption_kit.inputs.inventory import Inventory
from adoption_kit.values import max_date, min_date, visible_text


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    kind: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Exports:
    """Everything read from one set of files, normalised to the columns in `adoption_kit.schema`."""

    deployment: pl.DataFrame
    usage: pl.DataFrame
    subscriptions: pl.DataFrame
    files: tuple[LoadedFile, ...] = ()
    warnings: tuple[str, ...] = ()
    # Microsoft 365 active-user detail rows (schema.ACTIVITY_COLUMNS), one report per customer (the newest).
    activity: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.ACTIVITY_COLUMNS))
    # Kit-defined optional inputs (schema.PRICE_LIST, schema.SUPPORT_TICKETS); empty when not given.
    prices: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.PRICE_COLUMNS))
    tickets: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.TICKET_COLUMNS))
    # Insights downloads as read (adoption_kit.inputs.insights), already mapped onto the frames above; and the
    # products they put on the exclusion list (free Dynamics SKUs): compute() adds them to the exclusions given.
    insights_office: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.INSIGHTS_OFFICE_COLUMNS))
    insights_dynamics: pl.DataFrame = field(
        default_factory=lambda: schema.empty_frame(schema.INSIGHTS_DYNAMICS_COLUMNS))
    insights_seats: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(schema.INSIGHTS_SEATS_COLUMNS))
    insights_exclusions: pl.DataFrame = field(default_factory=lambda: schema.empty_frame(
        {"product_id": pl.String, "product_name": pl.String, "reason": pl.String}))
    # Files read and skipped, missing kinds, paging and snapshot completeness (inventory.py); its findings
    # are also lines of `warnings`.
    inventory: Inventory = field(default_factory=Inventory)
    # The product catalog used to match subscriptions to licence products: the packaged crosswalk, with any
    # Microsoft licensing CSV found among the files merged over it (adoption_kit.inputs.catalog).
    catalog: SkuCatalog | None = None

    @property
    def snapshots(self) -> list:
        """Distinct processedDateTime values across both license feeds, oldest first."""
        values = pl.concat([self.deployment.select("processed_at"), self.usage.select("processed_at")])
        return values.unique().sort("processed_at").get_column("processed_at").to_list()

    def latest(self) -> Exports:
        """Keep, per customer, only the newest processedDateTime of each license feed."""

        def newest(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.filter(pl.col("processed_at") == pl.col("processed_at").max().over("customer_id"))

        return replace(self, deployment=newest(self.deployment), usage=newest(self.usage))

    def summary(self) -> str:
        """A few human lines: what was found."""
        lines = [f"{len(self.files)} file(s) read"]
        for kind in ("deployment", "usage", "subscriptions"):
            kind_files = [f for f in self.files if f.kind == kind]
            if kind_files:
                frame = getattr(self, kind)
                lines.append(f"  {kind}: {len(kind_files)} file(s), {frame.height} row(s), "
                             f"{frame.get_column('customer_id').n_unique()} customer(s)")
        activity_files = [f for f in self.files if f.kind == schema.ACTIVITY.name]
        if activity_files:
            lines.append(f"  activity (Microsoft 365 active-user detail): {len(activity_files)} file(s), "
                         f"{self.activity.height} user row(s) used, "
                         f"{self.activity.get_column('customer_id').n_unique()} customer(s)")
        for export_kind, frame, what in ((schema.PRICE_LIST, self.prices, "price(s)"),
                                         (schema.SUPPORT_TICKETS, self.tickets, "ticket(s)")):
            kind_files = [f for f in self.files if f.kind == export_kind.name]
            if kind_files:
                lines.append(f"  {export_kind.title}: {len(kind_files)} file(s), {frame.height} {what}")
        for insights_kind, frame in ((schema.INSIGHTS_OFFICE, self.insights_office),
                            (schema.INSIGHTS_DYNAMICS, self.insights_dynamics),
                            (schema.INSIGHTS_SEATS, self.insights_seats)):
            kind_files = [f for f in self.files if f.kind == insights_kind.name]
            if kind_files:
                first, last = min_date(frame.get_column("month")), max_date(frame.get_column("month"))
                span = f", months {first:%Y-%m} .. {last:%Y-%m}" if first and last else ""
                lines.append(f"  {insights_kind.title}: {len(kind_files)} file(s), {frame.height} row(s), "
                             f"{frame.get_column('customer_id').n_unique()} customer(s){span}; basis: "
                             f"{schema.INSIGHTS_BASIS}" if insights_kind is not schema.INSIGHTS_SEATS else
                             f"  {insights_kind.title}: {len(kind_files)} file(s), {frame.height} row(s), "
                             f"{frame.get_column('customer_id').n_unique()} customer(s){span}")
        catalog_files = [f for f in self.files if f.kind == schema.SKU_CATALOG.name]
        if catalog_files:
            lines.append(f"  {schema.SKU_CATALOG.title}: {len(catalog_files)} file(s), used over the kit's "
                         f"packaged product catalog")
        snapshots = self.snapshots
        if snapshots:
            lines.append(f"  processedDateTime: {snapshots[0]:%Y-%m-%d %H:%M} .. {snapshots[-1]:%Y-%m-%d %H:%M} UTC"
                         f" ({len(snapshots)} snapshot(s))")
        if self.inventory.read or self.inventory.skipped:
            lines.append("files:")
            lines.extend(self.inventory.lines())
        lines.extend(f"warning: {visible_text(w)}" for w in self.warnings)   # one line each, whatever a name holds
        return "\n".join(lines)
