"""Probability calibration: fit on a bounded validation sample, apply in Spark.

Boosted trees trained with class weights (or early-stopped on a small set) can be
miscalibrated, and the email decision multiplies probabilities by money, so a
calibrator is fitted when the validation ECE exceeds a threshold. Multiclass is
calibrated one-vs-rest per class and renormalised so the probabilities still sum
to 1. A Calibrator is plain numbers (JSON round-trips) so it can be logged with
the model.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.models.metrics import EPS, Evaluation, class_ids, evaluate
from sendopt.models.prepare import arrow_matrix
from sendopt.models.spec import ModelError

Method = Literal["isotonic", "platt"]


@dataclass(frozen=True)
class Calibrator:
    """``params[c]``: isotonic → (x knots, y knots); platt → (a, b) in sigmoid(a·logit(p) + b)."""

    method: str
    prob_cols: tuple[str, ...]
    params: tuple[tuple[tuple[float, ...], ...], ...]

    def transform(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated copy of an (n, k) probability matrix — used inside Spark tasks and in tests."""
        out = np.empty_like(probs, dtype=np.float64)
        for j, knots in enumerate(self.params):
            p = np.clip(probs[:, j], EPS, 1 - EPS)
            if self.method == "isotonic":
                out[:, j] = np.interp(p, knots[0], knots[1])
            else:
                a, b = knots[0]
                out[:, j] = 1.0 / (1.0 + np.exp(-(a * np.log(p / (1 - p)) + b)))
        if out.shape[1] > 1:
            out = np.clip(out, EPS, None)
            out /= out.sum(axis=1, keepdims=True)
        return out

    def apply(self, df: DataFrame) -> DataFrame:
        """Replace ``prob_cols`` in ``df`` with calibrated values (same schema)."""
        cols = list(self.prob_cols)

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                calibrated = self.transform(arrow_matrix(batch, cols))
                arrays = [pa.array(calibrated[:, cols.index(n)]) if n in cols else batch.column(i)
                          for i, n in enumerate(batch.schema.names)]
                yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)

        as_double = df.withColumns({c: F.col(c).cast("double") for c in cols})
        return as_double.mapInArrow(run, as_double.schema)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "prob_cols": list(self.prob_cols),
                "params": [[list(k) for k in knots] for knots in self.params]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(data["method"], tuple(data["prob_cols"]),
                   tuple(tuple(tuple(float(v) for v in k) for k in knots) for knots in data["params"]))


def _fit_one(p: np.ndarray, y: np.ndarray, method: str) -> tuple[tuple[float, ...], ...]:
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_))
    from sklearn.linear_model import LogisticRegression

    p = np.clip(p, EPS, 1 - EPS)
    lr = LogisticRegression(C=1e6).fit(np.log(p / (1 - p)).reshape(-1, 1), y)
    return ((float(lr.coef_[0, 0]), float(lr.intercept_[0])),)


def fit_calibrator(df: DataFrame, label: str, prob_cols: list[str], method: Method = "isotonic",
                   max_rows: int = 200_000, seed: int = 0) -> Calibrator:
    """Fit on a seeded sample of at most ``max_rows`` rows of ``df`` (collected to the driver)."""
    if method not in ("isotonic", "platt"):
        raise ModelError(f"calibration method must be 'isotonic' or 'platt', got {method!r}")
    rows = df.count()
    if rows == 0:
        raise ModelError("cannot fit a calibrator on an empty DataFrame")
    sample = df.select(label, *prob_cols)
    if rows > max_rows:
        sample = sample.sample(False, max_rows / rows, seed).limit(max_rows)
    pdf = sample.toPandas()
    y = pdf[label].to_numpy()
    params = tuple(_fit_one(pdf[col].to_numpy(np.float64), (y == c).astype(np.float64), method)
                   for c, col in zip(class_ids(prob_cols), prob_cols, strict=True))
    return Calibrator(method, tuple(prob_cols), params)


def calibrate(valid_df: DataFrame, label: str, prob_cols: list[str], ece_threshold: float = 0.02,
              method: Method = "isotonic", max_rows: int = 200_000, seed: int = 0,
              evaluation: Evaluation | None = None) -> Calibrator | None:
    """A calibrator fitted on ``valid_df`` when its mean ECE exceeds ``ece_threshold``, else None."""
    evaluation = evaluation or evaluate(valid_df, label, prob_cols)
    if evaluation.mean_ece <= ece_threshold:
        return None
    return fit_calibrator(valid_df, label, prob_cols, method, max_rows, seed)
