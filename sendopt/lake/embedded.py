"""Embedded Delta backend: Spark tasks write Parquet, delta-rs commits the log.

No Delta jars are needed, yet the tables are plain Delta tables (delta-rs,
Spark's Delta and Databricks open them). A write is one atomic Delta commit:
a task failure means no commit, so the table stays at its previous version and
the failed write's files (all named ``part-<write_id>-…``) are orphans that
``vacuum`` removes. Reads go through the table's snapshot (``file_uris``), so
orphans and removed files are never seen.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, Schema
from deltalake.exceptions import CommitFailedError
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound
from deltalake.transaction import AddAction, create_table_with_add_actions
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sendopt.errors import CommitConflictError, LakeError, TableNotFoundError, UnsupportedTableError
from sendopt.lake.commit import CommitInfo, WriteResult
from sendopt.lake.config import LakeConfig
from sendopt.lake.files import FILE_ROW_SCHEMA, HIVE_NULL, make_file_writer, partition_value_text
from sendopt.lake.schema import check_stored_schema
from sendopt.lake.spec import TableSpec

log = logging.getLogger(__name__)

#: Properties every table we create carries, so both backends keep reading it.
DEFAULT_TABLE_PROPERTIES = {"delta.enableDeletionVectors": "false"}

#: Delta reader features the embedded read path (snapshot file list → Spark Parquet) reads exactly.
#: timestampNtz: Spark 3.5 reads TIMESTAMP_NTZ; v2Checkpoint: delta-rs resolves the checkpoint
#: (sidecars included) into the file list; vacuumProtocolCheck: only restricts vacuum;
#: deletionVectors: exact while no file carries a deletion vector (checked per snapshot).
SUPPORTED_READER_FEATURES = frozenset({"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck", "deletionVectors"})

_SPARK_DELTA = "set lake.backend=spark_delta (Spark's Delta reads it)"
#: What to say for the reader features refused: (why it cannot be read as plain Parquet, remedy).
REFUSED_READER_FEATURES = {
    "deletionVectors": (
        "some files carry deletion vectors: rows deleted in the log are still in the Parquet files",
        f"{_SPARK_DELTA}, or purge them with REORG TABLE <table> APPLY (PURGE) "
        "(and ALTER TABLE <table> SET TBLPROPERTIES ('delta.enableDeletionVectors' = false) to keep it so)",
    ),
    "columnMapping": (
        "the Parquet files name columns by physical ids, not by the schema's names",
        f"{_SPARK_DELTA}, or rewrite the table without column mapping (CREATE TABLE … AS SELECT)",
    ),
    "typeWidening": (
        "older Parquet files hold narrower types than the table schema",
        f"{_SPARK_DELTA}, or ALTER TABLE <table> DROP FEATURE 'typeWidening' (rewrites those files)",
    ),
    "typeWidening-preview": (
        "older Parquet files hold narrower types than the table schema",
        f"{_SPARK_DELTA}, or ALTER TABLE <table> DROP FEATURE 'typeWidening-preview'",
    ),
    "variantType": ("VARIANT columns have no Spark 3.5 type", _SPARK_DELTA + " on a runtime with VARIANT (Spark 4)"),
    "variantType-preview": ("VARIANT columns have no Spark 3.5 type", _SPARK_DELTA + " on a runtime with VARIANT"),
}


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
        self._appenders: dict[str, DeltaTable] = {}
        # a delta-rs DeltaTable is not safe to write from several threads at once (delta-rs #3594), and
        # threads racing to create a table would each try version 0: the service's appends take this lock
        # (milliseconds each); other processes are kept apart by delta-rs's commit retries
        self._append_lock = threading.Lock()

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
        """Refuse, with the feature and the remedy, a table whose reader features this read path lacks.

        The embedded read lists the snapshot's files (``file_uris``) and has Spark read them as
        Parquet with the stored schema; that is exact only for the features in
        ``SUPPORTED_READER_FEATURES`` (and deletion vectors while no file carries one).
        """
        refuse = _unsupported_reader_feature(table)
        if refuse is not None:
            feature, why, remedy = refuse
            raise UnsupportedTableError(
                f"table {spec.full_name} at {location} uses the Delta reader feature {feature!r} ({why}); "
                f"the embedded backend cannot read it correctly. Remedy: {remedy}"
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
        partition_cols = list(table.metadata().partition_columns or [])
        files = _snapshot_files(table, _local_path(location), partition_cols)
        if not files:
            df = self.spark.createDataFrame([], stored)
        elif not partition_cols or all(f[2] for f in files):
            # every file sits in the plain Hive folder of its partition values: Spark's partition
            # discovery gives exactly the log's values and prunes folders on filters
            df = self.spark.read.schema(stored).option("basePath", _local_path(location)).parquet(
                *[f[0] for f in files]
            )
        else:
            df = self._read_by_log_partitions(stored, partition_cols, files)
        return df.select(*spec.column_names), table.version()

    def _read_by_log_partitions(self, stored: T.StructType, partition_cols: list[str], files: list) -> DataFrame:
        """Partition values from the log, not the path (randomized prefixes, escaped or timestamp values)."""
        data_schema = T.StructType([f for f in stored.fields if f.name not in partition_cols])
        types = {f.name: f.dataType for f in stored.fields}
        groups: dict[tuple, list[str]] = {}
        for uri, values, _ in files:
            groups.setdefault(tuple(values.get(c) for c in partition_cols), []).append(uri)
        parts = []
        for key, uris in groups.items():  # one scan per distinct partition
            part = self.spark.read.schema(data_schema).parquet(*uris)
            for c, value in zip(partition_cols, key, strict=True):
                part = part.withColumn(c, F.lit(value).cast(types[c]))
            parts.append(part)
        return functools.reduce(DataFrame.unionByName, parts)

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

    def append_rows(self, spec: TableSpec, location: str, rows: list[dict[str, Any]],
                    commit: CommitInfo) -> WriteResult:
        """A few rows committed from Arrow by delta-rs (no Spark job): the service's appends."""
        from pyspark.sql.pandas.types import to_arrow_schema

        path = _local_path(location)
        schema = to_arrow_schema(spec.schema)
        data = pa.Table.from_pylist([{c: r.get(c) for c in spec.column_names} for r in rows], schema=schema)
        with self._append_lock:
            return self._append_arrow(spec, path, data, len(rows), commit)

    def _append_arrow(self, spec: TableSpec, path: str, data: pa.Table, n: int, commit: CommitInfo) -> WriteResult:
        from deltalake import write_deltalake

        for attempt in (1, 2):
            created = not DeltaTable.is_deltatable(path)
            if created:
                Path(path).mkdir(parents=True, exist_ok=True)
                target: str | DeltaTable = path
            else:  # one table object per path, brought up to date incrementally: no log replay per append
                target = self._appenders.get(path) or self._appenders.setdefault(path, DeltaTable(path))
                target.update_incremental()
            try:
                write_deltalake(target, data, mode="append", partition_by=list(spec.partition_by) or None,
                                name=spec.full_name if created else None,
                                description=(spec.description or None) if created else None,
                                configuration={**DEFAULT_TABLE_PROPERTIES, **spec.properties} if created else None,
                                commit_properties=commit.properties(self.config.commit_retries))
                break
            except Exception as exc:
                if created and attempt == 1 and DeltaTable.is_deltatable(path):
                    continue  # another writer created the table first: append to theirs
                if isinstance(exc, CommitFailedError):
                    raise CommitConflictError(f"{spec.full_name}: append of {n} rows was NOT committed "
                                              f"after {self.config.commit_retries} retries: {exc}") from None
                raise
        version = target.version() if isinstance(target, DeltaTable) else DeltaTable(path).version()
        return WriteResult(table=spec.full_name, version=version, rows=n, files=1, write_id="arrow")

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


def _unsupported_reader_feature(table: DeltaTable) -> tuple[str, str, str] | None:
    """(feature, why, remedy) for the first reader feature of ``table`` the embedded read cannot honour."""
    protocol = table.protocol()
    config = table.metadata().configuration or {}
    mode = config.get("delta.columnMapping.mode", "none")
    if mode not in (None, "none"):  # reader version 2 (legacy) or the columnMapping feature
        why, remedy = REFUSED_READER_FEATURES["columnMapping"]
        return "columnMapping", f"delta.columnMapping.mode={mode}: {why}", remedy
    if protocol.min_reader_version > 3:
        return (
            f"minReaderVersion={protocol.min_reader_version}",
            "a reader protocol newer than Delta's reader version 3",
            _SPARK_DELTA,
        )
    for feature in sorted(protocol.reader_features or []):
        if feature == "deletionVectors":
            if pa.table(table.deletion_vectors()).num_rows:  # an arro3 reader in deltalake 1.6
                return (feature, *REFUSED_READER_FEATURES[feature])
            continue
        if feature in SUPPORTED_READER_FEATURES:
            continue
        why, remedy = REFUSED_READER_FEATURES.get(
            feature, ("a reader feature sendopt's embedded read path does not know", _SPARK_DELTA)
        )
        return feature, why, remedy
    return None


_PLAIN_FOLDER_VALUE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _folder_text(value: Any) -> str | None:
    """The Hive folder text of a partition value where it needs no escaping; None otherwise."""
    if value is None:
        return HIVE_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return None  # folder text depends on the writer's time zone and format: trust the log
    if isinstance(value, dt.date | int | str):
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        return text if _PLAIN_FOLDER_VALUE.match(text) else None
    return None


def _snapshot_files(table: DeltaTable, root: str, partition_cols: list[str]) -> list[tuple[str, dict, bool]]:
    """(file URI, typed partition values from the log, whether the file sits in its plain Hive folder)."""
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    files = []
    for action in actions:
        rel = urllib.parse.unquote(action["path"])  # the log stores paths URL-encoded
        uri = rel.removeprefix("file://").removeprefix("file:") if "://" in rel or rel.startswith(("/", "file:")) \
            else f"{root.rstrip('/')}/{rel}"
        values = {c: action.get(f"partition.{c}") for c in partition_cols}
        texts = [_folder_text(values[c]) for c in partition_cols]
        folders = action["path"].split("/")[: len(partition_cols)]
        plain = None not in texts and folders == [f"{c}={t}" for c, t in zip(partition_cols, texts, strict=True)]
        files.append((uri, values, plain))
    return files
