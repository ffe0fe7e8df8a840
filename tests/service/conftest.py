"""A tiny lake with decision tables written directly through the lake API, and a real uvicorn server on
loopback in front of it (one per session: the API, queue and browser tests share it)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from sendopt.catalog import open_lake
from sendopt.config import ConfigLoader
from sendopt.lake.spec import spark_type

READ_TOKEN = "test-read-token"
WRITE_TOKEN = "test-write-token"
TODAY = dt.date(2026, 3, 2)
USERS = [f"u{i:04d}" for i in range(40)]
VIP = "u0003"


@pytest.fixture(autouse=True)
def _log_to_the_real_stderr():
    """A job run inside a test (capsys) points the root logger at the captured stream; the session's worker
    thread logs on after the test, so point it back at the process's stderr."""
    yield
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            with handler.lock:  # not setStream: it flushes the old stream, which capture has closed
                handler.stream = sys.__stderr__


def _default(column):
    t = spark_type(column.type).simpleString()
    return {"string": "x", "int": 0, "bigint": 0, "double": 0.0, "boolean": False, "date": TODAY,
            "timestamp": dt.datetime(2026, 3, 2, 6, 0)}.get(t.split("<")[0])


def rows_for(spec, rows: list[dict]) -> list[tuple]:
    """Tuples in ``spec``'s column order, non-nullable columns not given filled with a plain value."""
    return [tuple(r.get(c.name, None if c.nullable else _default(c)) for c in spec.columns) for r in rows]


def write(lake, table: str, rows: list[dict], **kw):
    spec = lake.spec(table)
    return lake.write(lake.spark.createDataFrame(rows_for(spec, rows), spec.schema), spec, **kw)


def seed_decisions(lake) -> None:
    """Email frequency (two dates, latest wins), push, coupons and merchants for USERS."""
    for day, k in ((TODAY - dt.timedelta(days=7), 1), (TODAY, 3)):
        write(lake, "decisions.email_frequency", [
            {"user_id": u, "decision_date": day, "region": "north", "brand": "alpha", "emails_per_week": k,
             "policy": "tiers", "is_exploration": False, "p_purchase": 0.1, "model_name": "email_north_alpha",
             "model_version": "4" if day == TODAY else "3", "run_id": f"r-{day}", "config_hash": "h"}
            for u in USERS], mode="replace", where={"decision_date": day, "region": "north", "brand": "alpha"})
    write(lake, "decisions.push_notifications", [
        {"user_id": u, "decision_date": TODAY, "region": "north", "brand": "alpha", "send_date": TODAY,
         "send_hour": 18, "strategy": "mcc_affinity", "store_id": 1001, "merchant_id": 1, "text": "hello",
         "model_versions": "score=heuristic-v1", "run_id": "r", "config_hash": "h",
         "decided_at": dt.datetime(2026, 3, 2, 5)} for u in USERS[:10]],
        mode="replace", where={"decision_date": TODAY, "region": "north", "brand": "alpha"})
    write(lake, "decisions.coupon_assignments", [
        {"user_id": u, "decision_date": TODAY - dt.timedelta(days=i % 3), "coupon_level": 10.0, "arm": 1,
         "reason": "allocated", "learner": "x", "model_name": "coupons", "model_version": "2", "run_id": "r",
         "config_hash": "h"} for i, u in enumerate(USERS[:20])], mode="append")
    write(lake, "raw.merchants", [
        {"merchant_id": m, "merchant_name": name, "mcc": "5812", "region": "north"}
        for m, name in ((1, "Pizza Uno"), (2, "Sushi Two"), (3, "Burger Three"))], mode="overwrite")


def counting_planner(lake_config):
    """Stands in for plan-promos (the queue tests need a planner they can count): writes the plan tables
    the way plan-promos does (replace the request's slice) and a planned status row."""
    calls = []

    def plan(claim, spark):
        calls.append(claim.request_id)
        lake = open_lake(spark, lake_config, run_id=f"plan-{claim.request_id}", job="plan-promos")
        rid = claim.request_id
        plans = [{"request_id": rid, "kind": "chosen" if rank == 1 else "pareto", "plan_rank": rank,
                  "name": f"plan{rank}", "designs": {"new": "d15_v0_m0", "active": "none"},
                  "reach": {"new": 0.5 + 0.1 * rank, "active": 0.0},
                  "metrics": {"net_revenue": 100.0 - 10 * rank, "net_revenue_lo": 80.0 - 10 * rank,
                              "net_revenue_hi": 120.0 - 10 * rank, "cost": 50.0 + 20 * rank, "cps": 2.0},
                  "params": {}, "feasible": True, "run_id": "p", "config_hash": "h"} for rank in (1, 2, 3)]
        plans += [{"request_id": rid, "kind": "segment", "plan_rank": 1, "name": seg, "designs": {seg: "d15_v0_m0"},
                   "reach": {seg: 0.6}, "metrics": {"cost": 25.0}, "params": {}, "feasible": True, "run_id": "p",
                   "config_hash": "h"} for seg in ("new", "active")]
        write(lake, "decisions.promo_plans", plans, mode="replace", where={"request_id": rid})
        write(lake, "ops.promo_request_status", [
            {"request_id": rid, "attempt": claim.epoch, "status": "planned", "reason": "",
             "updated_at": dt.datetime.now(dt.timezone.utc), "run_id": f"plan-{rid}", "config_hash": "h"}],
            mode="append")
        return f"plan-{rid}"

    plan.calls = calls
    return plan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A plain HTTP client (urllib) for the loopback server."""

    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body=None, token: str | None = WRITE_TOKEN, headers=None,
             raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text.decode(errors="replace")


class Served:
    """A Service and a real uvicorn in a thread on a free loopback port."""

    def __init__(self, spark, root, worker: bool) -> None:
        import uvicorn

        from sendopt.service.app import create_app
        from sendopt.service.server import Service

        vip = root / "vip.txt"
        vip.write_text(f"{VIP}\n")
        overrides = [f"lake.root={root}", "spark.master=local[2]", "spark.shuffle_partitions=4",
                     f"run.date={TODAY}", "service.worker.poll_s=0.2", "service.snapshot_refresh_s=0.3",
                     "service.worker.heartbeat_s=5", "service.worker.lease_s=30",
                     "service.suppression=" + json.dumps([{"name": "vip", "channels": ["coupon_assignments"],
                                                           "user_ids_file": str(vip), "reason": "VIP: no offers"}])]
        self.config = ConfigLoader("local", overrides=overrides).load()
        seed_decisions(open_lake(spark, self.config))
        self.planner = counting_planner(self.config)
        self.service = Service(ConfigLoader("local", overrides=overrides), spark=spark, planner=self.planner,
                               start_worker=worker)
        self.service.start()
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.service), host="127.0.0.1", port=free_port(),
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        assert self.server.started, "uvicorn did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = Client(f"http://127.0.0.1:{port}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.service.stop()


@pytest.fixture(scope="session")
def tokens():
    saved = {k: os.environ.get(k) for k in ("SENDOPT_READ_TOKEN", "SENDOPT_WRITE_TOKEN")}
    os.environ["SENDOPT_READ_TOKEN"], os.environ["SENDOPT_WRITE_TOKEN"] = READ_TOKEN, WRITE_TOKEN
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def service_env(spark, tmp_path_factory, tokens):
    """(client, service, planner, config): a served lake with decisions seeded and the worker running."""
    served = Served(spark, tmp_path_factory.mktemp("service_lake"), worker=True)
    yield served.client, served.service, served.planner, served.config
    served.stop()


@pytest.fixture(scope="session")
def quiet_env(spark, tmp_path_factory, tokens):
    """The same without a worker: requests stay pending (the burst test counts rows, plans nothing)."""
    served = Served(spark, tmp_path_factory.mktemp("quiet_lake"), worker=False)
    yield served.client, served.service, served.planner, served.config
    served.stop()


START = (TODAY + dt.timedelta(days=3)).isoformat()
END = (TODAY + dt.timedelta(days=16)).isoformat()


def body(**kw):
    return {"merchant_id": 1, "start_date": START, "end_date": END, "budget": 500.0, **kw}


def wait_for(client, request_id, statuses=("done", "failed"), timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        code, data = client.call("GET", f"/api/promo-requests/{request_id}", token=READ_TOKEN)
        assert code == 200, data
        if data["status"] in statuses:
            return data
        time.sleep(0.2)
    raise AssertionError(f"{request_id} still {data['status']} after {timeout}s")
