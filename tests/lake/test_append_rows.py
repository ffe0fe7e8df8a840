"""Lake.append_rows: a few rows committed without a Spark job, readable by Spark, atomic, checked."""
from __future__ import annotations

import datetime as dt

import pytest

from sendopt.catalog import open_lake
from sendopt.errors import LakeError
from sendopt.service.tables import PROMO_REQUEST_EVENTS
from tests.conftest import require_jars

AT = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)


def event(i):
    return {"request_id": f"r{i}", "epoch": 1, "status": "running", "claim_id": f"c{i}", "worker_id": "w",
            "lease_until": AT + dt.timedelta(minutes=5), "at": AT}


@pytest.fixture(params=["embedded", "spark_delta"])
def lake(request, spark, lake_config):
    """Both backends: embedded commits from Arrow, Spark's Delta writes the rows as a small DataFrame."""
    if request.param == "spark_delta":
        require_jars(spark, "delta")
    config = lake_config.model_copy(update={"lake": lake_config.lake.model_copy(update={"backend": request.param})})
    return open_lake(spark, config)


def test_append_rows_creates_appends_and_spark_reads_them(lake):
    first = lake.append_rows([event(1)], PROMO_REQUEST_EVENTS)
    second = lake.append_rows([event(2), event(3)], PROMO_REQUEST_EVENTS)
    assert (first.version, second.version) == (0, 1)
    rows = lake.read(PROMO_REQUEST_EVENTS).orderBy("request_id").collect()
    assert [r["request_id"] for r in rows] == ["r1", "r2", "r3"] and rows[0]["reason"] is None
    assert rows[0]["lease_until"].astimezone(dt.timezone.utc) == AT + dt.timedelta(minutes=5)
    assert lake.history(PROMO_REQUEST_EVENTS, limit=1)[0]["sendopt.run_id"] == lake.run_id


def test_append_rows_refuses_a_missing_required_column(lake):
    bad = event(4)
    del bad["worker_id"]
    with pytest.raises(LakeError, match="worker_id"):
        lake.append_rows([bad], PROMO_REQUEST_EVENTS)
    assert not lake.exists(PROMO_REQUEST_EVENTS)


def test_first_appends_racing_to_create_the_table_all_land(spark, lake_config):
    """Workers that append to a table nobody has created yet: one creates it, the others append to it."""
    from concurrent.futures import ThreadPoolExecutor

    lake = open_lake(spark, lake_config)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: lake.append_rows([event(i)], PROMO_REQUEST_EVENTS), range(8)))
    assert sorted(r["request_id"] for r in lake.read(PROMO_REQUEST_EVENTS).collect()) == [f"r{i}" for i in range(8)]
