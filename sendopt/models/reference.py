"""Reference statistics of a model's training data, logged with the model for drift monitors.

Per feature: decile edges (approximate quantiles) and the share of rows in each
bucket and null — what PSI compares later. Computed with one quantile pass and one
aggregate; nothing row-level reaches the driver.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def bucket(column: Column, edges: list[float]) -> Column:
    """Bucket index 0..len(edges) of ``column`` (null stays null)."""
    index = F.lit(0)
    for edge in edges:
        index = index + (column > F.lit(edge)).cast("int")
    return F.when(column.isNotNull(), index)


def reference_stats(df: DataFrame, columns: list[str], bins: int = 10) -> dict:
    probs = [i / bins for i in range(1, bins)]
    quantiles = df.approxQuantile(columns, probs, 0.001)
    edges = {c: sorted(set(q)) for c, q in zip(columns, quantiles, strict=True)}
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, c in enumerate(columns):
        b = bucket(F.col(c), edges[c])
        aggs += [F.sum(F.when(b == j, 1).otherwise(0)).alias(f"_{i}_{j}") for j in range(len(edges[c]) + 1)]
        aggs.append(F.sum(F.when(F.col(c).isNull(), 1).otherwise(0)).alias(f"_{i}_null"))
    row = df.agg(*aggs).first().asDict()
    rows = max(row["_rows"], 1)
    return {
        "rows": row["_rows"],
        "features": {
            c: {
                "edges": edges[c],
                "shares": [row[f"_{i}_{j}"] / rows for j in range(len(edges[c]) + 1)],
                "null_share": row[f"_{i}_null"] / rows,
            }
            for i, c in enumerate(columns)
        },
    }
