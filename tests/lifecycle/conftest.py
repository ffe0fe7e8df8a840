"""A tiny real channel for lifecycle tests: synthetic 3-class frames, a local LightGBM, real MLflow."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from pyspark.sql import functions as F

from sendopt.catalog import open_lake
from sendopt.lifecycle.channels import Challenger, LifecycleChannel
from sendopt.models.response import FitReport, ResponseModel
from sendopt.models.spec import TrainSpec
from tests.models.conftest import synthetic

FEATURES = ["x0", "x1", "x2", "x3"]
RUN_DATE = dt.date(2026, 3, 1)


class TinyModel(ResponseModel):
    channel = "tiny"
    outcomes = ("no_action", "purchase", "unsubscribe")
    weight_col = None

    def candidate_features(self):
        return list(FEATURES)

    def categorical_features(self):
        return []

    def backend(self):
        return "local"

    def train_spec(self, features):
        return TrainSpec(features=list(features), label="label", num_class=3, num_boost_round=25,
                         early_stopping_rounds=0, params={"num_leaves": 7, "learning_rate": 0.2,
                                                          "min_data_in_leaf": 20})


class TinyChannel(LifecycleChannel):
    """Fits on a synthetic frame; ``shuffle`` breaks the label link, ``corrupt`` drops the holdout's label,
    ``drift`` shifts feature x0 of the decision snapshot."""

    name = "tiny"

    def __init__(self, rows=4000, seed=11, shuffle=False, corrupt=False, drift=0.0):
        self.rows, self.seed, self.shuffle, self.corrupt, self.drift = rows, seed, shuffle, corrupt, drift

    def model(self, config, region, brand):
        return TinyModel(config, region, brand)

    def fit_challenger(self, ctx):
        df = synthetic(ctx.spark, self.rows, seed=self.seed, num_class=3)
        holdout = df.where("id % 4 = 0")
        train = df.where("id % 4 != 0")
        if self.shuffle:
            train = train.withColumn("label", (F.abs(F.xxhash64("id")) % 3).cast("int"))
        model = self.model(ctx.config, ctx.region, ctx.brand)
        result, evaluation = model.fit(ctx.spark, train, holdout, FEATURES)
        report = FitReport(result, evaluation, FEATURES, {}, model.reference(train, FEATURES))
        return Challenger(report, {"rows": self.rows}, holdout.drop("label") if self.corrupt else holdout,
                          RUN_DATE - dt.timedelta(days=7))

    def with_value(self, scored, config):
        return (scored.withColumn("net_value", 60 * F.col("p_purchase") - 40 * F.col("p_unsubscribe"))
                .withColumn("converted", (F.col("label") == 1).cast("int"))
                .withColumn("unsubscribed", (F.col("label") == 2).cast("int")))

    # monitoring: features with ``drift`` added to x0, published and matured rows scored by the champion
    score_columns = ("net_value_ref",)

    def decision_features(self, ctx):
        return synthetic(ctx.spark, 3000, seed=self.seed + 1, num_class=3).withColumn(
            "x0", F.col("x0") + F.lit(self.drift)).drop("label")

    def _scored(self, ctx, seed):
        from sendopt.models import tracking

        model = self.model(ctx.config, ctx.region, ctx.brand)
        champion = tracking.load_model(model.name)
        scored = self.with_value(model.score(synthetic(ctx.spark, 3000, seed=seed, num_class=3),
                                             champion.model_text), ctx.config)
        return scored.withColumn("model_version", F.lit(champion.version))

    def published(self, ctx):
        scored = self._scored(ctx, self.seed + 2).withColumnRenamed("net_value", "net_value_ref")
        first = RUN_DATE - dt.timedelta(days=14)
        return scored.withColumn("decision_date", F.when(F.col("id") % 2 == 0, F.lit(first))
                                 .otherwise(F.lit(RUN_DATE - dt.timedelta(days=1))))

    def matured_decisions(self, ctx, weeks):
        from sendopt.lifecycle.gate import value_bins

        scored = self._scored(ctx, self.seed + 3)
        week = F.when(F.col("id") % 2 == 0, F.lit(RUN_DATE - dt.timedelta(days=14))).otherwise(
            F.lit(RUN_DATE - dt.timedelta(days=7)))
        return value_bins(scored, "net_value", 3, out="bin").withColumn("week_start", week).withColumn(
            "tier", (F.col("id") % 3).cast("int"))


@pytest.fixture
def make_ctx(spark, tmp_path):
    from sendopt.config import load_config
    from sendopt.runner import JobContext

    config = load_config("local", overrides=[
        f"lake.root={tmp_path / 'lake'}", "spark.master=local[2]", "spark.shuffle_partitions=4",
        "lifecycle.retrain.gate.max_ece=0.1", "lifecycle.retrain.gate.min_holdout_rows=100",
        "lifecycle.monitor.max_alert_features=1", "lifecycle.monitor.min_outcome_rows=100",
    ])
    counter = iter(range(100))

    def make(job="retrain"):
        run_id = f"{job}-test-{next(counter)}"
        return JobContext(job=job, spark=spark, config=config, lake=open_lake(spark, config, run_id=run_id, job=job),
                          run_id=run_id, run_date=RUN_DATE, log=logging.getLogger("test"), loader=None,
                          region="north", brand="alpha")

    return make
