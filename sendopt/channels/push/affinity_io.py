"""What ``mcc-affinity`` reads and reports: the regions, the lookback payments, the top pairs.

The job (``sendopt.channels.push.jobs.run_mcc_affinity``) computes sequential MCC affinities per region
and window, one replaceable slice per run date.

Reads the clean card payments of the ``affinity.lookback_days`` days ending at the run date
(``read_clean``: quarantined rows never count), attaches each customer's region, computes
:func:`sendopt.channels.push.affinity.affinities` for every configured window in one pass over the
payments, and replaces the (run_date, region) slices of ``analytics.mcc_affinity`` — so a re-run of a
date is idempotent and a region without payments ends up with an empty slice, not stale rows.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sendopt.channels.push.tables import MCC_AFFINITY
from sendopt.errors import SendoptError
from sendopt.lake.quality import read_clean

if TYPE_CHECKING:
    from sendopt.runner import JobContext

TRANSACTIONS = "raw.card_transactions"
CUSTOMERS = "raw.customers"


def job_regions(ctx: JobContext) -> list[str]:
    """``--region`` if given (must be configured), else every region of the configured markets."""
    configured = sorted({m.region for m in ctx.config.markets})
    if ctx.region is None:
        return configured
    if ctx.region not in configured:
        raise SendoptError(f"--region {ctx.region}: not a region of the configured markets ({configured})")
    return [ctx.region]


def lookback_transactions(lake, run_date: dt.date, lookback_days: int, regions: list[str]) -> DataFrame:
    """Clean payments (user_id, region, txn_ts, mcc) of the lookback days ending at ``run_date``."""
    start = run_date - dt.timedelta(days=lookback_days - 1)
    tx = read_clean(lake, TRANSACTIONS, run_date).where(F.col("event_date").between(start, run_date))
    customers = read_clean(lake, CUSTOMERS, run_date).where(F.col("region").isin(regions))
    regions_of = customers.select("user_id", "region")
    return tx.join(regions_of, "user_id").select("user_id", "region", "txn_ts", "mcc")


def top_pairs(lake, run_date: dt.date, regions: list[str], k: int) -> list[str]:
    """The k supported pairs with the highest lift_low per region and window, as log lines."""
    table = lake.read(MCC_AFFINITY).where(
        (F.col("run_date") == F.lit(run_date)) & F.col("region").isin(regions) & F.col("is_supported"))
    by_lift = Window.partitionBy("region", "window_days").orderBy(F.desc("lift_low"), "mcc1", "mcc2")
    ranked = table.withColumn("rank", F.row_number().over(by_lift)).where(F.col("rank") <= k)
    rows = ranked.orderBy("region", "window_days", "rank").collect()  # ≤ regions × windows × k rows
    return [f"top {r.region} W={r.window_days}d #{r.rank}: {r.mcc1}->{r.mcc2} lift_low={r.lift_low:.2f} "
            f"lift={r.lift_naive:.2f} refined={r.lift_refined:.2f} pairs={r.pair_count}" for r in rows]
