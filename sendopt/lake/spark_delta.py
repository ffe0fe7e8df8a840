"""Spark's Delta backend (Databricks, or spark-submit with delta-spark): same contract as embedded.

Locations are paths, or Unity Catalog names (``catalog.schema.table``) when
``lake.unity_catalog`` is set. Tables are created with their properties set
explicitly (deletion vectors off) so the embedded backend can keep reading them.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sendopt.errors import CommitConflictError, LakeError, TableNotFoundError
from sendopt.lake.commit import CommitInfo, WriteResult
from sendopt.lake.config import LakeConfig
from sendopt.lake.embedded import DEFAULT_TABLE_PROPERTIES
from sendopt.lake.schema import check_stored_schema
from sendopt.lake.spec import TableSpec

log = logging.getLogger(__name__)


def _is_path(location: str) -> bool:
    return "/" in location or ":" in location


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def replace_where_sql(where: dict[str, list[Any]]) -> str:
    """``{"d": [x], "r": [a, b]}`` → ``d IN ('x') AND r IN ('a', 'b')`` (Delta's replaceWhere)."""
    return " AND ".join(f"`{c}` IN ({', '.join(_sql_literal(v) for v in vals)})" for c, vals in where.items())


class SparkDeltaBackend:
    name = "spark_delta"

    def __init__(self, spark: SparkSession, config: LakeConfig) -> None:
        from delta.tables import DeltaTable  # only importable where delta-spark is installed

        self.spark = spark
        self.config = config
        self.DeltaTable = DeltaTable

    def _table(self, location: str):
        if _is_path(location):
            return self.DeltaTable.forPath(self.spark, location)
        return self.DeltaTable.forName(self.spark, location)

    def exists(self, location: str) -> bool:
        if _is_path(location):
            return self.DeltaTable.isDeltaTable(self.spark, location)
        return self.spark.catalog.tableExists(location)

    def version(self, location: str) -> int | None:
        if not self.exists(location):
            return None
        return self._table(location).history(1).select("version").first()[0]

    def read(self, spec: TableSpec, location: str, version: int | None = None) -> tuple[DataFrame, int]:
        if not self.exists(location):
            raise TableNotFoundError(f"table {spec.full_name} not found at {location}; run the job that writes it")
        pinned = self.version(location) if version is None else version
        reader = self.spark.read.format("delta").option("versionAsOf", pinned)
        df = reader.load(location) if _is_path(location) else reader.table(location)
        check_stored_schema(spec, df.schema, location)
        return df.select(*spec.column_names), pinned

    def _writer(self, df: DataFrame, spec: TableSpec, mode: str, commit: CommitInfo):
        writer = df.write.format("delta").mode("overwrite" if mode in ("overwrite", "replace") else "append")
        writer = writer.option("userMetadata", json.dumps(commit.metadata(), sort_keys=True))
        if commit.app_id and commit.app_version:
            writer = writer.option("txnAppId", commit.app_id).option("txnVersion", commit.app_version)
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        return writer

    def write(
        self,
        spec: TableSpec,
        location: str,
        df: DataFrame,
        mode: str,
        where: dict[str, list[Any]] | None,
        commit: CommitInfo,
    ) -> WriteResult:
        df = df.select(*spec.column_names)
        created = not self.exists(location)
        writer = self._writer(df, spec, mode, commit)
        if created:
            for key, value in {**DEFAULT_TABLE_PROPERTIES, **spec.properties}.items():
                writer = writer.option(key, value)
        if mode == "replace" and not created:
            writer = writer.option("replaceWhere", replace_where_sql(where or {}))
        try:
            if _is_path(location):
                writer.save(location)
            else:
                writer.saveAsTable(location)
        except Exception as exc:
            if "Concurrent" in type(exc).__name__ or "ConcurrentModification" in str(exc):
                raise CommitConflictError(
                    f"{spec.full_name}: another writer committed a conflicting change; re-run the job. {exc}"
                ) from None
            raise
        if created:
            self._set_properties(location, spec)
        metrics = self._table(location).history(1).select("version", "operationMetrics").first()
        rows = metrics[1].get("numOutputRows") if metrics[1] else None
        files = metrics[1].get("numFiles") if metrics[1] else None
        return WriteResult(spec.full_name, metrics[0], int(rows) if rows else None, int(files) if files else None, "")

    def _set_properties(self, location: str, spec: TableSpec) -> None:
        target = f"delta.`{location}`" if _is_path(location) else location
        props = ", ".join(f"'{k}' = '{v}'" for k, v in {**DEFAULT_TABLE_PROPERTIES, **spec.properties}.items())
        self.spark.sql(f"ALTER TABLE {target} SET TBLPROPERTIES ({props})")

    def merge(
        self, spec: TableSpec, location: str, source: DataFrame, keys: list[str], commit: CommitInfo
    ) -> WriteResult:
        if not self.exists(location):
            return self.write(spec, location, source, "overwrite", None, commit)
        self.spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", json.dumps(commit.metadata()))
        try:
            condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
            (
                self._table(location)
                .alias("t")
                .merge(source.select(*spec.column_names).alias("s"), condition)
                .whenMatchedUpdateAll()
                .whenNotMatchedInsertAll()
                .execute()
            )
        finally:
            self.spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
        return WriteResult(spec.full_name, self.version(location) or 0, None, None, "")

    def history(self, location: str, limit: int | None = None) -> list[dict]:
        if not self.exists(location):
            return []
        hist = self._table(location).history(limit) if limit else self._table(location).history()
        return [row.asDict(recursive=True) for row in hist.collect()]  # one row per commit

    def app_version(self, location: str, app_id: str) -> int | None:
        for entry in self.history(location):
            meta = entry.get("userMetadata")
            info = json.loads(meta) if meta else {}
            if info.get("sendopt.app_id") == app_id:
                return int(info["sendopt.app_version"])
        return None

    def compact(self, location: str, commit: CommitInfo) -> dict:
        result = self._table(location).optimize().executeCompaction()
        return result.select(F.col("metrics").cast("string")).first()[0]

    def vacuum(self, location: str, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        if dry_run:
            raise LakeError("dry-run vacuum is only available on the embedded backend")
        hours = self.config.vacuum_retention_hours if retention_hours is None else retention_hours
        self._table(location).vacuum(hours / 1.0)
        return []

    def checkpoint(self, location: str) -> None:
        log.info("checkpoints are written automatically by Spark's Delta (every 10 commits) for %s", location)
