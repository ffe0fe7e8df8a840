"""Spark's Delta backend (Databricks, or spark-submit with delta-spark): same contract as embedded.

Locations are paths, or Unity Catalog names (``catalog.schema.table``) when
``lake.unity_catalog`` is set. Tables are created with their properties set
explicitly (deletion vectors off) so the embedded backend can keep reading them.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession

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
    if isinstance(value, dt.datetime):  # before date: a datetime is a date too
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
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

    def _writer(self, df: DataFrame, spec: TableSpec, mode: str, commit: CommitInfo, txn_version: int | None):
        writer = df.write.format("delta").mode("overwrite" if mode in ("overwrite", "replace") else "append")
        meta = commit.metadata()
        if txn_version is not None:
            meta["sendopt.txn_version"] = str(txn_version)
            writer = writer.option("txnAppId", commit.app_id).option("txnVersion", txn_version)
        writer = writer.option("userMetadata", json.dumps(meta, sort_keys=True))
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        return writer

    def _txn_version(self, location: str, commit: CommitInfo) -> int | None:
        """The txnVersion to commit with: the run's start (ms), past the last one recorded for the app id.

        Delta skips a write whose (txnAppId, txnVersion) is not newer than the one it recorded;
        the lake's contract is that a replace always replaces (as on the embedded backend), so a
        second write of one run key within one run gets the next version instead of vanishing.
        """
        if not (commit.app_id and commit.app_version):
            return None
        last = None
        for entry in self.history(location):
            meta = json.loads(entry.get("userMetadata") or "{}")
            if meta.get("sendopt.app_id") == commit.app_id:
                last = int(meta.get("sendopt.txn_version") or meta["sendopt.app_version"])
                break
        return commit.app_version if last is None else max(commit.app_version, last + 1)

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
        if where:
            unknown = [c for c in where if c not in spec.partition_by]
            if unknown:
                raise LakeError(
                    f"{spec.full_name}: replace needs partition columns in `where`; {unknown} are not partition "
                    f"columns (partition_by={list(spec.partition_by)})"
                )
        created = not self.exists(location)
        writer = self._writer(df, spec, mode, commit, None if created else self._txn_version(location, commit))
        if created:
            if commit.app_id and commit.app_version:
                writer = writer.option("txnAppId", commit.app_id).option("txnVersion", commit.app_version)
            # table properties as writer options: set by the creating commit itself (version 0)
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
            text = str(exc)
            if "Concurrent" in type(exc).__name__ or "DELTA_CONCURRENT" in text or "ConcurrentModification" in text:
                raise CommitConflictError(
                    f"{spec.full_name}: another writer committed a conflicting change; this write was NOT "
                    f"committed. Re-run the job. Detail: {exc}"
                ) from None
            if "DELTA_REPLACE_WHERE_MISMATCH" in text:
                raise LakeError(
                    f"{spec.full_name}: rows are outside the slice being replaced "
                    f"{ {c: sorted(map(str, v)) for c, v in (where or {}).items()} }; nothing was committed. "
                    f"Detail: {text.splitlines()[0]}"
                ) from None
            raise
        metrics = self._table(location).history(1).select("version", "operationMetrics").first()
        rows = metrics[1].get("numOutputRows") if metrics[1] else None
        files = metrics[1].get("numFiles") if metrics[1] else None
        return WriteResult(spec.full_name, metrics[0], int(rows) if rows else None, int(files) if files else None, "")

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
        entries = []
        for row in hist.collect():  # one row per commit
            entry = row.asDict(recursive=True)
            try:  # sendopt's run metadata at the top level, as the embedded backend's history has it
                meta = json.loads(entry.get("userMetadata") or "{}")
            except ValueError:
                meta = {}
            entries.append({**entry, **(meta if isinstance(meta, dict) else {})})
        return entries

    def app_version(self, location: str, app_id: str) -> int | None:
        for entry in self.history(location):
            meta = entry.get("userMetadata")
            info = json.loads(meta) if meta else {}
            if info.get("sendopt.app_id") == app_id:
                return int(info["sendopt.app_version"])
        return None

    def compact(self, location: str, commit: CommitInfo) -> dict:
        self.spark.conf.set("spark.databricks.delta.commitInfo.userMetadata", json.dumps(commit.metadata()))
        try:
            result = self._table(location).optimize().executeCompaction()
        finally:
            self.spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
        return result.select("metrics").first()[0].asDict(recursive=True)

    def _target(self, location: str) -> str:
        return f"delta.`{location}`" if _is_path(location) else location

    def vacuum(self, location: str, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        """Delete (or with ``dry_run`` list) files no version within the retention references.

        Like the embedded backend, a retention under Delta's safety default (7 days) is honoured
        when asked for explicitly (``spark.databricks.delta.retentionDurationCheck`` is lifted for it).
        """
        hours = self.config.vacuum_retention_hours if retention_hours is None else retention_hours
        check = "spark.databricks.delta.retentionDurationCheck.enabled"
        previous = self.spark.conf.get(check, "true")
        self.spark.conf.set(check, "false")
        try:
            sql = f"VACUUM {self._target(location)} RETAIN {float(hours)} HOURS"
            listed = [r[0] for r in self.spark.sql(sql + " DRY RUN").collect()]  # one row per file
            if not dry_run and listed:
                self.spark.sql(sql).collect()
        finally:
            self.spark.conf.set(check, previous)
        return listed

    def checkpoint(self, location: str) -> None:
        """Write a log checkpoint now (Spark's Delta also writes one every 10 commits by itself)."""
        jvm = self.spark._jvm  # type: ignore[union-attr]
        delta_log = jvm.org.apache.spark.sql.delta.DeltaLog
        if _is_path(location):
            log_ = delta_log.forTable(self.spark._jsparkSession, location)  # type: ignore[union-attr]
        else:
            ident = self.spark._jsparkSession.sessionState().sqlParser().parseTableIdentifier(location)
            log_ = delta_log.forTable(self.spark._jsparkSession, ident)  # type: ignore[union-attr]
        log_.checkpoint()
