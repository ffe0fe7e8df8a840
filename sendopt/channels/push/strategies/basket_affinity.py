"""Basket affinity: a user who just paid at MCC1 gets near-by stores of the strongest follow-up MCC2s.

Reads ``analytics.mcc_affinity`` (the latest run_date ≤ the run date for the region, the configured
window), keeps supported pairs and ranks them by the conservative lift ``lift_low``.
"""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sendopt.channels.push.strategies.base import PushInputs, PushStrategy

log = logging.getLogger(__name__)
AFFINITY = "analytics.mcc_affinity"


class BasketAffinity(PushStrategy):
    """params: trigger_days (2), window_days (3), top_k (3), min_lift_low (1.3)."""

    def affinities(self, inputs: PushInputs) -> DataFrame | None:
        lake = inputs.lake
        if AFFINITY not in lake.catalog or not lake.exists(AFFINITY):
            log.warning("strategy %s: %s does not exist (run mcc-affinity) — no candidates", self.name, AFFINITY)
            return None
        window = int(self.param("window_days", 3))
        rows = lake.read(AFFINITY).where(
            (F.col("region") == inputs.region) & (F.col("window_days") == window)
            & (F.col("run_date") <= F.lit(inputs.run_date)))
        latest = rows.agg(F.max("run_date")).first()[0]  # one value
        if latest is None:
            log.warning("strategy %s: no %s rows for %s, window %s on or before %s", self.name, AFFINITY,
                        inputs.region, window, inputs.run_date)
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

    def interests(self, inputs: PushInputs) -> DataFrame:
        pairs = self.affinities(inputs)
        if pairs is None:
            return inputs.users.sparkSession.createDataFrame([], "user_id string, mcc string, affinity double, "
                                                                 "reason string")
        days = int(self.param("trigger_days", 2))
        triggers = (
            inputs.read("raw.card_transactions")
            .where(F.col("event_date").between(F.date_sub(F.lit(inputs.run_date), days),
                                               F.date_sub(F.lit(inputs.run_date), 1)))
            .select("user_id", F.col("mcc").alias("mcc1")).distinct()
            .join(inputs.users.select("user_id"), "user_id")
        )
        return triggers.join(F.broadcast(pairs), "mcc1").select(
            "user_id", F.col("mcc2").alias("mcc"),
            (1.0 - 1.0 / F.col("lift_low")).alias("affinity"),  # lift 1 → 0, lift 5 → 0.8
            F.concat_ws("→", "mcc1", "mcc2").alias("reason"),
        )
