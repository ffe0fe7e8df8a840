"""Merchants, their stores, and the ISO 18245 MCC reference list.

The merchant layout is part of :class:`World` (a few hundred rows, fixed by
the seed, independent of the number of users); these builders only render it
as tables. Store coordinates are a function of the store id so card payments
and ``raw.stores`` agree without a join.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from sendopt.world.model import STORE_SLOTS, World

MERCHANTS_SCHEMA = "merchant_id long, merchant_name string, mcc int, region int"
STORES_SCHEMA = "store_id long, merchant_id long, mcc int, region int, lat double, lon double"
_NAMES = ("Nord", "Sol", "Alba", "Vento", "Luna", "Rio", "Casa", "Pico", "Mar", "Terra", "Lago", "Fjord")


def store_location(world: World, store_id: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of stores, scattered around their region's centre."""
    names = world.region_names
    lat0 = np.array([world.config.regions[r].centre_lat for r in names])[region]
    lon0 = np.array([world.config.regions[r].centre_lon for r in names])[region]
    spread = world.config.merchants.store_spread_deg
    return (
        np.round(lat0 + spread * world.rng.normal("store.lat", store_id), 5),
        np.round(lon0 + spread * world.rng.normal("store.lon", store_id), 5),
    )


def merchants_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    m = batch["idx"].to_numpy(np.int64)
    first = world.rng.integers("merchant.name", len(_NAMES), m)
    return pd.DataFrame({
        "merchant_id": m,
        "merchant_name": [f"{_NAMES[f]} {world.mccs[c]}-{i:05d}" for f, c, i in zip(first, world.merchant_mcc[m], m, strict=False)],
        "mcc": world.merchant_mcc[m],
        "region": world.merchant_region[m],
    })


def stores_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    m = batch["idx"].to_numpy(np.int64)
    n = world.merchant_stores[m]
    mm = np.repeat(m, n)
    j = np.arange(len(mm)) - np.repeat(np.cumsum(n) - n, n)
    store = mm * STORE_SLOTS + j
    lat, lon = store_location(world, store, world.merchant_region[mm])
    return pd.DataFrame({
        "store_id": store, "merchant_id": mm, "mcc": world.merchant_mcc[mm], "region": world.merchant_region[mm],
        "lat": lat, "lon": lon,
    })


def mcc_reference(spark: SparkSession) -> DataFrame:
    """``reference.mcc_codes`` from the iso18245 package (a static list of ~900 codes)."""
    import iso18245

    rows = [
        (
            m.mcc,
            m.iso_description or m.visa_description or m.mastercard_description or m.range.description,
            m.range.description,
            bool(m.range.reserved),
        )
        for m in iso18245.get_all_mccs()
    ]
    return spark.createDataFrame(rows, "mcc string, description string, range_description string, reserved boolean")
