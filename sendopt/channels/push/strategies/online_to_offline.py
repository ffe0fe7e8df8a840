"""Online to offline: product categories browsed or carted online but not bought → near-by physical stores
selling that category (MCCs per category from ``params.category_mccs``), with a discount if there is one."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.push.strategies.base import PushInputs, PushStrategy


class OnlineToOffline(PushStrategy):
    """params: lookback_days (7), cart_weight (3), scale (5), category_mccs {category: [mcc, ...]}."""

    def interests(self, inputs: PushInputs) -> DataFrame:
        spark = inputs.users.sparkSession
        days = int(self.param("lookback_days", 7))
        since, until = F.date_sub(F.lit(inputs.run_date), days), F.date_sub(F.lit(inputs.run_date), 1)
        mapping = [(c, str(m)) for c, mccs in self.param("category_mccs", {}).items() for m in mccs]
        cat_mcc = spark.createDataFrame(mapping, "category string, mcc string")
        browsed = (
            inputs.read("raw.web_events").where(F.col("event_date").between(since, until) & F.col("category").isNotNull())
            .groupBy("user_id", "category").agg(
                F.sum((F.col("event_type") == "page_view").cast("double")).alias("views"),
                F.sum((F.col("event_type") == "add_to_cart").cast("double")).alias("carts"))
        )
        bought = (inputs.read("raw.orders").where(F.col("event_date").between(since, until))
                  .select("user_id", "category").distinct())
        weight, scale = float(self.param("cart_weight", 3.0)), float(self.param("scale", 5.0))
        return (
            browsed.join(bought, ["user_id", "category"], "left_anti")
            .join(inputs.users.select("user_id"), "user_id")
            .join(F.broadcast(cat_mcc), "category")
            .select("user_id", "mcc",
                    (1.0 - F.exp(-(F.col("views") + weight * F.col("carts")) / scale)).alias("affinity"),
                    F.concat(F.lit("browsed "), F.col("category")).alias("reason"))
        )
