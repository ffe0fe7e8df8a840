"""Building customer feature snapshots: which exist, and writing the missing (or stale) ones."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sendopt.features.customer import SOURCES, customer_features
from sendopt.features.tables import CUSTOMER_DAILY
from sendopt.lake.quality import read_clean_many
from sendopt.observability import stage

if TYPE_CHECKING:
    from sendopt.runner import JobContext


@dataclass
class SnapshotNeeds:
    """Snapshots a channel needs for a run: ``rebuild`` always (idempotent replace), ``if_missing`` when absent."""

    rebuild: list[dt.date] = field(default_factory=list)
    if_missing: list[dt.date] = field(default_factory=list)


def existing_snapshots(lake) -> set[dt.date]:
    if not lake.exists(CUSTOMER_DAILY):
        return set()
    return {r[0] for r in lake.read(CUSTOMER_DAILY).select("snapshot_date").distinct().collect()}


def build_snapshots(ctx: JobContext, snapshots: list[dt.date], replace_existing: bool = False) -> list[dt.date]:
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
