"""Turn (train_df, valid_df, spec) into what every backend trains on.

Checks run as tiny Spark aggregates (one row per class), so a bad label or weight
fails with the column named before any worker starts. The training frame stays in
Spark (capped by a seeded sample, with a weight column folding in class weights);
only the validation sample — bounded by ``max_valid_rows`` — is ever collected.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.models.spec import WEIGHT_COL, ModelError, TrainSpec


@dataclass
class Prepared:
    """``train``: features, label and ``WEIGHT_COL`` (lazy, capped); ``valid``: the bounded validation sample."""

    train: DataFrame
    valid: DataFrame
    train_rows_estimate: int
    valid_rows_estimate: int
    class_weights: list[float]

    def valid_arrays(self, spec: TrainSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Collect the validation sample once (bounded by ``max_valid_rows``) as X, y, w."""
        return frame_arrays(pa.Table.from_pandas(self.valid.toPandas(), preserve_index=False), spec)


def arrow_matrix(data: pa.Table | pa.RecordBatch, cols: list[str]) -> np.ndarray:
    """Float64 design matrix (rows × cols) with nulls as NaN — the one conversion training and scoring share."""
    out = np.empty((data.num_rows, len(cols)), dtype=np.float64)
    for j, name in enumerate(cols):
        out[:, j] = pc.cast(data.column(name), pa.float64()).to_numpy(zero_copy_only=False)
    return out


def frame_arrays(data: pa.Table | pa.RecordBatch, spec: TrainSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, y, w from a prepared frame's Arrow data."""
    y = pc.cast(data.column(spec.label), pa.float64()).to_numpy(zero_copy_only=False)
    w = pc.cast(data.column(WEIGHT_COL), pa.float64()).to_numpy(zero_copy_only=False)
    return arrow_matrix(data, spec.features), y, w


def _check_columns(df: DataFrame, spec: TrainSpec, which: str) -> None:
    needed = [*spec.features, spec.label, *([spec.weight] if spec.weight else [])]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ModelError(f"{which} DataFrame lacks columns {missing} (has {df.columns})")


def _regression_rows(df: DataFrame, spec: TrainSpec, which: str, bad_weight) -> list[int]:
    """Regression: one aggregate counting rows, null / non-finite labels and bad weights."""
    y = F.col(spec.label).cast("double")
    row = df.agg(F.count(F.lit(1)).alias("n"), bad_weight.alias("bad_w"),
                 F.sum(F.when(y.isNull() | F.isnan(y) | (F.abs(y) == float("inf")), 1).otherwise(0)).alias("bad_y")
                 ).first()
    if row["bad_y"]:
        raise ModelError(f"{which} label column {spec.label!r} has {row['bad_y']} null or non-finite values")
    if row["bad_w"]:
        raise ModelError(f"{which} weight column {spec.weight!r} has {row['bad_w']} null or negative values")
    return [row["n"]]


def class_counts(df: DataFrame, spec: TrainSpec, which: str) -> list[int]:
    """Rows per class via one tiny aggregate; raises on null/out-of-range labels or bad weights.

    A regression spec gets one count (all rows)."""
    label = F.col(spec.label)
    bad_weight = (
        F.sum(F.when(F.col(spec.weight).isNull() | (F.col(spec.weight) < 0), 1).otherwise(0))
        if spec.weight else F.lit(0)
    )
    if spec.task == "regression":
        return _regression_rows(df, spec, which, bad_weight)
    rows = (
        df.groupBy(label.alias("y"))
        .agg(F.count(F.lit(1)).alias("n"), bad_weight.alias("bad_w"))
        .limit(spec.num_class + 10)
        .collect()
    )
    counts = [0] * spec.num_class
    bad_labels = []
    for row in rows:
        y = row["y"]
        if y is None or y != int(y) or not 0 <= int(y) < spec.num_class:
            bad_labels.append(y)
        else:
            counts[int(y)] = row["n"]
    if bad_labels:
        raise ModelError(
            f"{which} label column {spec.label!r} has values {sorted(bad_labels, key=str)[:10]} "
            f"outside 0..{spec.num_class - 1} (or null)"
        )
    n_bad_w = sum(row["bad_w"] for row in rows)
    if n_bad_w:
        raise ModelError(f"{which} weight column {spec.weight!r} has {n_bad_w} null or negative values")
    return counts


def class_weights(counts: list[int], spec: TrainSpec) -> list[float]:
    """``balanced``: n / (k · n_c) per class (sklearn's convention: each class carries equal total weight)."""
    if spec.class_weighting == "none":
        return [1.0] * len(counts)
    absent = [c for c, n in enumerate(counts) if n == 0]
    if absent:
        raise ModelError(f"class_weighting='balanced' but classes {absent} have no training rows")
    total = sum(counts)
    return [total / (spec.num_class * n) for n in counts]


def _with_weight(df: DataFrame, spec: TrainSpec, weights: list[float]) -> DataFrame:
    if spec.task == "regression":
        weight = F.col(spec.weight).cast("double") if spec.weight else F.lit(1.0)
        return df.select(*spec.features, F.col(spec.label).cast("double").alias(spec.label), weight.alias(WEIGHT_COL))
    class_w = F.element_at(F.array(*[F.lit(float(w)) for w in weights]), F.col(spec.label).cast("int") + 1)
    weight = class_w * F.col(spec.weight).cast("double") if spec.weight else class_w
    return df.select(*spec.features, F.col(spec.label).cast("int").alias(spec.label), weight.alias(WEIGHT_COL))


def _sampled(df: DataFrame, rows: int, cap: int | None, seed: int) -> tuple[DataFrame, int]:
    if cap is None or rows <= cap:
        return df, rows
    return df.sample(withReplacement=False, fraction=cap / rows, seed=seed), cap


def prepare(train_df: DataFrame, valid_df: DataFrame, spec: TrainSpec) -> Prepared:
    """Validate both frames, derive class weights, cap training rows and bound the validation sample."""
    _check_columns(train_df, spec, "training")
    _check_columns(valid_df, spec, "validation")
    train_counts = class_counts(train_df, spec, "training")
    total = sum(train_counts)
    if total == 0:
        raise ModelError("training DataFrame is empty")
    valid_total = sum(class_counts(valid_df, spec, "validation"))
    if valid_total == 0:
        raise ModelError("validation DataFrame is empty: early stopping needs validation rows")
    weights = class_weights(train_counts, spec)
    train, train_rows = _sampled(train_df, total, spec.max_train_rows, spec.seed)
    valid, valid_rows = _sampled(valid_df, valid_total, spec.max_valid_rows, spec.seed + 1)
    # Bernoulli sampling may overshoot the bound by a few rows; the collected sample must not.
    valid = valid.limit(spec.max_valid_rows) if valid_rows < valid_total else valid
    return Prepared(
        train=_with_weight(train, spec, weights),
        valid=_with_weight(valid, spec, weights),
        train_rows_estimate=train_rows,
        valid_rows_estimate=valid_rows,
        class_weights=weights,
    )
