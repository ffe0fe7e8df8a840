"""Push's guardrails: its sanity checks (``decide-push`` publishes through ``publish_with_guardrails``).

The safe fallback for push is to publish nothing for the market and date: an empty slice replaces any
earlier one and the run ledger says ``succeeded_with_fallback``.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.primitives import in_market
from sendopt.channels.publish import CheckReport
from sendopt.channels.push.config import PushConfig
from sendopt.channels.push.send_time import is_quiet_column, local_hour
from sendopt.channels.push.tables import PUSH_NOTIFICATIONS


def previous_push_share(lake, region: str, brand: str, before: dt.date, audience: int) -> float | None:
    """Pushed users / audience of the market's latest published date before ``before`` (one small row)."""
    if not lake.exists(PUSH_NOTIFICATIONS) or audience == 0:
        return None
    row = (lake.read(PUSH_NOTIFICATIONS)
           .where(in_market(region, brand) & (F.col("decision_date") < F.lit(before)))
           .groupBy("decision_date").count().orderBy(F.desc("decision_date")).first())
    return None if row is None else row["count"] / audience


def sanity_checks(decisions: DataFrame, users: DataFrame, audience: int, previous_share: float | None,
                  cfg: PushConfig, region: str) -> CheckReport:
    """One aggregate: one push per user, consent, radius, quiet hours, and the pushed share's move."""
    offset = cfg.utc_offset_hours.get(region, 0)
    joined = decisions.join(users.select("user_id", "push_consent"), "user_id", "left")
    row = joined.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("user_id").alias("users"),
        F.sum((~F.coalesce(F.col("push_consent"), F.lit(False))).cast("int")).alias("without_consent"),
        F.sum((F.col("distance_km") > cfg.radius_km).cast("int")).alias("beyond_radius"),
        F.sum(is_quiet_column(local_hour(F.col("send_hour"), offset), cfg.quiet_hours).cast("int"))
        .alias("in_quiet_hours"),
    ).first()
    figures = {k: float(row[k] or 0) for k in row.asDict()}
    failures = [f"{k} = {int(figures[k])}" for k in ("without_consent", "beyond_radius", "in_quiet_hours")
                if figures[k] > 0]
    if figures["rows"] != figures["users"]:
        failures.append(f"{int(figures['rows'])} pushes for {int(figures['users'])} users")
    if previous_share is not None and audience:
        share = figures["rows"] / audience
        figures.update(pushed_share=share, previous_share=previous_share)
        if abs(share - previous_share) > cfg.publish.max_share_change:
            failures.append(f"pushed share moved from {previous_share:.3f} to {share:.3f} "
                            f"> max_share_change {cfg.publish.max_share_change}")
    return CheckReport(not failures, figures, failures)
