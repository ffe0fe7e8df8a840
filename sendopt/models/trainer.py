"""The one trainer interface: ``train(spark, train_df, valid_df, spec, backend="auto")``.

``auto`` picks SynapseML where its jars are on the classpath and the built-in
barrier trainer elsewhere; ``local`` (toPandas + one process) exists to compare
against, in the benchmark and tests. Every backend returns a native Booster.
"""
from __future__ import annotations

import time
from typing import Literal

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from sendopt.models.barrier import train_barrier
from sendopt.models.fit import fit_booster
from sendopt.models.prepare import Prepared, frame_arrays, prepare
from sendopt.models.spec import ModelError, TrainResult, TrainSpec, booster_params
from sendopt.models.synapse import train_synapseml
from sendopt.spark import synapseml_available

Backend = Literal["auto", "barrier", "synapseml", "local"]
BACKENDS = ("auto", "barrier", "synapseml", "local")


def resolve_backend(spark: SparkSession, backend: str) -> str:
    if backend not in BACKENDS:
        raise ModelError(f"unknown trainer backend {backend!r}; expected one of {BACKENDS}")
    if backend == "auto":
        return "synapseml" if synapseml_available(spark) else "barrier"
    return backend


def train_local(prepared: Prepared, spec: TrainSpec) -> TrainResult:
    """Collect the (capped) training rows and train in this process — a baseline, not for production sizes."""
    t0 = time.perf_counter()
    train = frame_arrays(pa.Table.from_pandas(prepared.train.toPandas(), preserve_index=False), spec)
    valid = prepared.valid_arrays(spec)
    fitted = fit_booster(spec, booster_params(spec), train, valid)
    return TrainResult(
        booster=fitted.booster, best_iteration=fitted.best_iteration, backend="local",
        train_rows=len(train[1]), valid_rows=len(valid[1]), seconds=time.perf_counter() - t0,
        history=fitted.history, features=list(spec.features), class_weights=prepared.class_weights,
    )


def train(spark: SparkSession, train_df: DataFrame, valid_df: DataFrame, spec: TrainSpec,
          backend: Backend = "auto", num_tasks: int | None = None) -> TrainResult:
    """Train ``spec`` on ``train_df`` with early stopping on (a bounded sample of) ``valid_df``.

    ``train_df`` is read twice (a per-class count, then training): cache it if it is costly
    to compute. ``seconds`` covers everything from the first check to the Booster on the
    driver. ``num_tasks`` bounds the barrier tasks (default: all free slots).
    """
    t0 = time.perf_counter()
    chosen = resolve_backend(spark, backend)
    prepared = prepare(train_df, valid_df, spec)
    if chosen == "barrier":
        result = train_barrier(spark, prepared, spec, num_tasks=num_tasks)
    elif chosen == "synapseml":
        result = train_synapseml(spark, prepared, spec)
    else:
        result = train_local(prepared, spec)
    result.seconds = time.perf_counter() - t0
    return result
