"""The notebook API: one call gives the config, the Spark session and the lake — and what analysts ask of them.

    from sendopt.api import session
    s = session(env="local", overrides=["lake.root=./lake"])
    s.lake.read("raw.orders").groupBy("region").count().show()
    s.submit_promo_request({"merchant_id": 7, "start_date": "2026-04-01", "end_date": "2026-04-14", "budget": 500})
    s.table("decisions.email_frequency")          # None while the table has not been written
    s.sql("select policy, count(*) from decisions_email_frequency group by policy").show()
    s.feature_importance("sendopt_email_response_north_alpha")

The notebooks in ``notebooks/`` use only this module (a test runs them), so this is the stable surface.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

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
    def tables(self) -> list[str]:
        """Catalog tables written so far (``<layer>.<name>``; the truth layer left out)."""
        return [s.full_name for s in self.lake.catalog if s.layer != "truth" and self.lake.exists(s)]

    def table(self, name: str) -> DataFrame | None:
        """The table's latest version, or None while it has not been written."""
        return self.lake.read(name) if self.lake.exists(name) else None

    def sql(self, query: str) -> DataFrame:
        """Spark SQL over every written table as a view ``<layer>_<name>`` (as ``sendopt sql``)."""
        from sendopt.sql import query as run

        return run(self.lake, query)

    def registered_models(self) -> list[str]:
        """Names of the models in the MLflow registry of this lake."""
        import mlflow

        from sendopt.models.tracking import configure

        configure(self.config)
        return sorted(m.name for m in mlflow.MlflowClient().search_registered_models())

    def feature_importance(self, model_name: str, alias_or_version: str = "champion") -> dict[str, float]:
        """Gain importance per feature of a registered version (logged with it at training)."""
        import mlflow

        from sendopt.models.tracking import configure, load_model

        configure(self.config)
        model = load_model(model_name, alias_or_version)
        path = mlflow.artifacts.download_artifacts(run_id=model.run_id, artifact_path="feature_importance.json")
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)


def session(
    env: str = "local",
    overrides: Iterable[str] = (),
    extra_files: Iterable[str] = (),
    region: str | None = None,
    brand: str | None = None,
) -> Session:
    """``$SENDOPT_LAKE_ROOT`` (when set) comes before ``overrides``: notebooks run against any lake."""
    root = os.environ.get("SENDOPT_LAKE_ROOT")
    overrides = [*([f"lake.root={root}"] if root else []), *overrides]
    config = load_config(env, extra_files, overrides, region, brand)
    spark = get_spark(config)
    return Session(config, spark, open_lake(spark, config, job="notebook"))
