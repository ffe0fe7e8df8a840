"""Embedded Delta backend: Spark tasks write Parquet, delta-rs commits the log.

No Delta jars are needed, yet the tables are plain Delta tables (delta-rs,
Spark's Delta and Databricks open them). A write is one atomic Delta commit:
a task failure means no commit, so the table stays at its previous version and
the failed write's files (all named ``part-<write_id>-…``) are orphans that
``vacuum`` removes. Reads go through the table's snapshot (``file_uris``), so
orphans and removed files are never seen.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from deltalake import DeltaTable, Schema
from deltalake.exceptions import CommitFailedError
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound
from deltalake.transaction import AddAction, create_table_with_add_actions
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from sendopt.errors import CommitConflictError, LakeError, TableNotFoundError, UnsupportedTableError
from sendopt.lake.commit import CommitInfo, WriteResult
from sendopt.lake.config import LakeConfig
from sendopt.lake.files import FILE_ROW_SCHEMA, make_file_writer, partition_value_text
from sendopt.lake.schema import check_stored_schema
from sendopt.lake.spec import TableSpec

log = logging.getLogger(__name__)

#: Properties every table we create carries, so both backends keep reading it.
DEFAULT_TABLE_PROPERTIES = {"delta.enableDeletionVectors": "false"}


def _local_path(location: str) -> str:
    if "://" in location and not location.startswith("file://"):
        raise LakeError(
            f"the embedded backend writes local paths only; {location!r} needs lake.backend=spark_delta"
        )
    return location.removeprefix("file://")


class EmbeddedDeltaBackend:
    name = "embedded"

    def __init__(self, spark: SparkSession, config: LakeConfig) -> None:
        self.spark = spark
        self.config = config

    # ------------------------------------------------------------------ snapshot
    def _load(self, location: str, version: int | None = None) -> DeltaTable | None:
        path = _local_path(location)
        if not DeltaTable.is_deltatable(path):
            return None
        try:
            return DeltaTable(path, version=version)
        except DeltaTableNotFound:
            return None
        except Exception as exc:  # e.g. a version that was never written or was cleaned up
            raise LakeError(f"cannot open Delta table at {path} (version={version}): {exc}") from None

    def exists(self, location: str) -> bool:
        return self._load(location) is not None

    def version(self, location: str) -> int | None:
        table = self._load(location)
        return None if table is None else table.version()

    @staticmethod
    def _refuse_unsupported(table: DeltaTable, spec: TableSpec, location: str) -> None:
        """Reading files directly is only correct without deletion vectors or column mapping."""
        config = table.metadata().configuration or {}
        mode = config.get("delta.columnMapping.mode", "none")
        if mode not in (None, "none"):
            raise UnsupportedTableError(
                f"table {spec.full_name} at {location} uses column mapping ({mode}); the embedded backend "
                "cannot read it correctly — use lake.backend=spark_delta"
            )
        features = set(table.protocol().reader_features or [])
        if "deletionVectors" in features and table.deletion_vectors().num_rows:
            raise UnsupportedTableError(
                f"table {spec.full_name} at {location} has deletion vectors; the embedded backend cannot "
                "read it correctly — run REORG TABLE … APPLY (PURGE) on Databricks or use spark_delta"
            )

    @staticmethod
    def stored_schema(table: DeltaTable) -> T.StructType:
        return T.StructType.fromJson(json.loads(table.schema().to_json()))

    # ---------------------------------------------------------------------- read
    def read(self, spec: TableSpec, location: str, version: int | None = None) -> tuple[DataFrame, int]:
        table = self._load(location, version)
        if table is None:
            raise TableNotFoundError(
                f"table {spec.full_name} not found at {location} (no Delta log); run the job that writes it"
            )
        self._refuse_unsupported(table, spec, location)
        stored = self.stored_schema(table)
        check_stored_schema(spec, stored, location)
        uris = table.file_uris()
        if uris:
            df = self.spark.read.schema(stored).option("basePath", _local_path(location)).parquet(*uris)
        else:
            df = self.spark.createDataFrame([], stored)
        return df.select(*spec.column_names), table.version()

    # --------------------------------------------------------------------- write
    def write(
        self,
        spec: TableSpec,
        location: str,
        df: DataFrame,
        mode: str,
        where: dict[str, list[Any]] | None,
        commit: CommitInfo,
    ) -> WriteResult:
        path = _local_path(location)
        snapshot = self._load(location)
        read_version = None if snapshot is None else snapshot.version()
        write_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        writer = make_file_writer(path, write_id, list(spec.partition_by), self.config.target_file_rows)
        files = df.select(*spec.column_names).mapInArrow(writer, FILE_ROW_SCHEMA).collect()
        filters = _partition_filters(spec, where)
        if where:
            _check_inside(spec, files, where, write_id)
        now_ms = int(time.time() * 1000)
        actions = [
            AddAction(
                path=f.path,
                size=f.size,
                partition_values=json.loads(f.partition_values),
                modification_time=now_ms,
                data_change=True,
                stats=f.stats,
            )
            for f in files
        ]
        schema = Schema.from_json(spec.schema.json())
        properties = commit.properties(self.config.commit_retries)
        try:
            if snapshot is None:
                Path(path).mkdir(parents=True, exist_ok=True)
                create_table_with_add_actions(
                    path,
                    schema,
                    actions,
                    mode="error",
                    partition_by=list(spec.partition_by) or None,
                    name=spec.full_name,
                    description=spec.description or None,
                    configuration={**DEFAULT_TABLE_PROPERTIES, **spec.properties},
                    commit_properties=properties,
                )
            else:
                delta_mode = "append" if mode == "append" else "overwrite"
                snapshot.create_write_transaction(
                    actions,
                    mode=delta_mode,
                    schema=schema,
                    partition_by=list(spec.partition_by) or None,
                    partition_filters=filters if mode == "replace" else None,
                    commit_properties=properties,
                )
        except CommitFailedError as exc:
            raise CommitConflictError(
                f"{spec.full_name}: another writer committed a conflicting change after version "
                f"{read_version}; write {write_id} was NOT committed (its files are orphans that "
                f"`sendopt lake-maintenance` vacuums). Re-run the job. Detail: {exc}"
            ) from None
        except Exception as exc:
            if snapshot is None and DeltaTable.is_deltatable(path):
                raise CommitConflictError(
                    f"{spec.full_name}: another writer created the table concurrently; write {write_id} "
                    f"was NOT committed. Re-run the job. Detail: {exc}"
                ) from None
            raise
        version = DeltaTable(path).version()
        return WriteResult(
            table=spec.full_name,
            version=version,
            rows=sum(f.num_records for f in files),
            files=len(files),
            write_id=write_id,
        )

    # --------------------------------------------------------------------- merge
    def merge(
        self, spec: TableSpec, location: str, source: DataFrame, keys: list[str], commit: CommitInfo
    ) -> WriteResult:
        """Upsert by ``keys``: rewrite only the partitions the source touches, in one commit."""
        if not self.exists(location):
            return self.write(spec, location, source, "overwrite", None, commit)
        target, version = self.read(spec, location)
        source = source.select(*spec.column_names)
        where = None
        if spec.partition_by:
            touched = source.select(*spec.partition_by).distinct().collect()  # one row per partition
            where = {c: sorted({r[c] for r in touched}, key=str) for c in spec.partition_by}
            for c, values in where.items():
                target = target.where(target[c].isin(values))
        kept = target.join(source.select(*keys), on=keys, how="left_anti")
        result = kept.unionByName(source)
        mode = "replace" if where else "overwrite"
        log.debug("merge into %s at version %s: rewriting %s", spec.full_name, version, where or "all")
        return self.write(spec, location, result, mode, where, commit)

    # ------------------------------------------------------------- history/maint
    def history(self, location: str, limit: int | None = None) -> list[dict]:
        table = self._load(location)
        return [] if table is None else table.history(limit)

    def app_version(self, location: str, app_id: str) -> int | None:
        table = self._load(location)
        return None if table is None else table.transaction_version(app_id)

    def compact(self, location: str, commit: CommitInfo) -> dict:
        table = self._require(location)
        return table.optimize.compact(commit_properties=commit.properties(self.config.commit_retries))

    def vacuum(self, location: str, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        """Delete files no version within the retention references, including failed writes' orphans."""
        table = self._require(location)
        hours = self.config.vacuum_retention_hours if retention_hours is None else retention_hours
        return table.vacuum(
            retention_hours=hours, dry_run=dry_run, enforce_retention_duration=False, full=True
        )

    def checkpoint(self, location: str) -> None:
        table = self._require(location)
        table.create_checkpoint()
        table.cleanup_metadata()

    def _require(self, location: str) -> DeltaTable:
        table = self._load(location)
        if table is None:
            raise TableNotFoundError(f"no Delta table at {location}")
        return table


def _partition_filters(spec: TableSpec, where: dict[str, list[Any]] | None) -> list[tuple] | None:
    if not where:
        return None
    unknown = [c for c in where if c not in spec.partition_by]
    if unknown:
        raise LakeError(
            f"{spec.full_name}: replace needs partition columns in `where`; {unknown} are not partition "
            f"columns (partition_by={list(spec.partition_by)})"
        )
    return [(c, "in", [partition_value_text(v) for v in values]) for c, values in where.items()]


def _check_inside(spec: TableSpec, files: list, where: dict[str, list[Any]], write_id: str) -> None:
    """Every written file must fall inside the slice being replaced (Delta's replaceWhere rule)."""
    allowed = {c: {partition_value_text(v) for v in values} for c, values in where.items()}
    for f in files:
        values = json.loads(f.partition_values)
        outside = {c: values.get(c) for c in allowed if values.get(c) not in allowed[c]}
        if outside:
            raise LakeError(
                f"{spec.full_name}: rows with {outside} are outside the slice being replaced "
                f"{ {c: sorted(map(str, v)) for c, v in where.items()} }; nothing was committed "
                f"(write {write_id})"
            )
