"""The lake's guarantees, run against each backend: atomic, idempotent, concurrent, schema-checked.

The Spark-Delta runs need Delta's jars on the classpath (Databricks, or spark-submit with
``--packages io.delta:delta-spark_2.12:3.3.2``); without them they skip with that reason.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
import time

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from sendopt.catalog import CATALOG
from sendopt.errors import (
    CommitConflictError,
    LakeError,
    SchemaMismatchError,
    TableNotFoundError,
    TruthAccessError,
)
from sendopt.lake import Lake, TableSpec, col
from sendopt.spark import delta_available

EVENTS = TableSpec(
    "analytics",
    "test_events",
    description="scratch table for lake tests",
    columns=(
        col("event_id", "long", "key", nullable=False),
        col("event_date", "date", "partition", nullable=False),
        col("region", "string", "partition", nullable=False),
        col("amount", "double", "value"),
        col("at", "timestamp", "when"),
    ),
    keys=("event_id",),
    partition_by=("event_date", "region"),
)
TRUTH = TableSpec("truth", "test_secret", columns=(col("x", "long", "secret"),))
CAT = CATALOG.extended([EVENTS, TRUTH])
DAY1, DAY2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


BACKENDS = ["embedded", "spark_delta"]


@pytest.fixture(params=BACKENDS)
def lake(request, spark, lake_config):
    if request.param == "spark_delta" and not delta_available(spark):
        pytest.skip("Spark's Delta jars are not on this machine's classpath (no Maven access for --packages)")
    config = lake_config.model_copy(update={"lake": lake_config.lake.model_copy(update={"backend": request.param})})
    return Lake(spark, config, catalog=CAT, run_id="run-test", job="test")


@pytest.fixture
def embedded(lake):
    if lake.backend.name != "embedded":
        pytest.skip("embedded-backend specific")
    return lake


def events(spark, n=200, start=0, day=None, amount=1.0):
    day_expr = f"date'{day}'" if day else "date_add(date'2026-03-01', cast(id % 2 as int))"
    return spark.range(start, start + n).select(
        F.col("id").alias("event_id"),
        F.expr(day_expr).alias("event_date"),
        F.expr("if(id % 3 = 0, 'north', 'south')").alias("region"),
        F.lit(amount).alias("amount"),
        F.expr("timestamp'2026-03-01 10:00:00.123456' + make_interval(0,0,0,0,0,0,id)").alias("at"),
    )


def test_roundtrip_partitions_types_and_versions(spark, lake):
    result = lake.write(events(spark), EVENTS, mode="overwrite")
    assert result.version == 0 and result.rows == 200
    df = lake.read(EVENTS)
    assert [(f.name, f.dataType) for f in df.schema] == [(f.name, f.dataType) for f in EVENTS.schema]
    assert df.count() == 200
    assert dict(df.groupBy("event_date").count().collect()) == {DAY1: 100, DAY2: 100}
    assert lake.inputs == {"analytics.test_events": 0}
    assert lake.path(EVENTS).endswith("/analytics/test_events")
    # other Delta readers open the same table
    if lake.backend.name == "embedded":
        assert DeltaTable(lake.path(EVENTS)).to_pyarrow_table().num_rows == 200


def test_time_travel_reads_the_version_asked_for(spark, lake):
    lake.write(events(spark, 10), EVENTS, mode="append")
    lake.write(events(spark, 10, start=10), EVENTS, mode="append")
    assert lake.read(EVENTS, version=0).count() == 10
    assert lake.inputs["analytics.test_events"] == 0
    assert lake.read(EVENTS).count() == 20
    assert lake.inputs["analytics.test_events"] == 1


def test_failed_write_leaves_previous_version_and_no_visible_rows(spark, lake):
    lake.write(events(spark), EVENTS, mode="overwrite")
    before = lake.version(EVENTS)
    boom = events(spark, 400, start=1000).repartition(4).withColumn(
        "amount", F.when(F.col("event_id") == 1399, F.raise_error(F.lit("injected failure"))).otherwise(1.0)
    )
    with pytest.raises(Exception, match="injected failure"):
        lake.write(boom, EVENTS, mode="overwrite")
    assert lake.version(EVENTS) == before
    assert lake.read(EVENTS).count() == 200
    if lake.backend.name != "embedded":
        return
    # the failed write's files are orphans on disk, invisible through the log, and vacuum removes them
    orphans = lake.vacuum(EVENTS, retention_hours=0, dry_run=True)
    assert lake.read(EVENTS).count() == 200
    removed = lake.vacuum(EVENTS, retention_hours=0)
    assert set(removed) == set(orphans)
    assert lake.read(EVENTS).count() == 200


def test_replace_is_idempotent_for_its_run_key(spark, lake):
    lake.write(events(spark, 100, day=DAY1), EVENTS, mode="replace", where={"event_date": DAY1})
    lake.write(events(spark, 100, start=100, day=DAY2), EVENTS, mode="replace", where={"event_date": DAY2})
    for _ in range(2):  # re-running DAY1 (with new values) replaces it, never duplicates
        lake.write(events(spark, 100, day=DAY1, amount=2.0), EVENTS, mode="replace", where={"event_date": DAY1})
    df = lake.read(EVENTS)
    assert df.count() == 200
    assert df.where(F.col("event_date") == DAY1).agg(F.sum("amount")).first()[0] == 200.0
    assert df.where(F.col("event_date") == DAY2).agg(F.sum("amount")).first()[0] == 100.0
    # Delta's app transaction records which run wrote the slice
    assert lake.app_version(EVENTS, "event_date=2026-03-01") == lake.started_ms
    meta = lake.history(EVENTS, limit=1)[0]
    assert meta["sendopt.run_id"] == "run-test" and meta["sendopt.app_id"] == "sendopt:test:event_date=2026-03-01"


def test_replace_narrow_slice_and_rows_outside_it_are_refused(spark, lake):
    lake.write(events(spark), EVENTS, mode="overwrite")
    north = events(spark, 30, day=DAY1).where("region = 'north'")
    lake.write(north, EVENTS, mode="replace", where={"event_date": DAY1, "region": "north"})
    counts = {(r[0], r[1]): r[2] for r in lake.read(EVENTS).groupBy("event_date", "region").count().collect()}
    assert counts[(DAY1, "north")] == 10 and counts[(DAY1, "south")] == 66 and counts[(DAY2, "north")] == 33
    version = lake.version(EVENTS)
    with pytest.raises(LakeError, match="outside the slice"):
        lake.write(events(spark, 10), EVENTS, mode="replace", where={"event_date": DAY1})
    assert lake.version(EVENTS) == version
    with pytest.raises(LakeError, match="not partition columns"):
        lake.write(events(spark, 10), EVENTS, mode="replace", where={"amount": 1.0})
    with pytest.raises(LakeError, match="needs `where`"):
        lake.write(events(spark, 10), EVENTS, mode="replace")


def test_merge_upserts_by_key_in_touched_partitions_only(spark, lake):
    lake.write(events(spark), EVENTS, mode="overwrite")
    update = events(spark, 5, start=0, amount=9.0).unionByName(events(spark, 3, start=500, amount=7.0))
    lake.merge(update, EVENTS)
    df = lake.read(EVENTS)
    assert df.count() == 203
    assert df.where("amount = 9.0").count() == 5 and df.where("amount = 7.0").count() == 3
    assert df.select("event_id").distinct().count() == 203


def test_schema_mismatch_names_the_columns(spark, lake):
    bad = events(spark, 5).drop("amount").withColumn("at", F.lit("x")).withColumn("extra", F.lit(1))
    with pytest.raises(SchemaMismatchError) as err:
        lake.write(bad, EVENTS)
    message = str(err.value)
    assert "analytics.test_events" in message and "['amount']" in message
    assert "['extra']" in message and "at: expected timestamp, got string" in message


def test_stored_schema_drift_extra_tolerated_missing_refused(spark, lake, caplog):
    wider = TableSpec(EVENTS.layer, EVENTS.name, columns=(*EVENTS.columns, col("new_col", "string", "")),
                      partition_by=EVENTS.partition_by)
    upstream = Lake(spark, lake.config, catalog=CATALOG.extended([wider, TRUTH]))
    upstream.write(events(spark, 5).withColumn("new_col", F.lit("x")), wider, mode="overwrite")
    with caplog.at_level("WARNING"):
        df = lake.read(EVENTS)
    assert df.columns == EVENTS.column_names and df.count() == 5
    assert "new upstream columns ['new_col']" in caplog.text
    expects_more = TableSpec("analytics", "test_events", columns=(*EVENTS.columns, col("gone", "long", "")))
    reader = Lake(spark, lake.config, catalog=CATALOG.extended([expects_more]))
    with pytest.raises(SchemaMismatchError, match=r"analytics.test_events .* missing columns \['gone'\]"):
        reader.read("analytics.test_events")


def test_missing_table_is_a_clear_error(lake):
    with pytest.raises(TableNotFoundError, match="analytics.test_events not found"):
        lake.read(EVENTS)
    with pytest.raises(LakeError, match="not in the catalog"):
        lake.read("analytics.nope")


def test_concurrent_appends_both_land(spark, lake):
    lake.write(events(spark, 10), EVENTS, mode="overwrite")
    slow = events(spark, 10, start=100).repartition(1).withColumn(
        "amount", F.expr("reflect('java.lang.Thread', 'sleep', cast(1500 as bigint)) is null")
        .cast("double")
    )
    errors = []
    worker = threading.Thread(target=lambda: _capture(errors, lambda: lake.write(slow, EVENTS, mode="append")))
    worker.start()
    time.sleep(0.5)
    lake.write(events(spark, 10, start=200), EVENTS, mode="append")
    worker.join()
    assert errors == []
    assert lake.read(EVENTS).select("event_id").distinct().count() == 30


def test_conflicting_replace_fails_clearly_and_loses_nothing(spark, lake):
    lake.write(events(spark, 10, day=DAY1), EVENTS, mode="overwrite")
    slow = events(spark, 10, start=100, day=DAY1).repartition(1).withColumn(
        "amount", F.expr("reflect('java.lang.Thread', 'sleep', cast(2000 as bigint)) is null").cast("double")
    )
    errors: list = []
    worker = threading.Thread(
        target=lambda: _capture(
            errors, lambda: lake.write(slow, EVENTS, mode="replace", where={"event_date": DAY1})
        )
    )
    worker.start()
    time.sleep(0.5)
    lake.write(events(spark, 10, start=200, day=DAY1), EVENTS, mode="replace", where={"event_date": DAY1})
    worker.join()
    assert len(errors) == 1 and isinstance(errors[0], CommitConflictError)
    assert "Re-run the job" in str(errors[0])
    ids = sorted(r[0] for r in lake.read(EVENTS).select("event_id").collect())
    assert ids == list(range(200, 210))  # exactly the committed writer's rows


def _capture(errors, fn):
    try:
        fn()
    except Exception as exc:  # collected for the assertion in the main thread
        errors.append(exc)


def test_truth_guard_blocks_production_modules(spark, lake):
    lake.write(spark.range(3).select(F.col("id").alias("x")), TRUTH, mode="overwrite")
    assert lake.read(TRUTH).count() == 3  # tests / notebooks / evaluation may read truth
    namespace = {"__name__": "sendopt.models.sneaky", "lake": lake}
    exec("def peek():\n    return lake.read('truth.test_secret')", namespace)
    with pytest.raises(TruthAccessError, match="sendopt.models.sneaky may not read truth.test_secret"):
        namespace["peek"]()


def test_maintenance_compacts_and_checkpoints_without_changing_rows(spark, embedded):
    lake = embedded
    for i in range(3):
        lake.write(events(spark, 20, start=i * 20), EVENTS, mode="append")
    before = lake.read(EVENTS).orderBy("event_id").collect()
    lake.compact(EVENTS)
    lake.checkpoint(EVENTS)
    assert lake.read(EVENTS).orderBy("event_id").collect() == before
    assert any(name.endswith(".checkpoint.parquet") for name in os.listdir(lake.path(EVENTS) + "/_delta_log"))


def test_refuses_tables_with_column_mapping(spark, embedded):
    lake = embedded
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(
        lake.path(EVENTS),
        pa.table({"event_id": [1], "event_date": [DAY1], "region": ["north"], "amount": [1.0],
                  "at": pa.array([dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)], pa.timestamp("us", "UTC"))}),
        configuration={"delta.columnMapping.mode": "name", "delta.minReaderVersion": "2",
                       "delta.minWriterVersion": "5"},
    )
    with pytest.raises(LakeError, match="column mapping"):
        lake.read(EVENTS)
