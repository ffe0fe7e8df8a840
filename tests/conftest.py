"""One session-scoped SparkSession for the whole suite; tiny lakes under tmp paths."""
from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sendopt.config import load_config  # noqa: E402


@pytest.fixture(scope="session")
def session_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    return load_config(
        "local",
        overrides=[
            f"lake.root={root}",
            "spark.master=local[2]",
            "spark.shuffle_partitions=4",
            "spark.driver_memory=2g",
            "spark.conf.spark.ui.enabled=false",
        ],
    )


@pytest.fixture(scope="session")
def spark(session_config):
    from sendopt.spark import get_spark

    session = get_spark(session_config)
    yield session
    session.stop()


@pytest.fixture
def lake_config(tmp_path):
    """A config whose lake root is a fresh folder for this test."""
    return load_config(
        "local",
        overrides=[f"lake.root={tmp_path / 'lake'}", "spark.master=local[2]", "spark.shuffle_partitions=4"],
    )


@pytest.fixture
def lake(spark, lake_config):
    from sendopt.lake import Lake

    return Lake(spark, lake_config)
