"""The strategy interface: from the run's inputs to candidate (user, store, strategy, features) pairs.

A strategy says which store categories (MCCs) interest which user and how strongly (``interests``); the
base class turns that into near-by stores with the shared geography (haversine, radius) and promo data.
A strategy with another notion of candidate may override ``candidates`` as long as it returns
:data:`CANDIDATE_COLUMNS`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.push.config import PushConfig, StrategyEntry
from sendopt.errors import ConfigError
from sendopt.geo import haversine_km

#: What every strategy returns, one row per (user, store).
CANDIDATE_COLUMNS = ("user_id", "store_id", "merchant_id", "merchant_name", "mcc", "distance_km", "affinity",
                     "discount_pct", "reason")
#: What ``interests`` returns: the user wants a store of this MCC, with a strength in [0, 1] and a reason.
INTEREST_COLUMNS = ("user_id", "mcc", "affinity", "reason")


@dataclass
class PushInputs:
    """What a strategy may use: the market's users with their estimated location, the region's stores with
    their active discount, and a reader of validated raw / analytics tables."""

    lake: Any
    run_date: dt.date
    region: str
    brand: str
    config: PushConfig
    users: DataFrame  # user_id, loc_lat, loc_lon
    stores: DataFrame  # store_id, merchant_id, merchant_name, mcc, lat, lon, discount_pct (small)
    read: Any  # read(table) -> validated DataFrame (raw.* through read_clean)
    notes: dict[str, str] = field(default_factory=dict)  # strategy → inputs used (model_versions)
    #: the decision date; differs from run_date when the calibration replays a past day through the
    #: strategies — population statistics (analytics.*) are read as of this date, user behaviour as of run_date
    as_of: dt.date | None = None

    @property
    def decision_date(self) -> dt.date:
        return self.as_of or self.run_date


class PushStrategy:
    """Base class; subclasses implement :meth:`interests` (or :meth:`candidates`)."""

    def __init__(self, entry: StrategyEntry, config: PushConfig) -> None:
        self.entry, self.config = entry, config
        self.name = entry.name
        self.params = entry.params

    def param(self, key: str, default):
        return self.params.get(key, default)

    def interests(self, inputs: PushInputs) -> DataFrame:
        """:data:`INTEREST_COLUMNS` as of ``inputs.run_date`` (from data of the days before it)."""
        if type(self).interests_by_day is PushStrategy.interests_by_day:
            raise NotImplementedError(f"strategy {self.name}: implement interests(), interests_by_day() or "
                                      "candidates()")
        return self.interests_by_day(inputs, [inputs.run_date]).drop("day")

    def interests_by_day(self, inputs: PushInputs, days: list[dt.date]) -> DataFrame:
        """:data:`INTEREST_COLUMNS` + ``day``: the interests as of each of ``days`` (the calibration replays
        past days). The default runs :meth:`interests` once per day; a strategy that overrides this instead
        answers every day in one pass (and gets :meth:`interests` for free)."""
        if type(self).interests is PushStrategy.interests:
            raise NotImplementedError(f"strategy {self.name}: implement interests(), interests_by_day() or "
                                      "candidates()")
        out = None
        for day in days:
            rows = self.interests(dataclasses.replace(inputs, run_date=day)).select(
                *INTEREST_COLUMNS, F.lit(day).cast("date").alias("day"))
            out = rows if out is None else out.unionByName(rows)
        return out

    def candidates(self, inputs: PushInputs) -> DataFrame:
        return near_stores(self.interests(inputs), inputs.users, inputs.stores, self.config.radius_km)


def days_after(date_col: str, n: int, days: list[dt.date]) -> Column:
    """For ``interests_by_day``: the days among ``days`` that see an event of ``date_col`` in their last
    ``n`` days (event_date + 1 … event_date + n), one per row after ``explode``."""
    seq = F.sequence(F.date_add(F.col(date_col), 1), F.date_add(F.col(date_col), n))
    return F.explode(F.filter(seq, lambda d: d.isin(list(days))))


def near_stores(interests: DataFrame, users: DataFrame, stores: DataFrame, radius_km: float) -> DataFrame:
    """Stores of the wanted MCCs within ``radius_km`` of the user (the stores list is small: broadcast)."""
    best = interests.groupBy("user_id", "mcc").agg(
        F.max(F.struct("affinity", "reason")).alias("_i"))
    pairs = (
        best.join(users.select("user_id", "loc_lat", "loc_lon"), "user_id")
        .join(F.broadcast(stores), "mcc")
        .withColumn("distance_km", haversine_km(F.col("loc_lat"), F.col("loc_lon"), F.col("lat"), F.col("lon")))
        .where(F.col("distance_km") <= F.lit(radius_km))
    )
    return pairs.select(
        "user_id", "store_id", "merchant_id", "merchant_name", "mcc", "distance_km",
        F.col("_i.affinity").cast("double").alias("affinity"), F.col("discount_pct").cast("double"),
        F.col("_i.reason").alias("reason"),
    )


def load_strategy(entry: StrategyEntry, config: PushConfig) -> PushStrategy:
    """Instantiate ``entry.class_path`` (``module:Class``); a clear error names the entry when it is wrong."""
    module_name, _, class_name = entry.class_path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"push.strategies[{entry.name}]: cannot load class_path {entry.class_path!r}: {exc}") \
            from exc
    if not (isinstance(cls, type) and issubclass(cls, PushStrategy)):
        raise ConfigError(f"push.strategies[{entry.name}]: {entry.class_path} is not a PushStrategy subclass")
    return cls(entry, config)


def load_strategies(config: PushConfig) -> list[PushStrategy]:
    return [load_strategy(e, config) for e in config.enabled_strategies]
