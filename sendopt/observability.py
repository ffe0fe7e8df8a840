"""One log format for every job, named Spark job groups, and progress on long stages.

Log lines read ``<time> <level> <job> stage=<stage> table=<table> rows=<n> seconds=<s>`` so an
operator can grep a run; the Spark UI shows the same stage names as job groups.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from pyspark.sql import SparkSession

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(level: str = "INFO", log_file: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)
    for noisy in ("py4j", "urllib3", "alembic", "mlflow", "deltalake"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fields(**values: Any) -> str:
    """``key=value`` pairs in a stable order, skipping Nones."""
    out = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:.2f}"
        out.append(f"{key}={value}")
    return " ".join(out)


class _Progress(threading.Thread):
    """Logs active Spark stages' task progress every ``interval`` seconds."""

    def __init__(self, spark: SparkSession, log: logging.Logger, label: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.tracker = spark.sparkContext.statusTracker()
        self.log, self.label, self.interval = log, label, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                stages = [self.tracker.getStageInfo(s) for s in self.tracker.getActiveStageIds()]
            except Exception:  # the context is stopping
                return
            for info in filter(None, stages):
                self.log.info(
                    "%s",
                    fields(
                        stage=self.label,
                        spark_stage=info.stageId,
                        tasks=f"{info.numCompletedTasks}/{info.numTasks}",
                        running=info.numActiveTasks,
                        failed=info.numFailedTasks,
                    ),
                )


@contextlib.contextmanager
def stage(
    spark: SparkSession | None,
    log: logging.Logger,
    name: str,
    table: str | None = None,
    progress_interval: float = 30.0,
    **extra: Any,
) -> Iterator[dict]:
    """Time a named stage; the yielded dict may receive ``rows`` and other figures to log."""
    info: dict[str, Any] = {}
    started = time.perf_counter()
    progress = None
    if spark is not None:
        spark.sparkContext.setJobGroup(name, f"sendopt {name}" + (f" {table}" if table else ""))
        progress = _Progress(spark, log, name, progress_interval)
        progress.start()
    try:
        yield info
    except Exception:
        log.error("%s", fields(stage=name, table=table, status="failed", seconds=time.perf_counter() - started))
        raise
    finally:
        if progress is not None:
            progress.stopped.set()
    log.info("%s", fields(stage=name, table=table, **extra, **info, seconds=time.perf_counter() - started))
