"""What email decisions read: the market's feature snapshot, and which snapshots email needs built."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.primitives import in_market
from sendopt.features.snapshots import SnapshotNeeds
from sendopt.features.tables import CUSTOMER_DAILY

if TYPE_CHECKING:
    from sendopt.runner import JobContext


def decision_snapshot(run_date: dt.date, gap_days: int) -> dt.date:
    """Features for a decision on ``run_date`` use events before ``run_date - gap_days``."""
    return run_date - dt.timedelta(days=gap_days)


def training_snapshots(ctx: JobContext) -> list[dt.date]:
    """Snapshots of the most recent matured training weeks (``week_start - gap``)."""
    if not ctx.lake.exists("raw.email_assignments"):
        return []
    email = ctx.config.email
    weeks = (
        ctx.lake.read("raw.email_assignments")
        .where(F.date_add(F.col("week_start"), 7) <= F.lit(ctx.run_date))
        .select("week_start").distinct().orderBy(F.desc("week_start")).limit(email.training.weeks)
        .collect()  # at most training.weeks rows
    )
    return sorted(r.week_start - dt.timedelta(days=email.gap_days) for r in weeks)


def snapshot_needs(ctx: JobContext) -> SnapshotNeeds:
    """The decision snapshot (always rebuilt) and the training snapshots (built when missing)."""
    return SnapshotNeeds(rebuild=[decision_snapshot(ctx.run_date, ctx.config.email.gap_days)],
                         if_missing=training_snapshots(ctx))


def market_features(ctx: JobContext) -> tuple[DataFrame, dt.date]:
    """The market's rows of the decision snapshot, and that snapshot's date."""
    snapshot = decision_snapshot(ctx.run_date, ctx.config.email.gap_days)
    features = ctx.lake.read(CUSTOMER_DAILY).where(
        (F.col("snapshot_date") == F.lit(snapshot)) & in_market(ctx.region, ctx.brand))
    return features, snapshot
