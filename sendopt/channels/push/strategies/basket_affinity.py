"""Basket affinity: a user who just paid at MCC1 gets near-by stores of the strongest follow-up MCC2s.

Reads ``analytics.mcc_affinity`` (the latest run_date ≤ the run date for the region, the configured
window), keeps supported pairs and ranks them by the conservative lift ``lift_low``.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sendopt.channels.push.strategies.base import PushInputs, PushStrategy, days_after

log = logging.getLogger(__name__)
AFFINITY = "analytics.mcc_affinity"


class BasketAffinity(PushStrategy):
    """params: trigger_days (2), window_days (3), top_k (3), min_lift_low (1.3)."""

    def __init__(self, entry, config) -> None:
        super().__init__(entry, config)
        self._latest: dict = {}  # (region, decision date) → latest affinity run_date

    def affinities(self, inputs: PushInputs) -> DataFrame | None:
        lake = inputs.lake
        if AFFINITY not in lake.catalog or not lake.exists(AFFINITY):
            log.warning("strategy %s: %s does not exist (run mcc-affinity) — no candidates", self.name, AFFINITY)
            return None
        window = int(self.param("window_days", 3))
        rows = lake.read(AFFINITY).where(
            (F.col("region") == inputs.region) & (F.col("window_days") == window)
            & (F.col("run_date") <= F.lit(inputs.decision_date)))
        key = (inputs.region, inputs.decision_date)
        if key not in self._latest:  # calibration replays ask again for every past day
            self._latest[key] = rows.agg(F.max("run_date")).first()[0]  # one value
        latest = self._latest[key]
        if latest is None:
            log.warning("strategy %s: no %s rows for %s, window %s on or before %s", self.name, AFFINITY,
                        inputs.region, window, inputs.decision_date)
            return None
        inputs.notes[self.name] = f"affinity={latest}/w{window}"
        top = Window.partitionBy("mcc1").orderBy(F.desc("lift_low"), "mcc2")
        return (
            rows.where((F.col("run_date") == F.lit(latest)) & F.col("is_supported")
                       & (F.col("lift_low") > F.lit(float(self.param("min_lift_low", 1.3)))))
            .withColumn("_rank", F.row_number().over(top))
            .where(F.col("_rank") <= int(self.param("top_k", 3)))
            .select("mcc1", "mcc2", "lift_low")
        )

    def interests_by_day(self, inputs: PushInputs, days: list[dt.date]) -> DataFrame:
        pairs = self.affinities(inputs)
        if pairs is None:
            return inputs.users.sparkSession.createDataFrame([], "user_id string, mcc string, affinity double, "
                                                                 "reason string, day date")
        n = int(self.param("trigger_days", 2))
        triggers = (  # an MCC1 payment on e triggers the days e + 1 … e + trigger_days
            inputs.read("raw.card_transactions")
            .where(F.col("event_date").between(F.lit(min(days) - dt.timedelta(days=n)),
                                               F.lit(max(days) - dt.timedelta(days=1))))
            .select("user_id", F.col("mcc").alias("mcc1"), days_after("event_date", n, days).alias("day"))
            .distinct()
            .join(inputs.users.select("user_id"), "user_id")
        )
        return triggers.join(F.broadcast(pairs), "mcc1").select(
            "user_id", F.col("mcc2").alias("mcc"),
            (1.0 - 1.0 / F.col("lift_low")).alias("affinity"),  # lift 1 → 0, lift 5 → 0.8
            F.concat_ws("→", "mcc1", "mcc2").alias("reason"), "day",
        )
