"""Both Delta writers, one table format: each backend reads what the other wrote, or refuses clearly.

Spark's Delta (the jars from ``make jars`` on the shared session) writes the awkward tables other
writers produce — escaped partition values, null / date / timestamp partitions, randomized file
prefixes, deletion vectors, column mapping, type widening, timestampNtz, v2 checkpoints — and the
embedded backend must read each exactly or refuse it naming the feature and the remedy.
"""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from sendopt.catalog import CATALOG
from sendopt.errors import UnsupportedTableError
from sendopt.lake import Lake, TableSpec, col
from tests.conftest import require_jars

LABELS = ["a b", "a/b", "k=v", "ünï%", None, "plain"]
TAGGED = TableSpec(
    "analytics", "test_tagged",
    columns=(
        col("id", "long", "key", nullable=False),
        col("label", "string", "partition: spaces, slashes, =, unicode, null"),
        col("day", "date", "partition", nullable=False),
        col("at", "timestamp", "partition"),
        col("amount", "double", "value"),
    ),
    keys=("id",), partition_by=("label", "day", "at"),
)
RANDOMIZED = TableSpec(
    "analytics", "test_randomized", columns=TAGGED.columns, keys=("id",), partition_by=("label", "day"),
    properties={"delta.randomizeFilePrefixes": "true"},
)
PLAIN = TableSpec(
    "analytics", "test_plain",
    columns=(col("id", "long", "key", nullable=False), col("day", "date", "partition", nullable=False),
             col("amount", "double", "value")),
    keys=("id",), partition_by=("day",),
)
SIMPLE = TableSpec("analytics", "test_simple", columns=(col("id", "long", "key"), col("v", "string", "value")))
NTZ = TableSpec("analytics", "test_ntz", columns=(col("id", "long", "key"), col("ts", "timestamp_ntz", "when")))
WIDE = TableSpec("analytics", "test_wide", columns=(col("id", "int", "widened from short"),))
CAT = CATALOG.extended([TAGGED, RANDOMIZED, PLAIN, SIMPLE, NTZ, WIDE])


@pytest.fixture
def lakes(spark, lake_config):
    """(embedded, spark_delta) lakes over one root."""
    require_jars(spark, "delta")

    def make(backend):
        config = lake_config.model_copy(update={"lake": lake_config.lake.model_copy(update={"backend": backend})})
        return Lake(spark, config, catalog=CAT, run_id="run-interop", job="test")

    return make("embedded"), make("spark_delta")


def tagged(spark, n=24, start=0):
    label = F.element_at(F.array(*[F.lit(v) for v in LABELS]), (F.col("id") % len(LABELS) + 1).cast("int"))
    return spark.range(start, start + n).select(
        F.col("id"), label.alias("label"),
        F.expr("date_add(date'2026-03-01', cast(id % 2 as int))").alias("day"),
        F.expr("timestamp'2026-03-01 10:00:00.123456' + make_interval(0,0,0,0,cast(id % 3 as int),0,0)").alias("at"),
        (F.col("id") * 1.5).alias("amount"),
    )


def rows(df, spec):
    return sorted(tuple(r) for r in df.select(*spec.column_names).collect())


@pytest.mark.parametrize("spec", [TAGGED, RANDOMIZED], ids=["hive-folders", "randomized-prefixes"])
def test_spark_delta_tables_with_awkward_partitions_read_exactly(spark, lakes, spec):
    embedded, delta = lakes
    delta.write(tagged(spark), spec, mode="overwrite")
    delta.write(tagged(spark, 6, start=100), spec, mode="append")
    expected = rows(delta.read(spec), spec)
    assert len(expected) == 30 and {r[1] for r in expected} == set(LABELS)
    assert rows(embedded.read(spec), spec) == expected
    got = embedded.read(spec)
    assert got.where(F.col("label") == "a/b").count() == 5
    assert got.where(F.col("label").isNull()).count() == 5
    assert got.where("day = date'2026-03-02'").count() == 15
    if spec is TAGGED:
        assert got.where("at = timestamp'2026-03-01 11:00:00.123456'").count() == 10


def test_embedded_tables_read_by_spark_delta_after_appends_replace_optimize_checkpoint(spark, lakes):
    embedded, delta = lakes
    day1, day2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)

    def frame(n, start, day, amount):
        return spark.range(start, start + n).select(
            "id", F.lit(day).alias("day"), F.lit(amount).alias("amount"))

    embedded.write(frame(10, 0, day1, 1.0), PLAIN, mode="overwrite")
    for i in range(3):
        embedded.write(frame(5, 100 + 10 * i, day2, 2.0), PLAIN, mode="append")
    embedded.write(frame(4, 0, day1, 3.0), PLAIN, mode="replace", where={"day": day1})
    embedded.compact(PLAIN)
    embedded.checkpoint(PLAIN)
    expected = rows(embedded.read(PLAIN), PLAIN)
    assert len(expected) == 19
    assert rows(delta.read(PLAIN), PLAIN) == expected
    assert delta.version(PLAIN) == embedded.version(PLAIN)
    # and back: Spark's Delta appends, the embedded backend reads it
    delta.write(frame(2, 500, day2, 4.0), PLAIN, mode="append")
    assert rows(embedded.read(PLAIN), PLAIN) == rows(delta.read(PLAIN), PLAIN)
    assert embedded.read(PLAIN).count() == 21


def _sql_table(spark, lake, spec, ddl, props):
    path = lake.path(spec)
    spark.sql(f"CREATE TABLE delta.`{path}` ({ddl}) USING DELTA TBLPROPERTIES ({props})")
    return path


def test_deletion_vectors_refused_naming_feature_and_remedy_and_the_remedy_works(spark, lakes):
    embedded, delta = lakes
    path = _sql_table(spark, embedded, SIMPLE, "id BIGINT, v STRING", "'delta.enableDeletionVectors' = 'true'")
    spark.sql(f"INSERT INTO delta.`{path}` SELECT id, cast(id AS STRING) FROM range(10)")
    assert embedded.read(SIMPLE).count() == 10  # the feature alone is fine while no file has a vector
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id < 3")
    with pytest.raises(UnsupportedTableError) as err:
        embedded.read(SIMPLE)
    message = str(err.value)
    assert "analytics.test_simple" in message and "'deletionVectors'" in message
    assert "lake.backend=spark_delta" in message and "REORG TABLE" in message
    assert delta.read(SIMPLE).count() == 7
    spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    assert rows(embedded.read(SIMPLE), SIMPLE) == rows(delta.read(SIMPLE), SIMPLE)
    assert embedded.read(SIMPLE).count() == 7


def test_column_mapping_refused(spark, lakes):
    embedded, delta = lakes
    path = _sql_table(spark, embedded, SIMPLE, "id BIGINT, v STRING",
                      "'delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', "
                      "'delta.minWriterVersion' = '5'")
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (1, 'x')")
    with pytest.raises(UnsupportedTableError, match=r"'columnMapping' .*lake.backend=spark_delta"):
        embedded.read(SIMPLE)
    assert delta.read(SIMPLE).count() == 1


def test_type_widening_refused(spark, lakes):
    embedded, delta = lakes
    path = _sql_table(spark, embedded, WIDE, "id SMALLINT", "'delta.enableTypeWidening' = 'true'")
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (1)")
    spark.sql(f"ALTER TABLE delta.`{path}` CHANGE COLUMN id TYPE INT")
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (100000)")
    with pytest.raises(UnsupportedTableError, match=r"'typeWidening.*' .*DROP FEATURE"):
        embedded.read(WIDE)
    assert sorted(r[0] for r in delta.read(WIDE).collect()) == [1, 100000]


def test_timestamp_ntz_and_v2_checkpoints_read_exactly(spark, lakes):
    embedded, delta = lakes
    path = _sql_table(spark, embedded, NTZ, "id BIGINT, ts TIMESTAMP_NTZ", "'delta.checkpointPolicy' = 'v2'")
    for i in range(3):
        spark.sql(f"INSERT INTO delta.`{path}` SELECT id, TIMESTAMP_NTZ'2026-03-01 10:00:00.5' + "
                  f"make_interval(0,0,0,{i},0,0,id) FROM range({i * 4}, {i * 4 + 4})")
    delta.checkpoint(NTZ)
    spark.sql(f"INSERT INTO delta.`{path}` VALUES (99, TIMESTAMP_NTZ'2030-01-01 00:00:00')")
    expected = rows(delta.read(NTZ), NTZ)
    assert len(expected) == 13
    assert rows(embedded.read(NTZ), NTZ) == expected
