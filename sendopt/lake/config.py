"""The ``lake:`` config section: where tables live and which backend commits them."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from sendopt.strict import Strict


class UnityCatalogConfig(Strict):
    """Map ``<layer>.<name>`` to ``<catalog>.<schema_prefix><layer>.<name>`` (Databricks UC)."""

    catalog: str
    schema_prefix: str = "sendopt_"


class LakeConfig(Strict):
    root: str
    backend: Literal["auto", "embedded", "spark_delta"] = "auto"
    unity_catalog: UnityCatalogConfig | None = None
    commit_retries: int = Field(5, ge=0, le=50)
    vacuum_retention_hours: int = Field(168, ge=0)
    target_file_rows: int = Field(1_000_000, ge=1_000)
