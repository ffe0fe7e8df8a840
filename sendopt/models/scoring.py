"""Score a DataFrame with a LightGBM model inside Spark tasks.

The model text is broadcast and each partition builds its Booster once; rows
flow as Arrow batches (the same float64 conversion training used), so Spark
scores equal ``booster.predict`` on the driver for the same rows, bit for bit.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql.types import DoubleType, StructField, StructType

from sendopt.models.prepare import arrow_matrix
from sendopt.models.spec import ModelError


def model_text(model: lgb.Booster | str) -> str:
    return model if isinstance(model, str) else model.model_to_string()


def model_header(text: str) -> tuple[int, list[str]]:
    """(num_class, feature names) from the model text header — no Booster needed on the driver."""
    num_class = re.search(r"^num_class=(\d+)$", text, re.MULTILINE)
    names = re.search(r"^feature_names=(.*)$", text, re.MULTILINE)
    if not num_class or not names:
        raise ModelError("not a LightGBM model text (no num_class= / feature_names= header)")
    return int(num_class.group(1)), names.group(1).split(" ")


def default_out_cols(num_class: int, prefix: str = "p") -> list[str]:
    """``p_1`` for a binary model (P(label = 1)), ``p_0..p_{k-1}`` for multiclass."""
    return [f"{prefix}_1"] if num_class == 1 else [f"{prefix}_{c}" for c in range(num_class)]


@dataclass(frozen=True)
class Head:
    """One model's outputs in a fused scoring pass: ``outs`` columns from ``text`` on ``features``, then
    ``post`` (numpy, per row: e.g. a calibrator or a floor) when given. Build it with :func:`head`."""

    outs: tuple[str, ...]
    text: str
    features: tuple[str, ...]
    raw: bool = False
    post: Callable[[np.ndarray], np.ndarray] | None = None


def head(model: lgb.Booster | str, features: list[str] | None = None, out_cols: list[str] | None = None,
         output: str = "prob", post: Callable[[np.ndarray], np.ndarray] | None = None) -> Head:
    """A checked :class:`Head`: ``features`` default to the model's own names, ``out_cols`` to ``p_1`` (binary)
    or ``p_0..p_{k-1}``; ``output="raw"`` gives raw margins."""
    if output not in ("prob", "raw"):
        raise ModelError(f"score(output=...) must be 'prob' or 'raw', got {output!r}")
    text = model_text(model)
    num_class, names = model_header(text)
    features = list(features or names)
    if len(features) != len(names):
        raise ModelError(f"model has {len(names)} features {names}, got {len(features)}: {features}")
    out_cols = list(out_cols or default_out_cols(num_class))
    if len(out_cols) != num_class:
        raise ModelError(f"model gives {num_class} output column(s), out_cols names {len(out_cols)}: {out_cols}")
    return Head(tuple(out_cols), text, tuple(features), output == "raw", post)


def score(df: DataFrame, model: lgb.Booster | str, features: list[str] | None = None,
          out_cols: list[str] | None = None, output: str = "prob") -> DataFrame:
    """``df`` plus one double column per class probability (``output="raw"``: raw margins).

    ``features`` defaults to the model's own feature names, in the model's order.
    """
    return score_heads(df, [head(model, features, out_cols, output)])


def score_heads(df: DataFrame, heads: Sequence[Head]) -> DataFrame:
    """``df`` plus every head's output columns, in one pass over the rows: several models of the same rows
    (a T-learner's arms, a cost and a basket model) cost one Arrow round trip instead of one each."""
    missing = sorted({c for h in heads for c in h.features if c not in df.columns})
    if missing:
        raise ModelError(f"cannot score: DataFrame lacks feature columns {missing}")
    outs = [c for h in heads for c in h.outs]
    clash = [c for c in outs if c in df.columns]
    if clash or len(set(outs)) != len(outs):
        raise ModelError(f"output columns {clash or outs} already exist in the DataFrame (or repeat)")
    schema = StructType([*df.schema.fields, *[StructField(c, DoubleType(), False) for c in outs]])
    texts_bc = df.sparkSession.sparkContext.broadcast([h.text for h in heads])
    specs = [(list(h.features), h.raw, h.post) for h in heads]

    def predict(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        boosters = None
        for batch in batches:
            if boosters is None:  # once per partition, and not at all for an empty one
                boosters = [lgb.Booster(model_str=t) for t in texts_bc.value]
            columns = []
            for booster, (features, raw, post) in zip(boosters, specs, strict=True):
                preds = booster.predict(arrow_matrix(batch, features), raw_score=raw, num_threads=1)
                preds = preds.reshape(len(preds), -1)
                if post is not None:
                    preds = post(preds)
                columns += [pa.array(preds[:, j]) for j in range(preds.shape[1])]
            yield pa.RecordBatch.from_arrays([*batch.columns, *columns], names=[*batch.schema.names, *outs])

    return df.mapInArrow(predict, schema)
