"""The one SparkSession builder.

Locally it starts ``local[*]`` sized for a small machine: Arrow on, the running
interpreter for Python workers, loopback binding (so barrier tasks report
127.0.0.1), and barrier-stage checks that fail in seconds rather than ten
minutes. On a cluster / Databricks it reuses the active session and only sets
what the jobs need.

The JVM side (Delta Lake, SynapseML's LightGBM) is pinned in ``jars/pom.xml`` and
fetched by ``make jars`` into ``jars/lib/``. A session sendopt starts itself puts
those jars on its classpath (``spark.jars``) only when the config asks for them
(``lake.backend: spark_delta``, a ``<section>.training.backend: synapseml`` such as
``email.training.backend``) or the
caller does (``get_spark(config, jars=...)``), and with Delta it sets Delta's
session extension and catalog. The jars carry their own Python wrappers
(``delta.tables``, ``synapse.ml``), which are put on ``sys.path`` too.
"""
from __future__ import annotations

import glob
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
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


#: Delta's session extension and catalog (Spark's Delta needs both).
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
#: With Delta on a small local session: few partitions to rebuild a snapshot from the log (default 50),
#: and VACUUM's distributed file listing in a few tasks, not parallelPartitionDiscovery's 10,000.
DELTA_LOCAL_CONF = {
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
}

#: Jar groups of jars/pom.xml, by file-name prefix (everything not Delta's belongs to SynapseML).
JAR_GROUPS = ("delta", "synapseml")
DELTA_JAR_PREFIXES = ("delta-spark_", "delta-storage-")
#: Jars that carry Python wrappers of their JVM classes.
PYTHON_JAR_PREFIXES = ("delta-spark_", "synapseml-")


def jars_dir() -> Path:
    """``$SENDOPT_JARS_DIR``, else ``jars/lib`` beside the sendopt package (a source checkout)."""
    env = os.environ.get("SENDOPT_JARS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "jars" / "lib"


def local_jars(group: str) -> list[str]:
    """The fetched jars of ``group`` ("delta" or "synapseml"), empty where ``make jars`` has not run."""
    if group not in JAR_GROUPS:
        raise ValueError(f"unknown jar group {group!r}; expected one of {JAR_GROUPS}")
    found = sorted(glob.glob(str(jars_dir() / "*.jar")))
    is_delta = [os.path.basename(p).startswith(DELTA_JAR_PREFIXES) for p in found]
    if group == "delta":
        chosen = [p for p, d in zip(found, is_delta, strict=True) if d]
        return chosen if any("delta-spark_" in os.path.basename(p) for p in chosen) else []
    chosen = [p for p, d in zip(found, is_delta, strict=True) if not d]
    return chosen if any("synapseml-lightgbm_" in os.path.basename(p) for p in chosen) else []


def missing_jars_reason(group: str) -> str | None:
    """None when ``group``'s jars are fetched; else one line saying what is missing and how to fetch it."""
    if local_jars(group):
        return None
    return (
        f"{group} jars not found in {jars_dir()} (run `make jars`: needs mvn and Maven Central; "
        "pinned in jars/pom.xml)"
    )


def required_jar_groups(config: SendoptConfig) -> set[str]:
    """The jar groups ``config`` asks for: Delta for lake.backend=spark_delta, SynapseML for its trainer."""
    groups = set()
    if config.lake.backend == "spark_delta":
        groups.add("delta")
    for name in type(config).model_fields:  # any section's `training.backend` (email.training.backend …)
        training = getattr(getattr(config, name, None), "training", None)
        if getattr(training, "backend", None) == "synapseml":
            groups.add("synapseml")
    return groups


def _add_jar_python(paths: Iterable[str]) -> None:
    """Make the Python wrappers inside the jars importable on the driver (zip import)."""
    for path in paths:
        if os.path.basename(path).startswith(PYTHON_JAR_PREFIXES) and path not in sys.path:
            sys.path.append(path)


def _prepare_local_environment() -> None:
    """Python workers must run this interpreter (with this venv's packages), on loopback."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # LightGBM/OpenMP busy-waits on small machines without this.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def get_spark(config: SendoptConfig, jars: Iterable[str] = ()) -> SparkSession:
    """Return the session for ``config``: reuse an active one, else build one.

    ``jars``: extra jar groups ("delta", "synapseml") to put on a new session's classpath
    beside those the config asks for (the test suite asks for both on its one session).
    """
    groups = required_jar_groups(config) | set(jars)
    paths = [p for g in sorted(groups) for p in local_jars(g)]
    for group in sorted(groups):
        if not local_jars(group):
            log.warning("%s; going on with whatever the classpath already has", missing_jars_reason(group))
    _add_jar_python(paths)
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
    jar_conf: dict[str, str] = {}
    if paths and not os.environ.get("PYSPARK_GATEWAY_PORT"):  # spark-submit has set the classpath already
        jar_conf["spark.jars"] = ",".join(paths)
    if "delta" in groups and local_jars("delta"):
        jar_conf.update(DELTA_CONF)
        if config.env == "local":
            jar_conf.update(DELTA_LOCAL_CONF)
    settings = {
        **(LOCAL_CONF if config.env == "local" else {}),
        **jar_conf,
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
    if not _has_class(spark, "io.delta.tables.DeltaTable"):
        return False
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    return "DeltaSparkSessionExtension" in extensions or "databricks" in spark.version.lower() or bool(
        os.environ.get("DATABRICKS_RUNTIME_VERSION")
    )


def synapseml_available(spark: SparkSession) -> bool:
    """True when SynapseML's LightGBM jars are on the classpath."""
    return _has_class(spark, "com.microsoft.azure.synapse.ml.lightgbm.LightGBMClassifier")


def _has_class(spark: SparkSession, name: str) -> bool:
    """Whether the driver JVM can load ``name`` the way Spark loads user classes.

    ``Class.forName`` through py4j uses the system class loader, which does not see
    ``spark.jars``; Spark's own ``Utils.classForName`` uses the context class loader that does.
    """
    jvm = spark._jvm  # type: ignore[union-attr]
    try:
        jvm.org.apache.spark.util.Utils.classForName(name, False, False)
        return True
    except Exception:
        try:
            jvm.java.lang.Class.forName(name)
            return True
        except Exception:
            return False
