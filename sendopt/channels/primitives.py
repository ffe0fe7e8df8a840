"""Decisioning primitives every channel uses: stable hashing, the market filter, the consent predicate.

They live here, outside any channel folder, so channels share them without importing each other.
"""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

_HASH_BUCKETS = 1_000_003  # a prime: the uniform's resolution is ~1e-6


def uniform_hash(user: Column, salt: Column | str, stream: str) -> Column:
    """A stable uniform in [0, 1) from (salt, stream, user): same user, same draw, every run.

    ``salt`` may be a column (one draw per salt, e.g. an A/A study's many salts).
    """
    h = F.xxhash64(F.lit(salt), F.lit(stream), user)
    return F.pmod(h, F.lit(_HASH_BUCKETS)).cast("double") / F.lit(float(_HASH_BUCKETS))


def in_market(region: str, brand: str) -> Column:
    """Rows of one market (``region`` and ``brand`` columns)."""
    return (F.col("region") == region) & (F.col("brand") == brand)


def has_consent(consent: Column, threshold: float) -> Column:
    """A consent feature (share of consenting signals, null = none) at or above ``threshold``."""
    return F.coalesce(consent, F.lit(0.0)) >= F.lit(threshold)


def arm_of(user: Column, salt: Column | str, treatment_share: float) -> Column:
    """``treatment`` / ``control`` from the stable hash; ``salt`` may be a column (the A/A study's many salts)."""
    u = uniform_hash(user, salt, "arm")  # F.lit passes a Column salt through unchanged
    return F.when(u < F.lit(treatment_share), F.lit("treatment")).otherwise(F.lit("control"))
