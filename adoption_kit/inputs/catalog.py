"""The product catalog crosswalk: SKU GUID, String_Id, display name and the known names of each licence product.

Partner Center names one product differently in different feeds: the licence feeds carry the legacy upper-case
name (`OFFICE 365 ENTERPRISE E3`), the subscription resource's `offerName` the marketing name (`Office 365 E3`,
`Office 365 E1 Trial`), and names change over time (the April 2020 renames). Microsoft's "Product names and
service plan identifiers for licensing" CSV ties the SKU GUID (the licence feeds' `productId`) to its String_Id
and current display name. The packaged crosswalk (adoption_kit/data/sku_catalog.json) is built from that CSV by
tools/build_sku_catalog.py, plus a small hand-kept table of documented legacy names (LEGACY_NAMES, RENAMES).
A copy of Microsoft's CSV in the data folder is recognised by its header and merged over the packaged one.

Subscriptions are matched to the licence products of the same customer (`match_subscriptions`): by SKU GUID
where the subscription has one, then by any known name of the same SKU (a trailing " Trial" marks a trial of
that SKU), then by the folded name (values.product_name_key). SKUs missing from the catalog fall back to
name folding, so newer products keep working.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import polars as pl

from adoption_kit import config
from adoption_kit.inputs.insights import OFFICE_PRODUCT_ID
from adoption_kit.schema import header_key
from adoption_kit.values import is_guid, normalise_guid, product_name_key

PACKAGED_CATALOG_FILE: Final = config.PACKAGE_DATA_DIR / "sku_catalog.json"
# Microsoft's CSV, as its header keys (header_key folds `String_ Id` to `stringid` too).
CSV_SIGNATURE: Final = frozenset({"productdisplayname", "stringid", "guid"})

# Documented legacy names of a String_Id, with where they are documented. Names derivable from the String_Id
# itself (O365_BUSINESS_ESSENTIALS -> OFFICE 365 BUSINESS ESSENTIALS) are derived, not listed here.
LEGACY_NAMES: Final[Mapping[str, tuple[tuple[str, ...], str]]] = {
    "ENTERPRISEPACK": (("OFFICE 365 ENTERPRISE E3",),
                       "Partner Center licence analytics productName example (exports.md 1.1)"),
    "STANDARDPACK": (("OFFICE 365 ENTERPRISE E1",), "licence feed product name quoted in issue 13"),
    "O365_BUSINESS": (("OFFICE 365 BUSINESS",),
                      "Partner Center shows cdd28e44-... as OFFICE 365 BUSINESS (exports.md 1.1 and 4)"),
}
# Microsoft's April 2020 renames (exports.md section 2): current display name -> the former name.
RENAMES: Final[Mapping[str, str]] = {
    "Microsoft 365 Business Basic": "Office 365 Business Essentials",
    "Microsoft 365 Business Standard": "Office 365 Business Premium",
    "Microsoft 365 Business Premium": "Microsoft 365 Business",
    "Microsoft 365 Apps for Business": "Office 365 Business",
    "Microsoft 365 Apps for Enterprise": "Office 365 ProPlus",
}
_PREFIXES: Final = {"O365": "OFFICE 365", "M365": "MICROSOFT 365"}
_TRIAL: Final = r"(?i)\s+trial\s*$"
# Subscriptions that have ended: one whose product has left the licence feeds is expected, not a mismatch.
ENDED_STATUSES: Final = frozenset({"deprovisioned", "deleted", "expired"})


def unmatched(matched: pl.DataFrame) -> pl.Expr:
    """A subscription (from match_subscriptions) that matches no licence product and has not ended."""
    ended = (pl.col("status").is_in(sorted(ENDED_STATUSES)).fill_null(False) if "status" in matched.columns
             else pl.lit(False))
    return pl.col("matched_product_id").is_null() & ~ended


@dataclass(frozen=True)
class SkuCatalog:
    """One row per SKU (`skus`: guid, string_id, display_name) and every known name of it (`names`: name_key,
    guid; several SKUs can share a name, e.g. two "Microsoft 365 Apps for Business" SKUs)."""

    skus: pl.DataFrame
    names: pl.DataFrame
    source: str = ""
    source_date: str = ""

    @property
    def guids(self) -> pl.Series:
        return self.skus.get_column("guid")


def derived_names(string_id: str) -> list[str]:
    """Names a licence feed may print for a String_Id: the id itself and its words (O365_ -> OFFICE 365)."""
    words = string_id.strip().upper().split("_")
    if words and words[0] in _PREFIXES:
        words[0] = _PREFIXES[words[0]]
    spelled = " ".join(w for w in words if w)
    return [string_id.strip().upper()] + ([spelled] if spelled != string_id.strip().upper() else [])


def entries_from_microsoft_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Microsoft's CSV rows (one per product x service plan; keys as in its header, any drift) -> one entry per
    SKU: guid (lower case), string_id, display_name and names (derived and documented legacy names)."""
    by_guid: dict[str, dict[str, Any]] = {}
    for row in rows:
        keyed = {header_key(k): (v or "").strip() for k, v in row.items() if k is not None}
        guid, string_id, display = keyed.get("guid", ""), keyed.get("stringid", ""), keyed.get("productdisplayname", "")
        if not is_guid(guid) or not string_id:
            continue
        entry = by_guid.setdefault(normalise_guid(guid), {"guid": normalise_guid(guid), "string_id": string_id,
                                                          "display_name": display or string_id, "names": []})
        if not entry["display_name"] and display:
            entry["display_name"] = display
    for entry in by_guid.values():
        names = [entry["display_name"], *derived_names(entry["string_id"])]
        names += list(LEGACY_NAMES.get(entry["string_id"].upper(), ((), ""))[0])
        if entry["display_name"] in RENAMES:
            names.append(RENAMES[entry["display_name"]])
        entry["names"] = list(dict.fromkeys(" ".join(n.split()) for n in names if n.strip()))
    return sorted(by_guid.values(), key=lambda e: e["guid"])


def catalog_from_entries(entries: Iterable[Mapping[str, Any]], source: str = "", source_date: str = "") -> SkuCatalog:
    entries = list(entries)
    skus = pl.DataFrame([{k: e[k] for k in ("guid", "string_id", "display_name")} for e in entries],
                        schema={"guid": pl.String, "string_id": pl.String, "display_name": pl.String})
    names = pl.DataFrame([{"name": n, "guid": e["guid"]} for e in entries for n in e["names"]],
                         schema={"name": pl.String, "guid": pl.String})
    names = names.select(product_name_key(pl.col("name")).alias("name_key"), "guid").unique().sort("name_key", "guid")
    return SkuCatalog(skus, names, source, source_date)


@lru_cache(maxsize=1)
def packaged_catalog() -> SkuCatalog:
    """The crosswalk shipped with the kit (regenerate it with tools/build_sku_catalog.py)."""
    data = json.loads(Path(PACKAGED_CATALOG_FILE).read_text(encoding="utf-8"))
    return catalog_from_entries(data["skus"], data.get("source", ""), data.get("source_date", ""))


def catalog_from_frame(raw: pl.DataFrame, name: str) -> SkuCatalog:
    """Microsoft's CSV as the loaders read it (all-text columns) dropped in the data folder."""
    return catalog_from_entries(entries_from_microsoft_rows(raw.to_dicts()), source=name)


def merge_catalogs(base: SkuCatalog, newer: SkuCatalog) -> SkuCatalog:
    """`newer` (the user's copy of Microsoft's CSV) wins per GUID; every known name of both is kept."""
    skus = pl.concat([newer.skus, base.skus.join(newer.skus, on="guid", how="anti")]).sort("guid")
    names = pl.concat([base.names, newer.names]).unique().sort("name_key", "guid")
    return SkuCatalog(skus, names, newer.source or base.source, newer.source_date or base.source_date)


def sku_of_products(products: pl.DataFrame, catalog: SkuCatalog) -> pl.DataFrame:
    """products (product_id, product_name) + `guid` (one row per SKU it may be): its productId when the catalog
    knows it, else every SKU one of whose names is the product name; null when the catalog does not know it."""
    known = catalog.skus.select("guid")
    by_id = (products.with_columns(pl.col("product_id").str.to_lowercase().alias("guid"))
             .join(known, on="guid", how="semi"))
    rest = products.join(by_id.select("product_id", "product_name"), on=["product_id", "product_name"], how="anti",
                         nulls_equal=True)
    by_name = (rest.with_columns(product_name_key(pl.col("product_name")).alias("name_key"))
               .join(catalog.names, on="name_key", how="left").drop("name_key"))
    return pl.concat([by_id, by_name], how="vertical_relaxed")


def display_names(products: pl.DataFrame, catalog: SkuCatalog) -> pl.DataFrame:
    """products (product_id, product_name) + product_display_name: the catalog's current name of its SKU (when
    exactly one SKU fits), else the name as exported."""
    skus = sku_of_products(products.select("product_id", "product_name").unique(), catalog)
    one = (skus.filter(pl.col("guid").is_not_null()).group_by("product_id", "product_name")
           .agg(pl.col("guid").unique()).filter(pl.col("guid").list.len() == 1)
           .with_columns(pl.col("guid").list.first())
           .join(catalog.skus.select("guid", "display_name"), on="guid", how="left"))
    return (products.join(one.select("product_id", "product_name", "display_name"),
                          on=["product_id", "product_name"], how="left", nulls_equal=True, maintain_order="left")
            .with_columns(pl.coalesce("display_name", "product_name").alias("product_display_name"))
            .drop("display_name"))


def match_subscriptions(subscriptions: pl.DataFrame, products: pl.DataFrame,
                        catalog: SkuCatalog | None = None) -> pl.DataFrame:
    """Subscriptions with `product_key` set to the folded name of the licence product they match (same customer),
    `is_trial` also true when only the name with its trailing " Trial" removed matched, and `matched_product_id`
    (null: no licence product of that customer matches).

    `products`: customer_id, product_id, product_name (the licence products). Order of evidence: the SKU GUID
    (a subscription offer_id that is a catalog GUID), then any known name of the same SKU, then the folded name;
    the full name before the name without " Trial"; ties: the smallest product_id. A subscription that matches
    nothing else and is not a Dynamics 365 one matches the tenant's Insights Office product, when it has one.
    """
    catalog = catalog if catalog is not None else packaged_catalog()
    subs = subscriptions.with_row_index("_sub")
    if subs.is_empty() or products.is_empty():
        return subs.with_columns(pl.lit(None, pl.String).alias("matched_product_id")).drop("_sub")
    prods = products.select("customer_id", "product_id", "product_name").unique()
    skus = sku_of_products(prods, catalog)
    product_keys = pl.concat([
        skus.filter(pl.col("guid").is_not_null()).select("customer_id", "product_id", "product_name",
                                                         (pl.lit("sku:") + pl.col("guid")).alias("_key")),
        prods.select("customer_id", "product_id", "product_name",
                     (pl.lit("name:") + product_name_key(pl.col("product_name"))).alias("_key")),
    ]).unique()
    full = pl.coalesce("product_name", "product_key") if "product_key" in subs.columns else pl.col("product_name")
    stripped = full.str.replace(_TRIAL, "")
    cands: list[pl.DataFrame] = []
    if "offer_id" in subs.columns:
        guid = pl.col("offer_id").str.strip_chars().str.strip_chars("{}").str.to_lowercase()
        cands.append(subs.select("_sub", "customer_id", (pl.lit("sku:") + guid).alias("_key"),
                                 pl.lit(0).alias("_rank"), pl.lit(False).alias("_by_trial"))
                     .join(catalog.skus.select((pl.lit("sku:") + pl.col("guid")).alias("_key")), on="_key", how="semi"))
    for rank, name, by_trial in ((1, full, False), (2, stripped, True)):
        cands.append(subs.select("_sub", "customer_id", product_name_key(name).alias("name_key"))
                     .join(catalog.names, on="name_key", how="inner")
                     .select("_sub", "customer_id", (pl.lit("sku:") + pl.col("guid")).alias("_key"),
                             pl.lit(rank).alias("_rank"), pl.lit(by_trial).alias("_by_trial")))
    for rank, name, by_trial in ((3, full, False), (4, stripped, True)):
        cands.append(subs.select("_sub", "customer_id", (pl.lit("name:") + product_name_key(name)).alias("_key"),
                                 pl.lit(rank).alias("_rank"), pl.lit(by_trial).alias("_by_trial")))
    # Last of all, the Insights Office figure (one per tenant over all its Office products, inputs.insights):
    # any subscription of that tenant that is not a Dynamics 365 one can explain its usage over 100%.
    cands.append(subs.filter(~product_name_key(full).str.contains("DYNAMICS").fill_null(False))
                 .select("_sub", "customer_id", pl.lit(OFFICE_PRODUCT_ID).alias("_key"),
                         pl.lit(6).alias("_rank"), pl.lit(False).alias("_by_trial")))
    if "product_key" in subs.columns:   # already matched once (load_exports): the same answer again
        cands.append(subs.select("_sub", "customer_id", (pl.lit("name:") + pl.col("product_key")).alias("_key"),
                                 pl.lit(5).alias("_rank"), pl.lit(False).alias("_by_trial")))
    best = (pl.concat(cands, how="vertical_relaxed").filter(pl.col("_key").is_not_null())
            .join(product_keys, on=["customer_id", "_key"], how="inner")
            .sort("_sub", "_rank", "product_id")
            .group_by("_sub", maintain_order=True).first()
            .select("_sub", pl.col("product_id").alias("matched_product_id"),
                    product_name_key(pl.col("product_name")).alias("_matched_key"),
                    pl.col("_by_trial").alias("_trial_by_name")))
    out = subs.join(best, on="_sub", how="left", maintain_order="left")
    trial = pl.col("is_trial").fill_null(False) | pl.col("_trial_by_name").fill_null(False) \
        if "is_trial" in out.columns else pl.col("_trial_by_name").fill_null(False)
    return (out.with_columns(pl.coalesce("_matched_key", *(["product_key"] if "product_key" in out.columns else []),
                                         product_name_key(full)).alias("product_key"),
                             trial.alias("is_trial"))
            .drop("_sub", "_matched_key", "_trial_by_name"))


def subscription_warnings(matched: pl.DataFrame, licence_customers: pl.Series, limit: int = 5) -> list[str]:
    """One warning for subscriptions that match no licence product (ended ones aside: a deprovisioned
    subscription's product leaves the licence feeds), one for subscriptions of tenants absent from the licence
    feeds (each counted, with the first few listed)."""
    warnings: list[str] = []
    present = matched.filter(pl.col("customer_id").is_in(licence_customers.unique().implode()))
    absent = matched.filter(~pl.col("customer_id").is_in(licence_customers.unique().implode()))
    lost = present.filter(unmatched(present))
    if lost.height:
        shown = lost.sort("customer_id", "product_name", nulls_last=True).head(limit)
        listed = "; ".join(f"{r['product_name']!r} (tenant {r['customer_id']})" for r in shown.iter_rows(named=True))
        warnings.append(
            f"{lost.height} subscription(s) that have not ended match no licence product of their customer, "
            f"by SKU id, known "
            f"product name or folded name: {listed}{' ...' if lost.height > limit else ''}; they cannot "
            f"explain usage over 100% (a product catalog newer than the kit's, i.e. Microsoft's 'Product names "
            f"and service plan identifiers for licensing' CSV in the data folder, may name them)")
    if absent.height:
        tenants = absent.get_column("customer_id").unique().sort()
        listed = ", ".join(str(t) for t in tenants.head(limit))
        warnings.append(
            f"{absent.height} subscription(s) of {tenants.len()} tenant(s) absent from the licence deployment "
            f"and usage feeds: {listed}{' ...' if tenants.len() > limit else ''}; they are not used (download "
            f"the licence feeds of those customers, or remove their subscriptions)")
    return warnings
