"""Online to offline: product categories browsed or carted online but not bought → near-by physical stores
selling that category (MCCs per category from ``params.category_mccs``), with a discount if there is one."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.push.strategies.base import PushInputs, PushStrategy, days_after


class OnlineToOffline(PushStrategy):
    """params: lookback_days (7), cart_weight (3), scale (5), half_life_days (none: no decay),
    category_mccs {category: [mcc, ...]}. An event ``age`` days before the run date counts
    0.5^((age − 1) / half_life_days): yesterday's browsing counts fully, older interest fades."""

    def interests_by_day(self, inputs: PushInputs, days: list[dt.date]) -> DataFrame:
        spark = inputs.users.sparkSession
        n = int(self.param("lookback_days", 7))
        since, until = F.lit(min(days) - dt.timedelta(days=n)), F.lit(max(days) - dt.timedelta(days=1))
        mapping = [(c, str(m)) for c, mccs in self.param("category_mccs", {}).items() for m in mccs]
        cat_mcc = spark.createDataFrame(mapping, "category string, mcc string")
        half_life = self.param("half_life_days", None)
        age = F.datediff(F.col("day"), F.col("event_date")) - 1
        decay = F.pow(F.lit(0.5), age / F.lit(float(half_life))) if half_life else F.lit(1.0)
        browsed = (  # an event on e counts for the days e + 1 … e + lookback_days
            inputs.read("raw.web_events").where(F.col("event_date").between(since, until) & F.col("category").isNotNull())
            .select("user_id", "category", "event_type", "event_date", days_after("event_date", n, days).alias("day"))
            .groupBy("user_id", "category", "day").agg(
                F.sum((F.col("event_type") == "page_view").cast("double") * decay).alias("views"),
                F.sum((F.col("event_type") == "add_to_cart").cast("double") * decay).alias("carts"))
        )
        bought = (inputs.read("raw.orders").where(F.col("event_date").between(since, until))
                  .select("user_id", "category", days_after("event_date", n, days).alias("day")).distinct())
        weight, scale = float(self.param("cart_weight", 3.0)), float(self.param("scale", 5.0))
        return (
            browsed.join(bought, ["user_id", "category", "day"], "left_anti")
            .join(inputs.users.select("user_id"), "user_id")
            .join(F.broadcast(cat_mcc), "category")
            .select("user_id", "mcc",
                    (1.0 - F.exp(-(F.col("views") + weight * F.col("carts")) / scale)).alias("affinity"),
                    F.concat(F.lit("browsed "), F.col("category")).alias("reason"), "day")
        )
