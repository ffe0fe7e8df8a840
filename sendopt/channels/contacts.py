"""Contact history API: channels record whom they contacted; cooldown rules ask who was contacted lately.

One table for every channel (``decisions.contact_history``) so a cooldown can span channels. A channel's
slice is (channel, contact_date, region, brand) and is written with ``replace``: re-running a decision
replaces its contacts instead of doubling them.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.errors import SendoptError
from sendopt.lake.spec import TableSpec, col, market_columns

CONTACT_HISTORY = TableSpec(
    "decisions",
    "contact_history",
    description="One row per customer contact any channel published (push, email, ...). Channels write their "
    "slice per (channel, contact_date, region, brand) with replace, so a re-run replaces its contacts; "
    "the push filter reads it for the cross-channel cooldown.",
    columns=(
        col("channel", "string", "push | email | ... (partition)", nullable=False),
        col("contact_date", "date", "Business date of the contact (partition)", nullable=False),
        col("user_id", "string", "Customer contacted", nullable=False),
        *market_columns("partition"),
        col("contact_ts", "timestamp", "Planned contact time (UTC)", nullable=False),
        col("contact_hour", "int", "Hour of the contact", unit="hour (0-23, UTC)"),
        col("campaign", "string", "Campaign or strategy, e.g. mcc_affinity"),
        col("reference_id", "string", "What was promoted (store id, offer id, ...)"),
        col("decision_table", "string", "Table holding the full decision, e.g. decisions.push_notifications"),
        col("run_id", "string", "Job run that recorded the contact", nullable=False),
        col("recorded_at", "timestamp", "When it was recorded (UTC)", nullable=False),
    ),
    keys=("channel", "contact_date", "user_id", "campaign"),
    partition_by=("channel", "contact_date", "region", "brand"),
)

TABLES = [CONTACT_HISTORY]

REQUIRED = ("user_id", "region", "brand", "contact_ts")


def record_contacts(lake, df: DataFrame, channel: str, run_date: dt.date, region: str, brand: str, run_id: str,
                    decision_table: str | None = None) -> int:
    """Replace the (channel, run_date, region, brand) slice with ``df``'s contacts; returns the row count.

    ``df`` needs user_id, region, brand, contact_ts; optional contact_hour, campaign, reference_id.
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SendoptError(f"record_contacts({channel}): input lacks columns {missing} for "
                           f"{CONTACT_HISTORY.full_name}")

    def opt(name, kind):
        return F.col(name).cast(kind) if name in df.columns else F.lit(None).cast(kind)

    out = df.select(
        F.lit(channel).alias("channel"), F.lit(run_date).cast("date").alias("contact_date"), "user_id",
        F.lit(region).alias("region"), F.lit(brand).alias("brand"), F.col("contact_ts").cast("timestamp"),
        F.coalesce(opt("contact_hour", "int"), F.hour("contact_ts")).alias("contact_hour"),
        opt("campaign", "string").alias("campaign"), opt("reference_id", "string").alias("reference_id"),
        F.lit(decision_table).cast("string").alias("decision_table"), F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("recorded_at"),
    )
    where = {"channel": channel, "contact_date": run_date, "region": region, "brand": brand}
    return lake.write(out, CONTACT_HISTORY, mode="replace", where=where).rows


def recent_contacts(lake, since: dt.date, until: dt.date, channels: tuple[str, ...] | None = None) -> DataFrame:
    """Contacts with since ≤ contact_date ≤ until (all channels unless ``channels``); empty if none yet."""
    if not lake.exists(CONTACT_HISTORY):
        return lake.spark.createDataFrame([], CONTACT_HISTORY.schema)
    df = lake.read(CONTACT_HISTORY).where(F.col("contact_date").between(F.lit(since), F.lit(until)))
    return df.where(F.col("channel").isin(list(channels))) if channels else df
