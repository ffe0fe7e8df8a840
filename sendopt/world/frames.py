"""Run numpy generators inside Spark tasks and shape their output to the catalog.

A generator is ``builder(world, batch) -> pandas.DataFrame`` where ``batch``
is a pandas frame of user indices (``idx``) plus any per-user inputs. It runs
inside ``mapInPandas`` over ``spark.range`` (or over a frame of inputs for
``simulate-outcomes``), so nothing per-user is built on the driver. Builders
emit numbers only (indices, day numbers, microsecond timestamps); the Spark
side turns them into pseudonymous string ids and catalog types, which is far
cheaper in the JVM than formatting strings in pandas.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sendopt.catalog import CATALOG
from sendopt.world.model import World

US_PER_DAY = 86_400_000_000
Builder = Callable[[World, pd.DataFrame], pd.DataFrame]


def user_range(spark: SparkSession, world: World) -> DataFrame:
    """``idx`` 0..users-1 spread over ``ceil(users / users_per_partition)`` partitions."""
    cfg = world.config
    parts = max(1, math.ceil(cfg.users / cfg.users_per_partition))
    return spark.range(0, cfg.users, numPartitions=parts).withColumnRenamed("id", "idx")


def run_builder(inputs: DataFrame, world: World, builder: Builder, schema: str) -> DataFrame:
    """Apply ``builder`` to every batch of ``inputs`` (must hold ``idx``); ``schema`` is a DDL string."""

    def apply(batches):
        for batch in batches:
            out = builder(world, batch)
            if len(out):
                yield out

    return inputs.mapInPandas(apply, schema=schema)


def epoch_us(date: dt.date) -> int:
    return (date - dt.date(1970, 1, 1)).days * US_PER_DAY


def hashed_id(world: World, prefix: str, *cols: str) -> Column:
    """Pseudonymous, deterministic string id: ``prefix`` + 16 hex digits of xxhash64(seed, prefix, cols)."""
    h = F.xxhash64(F.lit(world.config.seed), F.lit(prefix), *[F.col(c) for c in cols])
    return F.concat(F.lit(prefix), F.lpad(F.lower(F.hex(h)), 16, "0"))


def user_id(world: World, idx_col: str = "idx") -> Column:
    return hashed_id(world, "u", idx_col)


def day_date(world: World, col: str) -> Column:
    return F.date_add(F.lit(world.config.start_date), F.col(col).cast("int"))


def conform(df: DataFrame, table: str, **exprs: Column) -> DataFrame:
    """Select the catalog columns of ``table`` in order, computed by ``exprs`` (default: same-named column)."""
    spec = CATALOG.get(table)
    cols = []
    for c in spec.columns:
        expr = exprs.get(c.name, F.col(c.name))
        cols.append(expr.cast(spec.schema[c.name].dataType).alias(c.name))
    return df.select(*cols)


def lookup(values, index: Column) -> Column:
    """``values[index]`` for a small static list (names of categories, regions…)."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), index.cast("int") + 1)
