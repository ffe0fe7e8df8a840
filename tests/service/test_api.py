"""The service over a real uvicorn on loopback: auth, validation, idempotency, decisions, the worker."""
from __future__ import annotations

import concurrent.futures as cf
import time

import pytest
from deltalake import DeltaTable

from sendopt.catalog import open_lake
from tests.service.conftest import READ_TOKEN, TODAY, USERS, VIP, body, wait_for, write


def request_rows(config, spark):
    path = open_lake(spark, config).path("ops.promo_requests")
    if not DeltaTable.is_deltatable(path):
        return []
    return DeltaTable(path).to_pyarrow_table(columns=["request_id"]).to_pylist()


def test_health_openapi_and_auth(service_env):
    client, _, _, _ = service_env
    code, health = client.call("GET", "/health", token=None)
    assert code == 200 and health["ok"] and health["worker"]["alive"]
    assert health["tables"]["decisions.email_frequency"] == 1
    code, schema = client.call("GET", "/openapi.json", token=None)
    assert "/api/promo-requests" in schema["paths"] and "/api/customers/{user_id}/decisions" in schema["paths"]
    assert client.call("GET", "/api/merchants", token=None)[0] == 401
    assert client.call("GET", "/api/merchants", token="wrong")[0] == 403
    code, err = client.call("POST", "/api/promo-requests", body(), token=READ_TOKEN)
    assert code == 403 and err["detail"][0]["field"] == "Authorization"
    code, merchants = client.call("GET", "/api/merchants?q=sushi", token=READ_TOKEN)
    assert code == 200 and [m["merchant_id"] for m in merchants["merchants"]] == [2]


def test_decisions_latest_per_channel_with_models_and_suppression(service_env, spark):
    client, service, _, config = service_env
    code, data = client.call("GET", f"/api/customers/{USERS[1]}/decisions", token=READ_TOKEN)
    assert code == 200
    by_table = {d["table"]: d for d in data["decisions"]}
    email = by_table["decisions.email_frequency"]
    assert email["decision_date"] == TODAY.isoformat() and email["decision"]["emails_per_week"] == 3
    assert email["model"] == {"model_name": "email_north_alpha", "model_version": "4"}
    assert by_table["decisions.push_notifications"]["model"]["model_versions"] == "score=heuristic-v1"
    assert by_table["decisions.coupon_assignments"]["decision"]["coupon_level"] == 10.0
    assert "config_hash" not in email["decision"]
    code, vip = client.call("GET", f"/api/customers/{VIP}/decisions", token=READ_TOKEN)
    coupon = {d["table"]: d for d in vip["decisions"]}["decisions.coupon_assignments"]
    assert coupon["suppressed"]["rule"] == "vip" and "coupon_level" not in coupon["decision"]
    assert client.call("GET", "/api/customers/nobody/decisions", token=READ_TOKEN)[0] == 404
    assert client.call("GET", f"/api/customers/{USERS[1]}0/decisions", token=READ_TOKEN)[0] == 404  # no prefix match
    # a new version of a table reaches the snapshot without restarting (refresh on version change)
    lake = open_lake(spark, config)
    write(lake, "decisions.email_frequency", [
        {"user_id": u, "decision_date": TODAY, "region": "north", "brand": "alpha", "emails_per_week": 7,
         "policy": "tiers", "is_exploration": False, "model_version": "5", "run_id": "r2", "config_hash": "h"}
        for u in USERS], mode="replace", where={"decision_date": TODAY, "region": "north", "brand": "alpha"})
    deadline = time.time() + 20
    while time.time() < deadline:
        data = client.call("GET", f"/api/customers/{USERS[1]}/decisions", token=READ_TOKEN)[1]
        email = {d["table"]: d for d in data["decisions"]}["decisions.email_frequency"]
        if email["model"]["model_version"] == "5":
            break
        time.sleep(0.2)
    assert email["decision"]["emails_per_week"] == 7


@pytest.mark.parametrize("payload, raw, code, field", [
    (body(budget=-5), None, 422, "budget"),
    (body(budget="lots"), None, 422, "budget"),
    (body(colour="red"), None, 422, "colour"),
    (body(end_date="2026-03-01"), None, 422, "end_date"),
    (body(merchant_id=999), None, 422, "merchant_id"),
    (None, b'{"merchant_id": 1,', 400, "body"),
    (None, b'[1, 2]', 422, "body"),
    (None, b'{"x": "' + b"a" * 70000 + b'"}', 413, "body"),
])
def test_bad_input_gets_a_4xx_naming_the_field(service_env, payload, raw, code, field):
    client = service_env[0]
    got, err = client.call("POST", "/api/promo-requests", payload, raw=raw)
    assert got == code, err
    assert field in [e["field"] for e in err["detail"]], err


def test_idempotency_key_returns_the_same_request(service_env, spark):
    client, _, _, config = service_env
    first = client.call("POST", "/api/promo-requests", body(budget=321.0), headers={"Idempotency-Key": "k-1"})
    again = client.call("POST", "/api/promo-requests", body(budget=321.0), headers={"Idempotency-Key": "k-1"})
    assert first[0] == 201 and again[0] == 200
    assert first[1]["request_id"] == again[1]["request_id"]
    assert [r["request_id"] for r in request_rows(config, spark)].count(first[1]["request_id"]) == 1
    code, err = client.call("POST", "/api/promo-requests", body(budget=999.0), headers={"Idempotency-Key": "k-1"})
    assert code == 409 and err["detail"][0]["field"] == "Idempotency-Key"


def test_a_request_is_planned_and_its_plans_served(service_env):
    client, _, planner, _ = service_env
    code, created = client.call("POST", "/api/promo-requests", body(max_cps=8.0), headers={"Idempotency-Key": "p1"})
    assert code == 201 and created["status"] in ("pending", "running")
    done = wait_for(client, created["request_id"])
    assert done["status"] == "done", done
    assert [p["plan_rank"] for p in done["plans"]] == [1, 2, 3] and done["plans"][0]["kind"] == "chosen"
    assert done["pareto"][0] == {"plan_rank": 1, "chosen": True, "cost": 70.0, "net_revenue": 90.0, "feasible": True}
    assert {s["name"] for s in done["segments"]} == {"new", "active"}
    assert planner.calls.count(created["request_id"]) == 1


def test_concurrent_posts_land_exactly_once(quiet_env, spark):
    """200 POSTs at once (50 of them retried with the same key) → 200 requests, one row each."""
    client, _, _, config = quiet_env
    before = len(request_rows(config, spark))

    def post(i):
        return client.call("POST", "/api/promo-requests", body(budget=1000.0 + i),
                           headers={"Idempotency-Key": f"burst-{i}"})

    with cf.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(post, [*range(200), *range(50)]))
    assert all(code in (200, 201) for code, _ in results), [r for r in results if r[0] not in (200, 201)][:3]
    ids = {data["request_id"] for _, data in results}
    assert len(ids) == 200
    rows = [r["request_id"] for r in request_rows(config, spark)]
    assert len(rows) - before == 200 and ids <= set(rows)


def test_a_post_while_the_worker_is_down_is_planned_later(service_env):
    from sendopt.service.worker import Worker

    client, service, planner, _ = service_env
    service.worker.stop()
    try:
        code, created = client.call("POST", "/api/promo-requests", body(budget=77.0),
                                    headers={"Idempotency-Key": "while-down"})
        assert code == 201
        time.sleep(1.0)
        assert client.call("GET", f"/api/promo-requests/{created['request_id']}", token=READ_TOKEN)[1]["status"] \
            == "pending"
    finally:
        service.worker = Worker(service.spark, service.config, service.book, planner)
        service.worker.start()
    assert wait_for(client, created["request_id"], timeout=120)["status"] == "done"


def test_the_runner_planner_runs_plan_promos_and_a_failure_ends_the_request_failed(quiet_env, spark):
    """The production planner: plan-promos through the runner (the ledger records it); on this lake it cannot plan
    (no raw promo history), so the request ends failed with the job's reason instead of hanging in running."""
    from sendopt.catalog import open_lake
    from sendopt.config import ConfigLoader
    from sendopt.service.worker import Worker, plan_with_runner

    client, service, _, config = quiet_env
    code, created = client.call("POST", "/api/promo-requests", body(budget=55.0), headers={"Idempotency-Key": "runner"})
    assert code == 201
    worker = Worker(spark, config, service.book, plan_with_runner(ConfigLoader("local", overrides=[
        f"lake.root={config.lake.root}", "spark.master=local[2]", "spark.shuffle_partitions=4", f"run.date={TODAY}"])))
    claim = service.queue.claim(created["request_id"], worker.worker_id)
    worker.handle(claim)
    state = service.book.state(created["request_id"])
    assert state["status"] == "failed" and state["reason"], state
    runs = open_lake(spark, config).read("ops.job_runs").where("job = 'plan-promos'").collect()
    assert runs and runs[-1]["status"] == "failed"
