"""Typed configuration of the synthetic world (the ``world:`` section of the YAML)."""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class WorldConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 7
    users: int = Field(5_000, ge=10)
    days: int = Field(90, ge=7)
    start_date: dt.date = dt.date(2026, 1, 1)
    exploration_share: float = Field(0.1, ge=0.0, le=1.0)
