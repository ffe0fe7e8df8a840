"""Shared benchmark helpers: a local session, and peak driver memory (Python RSS, JVM heap) sampling."""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import psutil

from sendopt.config import load_config
from sendopt.spark import get_spark


def bench_session(lake_root: str, *overrides: str):
    config = load_config("local", overrides=[f"lake.root={lake_root}", *overrides])
    return config, get_spark(config)


class PeakMemory(threading.Thread):
    """Samples the driver's Python RSS and the JVM's used heap every 50 ms; keeps the peaks."""

    def __init__(self, spark) -> None:
        super().__init__(daemon=True)
        self.runtime = spark._jvm.java.lang.Runtime.getRuntime()
        self.process = psutil.Process(os.getpid())
        self.stop_event = threading.Event()
        self.py_rss_mb = 0.0
        self.jvm_heap_mb = 0.0

    def sample(self) -> None:
        self.py_rss_mb = max(self.py_rss_mb, self.process.memory_info().rss / 2**20)
        self.jvm_heap_mb = max(self.jvm_heap_mb, (self.runtime.totalMemory() - self.runtime.freeMemory()) / 2**20)

    def run(self) -> None:
        while not self.stop_event.wait(0.05):
            self.sample()


@contextmanager
def measured(spark):
    """Yield a dict that receives ``seconds``, ``py_rss_mb`` and ``jvm_heap_mb`` (peaks) on exit."""
    spark._jvm.java.lang.System.gc()
    peak = PeakMemory(spark)
    peak.sample()
    peak.start()
    out: dict = {}
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - t0
        peak.stop_event.set()
        peak.join()
        out["py_rss_mb"] = peak.py_rss_mb
        out["jvm_heap_mb"] = peak.jvm_heap_mb


def copy_week_decisions(lake, day0, days: int, region: str, brand: str) -> None:
    """A week's email decision (made on its first day) stays in force for its other days."""
    import datetime as dt

    from pyspark.sql import functions as F

    from sendopt.channels.email.tables import EMAIL_FREQUENCY

    src = lake.read(EMAIL_FREQUENCY).where(F.col("decision_date") == F.lit(day0)).cache()
    for i in range(1, days):
        d = day0 + dt.timedelta(days=i)
        lake.write(src.withColumn("decision_date", F.lit(d)).select(*EMAIL_FREQUENCY.column_names), EMAIL_FREQUENCY,
                   mode="replace", where={"decision_date": d, "region": region, "brand": brand})
    src.unpersist()
