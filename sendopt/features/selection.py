"""Feature selection: correlation pruning on a bounded sample, then importance-based trimming.

Both steps keep registry order, so the kept list is reproducible; the list (and why
each feature was dropped) is logged with the model.
"""
from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame

#: Rows sampled to the driver for the correlation matrix (bounded, whatever the user count).
CORRELATION_SAMPLE_ROWS = 50_000


def correlation_prune(df: DataFrame, features: list[str], threshold: float, seed: int = 7) -> tuple[list, dict]:
    """Drop the later feature of every pair with |Pearson r| above ``threshold`` (and constant ones)."""
    total = df.count()
    fraction = min(1.0, CORRELATION_SAMPLE_ROWS / max(total, 1))
    sample = df.select(*features).sample(fraction=fraction, seed=seed).toPandas().astype(float)
    dropped: dict[str, str] = {}
    std = sample.std(skipna=True)
    for name in features:
        if not np.isfinite(std[name]) or std[name] == 0:
            dropped[name] = "constant in the sample"
    kept: list[str] = []
    corr = sample.corr(min_periods=30).abs()
    for name in features:
        if name in dropped:
            continue
        twin = next((k for k in kept if np.isfinite(corr.at[name, k]) and corr.at[name, k] > threshold), None)
        if twin:
            dropped[name] = f"|r| = {corr.at[name, twin]:.3f} with {twin}"
        else:
            kept.append(name)
    return kept, dropped


def importance_trim(
    names: list[str], gains: list[float], min_share: float, protected: tuple[str, ...] = ()
) -> tuple[list[str], dict]:
    """Keep features with at least ``min_share`` of the total gain (``protected`` always kept)."""
    total = float(sum(gains)) or 1.0
    kept, dropped = [], {}
    for name, gain in zip(names, gains, strict=True):
        share = gain / total
        if share >= min_share or name in protected:
            kept.append(name)
        else:
            dropped[name] = f"gain share {share:.4f} < {min_share}"
    return kept, dropped
