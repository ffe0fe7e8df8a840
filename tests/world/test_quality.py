"""Every validation rule, by injecting bad rows into clean generated data: raw = clean + quarantined."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from pyspark.sql import functions as F

from sendopt.catalog import CATALOG
from sendopt.errors import SchemaMismatchError
from sendopt.lake import quality

RUN_DATE = dt.date(2026, 4, 1)


@pytest.fixture(scope="module")
def base(world_frames):
    customers = world_frames["raw.customers"]
    return {
        "customers": customers,
        "orders": world_frames["raw.orders"].orderBy("order_id").limit(300).cache(),
        "cards": world_frames["raw.card_transactions"].orderBy("txn_id").limit(300).cache(),
        "mcc": world_frames["reference.mcc_codes"],
    }


def _inject(df, n, **changes):
    """``n`` copies of existing rows with some columns replaced (the bad rows)."""
    bad = df.limit(n)
    for name, value in changes.items():
        bad = bad.withColumn(name, value.cast(df.schema[name].dataType))
    return df.unionByName(bad)


def _check(table, raw, base, expected_rule, n_bad):
    v = quality.validate(CATALOG.get(table), raw, RUN_DATE, base["customers"], base["mcc"])
    counts = v.counts()
    q = v.quarantined("run-1", RUN_DATE, dt.datetime(2026, 4, 2))
    total = raw.count()
    assert v.clean.count() + q.count() == total  # nothing lost
    assert counts.get(expected_rule, 0) == n_bad, counts
    assert set(counts) <= {"clean", expected_rule}, counts
    assert q.where(F.col("rule") != expected_rule).count() == 0
    assert q.where(F.col("row_json").isNull() | (F.col("source_table") != table)).count() == 0
    return q


def test_clean_generated_data_passes_every_rule(base):
    for table, df in (("raw.orders", base["orders"]), ("raw.card_transactions", base["cards"])):
        counts = quality.validate(CATALOG.get(table), df, RUN_DATE, base["customers"], base["mcc"]).counts()
        assert counts == {"clean": 300}


def test_null_key(base):
    raw = _inject(base["orders"], 3, order_id=F.lit(None))
    q = _check("raw.orders", raw, base, "null_key", 3)
    assert q.where(F.col("row_key") == "order_id=null").count() == 3


def test_duplicate_key_keeps_one_copy(base):
    raw = _inject(base["orders"], 4, amount=F.lit(1.0))  # same order_id, different content
    _check("raw.orders", raw, base, "duplicate_key", 4)


def test_negative_amount(base):
    raw = _inject(base["orders"], 2, order_id=F.concat(F.lit("neg"), F.col("order_id")), amount=F.lit(-5.0))
    _check("raw.orders", raw, base, "negative_amount", 2)


def test_timestamp_after_the_run_date(base):
    raw = _inject(base["orders"], 2, order_id=F.concat(F.lit("fut"), F.col("order_id")),
                  order_ts=F.lit("2026-04-02 00:00:00").cast("timestamp"))
    _check("raw.orders", raw, base, "future_timestamp", 2)


def test_event_before_signup(base):
    raw = _inject(base["orders"], 2, order_id=F.concat(F.lit("old"), F.col("order_id")),
                  order_ts=F.lit("2015-01-01 10:00:00").cast("timestamp"))
    _check("raw.orders", raw, base, "before_signup", 2)


def test_event_for_unknown_user(base):
    raw = _inject(base["orders"], 3, order_id=F.concat(F.lit("ghost"), F.col("order_id")),
                  user_id=F.lit("u_nobody"))
    _check("raw.orders", raw, base, "unknown_user", 3)


def test_unknown_mcc(base):
    raw = _inject(base["cards"], 2, txn_id=F.concat(F.lit("x"), F.col("txn_id")), mcc=F.lit("0000"))
    _check("raw.card_transactions", raw, base, "unknown_mcc", 2)


def test_first_failing_rule_wins(base):
    raw = _inject(base["orders"], 1, order_id=F.lit(None), amount=F.lit(-1.0))
    _check("raw.orders", raw, base, "null_key", 1)


def test_missing_or_retyped_column_stops_with_table_and_column(base):
    with pytest.raises(SchemaMismatchError, match=r"raw\.orders.*amount"):
        quality.validate(CATALOG.get("raw.orders"), base["orders"].drop("amount"), RUN_DATE)
    with pytest.raises(SchemaMismatchError, match=r"raw\.orders.*amount: expected double, got string"):
        quality.validate(CATALOG.get("raw.orders"), base["orders"].withColumn("amount", F.col("amount").cast("string")),
                         RUN_DATE)


def test_new_upstream_column_is_a_warning(base, caplog):
    with caplog.at_level(logging.WARNING):
        v = quality.validate(CATALOG.get("raw.orders"), base["orders"].withColumn("coupon_code", F.lit("X")), RUN_DATE,
                             base["customers"], base["mcc"])
    assert "coupon_code" in caplog.text
    assert "coupon_code" not in v.clean.columns
    assert v.clean.count() == 300
