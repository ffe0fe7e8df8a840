"""The notebook API: one call gives the config, the Spark session and the lake.

    from sendopt.api import session
    s = session(env="local", overrides=["lake.root=./lake"])
    s.lake.read("raw.orders").groupBy("region").count().show()
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import SparkSession

from sendopt.catalog import open_lake
from sendopt.config import SendoptConfig, load_config
from sendopt.lake import Lake
from sendopt.spark import get_spark


@dataclass(frozen=True)
class Session:
    config: SendoptConfig
    spark: SparkSession
    lake: Lake


def session(
    env: str = "local",
    overrides: Iterable[str] = (),
    extra_files: Iterable[str] = (),
    region: str | None = None,
    brand: str | None = None,
) -> Session:
    config = load_config(env, extra_files, overrides, region, brand)
    spark = get_spark(config)
    return Session(config, spark, open_lake(spark, config, job="notebook"))
