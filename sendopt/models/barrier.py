"""Data-parallel LightGBM over Spark barrier tasks (the default where SynapseML is absent).

Each barrier task holds one partition of the training rows and runs LightGBM with
``tree_learner=data``: LightGBM's own sockets sum the histograms, so all tasks grow
identical trees. Why each step is there:

* every task sees the *same* broadcast validation sample, so early stopping stops
  every task at the same round (different data → different rounds → a hang);
* tasks ``allGather`` their address *and* row count before training, and a task with
  an empty partition sits out (LightGBM aborts on ``num_data > 0`` otherwise), so an
  unlucky partitioning can never fail a run;
* the lowest-ranked training task returns the model text in chunks; the driver
  rebuilds the Booster. Nothing that grows with rows comes back to the driver.
"""
from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import lightgbm as lgb
import pyarrow as pa
from pyspark import BarrierTaskContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sendopt.models.fit import fit_booster
from sendopt.models.prepare import Prepared, frame_arrays
from sendopt.models.spec import ModelError, TrainResult, TrainSpec, booster_params

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # model text per returned row; keeps each Arrow value well under 2 GB
RESULT_SCHEMA = "rank int, rows long, best_iteration int, history string, chunk_index int, chunk string"
# LightGBM's messages when its socket network fails to form (a port taken between probe and bind).
NETWORK_ERRORS = ("Binding port", "Connecting to rank", "Socket")


def free_slots(spark: SparkSession) -> int:
    """Tasks one barrier stage can run at once: the cluster's cores over cores per task."""
    cpus = int(spark.conf.get("spark.task.cpus", "1") or 1)
    return max(1, spark.sparkContext.defaultParallelism // cpus)


def plan_tasks(rows: int, slots: int, min_rows_per_task: int = 1) -> int:
    """Number of barrier tasks: no more than free slots, and no more than rows allow."""
    if rows < 1:
        raise ModelError("no training rows to distribute over barrier tasks")
    return max(1, min(slots, rows // max(1, min_rows_per_task)))


def _probe_port() -> tuple[socket.socket, int]:
    """A bound socket on a free port; kept open until the peers know the port, closed just before LightGBM binds."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", 0))
    return sock, sock.getsockname()[1]


def _task_fn(spec: TrainSpec, params: dict[str, Any], valid_bc, time_out_min: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ctx = BarrierTaskContext.get()
        rank = ctx.partitionId()
        received = [b for b in batches if b.num_rows]
        train = frame_arrays(pa.Table.from_batches(received), spec) if received else None
        del received
        rows = 0 if train is None else len(train[1])
        sock, port = _probe_port()
        host = ctx.getTaskInfos()[rank].address.split(":")[0]
        peers = [json.loads(m) for m in ctx.allGather(json.dumps({"addr": f"{host}:{port}", "rows": rows}))]
        active = [i for i, p in enumerate(peers) if p["rows"] > 0]
        sock.close()
        if rank not in active:  # empty partition: sit out, report zero rows
            yield _result_batch(rank, 0, 0, {}, [])
            return
        task_params = dict(params)
        if len(active) > 1:
            task_params.update(
                tree_learner="data", pre_partition=True, num_machines=len(active),
                machines=",".join(peers[i]["addr"] for i in active),
                local_listen_port=port, time_out=params.get("time_out", time_out_min),
            )
        try:
            fitted = fit_booster(spec, task_params, train, valid_bc.value)
        finally:
            if len(active) > 1:
                lgb.basic._safe_call(lgb.basic._LIB.LGBM_NetworkFree())  # Python workers are reused
        chunks = []
        if rank == active[0]:
            text = fitted.booster.model_to_string(num_iteration=fitted.best_iteration)
            chunks = [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)]
        yield _result_batch(rank, rows, fitted.best_iteration, fitted.history, chunks)

    return run


def _result_batch(rank: int, rows: int, best: int, history: dict, chunks: list[str]) -> pa.RecordBatch:
    n = max(1, len(chunks))
    return pa.RecordBatch.from_pydict(
        {
            "rank": pa.array([rank] * n, pa.int32()),
            "rows": pa.array([rows] + [0] * (n - 1), pa.int64()),
            "best_iteration": pa.array([best] * n, pa.int32()),
            "history": pa.array([json.dumps(history)] + [None] * (n - 1), pa.string()),
            "chunk_index": pa.array(list(range(len(chunks))) or [None], pa.int32()),
            "chunk": pa.array(chunks or [None], pa.string()),
        }
    )


def train_partitioned(spark: SparkSession, partitioned: DataFrame, prepared: Prepared, spec: TrainSpec,
                      time_out_min: int = 10) -> TrainResult:
    """Train on ``partitioned`` exactly as partitioned (one barrier task per partition)."""
    t0 = time.perf_counter()
    tasks = partitioned.rdd.getNumPartitions()
    if tasks > free_slots(spark):
        raise ModelError(f"{tasks} barrier tasks but only {free_slots(spark)} free slots; lower num_tasks")
    valid = prepared.valid_arrays(spec)
    valid_bc = spark.sparkContext.broadcast(valid)
    fn = _task_fn(spec, booster_params(spec), valid_bc, time_out_min)
    rows = partitioned.mapInArrow(fn, RESULT_SCHEMA, barrier=True).collect()
    valid_bc.destroy()  # not on failure: killed peers may still be reading it
    chunks = sorted((r["chunk_index"], r["chunk"]) for r in rows if r["chunk"] is not None)
    if not chunks:
        raise ModelError("no barrier task returned a model (every partition was empty?)")
    bests = {r["best_iteration"] for r in rows if r["rows"] > 0}
    if len(bests) != 1:  # identical trees and validation data must stop every task at the same round
        raise ModelError(f"barrier tasks disagree on the best iteration: {sorted(bests)}")
    first = min((r for r in rows if r["chunk_index"] == 0), key=lambda r: r["rank"])
    booster = lgb.Booster(model_str="".join(c for _, c in chunks))
    return TrainResult(
        booster=booster, best_iteration=first["best_iteration"], backend="barrier",
        train_rows=sum(r["rows"] for r in rows), valid_rows=len(valid[1]),
        seconds=time.perf_counter() - t0, history=json.loads(first["history"]),
        features=list(spec.features), class_weights=prepared.class_weights,
        tasks=sum(1 for r in rows if r["rows"] > 0),
    )


def by_content(df: DataFrame, n: int) -> DataFrame:
    """``n`` partitions chosen by each row's content and sorted by it: the same rows reach the same tasks in the
    same order whatever the input's file layout, so the model does not depend on which backend wrote the lake
    (round-robin ``repartition(n)`` follows the input's partitions)."""
    key = "__row_key"
    hashed = df.withColumn(key, F.xxhash64(*[F.col(c) for c in df.columns]))
    return hashed.repartition(n, key).sortWithinPartitions(key).drop(key)


def train_barrier(spark: SparkSession, prepared: Prepared, spec: TrainSpec, num_tasks: int | None = None,
                  attempts: int = 2) -> TrainResult:
    """Repartition the prepared rows over ≤ free-slot barrier tasks and train; retry once on a port clash."""
    n = plan_tasks(prepared.train_rows_estimate, num_tasks or free_slots(spark))
    partitioned = by_content(prepared.train, n)
    for attempt in range(1, attempts + 1):
        try:
            return train_partitioned(spark, partitioned, prepared, spec)
        except Exception as exc:  # noqa: BLE001 - only network formation failures are retried
            if attempt == attempts or not any(s in str(exc) for s in NETWORK_ERRORS):
                raise
            log.warning("barrier LightGBM network failed to form (attempt %d): retrying", attempt)
    raise AssertionError("unreachable")

