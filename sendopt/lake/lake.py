"""``Lake``: the one way jobs read and write tables.

It resolves a catalog name to its location, checks schemas, guards the truth
layer, records the exact version of every table read and written (so runs can
log their inputs), and delegates to a backend with one contract:

* ``embedded`` — Spark tasks write Parquet, delta-rs commits (no jars; laptop, CI);
* ``spark_delta`` — Spark's own Delta (Databricks, or spark-submit with delta-spark).

``auto`` picks ``spark_delta`` when Delta's jars and extension are present.
"""
from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession

from sendopt.errors import LakeError, TruthAccessError
from sendopt.lake.commit import CommitInfo, WriteResult
from sendopt.lake.schema import check_write_schema
from sendopt.lake.spec import Catalog, TableSpec
from sendopt.observability import stage
from sendopt.spark import delta_available

if TYPE_CHECKING:  # the engine needs only the config's shape, not the domains it imports
    from sendopt.config import SendoptConfig

log = logging.getLogger("sendopt.lake")

WRITE_MODES = ("append", "overwrite", "replace")

#: Only these packages may read ``truth.*`` tables (besides code outside sendopt: tests, notebooks).
TRUTH_READERS = ("sendopt.world", "sendopt.evaluation")


def _caller_module() -> str:
    """The first module on the stack outside the lake package."""
    for frame in inspect.stack()[2:]:
        name = frame.frame.f_globals.get("__name__", "")
        if not name.startswith("sendopt.lake"):
            return name
    return ""


class Lake:
    def __init__(
        self,
        spark: SparkSession,
        config: SendoptConfig,
        catalog: Catalog,
        run_id: str = "adhoc",
        job: str = "adhoc",
    ) -> None:
        self.spark = spark
        self.config = config
        self.catalog = catalog
        self.run_id = run_id
        self.job = job
        self.started_ms = int(time.time() * 1000)
        self.inputs: dict[str, int] = {}
        self.outputs: dict[str, int] = {}
        self.backend = self._pick_backend()

    def _pick_backend(self):
        choice = self.config.lake.backend
        if choice == "auto":
            choice = "spark_delta" if delta_available(self.spark) else "embedded"
        if choice == "spark_delta":
            from sendopt.lake.spark_delta import SparkDeltaBackend

            if not delta_available(self.spark):
                raise LakeError(
                    "lake.backend=spark_delta but Delta is not on the classpath: locally run `make jars` "
                    "(jars/pom.xml, fetched with mvn into jars/lib/); on a cluster spark-submit with --packages "
                    "io.delta:delta-spark_2.12:3.3.3 and the Delta extension (README 'Running on a cluster'), "
                    "or run on Databricks; or set lake.backend=embedded"
                )
            return SparkDeltaBackend(self.spark, self.config.lake)
        from sendopt.lake.embedded import EmbeddedDeltaBackend

        return EmbeddedDeltaBackend(self.spark, self.config.lake)

    # --------------------------------------------------------------- locations
    @property
    def root(self) -> str:
        root = self.config.lake.root
        return root if "://" in root or root.startswith("dbfs:") else os.path.abspath(root)

    def spec(self, table: str | TableSpec) -> TableSpec:
        try:
            return self.catalog.get(table)
        except KeyError as exc:
            raise LakeError(str(exc.args[0])) from None

    def path(self, table: str | TableSpec) -> str:
        """``<lake.root>/<layer>/<name>`` — where operators find the table's files."""
        spec = self.spec(table)
        return f"{self.root.rstrip('/')}/{spec.layer}/{spec.name}"

    def location(self, table: str | TableSpec) -> str:
        """What the backend addresses: the path, or a Unity Catalog name when configured."""
        spec = self.spec(table)
        uc = self.config.lake.unity_catalog
        if uc is not None and self.backend.name == "spark_delta":
            return f"{uc.catalog}.{uc.schema_prefix}{spec.layer}.{spec.name}"
        return self.path(spec)

    # -------------------------------------------------------------------- read
    def read(self, table: str | TableSpec, version: int | None = None) -> DataFrame:
        """The table at ``version`` (default: latest); the version read is kept in ``inputs``."""
        spec = self.spec(table)
        if spec.layer == "truth":
            caller = _caller_module()
            if caller.startswith("sendopt") and not caller.startswith(TRUTH_READERS):
                raise TruthAccessError(
                    f"{caller} may not read {spec.full_name}: ground truth is readable only by "
                    f"{' and '.join(TRUTH_READERS)}"
                )
        df, read_version = self.backend.read(spec, self.location(spec), version)
        self.inputs[spec.full_name] = read_version
        log.info("stage=read table=%s version=%s", spec.full_name, read_version)
        return df

    def exists(self, table: str | TableSpec) -> bool:
        return self.backend.exists(self.location(table))

    def version(self, table: str | TableSpec) -> int | None:
        """Latest committed version, or None when the table does not exist yet."""
        return self.backend.version(self.location(table))

    def history(self, table: str | TableSpec, limit: int | None = None) -> list[dict]:
        return self.backend.history(self.location(table), limit)

    # ------------------------------------------------------------------- write
    def commit_info(self, run_key: str | None) -> CommitInfo:
        return CommitInfo(
            run_id=self.run_id,
            job=self.job,
            config_hash=self.config.config_hash,
            app_id=f"sendopt:{self.job}:{run_key}" if run_key else None,
            app_version=self.started_ms if run_key else None,
        )

    def write(
        self,
        df: DataFrame,
        table: str | TableSpec,
        mode: str = "append",
        where: dict[str, Any] | None = None,
        run_key: str | None = None,
    ) -> WriteResult:
        """Write ``df`` in one atomic commit.

        * ``append`` adds rows; ``overwrite`` replaces the whole table;
        * ``replace`` replaces exactly the partitions selected by ``where``
          (``{"decision_date": d, "region": [..]}``, a conjunction of IN lists over
          partition columns), the idempotent re-run of a run key. Rows outside the
          slice are an error, as with Delta's ``replaceWhere``.
        """
        spec = self.spec(table)
        if mode not in WRITE_MODES:
            raise LakeError(f"write {spec.full_name}: mode {mode!r} is not one of {WRITE_MODES}")
        if mode == "replace" and not where:
            raise LakeError(f"write {spec.full_name}: mode 'replace' needs `where` (the partitions replaced)")
        check_write_schema(spec, df.schema)
        slice_ = _as_lists(where)
        if run_key is None and slice_:
            run_key = "/".join(f"{k}={','.join(map(str, v))}" for k, v in sorted(slice_.items()))
        with stage(self.spark, log, f"write {spec.full_name}", table=spec.full_name, mode=mode) as info:
            result = self.backend.write(
                spec, self.location(spec), df, mode, slice_, self.commit_info(run_key)
            )
            info.update(version=result.version, rows=result.rows, files=result.files)
        self.outputs[spec.full_name] = result.version
        return result

    def append_rows(self, rows: list[dict[str, Any]], table: str | TableSpec) -> WriteResult:
        """Append a handful of rows (a service's request, a queue event) in one atomic commit.

        The embedded backend commits them from Arrow with delta-rs, without a Spark job (milliseconds
        instead of a second per append); Spark's Delta writes them as a small DataFrame. Rows are dicts
        by column name; a missing nullable column is null, a missing required one an error."""
        spec = self.spec(table)
        missing = sorted({c.name for c in spec.columns if not c.nullable for r in rows if r.get(c.name) is None})
        if missing:
            raise LakeError(f"append to {spec.full_name}: required columns {missing} are null or missing")
        append = getattr(self.backend, "append_rows", None)
        if append is None:
            df = self.spark.createDataFrame([tuple(r.get(c) for c in spec.column_names) for r in rows], spec.schema)
            return self.write(df, spec, mode="append")
        with stage(None, log, f"append {spec.full_name}", table=spec.full_name, mode="append") as info:
            result = append(spec, self.location(spec), rows, self.commit_info(None))
            info.update(version=result.version, rows=result.rows, files=result.files)
        self.outputs[spec.full_name] = result.version
        return result

    def merge(self, df: DataFrame, table: str | TableSpec, keys: Iterable[str] | None = None) -> WriteResult:
        """Upsert ``df`` by ``keys`` (default: the catalog's keys) in one atomic commit."""
        spec = self.spec(table)
        keys = list(keys or spec.keys)
        if not keys:
            raise LakeError(f"merge into {spec.full_name}: the catalog declares no keys; pass keys=[...]")
        check_write_schema(spec, df.schema)
        with stage(self.spark, log, f"merge {spec.full_name}", table=spec.full_name) as info:
            result = self.backend.merge(spec, self.location(spec), df, keys, self.commit_info(None))
            info.update(version=result.version, rows=result.rows)
        self.outputs[spec.full_name] = result.version
        return result

    def app_version(self, table: str | TableSpec, run_key: str, job: str | None = None) -> int | None:
        """The txnVersion (run start, ms) last committed for ``run_key`` by ``job``, if any."""
        return self.backend.app_version(self.location(table), f"sendopt:{job or self.job}:{run_key}")

    # ------------------------------------------------------------- maintenance
    def compact(self, table: str | TableSpec) -> dict:
        """Rewrite small files into larger ones (a data-preserving commit)."""
        return self.backend.compact(self.location(table), self.commit_info(None))

    def vacuum(self, table: str | TableSpec, retention_hours: int | None = None, dry_run: bool = False) -> list:
        """Delete files unreferenced by any version within the retention (failed writes' orphans too)."""
        return self.backend.vacuum(self.location(table), retention_hours, dry_run)

    def checkpoint(self, table: str | TableSpec) -> None:
        """Write a log checkpoint and expire old log files."""
        self.backend.checkpoint(self.location(table))


def _as_lists(where: dict[str, Any] | None) -> dict[str, list[Any]] | None:
    if not where:
        return None
    return {k: list(v) if isinstance(v, list | tuple | set) else [v] for k, v in where.items()}
