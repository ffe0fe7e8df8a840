"""Point-in-time customer features: a pure function of the raw DataFrames and a snapshot date.

Only events dated strictly before the snapshot (``event_date < snapshot``) and
inside the longest window are read; opens/clicks of pushes sent earlier count
only if they happened before the snapshot too. Nothing after the snapshot can
leak in (``tests/features`` alters later events and checks that no feature moves).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.features.registry import MEASURES, RATIOS, RECENCY, FeaturesConfig, feature_names

#: Raw tables the features read.
SOURCES = (
    "raw.customers",
    "raw.consents",
    "raw.orders",
    "raw.email_sends",
    "raw.email_events",
    "raw.web_events",
    "raw.push_notifications",
    "raw.card_transactions",
)


def _recent(df: DataFrame, snapshot: dt.date, lookback: int) -> DataFrame:
    """Events in ``[snapshot - lookback, snapshot)`` with ``days_ago`` in 1..lookback."""
    start = snapshot - dt.timedelta(days=lookback)
    return (
        df.where((F.col("event_date") >= F.lit(start)) & (F.col("event_date") < F.lit(snapshot)))
        .withColumn("days_ago", F.datediff(F.lit(snapshot), F.col("event_date")))
        .withColumn("_snapshot_ts", F.lit(snapshot).cast("timestamp"))
    )


def _windowed_aggs(source: str, snapshot: dt.date, windows: tuple[int, ...]) -> list[Column]:
    aggs = [
        F.sum(F.when(F.col("days_ago") <= w, F.expr(m.value))).alias(f"{m.name}_{w}d")
        for m in MEASURES
        if m.source == source
        for w in windows
    ]
    aggs += [
        F.datediff(F.lit(snapshot), F.max(F.expr(m.value))).alias(m.name) for m in RECENCY if m.source == source
    ]
    return aggs


def _mode(df: DataFrame, value: Column, name: str) -> DataFrame:
    """Most frequent ``value`` per user; ties go to the smallest value (deterministic)."""
    counts = df.groupBy("user_id", value.alias("v")).count()
    best = F.max(F.struct(F.col("count"), (-F.col("v")).alias("neg")))
    return counts.groupBy("user_id").agg((-best.getField("neg")).alias(name))


def _latest_consent(consents: DataFrame, snapshot: dt.date, channel: str) -> DataFrame:
    latest = F.max(F.struct(F.col("changed_at"), F.col("consented")))
    return (
        consents.where((F.col("channel") == channel) & (F.col("changed_at") < F.lit(snapshot).cast("timestamp")))
        .groupBy("user_id")
        .agg(latest.getField("consented").alias(f"_{channel}_consent_change"))
    )


def _code(column: str, values: tuple[str, ...]) -> Column:
    """Index of ``column`` in ``values`` (null when unknown), for LightGBM's categorical features."""
    return F.coalesce(*[F.when(F.col(column) == v, F.lit(i)) for i, v in enumerate(values)])


def customer_features(tables: Mapping[str, DataFrame], snapshot: dt.date, config: FeaturesConfig) -> DataFrame:
    """One row per customer signed up before ``snapshot``: user_id, snapshot_date, region, brand, features."""
    lookback, windows = config.lookback, config.windows
    customers = tables["raw.customers"].where(F.col("signup_date") < F.lit(snapshot))
    recent = {name: _recent(tables[name], snapshot, lookback) for name in SOURCES[2:]}

    per_source = {name: _windowed_aggs(name, snapshot, windows) for name in recent}
    per_source["raw.orders"].append(F.countDistinct("category").alias(f"distinct_categories_{lookback}d"))
    per_source["raw.card_transactions"].append(F.countDistinct("mcc").alias(f"distinct_mcc_{lookback}d"))
    per_source["raw.web_events"] += [
        F.countDistinct("session_id").alias(f"sessions_{lookback}d"),
        F.avg(F.col("device").isin("ios", "android").cast("double")).alias("mobile_share"),
        *[
            F.sum(F.when((F.col("event_type") == "page_view") & (F.col("category") == c), 1)).alias(
                f"views_{c}_{lookback}d"
            )
            for c in config.categories
        ],
    ]
    aggregated = [recent[name].groupBy("user_id").agg(*aggs) for name, aggs in per_source.items()]
    web = recent["raw.web_events"]
    aggregated += [
        _mode(web, F.hour("event_ts"), "preferred_hour"),
        _mode(web, F.dayofweek("event_ts"), "preferred_dow"),
        _latest_consent(tables["raw.consents"], snapshot, "email"),
        _latest_consent(tables["raw.consents"], snapshot, "push"),
    ]

    df = customers
    for part in aggregated:
        df = df.join(part, on="user_id", how="left")

    counts = [f"{m.name}_{w}d" for m in MEASURES for w in windows]
    counts += [f"views_{c}_{lookback}d" for c in config.categories]
    counts += [f"distinct_categories_{lookback}d", f"distinct_mcc_{lookback}d", f"sessions_{lookback}d"]
    df = df.fillna(0, subset=counts)
    derived = {
        "tenure_days": F.datediff(F.lit(snapshot), F.col("signup_date")),
        "age": F.lit(snapshot.year) - F.col("birth_year"),
        "device_code": _code("device", config.devices),
        "gender_code": _code("gender", config.genders),
        "email_consent": F.coalesce(F.col("_email_consent_change"), F.col("email_opt_in")).cast("int"),
        "push_consent": F.coalesce(F.col("_push_consent_change"), F.col("push_opt_in")).cast("int"),
    }
    for name, num, den, _ in RATIOS:
        for w in windows:
            derived[f"{name}_{w}d"] = F.when(F.col(f"{den}_{w}d") > 0, F.col(f"{num}_{w}d") / F.col(f"{den}_{w}d"))
    for name, column in derived.items():
        df = df.withColumn(name, column)
    return df.select(
        "user_id",
        F.lit(snapshot).alias("snapshot_date"),
        "region",
        "brand",
        *[F.col(n).cast("double").alias(n) for n in feature_names(config)],
    )
