"""Score a DataFrame with a LightGBM model inside Spark tasks.

The model text is broadcast and each partition builds its Booster once; rows
flow as Arrow batches (the same float64 conversion training used), so Spark
scores equal ``booster.predict`` on the driver for the same rows, bit for bit.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import lightgbm as lgb
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


def score(df: DataFrame, model: lgb.Booster | str, features: list[str] | None = None,
          out_cols: list[str] | None = None, output: str = "prob") -> DataFrame:
    """``df`` plus one double column per class probability (``output="raw"``: raw margins).

    ``features`` defaults to the model's own feature names, in the model's order.
    """
    if output not in ("prob", "raw"):
        raise ModelError(f"score(output=...) must be 'prob' or 'raw', got {output!r}")
    text = model_text(model)
    num_class, names = model_header(text)
    features = list(features or names)
    if len(features) != len(names):
        raise ModelError(f"model has {len(names)} features {names}, got {len(features)}: {features}")
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise ModelError(f"cannot score: DataFrame lacks feature columns {missing}")
    out_cols = list(out_cols or default_out_cols(num_class))
    if len(out_cols) != num_class:
        raise ModelError(f"model gives {num_class} output column(s), out_cols names {len(out_cols)}: {out_cols}")
    clash = [c for c in out_cols if c in df.columns]
    if clash:
        raise ModelError(f"output columns {clash} already exist in the DataFrame")
    schema = StructType([*df.schema.fields, *[StructField(c, DoubleType(), False) for c in out_cols]])
    text_bc = df.sparkSession.sparkContext.broadcast(text)
    raw = output == "raw"

    def predict(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        booster = None
        for batch in batches:
            if booster is None:  # once per partition, and not at all for an empty one
                booster = lgb.Booster(model_str=text_bc.value)
            preds = booster.predict(arrow_matrix(batch, features), raw_score=raw, num_threads=1)
            preds = preds.reshape(len(preds), -1)
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, *[pa.array(preds[:, j]) for j in range(preds.shape[1])]],
                names=[*batch.schema.names, *out_cols],
            )

    return df.mapInArrow(predict, schema)
