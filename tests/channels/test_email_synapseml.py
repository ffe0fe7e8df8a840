"""The email response model trained by SynapseML's LightGBMClassifier feeds the same decisions.

Runs on a copy of the tiny world (its own MLflow registry, no decisions yet), for one market, with
``email.training.backend=synapseml``; needs SynapseML's jars from ``make jars`` on the session.
"""
from __future__ import annotations

import shutil

import mlflow
from pyspark.sql import functions as F

from sendopt.catalog import open_lake
from sendopt.channels.email.model import EmailResponseModel
from sendopt.cli import main
from sendopt.config import load_config
from sendopt.models import tracking
from tests.conftest import require_jars

DATE = "2026-02-25"


def test_synapseml_trained_email_model_feeds_the_decisions(tiny_world, spark, tmp_path):
    require_jars(spark, "synapseml")
    args, config = tiny_world
    root = tmp_path / "lake"
    # the raw and feature tables only: no registry, no decisions other tests wrote
    shutil.copytree(config.lake.root, root, ignore=shutil.ignore_patterns("_mlflow", "decisions"))
    args = [a if not str(a).startswith("lake.root=") else f"lake.root={root}" for a in args]
    args = [*args, "--set", "email.training.backend=synapseml", "--region", "north", "--brand", "alpha",
            "--set", "lifecycle.backtest.weeks=1"]  # the safe-improvement replay: one holdout week keeps it short
    assert main(["email-daily", *args, "--date", DATE]) == 0
    config = load_config("local", overrides=[a for a in args if "=" in a and not a.startswith("--")])
    tracking.configure(config)
    name = EmailResponseModel(config, "north", "alpha").name
    version = tracking.champion_version(name)
    run = mlflow.MlflowClient().get_run(mlflow.MlflowClient().get_model_version(name, version).run_id)
    assert run.data.params["backend"] == "synapseml" and run.data.metrics["valid_auc"] > 0.5
    df = open_lake(spark, config).read("decisions.email_frequency").where(F.col("decision_date") == DATE)
    assert df.count() > 0 and {tuple(r) for r in df.select("region", "brand").distinct().collect()} == {
        ("north", "alpha")}
    bad = df.where(F.abs(F.col("p_purchase") + F.col("p_unsubscribe") + F.col("p_no_action") - 1) > 1e-9)
    assert bad.count() == 0
