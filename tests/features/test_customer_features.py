"""Point-in-time customer features and weekly labels."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from sendopt.catalog import open_lake
from sendopt.features.customer import SOURCES, customer_features
from sendopt.features.labels import NO_ACTION, PURCHASE, UNSUBSCRIBE, email_week_outcomes
from sendopt.features.registry import feature_list, feature_names
from sendopt.features.tables import CUSTOMER_DAILY

SNAPSHOT = dt.date(2026, 2, 12)

#: Timestamp column of each event table (shifted with event_date when events are injected).
TS = {"raw.orders": "order_ts", "raw.email_sends": "sent_at", "raw.email_events": "event_ts",
      "raw.web_events": "event_ts", "raw.push_notifications": "sent_at", "raw.card_transactions": "txn_ts",
      "raw.consents": "changed_at"}


@pytest.fixture(scope="module")
def raw(spark, tiny_world):
    _, config = tiny_world
    lake = open_lake(spark, config)
    return {name: lake.read(name).cache() for name in SOURCES}, config


def test_registry_describes_every_computed_column(raw):
    tables, config = raw
    df = customer_features(tables, SNAPSHOT, config.features)
    assert df.columns[4:] == feature_names(config.features)
    assert len(feature_names(config.features)) >= 80
    assert all(f.description for f in feature_list(config.features))
    assert df.columns == CUSTOMER_DAILY.column_names  # the catalog follows the registry
    assert df.count() == tables["raw.customers"].where(F.col("signup_date") < SNAPSHOT).count()


def _future_copies(df, ts_col):
    """Copies of the table's rows moved to on/after the snapshot, with altered values."""
    shifted = df.withColumn("event_date", F.date_add(F.lit(SNAPSHOT), F.pmod(F.hash(ts_col), F.lit(5)).cast("int")))
    shifted = shifted.withColumn(ts_col, F.col("event_date").cast("timestamp"))
    for c in ("amount",):
        if c in df.columns:
            shifted = shifted.withColumn(c, F.col(c) * 10)
    for c in ("opened_at", "clicked_at"):
        if c in df.columns:
            shifted = shifted.withColumn(c, F.col(ts_col))
    return shifted


def test_nothing_after_the_snapshot_leaks_in(raw):
    tables, config = raw
    before = customer_features(tables, SNAPSHOT, config.features)
    altered = dict(tables)
    for name, ts in TS.items():
        df = tables[name]
        on_or_after = df.where(F.col("event_date") >= SNAPSHOT)
        # alter every later event, and add a copy of every earlier event moved past the snapshot
        changed = on_or_after.withColumn(ts, F.col(ts) + F.expr("INTERVAL 1 HOURS"))
        if "amount" in df.columns:
            changed = changed.withColumn("amount", F.col("amount") + 1)
        altered[name] = (df.where(F.col("event_date") < SNAPSHOT).unionByName(changed)
                         .unionByName(_future_copies(df.where(F.col("event_date") < SNAPSHOT), ts)))
    # pushes sent before the snapshot but opened after it must not count as opens
    pushes = altered["raw.push_notifications"]
    altered["raw.push_notifications"] = pushes.withColumn(
        "opened_at", F.when(F.col("event_date") == SNAPSHOT - dt.timedelta(days=1),
                            F.lit(SNAPSHOT).cast("timestamp") + F.expr("INTERVAL 2 HOURS")).otherwise(F.col("opened_at")))
    opened_late = tables["raw.push_notifications"].where(
        (F.col("event_date") == SNAPSHOT - dt.timedelta(days=1)) & F.col("opened_at").isNotNull()
        & (F.col("opened_at") < F.lit(SNAPSHOT).cast("timestamp"))).count()
    after = customer_features(altered, SNAPSHOT, config.features)
    if opened_late == 0:
        assert before.exceptAll(after).count() == 0 and after.exceptAll(before).count() == 0
    else:  # those opens now happen after the snapshot: only push-open features may drop
        cols = [c for c in before.columns if "push_open" not in c]
        assert before.select(cols).exceptAll(after.select(cols)).count() == 0


def test_windows_count_exactly(spark, raw):
    tables, config = raw
    df = customer_features(tables, SNAPSHOT, config.features)
    orders = tables["raw.orders"]
    user = orders.where(F.col("event_date") < SNAPSHOT).orderBy(F.desc("event_date"), "user_id").first().user_id
    mine = orders.where((F.col("user_id") == user) & (F.col("event_date") < SNAPSHOT))
    expected = {w: mine.where(F.col("event_date") >= SNAPSHOT - dt.timedelta(days=w)).count() for w in (7, 28, 91)}
    row = df.where(F.col("user_id") == user).first()
    assert {w: int(row[f"orders_{w}d"]) for w in (7, 28, 91)} == expected
    last = mine.agg(F.max("event_date")).first()[0]
    assert row.days_since_order == (SNAPSHOT - last).days


def test_one_pass_over_several_snapshots_equals_one_build_per_snapshot(raw):
    """The multi-snapshot pass (a join with the dates) and the daily single-snapshot path agree exactly."""
    tables, config = raw
    earlier = SNAPSHOT - dt.timedelta(days=9)
    together = customer_features(tables, [earlier, SNAPSHOT], config.features)
    apart = customer_features(tables, earlier, config.features).unionByName(
        customer_features(tables, SNAPSHOT, config.features))
    assert together.count() == apart.count() > 0

    def rounded(df):  # sums of amounts differ in the last bit with the summation order
        return df.select(*[F.round(c, 6).alias(c) if t == "double" else F.col(c) for c, t in df.dtypes])

    assert rounded(together).exceptAll(rounded(apart)).count() == 0


def test_labels_are_exclusive_with_documented_precedence(spark):
    week = dt.date(2026, 1, 5)
    assignments = spark.createDataFrame(
        [(u, "north", "alpha", week, "exploration", k, 0.125, k) for u, k in
         [("buyer", 3), ("quitter", 7), ("both", 5), ("idle", 1), ("late", 2)]],
        "user_id string, region string, brand string, week_start date, policy string, planned_frequency int, "
        "assignment_prob double, sends int")
    orders = spark.createDataFrame(
        [("buyer", 20.0, week + dt.timedelta(days=2)), ("both", 5.0, week), ("late", 9.0, week + dt.timedelta(days=7))],
        "user_id string, amount double, event_date date")
    events = spark.createDataFrame(
        [("quitter", "unsubscribe", week + dt.timedelta(days=6)), ("both", "unsubscribe", week + dt.timedelta(days=3)),
         ("idle", "open", week)], "user_id string, event_type string, event_date date")
    out = {r.user_id: (r.label, r.revenue, r.k) for r in
           email_week_outcomes(assignments, orders, events, week + dt.timedelta(days=7)).collect()}
    assert out == {"buyer": (PURCHASE, 20.0, 3), "quitter": (UNSUBSCRIBE, 0.0, 7), "both": (UNSUBSCRIBE, 5.0, 5),
                   "idle": (NO_ACTION, 0.0, 1), "late": (NO_ACTION, 0.0, 2)}
    assert email_week_outcomes(assignments, orders, events, week + dt.timedelta(days=6)).count() == 0


def test_the_feature_table_follows_the_configured_windows(raw, spark, tmp_path):
    """Other ``features.windows`` give other columns, and the lake writes them (the catalog follows the config)."""
    tables, config = raw
    other = config.model_copy(update={
        "features": config.features.model_copy(update={"windows": (7, 28)}),
        "lake": config.lake.model_copy(update={"root": str(tmp_path / "lake")})})
    lake = open_lake(spark, other)
    df = customer_features(tables, SNAPSHOT, other.features)
    assert "orders_28d" in df.columns and "orders_91d" not in df.columns
    written = lake.write(df, CUSTOMER_DAILY, mode="replace", where={"snapshot_date": [SNAPSHOT]})
    assert written.rows == df.count()
    assert lake.read(CUSTOMER_DAILY).columns == df.columns
