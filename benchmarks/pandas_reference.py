"""The comparison an analyst would write by hand: the kit's core metrics in plain pandas
(benchmark use only; not part of the kit)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd


def read_pages(folder: Path, prefix: str) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.glob(f"{prefix}*.json")):
        with open(path, encoding="utf-8") as handle:
            frames.append(pd.DataFrame(json.load(handle)["Value"]))
    return pd.concat(frames, ignore_index=True)


def pandas_metrics(folder: Path) -> dict[str, pd.DataFrame]:
    """Workload, product and customer metrics, segments and the Wilson ranking, the straightforward pandas way."""
    deployment = read_pages(folder, "license-deployment-")
    usage = read_pages(folder, "license-usage-")
    subscriptions = pd.read_csv(folder / "subscriptions.csv")
    for frame in (deployment, usage):
        frame["customerTenantId"] = frame["customerTenantId"].str.lower()
        frame["productId"] = frame["productId"].str.lower()
        frame["processedDateTime"] = pd.to_datetime(frame["processedDateTime"])
    subscriptions["customerTenantId"] = subscriptions["customerTenantId"].str.lower()
    # Each customer's newest snapshot only (the book holds several processedDateTime values).
    deployment = deployment[deployment["processedDateTime"]
                            == deployment.groupby("customerTenantId")["processedDateTime"].transform("max")]
    usage = usage[usage["processedDateTime"] == usage.groupby("customerTenantId")["processedDateTime"].transform("max")]
    usage = usage.copy()

    usage["usage_rate"] = usage["licensesActive"] / usage["licensesQualified"].replace(0, np.nan)
    usage["inflated"] = usage["usage_rate"] > 1

    is_yammer = usage["workloadName"].isin(["Yammer", "Viva Engage"])
    key = ["customerTenantId", "productId"]
    qualified = usage.groupby(key)["licensesQualified"].max().rename("qualified")
    active_other = usage[~is_yammer].groupby(key)["licensesActive"].max().rename("active_other")
    active_yammer = usage[is_yammer].groupby(key)["licensesActive"].max().rename("active_yammer")
    product_usage = pd.concat([qualified, active_other, active_yammer], axis=1)
    product_usage["active"] = product_usage["active_other"].fillna(product_usage["active_yammer"])

    products = deployment.merge(product_usage.reset_index(), on=key, how="outer")
    products[["licensesSold", "licensesDeployed", "qualified", "active"]] = products[
        ["licensesSold", "licensesDeployed", "qualified", "active"]].fillna(0)
    products["deployment_rate"] = products["licensesDeployed"] / products["licensesSold"].replace(0, np.nan)
    products["usage_rate"] = products["active"] / products["qualified"].replace(0, np.nan)
    products["unassigned"] = (products["licensesSold"] - products["licensesDeployed"]).clip(lower=0)
    products["inactive"] = (products["qualified"] - products["active"]).clip(lower=0)
    products["idle"] = products["unassigned"] + products["inactive"]

    trials = subscriptions[subscriptions["trialStartDate"].notna() & subscriptions["trialToPaidConversionDate"].isna()]
    trial_keys = set(zip(trials["customerTenantId"], trials["productName"].str.upper()))
    products["trial"] = [(c, str(n).upper()) in trial_keys
                         for c, n in zip(products["customerTenantId"], products["productName"])]
    products["segment"] = segments(products)

    customers = products.groupby("customerTenantId").agg(
        customer_name=("customerName", "last"), sold=("licensesSold", "sum"),
        assigned=("licensesDeployed", "sum"), qualified=("qualified", "sum"), active=("active", "sum"),
        idle=("idle", "sum")).reset_index()
    customers["deployment_rate"] = customers["assigned"] / customers["sold"].replace(0, np.nan)
    customers["usage_rate"] = customers["active"] / customers["qualified"].replace(0, np.nan)
    customers = customers.rename(columns={"sold": "licensesSold", "assigned": "licensesDeployed"})
    customers["segment"] = segments(customers)

    ranking = customers[customers["segment"].isin(["deploy", "adopt"])].copy()
    n = np.maximum(ranking["licensesSold"], ranking["qualified"])
    share = (ranking["idle"] / n).clip(0, 1)
    z = 1.96
    centre = share + z * z / (2 * n)
    margin = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    ranking["priority_score"] = n * (centre - margin) / (1 + z * z / n)
    ranking = ranking.sort_values("priority_score", ascending=False)
    portfolio = {"deployment_rate": customers["licensesDeployed"].sum() / customers["licensesSold"].sum(),
                 "usage_rate": customers["active"].sum() / customers["qualified"].sum()}
    assert math.isfinite(portfolio["usage_rate"])
    return {"workloads": usage, "products": products, "customers": customers, "ranking": ranking}


def segments(frame: pd.DataFrame) -> np.ndarray:
    deployment, usage = frame["deployment_rate"], frame["usage_rate"]
    return np.select(
        [(usage > 1) | (frame["licensesSold"] == 0) | (deployment > 1), deployment < 0.8, usage < 0.6,
         (deployment >= 0.9) & (usage >= 0.9)],
        ["data_check", "deploy", "adopt", "upsell"], default="healthy")
