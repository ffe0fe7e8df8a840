"""Population stability index (PSI) of features and scores against a reference distribution.

PSI = Σ_buckets (a − e) · ln(a / e) over the reference's buckets plus a null bucket, with
``e`` the reference share and ``a`` the current share (both floored at ``epsilon`` so an
empty bucket costs a large but finite amount). Buckets are those of the reference
(decile edges from :mod:`sendopt.models.reference`): a value falls in bucket *i* = the
number of edges strictly below it, the same rule as ``reference.bucket_index``. Current
shares come from one Spark aggregate; only (column, bucket) counts reach the driver.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

NULL_BUCKET = -1


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = 1e-4) -> float:
    """PSI of two share vectors over the same buckets (each should sum to 1)."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs the same buckets: {len(expected)} reference vs {len(actual)} current shares")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(float(e), epsilon), max(float(a), epsilon)
        total += (a - e) * math.log(a / e)
    return total


def status(value: float, warn: float, alert: float) -> str:
    if math.isnan(value):
        return "unknown"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


def bucket_of(column: Column, edges: Sequence[float]) -> Column:
    """Bucket index (edges strictly below the value); :data:`NULL_BUCKET` for null or NaN."""
    above = F.lit(0)
    for edge in edges:
        above = above + (column > F.lit(float(edge))).cast("int")
    return F.when(column.isNull() | F.isnan(column), F.lit(NULL_BUCKET)).otherwise(above)


def bucket_shares(df: DataFrame, edges: Mapping[str, Sequence[float]]) -> dict[str, dict]:
    """Per column: ``shares`` (one per bucket, of all rows), ``null_share`` and ``rows`` — one aggregate."""
    if not edges:
        return {}
    missing = [c for c in edges if c not in df.columns]
    if missing:
        raise ValueError(f"cannot compute PSI: the frame lacks columns {missing}")
    pairs = F.explode(F.array(*[
        F.struct(F.lit(c).alias("column"), bucket_of(F.col(c).cast("double"), e).alias("bucket"))
        for c, e in edges.items()
    ]))
    counts = (
        df.select(pairs.alias("p")).groupBy("p.column", "p.bucket").count()
        .collect()  # at most columns × (buckets + 1) rows
    )
    out = {c: {"shares": [0.0] * (len(e) + 1), "null_share": 0.0, "rows": 0} for c, e in edges.items()}
    for row in counts:
        out[row["column"]]["rows"] += row["count"]
    for row in counts:
        entry = out[row["column"]]
        share = row["count"] / entry["rows"]
        if row["bucket"] == NULL_BUCKET:
            entry["null_share"] = share
        else:
            entry["shares"][row["bucket"]] = share
    return out


def distribution_psi(reference: Mapping, current: Mapping, epsilon: float = 1e-4) -> float:
    """PSI of a current ``{shares, null_share}`` against a reference one (null bucket included)."""
    return psi([*reference["shares"], reference.get("null_share", 0.0)],
               [*current["shares"], current.get("null_share", 0.0)], epsilon)


def frame_psi(df: DataFrame, reference: Mapping[str, Mapping], epsilon: float = 1e-4) -> dict[str, dict]:
    """PSI of every referenced column of ``df``: ``{column: {psi, shares, null_share, rows, reference}}``.

    ``reference`` maps a column to ``{edges, shares, null_share}`` (the ``features`` entry of a
    model's reference stats, or score references built the same way).
    """
    present = {c: r for c, r in reference.items() if c in df.columns}
    current = bucket_shares(df, {c: r["edges"] for c, r in present.items()})
    return {
        c: {**current[c], "psi": distribution_psi(present[c], current[c], epsilon), "reference": present[c]}
        for c in present
    }
