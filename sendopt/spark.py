"""The one SparkSession builder.

Locally it starts ``local[*]`` sized for a small machine: Arrow on, the running
interpreter for Python workers, loopback binding (so barrier tasks report
127.0.0.1), and barrier-stage checks that fail in seconds rather than ten
minutes. On a cluster / Databricks it reuses the active session and only sets
what the jobs need.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

if TYPE_CHECKING:  # the engine needs only the config's shape, not the domains it imports
    from sendopt.config import SendoptConfig


log = logging.getLogger(__name__)

#: Settings every sendopt job relies on, whatever the environment.
JOB_CONF = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    # Larger Arrow batches for mapInArrow/mapInPandas (lake writer, scoring): fewer per-batch costs.
    "spark.sql.execution.arrow.maxRecordsPerBatch": "50000",
    "spark.sql.session.timeZone": "UTC",
    # Parquet timestamps with min/max statistics (INT96 has none) for Delta stats.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}

#: Only for a session sendopt starts itself (local / spark-submit without a session).
LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.showConsoleProgress": "false",
    "spark.scheduler.barrier.maxConcurrentTasksCheck.interval": "2s",
    "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures": "3",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.warehouse.dir": os.path.join(os.getcwd(), "spark-warehouse"),
}


def _prepare_local_environment() -> None:
    """Python workers must run this interpreter (with this venv's packages), on loopback."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # LightGBM/OpenMP busy-waits on small machines without this.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def get_spark(config: SendoptConfig) -> SparkSession:
    """Return the session for ``config``: reuse an active one, else build one."""
    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in {**JOB_CONF, **config.spark.conf}.items():
            try:
                active.conf.set(key, value)
            except Exception as exc:  # static confs on a shared cluster cannot change
                log.debug("could not set %s on the active session: %s", key, exc)
        return active

    _prepare_local_environment()
    builder = SparkSession.builder.appName(config.spark.app_name)
    if config.spark.master:
        builder = builder.master(config.spark.master)
    settings = {
        **(LOCAL_CONF if config.env == "local" else {}),
        **JOB_CONF,
        "spark.driver.memory": config.spark.driver_memory,
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        **config.spark.conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.spark.log_level)
    return spark


def delta_available(spark: SparkSession) -> bool:
    """True when Spark's Delta (io.delta) is on the classpath and its extension is on."""
    try:
        spark._jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")  # type: ignore[union-attr]
    except Exception:
        return False
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    return "DeltaSparkSessionExtension" in extensions or "databricks" in spark.version.lower() or bool(
        os.environ.get("DATABRICKS_RUNTIME_VERSION")
    )


def synapseml_available(spark: SparkSession) -> bool:
    """True when SynapseML's LightGBM jars are on the classpath."""
    try:
        spark._jvm.java.lang.Class.forName(  # type: ignore[union-attr]
            "com.microsoft.azure.synapse.ml.lightgbm.LightGBMClassifier"
        )
        return True
    except Exception:
        return False
