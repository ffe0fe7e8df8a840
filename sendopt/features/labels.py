"""Weekly email outcomes: one mutually exclusive label per user-week.

Precedence (documented in docs/email.md): **unsubscribe > purchase > no action**. An
unsubscribe ends the channel, so a week with both an order and an unsubscribe counts
as an unsubscribe — the lost subscriber is the larger, lasting effect. The outcome
window of a week is ``[week_start, week_start + 7)``; its features are taken at
``week_start - gap_days`` (the gap keeps late-arriving events of the snapshot day out).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

#: Class index → outcome; the response model's probabilities come in this order.
OUTCOMES = ("no_action", "purchase", "unsubscribe")
NO_ACTION, PURCHASE, UNSUBSCRIBE = range(3)


def _week_of(date_col: str, anchor: dt.date) -> F.Column:
    """Start of the 7-day week (on the assignments' grid) containing ``date_col``."""
    offset = F.pmod(F.datediff(F.col(date_col), F.lit(anchor)), F.lit(7))
    return F.date_sub(F.col(date_col), offset.cast("int"))


def email_week_outcomes(
    assignments: DataFrame, orders: DataFrame, email_events: DataFrame, matured_before: dt.date
) -> DataFrame:
    """Per assigned user-week whose window ended before ``matured_before``: k, outcome and revenue."""
    weeks = assignments.where(F.date_add(F.col("week_start"), 7) <= F.lit(matured_before))
    anchor_row = weeks.agg(F.min("week_start")).first()  # one scalar: the weekly grid's anchor
    if anchor_row is None or anchor_row[0] is None:
        return weeks.select(
            "user_id", "region", "brand", "week_start", "policy",
            F.col("planned_frequency").alias("k"), "assignment_prob",
            F.lit(0).alias("label"), F.lit(0.0).alias("revenue"),
        ).limit(0)
    anchor = anchor_row[0]
    bought = (
        orders.where(F.col("event_date") < F.lit(matured_before))
        .groupBy("user_id", _week_of("event_date", anchor).alias("week_start"))
        .agg(F.sum("amount").alias("revenue"))
    )
    unsubscribed = (
        email_events.where((F.col("event_type") == "unsubscribe") & (F.col("event_date") < F.lit(matured_before)))
        .groupBy("user_id", _week_of("event_date", anchor).alias("week_start"))
        .agg(F.lit(True).alias("unsubscribed"))
    )
    out = weeks.join(bought, ["user_id", "week_start"], "left").join(unsubscribed, ["user_id", "week_start"], "left")
    label = (
        F.when(F.col("unsubscribed"), UNSUBSCRIBE).when(F.col("revenue") > 0, PURCHASE).otherwise(NO_ACTION)
    )
    return out.select(
        "user_id",
        "region",
        "brand",
        "week_start",
        "policy",
        F.col("planned_frequency").alias("k"),
        "assignment_prob",
        label.alias("label"),
        F.coalesce(F.col("revenue"), F.lit(0.0)).alias("revenue"),
    )
