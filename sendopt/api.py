"""The notebook API: one call gives the config, the Spark session and the lake.

    from sendopt.api import session
    s = session(env="local", overrides=["lake.root=./lake"])
    s.lake.read("raw.orders").groupBy("region").count().show()
    s.submit_promo_request({"merchant_id": 7, "start_date": "2026-04-01", "end_date": "2026-04-14", "budget": 500})
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

    def submit_promo_request(self, payload: dict, today=None) -> dict:
        """Validate a campaign request and append it to ``ops.promo_requests`` (docs/promo.md); the stored row.

        ``today`` (default: the run date) refuses start dates before it; errors name every field at fault."""
        from sendopt.channels.promo.requests import submit_request
        from sendopt.runner import resolve_run_date

        return submit_request(self.lake, payload, today=today or resolve_run_date(self.config),
                              limits=self.config.promo.requests)


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
