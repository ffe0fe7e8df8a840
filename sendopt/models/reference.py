"""Reference statistics of a model's training data, logged with the model for drift monitors.

Per feature: decile edges and the share of rows in each bucket and null — what PSI
compares later. They come from a bounded random sample (``REFERENCE_SAMPLE_ROWS``),
so the cost and the driver memory do not grow with users; decile shares from 100k
rows are accurate to well under a percentage point.
"""
from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame

REFERENCE_SAMPLE_ROWS = 100_000


def bucket_index(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bucket index of each non-null value: the number of edges strictly below it."""
    return np.searchsorted(np.asarray(edges, dtype=float), values, side="left")


def bounded_sample(df: DataFrame, columns: list[str], rows: int = REFERENCE_SAMPLE_ROWS, seed: int = 11):
    total = df.count()
    fraction = min(1.0, rows / max(total, 1))
    return df.select(*columns).sample(fraction=fraction, seed=seed).toPandas().astype(float)


def distribution(values: np.ndarray, edges: list[float]) -> dict:
    present = values[~np.isnan(values)]
    n = max(len(values), 1)
    counts = np.bincount(bucket_index(present, edges), minlength=len(edges) + 1)
    return {"edges": list(edges), "shares": (counts / n).tolist(), "null_share": float(np.isnan(values).sum() / n)}


def reference_stats(df: DataFrame, columns: list[str], bins: int = 10) -> dict:
    sample = bounded_sample(df, columns)
    out = {}
    for c in columns:
        values = sample[c].to_numpy()
        present = values[~np.isnan(values)]
        edges = sorted(set(np.quantile(present, [i / bins for i in range(1, bins)]).tolist())) if len(present) else []
        out[c] = distribution(values, edges)
    return {"rows": len(sample), "features": out}
