"""Typed ``affinity:`` config section: windows, lookback and the confidence rules of ``mcc-affinity``."""
from __future__ import annotations

from pydantic import Field, field_validator

from sendopt.strict import Strict


class AffinityConfig(Strict):

    windows_days: tuple[int, ...] = Field(
        (1, 3, 7), min_length=1, description="follow-up windows W: mcc2 counts if paid within (0, W] days"
    )
    lookback_days: int = Field(90, ge=1, le=730, description="days of transactions ending at the run date")
    min_support: int = Field(30, ge=1, description="is_supported: pair_count ≥ this many triggers")
    confidence_z: float = Field(1.96, gt=0, le=5, description="z of the Wilson interval (1.96: 95 %)")
    include_same_mcc: bool = Field(
        False, description="keep mcc1 == mcc2 rows (repeat visits); off: only cross-category pairs"
    )
    top_k: int = Field(10, ge=1, description="pairs per region and window shown in logs and evaluated")
    background_band: tuple[float, float] = Field(
        (0.8, 1.25), description="evaluate-affinity: a background pair's lift counts as 'near 1' inside this"
    )

    @field_validator("windows_days")
    @classmethod
    def _positive_distinct(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(w < 1 for w in value) or len(set(value)) != len(value):
            raise ValueError(f"windows_days must be distinct positive day counts, got {list(value)}")
        return tuple(sorted(value))
