"""Send time: each user's most responsive hour from their opened pushes, else a fallback; never in quiet hours."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.push.config import PushConfig


def is_quiet_column(local_hour: Column, quiet: tuple[int, int]) -> Column:
    start, end = quiet
    if start <= end:
        return (local_hour >= start) & (local_hour < end)
    return (local_hour >= start) | (local_hour < end)


def local_hour(utc_hour: Column, offset: int) -> Column:
    return F.pmod(utc_hour + F.lit(offset), F.lit(24))


def send_hours(pushes: DataFrame, users: DataFrame, run_date: dt.date, cfg: PushConfig, region: str) -> DataFrame:
    """(user_id, send_hour UTC, send_hour_source) for every row of ``users``.

    ``pushes`` is raw.push_notifications: the hour voted for is the send hour of the user's opened pushes
    in ``send_time.history_days`` (the mode; ties → the earlier hour), if they opened at least ``min_opens``.
    An hour in the region's quiet hours (local time) falls back to ``fallback_hour`` (local).
    """
    st, offset = cfg.send_time, cfg.utc_offset_hours.get(region, 0)
    opened = pushes.where(
        F.col("opened_at").isNotNull()
        & F.col("event_date").between(F.date_sub(F.lit(run_date), st.history_days), F.date_sub(F.lit(run_date), 1))
    )
    votes = opened.groupBy("user_id", "send_hour").count()
    mode = votes.groupBy("user_id").agg(
        F.max(F.struct(F.col("count"), (-F.col("send_hour")).alias("neg_hour"))).alias("_m"),
        F.sum("count").alias("opens"),
    ).where(F.col("opens") >= st.min_opens).select("user_id", (-F.col("_m.neg_hour")).cast("int").alias("_hour"))
    fallback = (st.fallback_hour - offset) % 24
    hour = F.col("_hour")
    usable = hour.isNotNull() & ~is_quiet_column(local_hour(hour, offset), cfg.quiet_hours)
    return users.select("user_id").join(mode, "user_id", "left").select(
        "user_id",
        F.when(usable, hour).otherwise(F.lit(fallback)).cast("int").alias("send_hour"),
        F.when(usable, F.lit("history")).otherwise(F.lit("fallback")).alias("send_hour_source"),
    )
