"""Runs a job: config → Spark → lake → the job function → run ledger, with one clear failure line.

Market-scoped jobs run once per configured (region, brand) — or for the one
given with ``--region/--brand`` — each with its own layered config, lake handle
(inputs/outputs recorded) and ledger row in ``ops.job_runs``.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from sendopt.catalog import open_lake
from sendopt.channels.seam import JobDef
from sendopt.config import ConfigLoader, SendoptConfig
from sendopt.errors import SendoptError
from sendopt.lake import Lake
from sendopt.ledger import JOB_RUNS, Outcome
from sendopt.observability import configure_logging, fields
from sendopt.spark import get_spark
from sendopt.version import code_version


@dataclass
class JobContext:
    """What a job function receives. Jobs are functions of this context, nothing else.

    A job reports how it ended in ``summary``: ``status`` (an :class:`~sendopt.ledger.Outcome`, default
    ``succeeded``) and ``message`` go to the run ledger.
    """

    job: str
    spark: SparkSession
    config: SendoptConfig
    lake: Lake
    run_id: str
    run_date: dt.date
    log: logging.Logger
    loader: ConfigLoader
    region: str | None = None
    brand: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def new_run_id(job: str) -> str:
    return f"{job}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"



def resolve_run_date(config: SendoptConfig) -> dt.date:
    """``--date`` / ``run.date``; otherwise the world's last day (a generated lake) — never 'today' silently."""
    if config.run.date:
        return config.run.date
    return config.world.start_date + dt.timedelta(days=config.world.days - 1)


def log_file_for(config: SendoptConfig, job: str, run_id: str) -> str | None:
    root = config.lake.root
    if "://" in root or root.startswith("dbfs:"):
        return None
    folder = os.path.join(os.path.abspath(root), "_logs", job)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{run_id}.log")


def _ledger_row(ctx: JobContext, status: str, started: dt.datetime, message: str) -> tuple:
    finished = dt.datetime.now(dt.timezone.utc)
    return (
        ctx.run_id,
        ctx.run_date,
        ctx.job,
        ctx.region or "",
        ctx.brand or "",
        status,
        started,
        finished,
        (finished - started).total_seconds(),
        dict(ctx.lake.inputs),
        dict(ctx.lake.outputs),
        message,
        ctx.config.config_hash,
        code_version(),
    )


def record_run(ctx: JobContext, status: str, started: dt.datetime, message: str = "") -> None:
    """Append this run's row to the ledger (a failure to do so is logged, never masks the job's error)."""
    try:
        df = ctx.spark.createDataFrame([_ledger_row(ctx, status, started, message)], JOB_RUNS.schema)
        ledger = open_lake(ctx.spark, ctx.config, run_id=ctx.run_id, job=ctx.job)
        ledger.write(df, JOB_RUNS, mode="append")
    except Exception as exc:
        ctx.log.error("could not record the run in %s: %s", JOB_RUNS.full_name, exc)


def run_job(
    jobdef: JobDef,
    loader: ConfigLoader,
    region: str | None = None,
    brand: str | None = None,
    spark: SparkSession | None = None,
) -> list[JobContext]:
    """Run ``jobdef`` (per market where it is market-scoped); return the contexts it ran with."""
    base = loader.load(region, brand)
    run_id = new_run_id(jobdef.name)
    configure_logging(base.logging.level, log_file_for(base, jobdef.name, run_id))
    log = logging.getLogger(f"sendopt.{jobdef.name}")
    spark = spark or get_spark(base)
    run_date = resolve_run_date(base)
    if jobdef.per_market:
        markets = [(m.region, m.brand) for m in base.markets]
        if region:
            markets = [(r, b) for r, b in markets if r == region and (brand is None or b == brand)]
            if not markets:
                raise SendoptError(f"--region {region} --brand {brand}: not one of the configured markets")
    else:
        markets = [(region, brand)]
    log.info("%s", fields(job=jobdef.name, run_id=run_id, date=run_date, markets=len(markets),
                          config_hash=base.config_hash, env=base.env))
    contexts = []
    func = jobdef.function()
    for market_region, market_brand in markets:
        config = loader.load(market_region, market_brand) if jobdef.per_market else base
        ctx = JobContext(
            job=jobdef.name,
            spark=spark,
            config=config,
            lake=open_lake(spark, config, run_id=run_id, job=jobdef.name),
            run_id=run_id,
            run_date=run_date,
            log=log,
            loader=loader,
            region=market_region,
            brand=market_brand,
        )
        started = dt.datetime.now(dt.timezone.utc)
        t0 = time.perf_counter()
        try:
            func(ctx)
        except Exception as exc:
            record_run(ctx, Outcome.FAILED, started, f"{type(exc).__name__}: {exc}")
            raise
        status = ctx.summary.get("status", Outcome.SUCCEEDED)
        record_run(ctx, status, started, ctx.summary.get("message", ""))
        log.info("%s", fields(job=jobdef.name, region=market_region, brand=market_brand, status=status,
                              seconds=time.perf_counter() - t0))
        contexts.append(ctx)
    return contexts
