"""Message text from one template per strategy: {store_name}, {category}, {discount}, {link}."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.push.config import PushConfig


def _fill(text, placeholder: str, value):
    return F.replace(text, F.lit("{" + placeholder + "}"), value)  # literal, no regex escaping needed


def render(df: DataFrame, cfg: PushConfig, categories: DataFrame | None = None) -> DataFrame:
    """Add ``text``. ``categories`` (mcc, description) names the store's category; else the MCC itself."""
    if categories is not None:
        df = df.join(F.broadcast(categories.select("mcc", F.col("description").alias("_category"))), "mcc", "left")
    else:
        df = df.withColumn("_category", F.lit(None).cast("string"))
    template = F.coalesce(*[F.when(F.col("strategy") == s.name, F.lit(s.template)) for s in cfg.strategies],
                          F.lit("{store_name}: {link}"))
    discount = F.when(F.col("discount_pct") > 0, F.format_string(" — %d%% off", F.col("discount_pct").cast("int"))) \
        .otherwise(F.lit(""))
    link = F.lit(cfg.link)
    link = _fill(_fill(link, "store_id", F.col("store_id").cast("string")), "merchant_id",
                 F.col("merchant_id").cast("string"))
    text = template
    for name, value in (("store_name", F.coalesce(F.col("merchant_name"), F.lit("a store near you"))),
                        ("category", F.lower(F.coalesce(F.col("_category"), F.col("mcc")))),
                        ("discount", discount), ("link", link)):
        text = _fill(text, name, value)
    return df.withColumn("text", text).drop("_category")
