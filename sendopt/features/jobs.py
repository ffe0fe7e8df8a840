"""``build-features``: write the customer feature snapshots the day's jobs need."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from sendopt.features.customer import SOURCES, customer_features
from sendopt.lake.quality import read_clean_many
from sendopt.lake.tables.features import CUSTOMER_DAILY
from sendopt.observability import stage


def decision_snapshot(run_date: dt.date, gap_days: int) -> dt.date:
    """Features for a decision on ``run_date`` use events before ``run_date - gap_days``."""
    return run_date - dt.timedelta(days=gap_days)


def training_snapshots(ctx) -> list[dt.date]:
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


def existing_snapshots(lake) -> set[dt.date]:
    if not lake.exists(CUSTOMER_DAILY):
        return set()
    return {r[0] for r in lake.read(CUSTOMER_DAILY).select("snapshot_date").distinct().collect()}


def build_snapshots(ctx, snapshots: list[dt.date], replace_existing: bool = False) -> list[dt.date]:
    lake = ctx.lake
    have = set() if replace_existing else existing_snapshots(lake)
    todo = [s for s in snapshots if s not in have]
    if not todo:
        return []
    read = read_clean_many(lake, ctx.run_date)  # quarantined rows excluded; customers validated once
    tables = {name: read(name) for name in SOURCES}
    with stage(ctx.spark, ctx.log, "build-features", table=CUSTOMER_DAILY.full_name,
               snapshots=",".join(map(str, todo))):
        df = customer_features(tables, todo, ctx.config.features)
        lake.write(df, CUSTOMER_DAILY, mode="replace", where={"snapshot_date": todo})
    return todo


def run_build_features(ctx) -> None:
    """The decision snapshot is always rebuilt (idempotent replace); training snapshots when missing."""
    decision = decision_snapshot(ctx.run_date, ctx.config.email.gap_days)
    have = existing_snapshots(ctx.lake)
    missing = [s for s in training_snapshots(ctx) if s not in have and s != decision]
    built = build_snapshots(ctx, [decision, *missing], replace_existing=True)
    ctx.summary["message"] = f"snapshots built: {[str(s) for s in built]}"
