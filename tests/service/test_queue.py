"""The requests table as the queue: leases, retake after expiry, one owner among concurrent claims."""
from __future__ import annotations

import datetime as dt
import threading
import time

from sendopt.catalog import open_lake
from sendopt.channels.promo.requests import normalize_request, request_frame
from sendopt.channels.promo.tables import PROMO_REQUESTS
from sendopt.service.config import WorkerConfig
from sendopt.service.queue import RequestQueue, derive_states
from sendopt.service.requests import RequestBook
from sendopt.service.worker import Worker

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)


def event(rid, epoch, status, lease_s=None, at_s=0, claim="c"):
    at = NOW + dt.timedelta(seconds=at_s)
    return {"request_id": rid, "epoch": epoch, "status": status, "claim_id": claim, "worker_id": "w",
            "lease_until": at + dt.timedelta(seconds=lease_s) if lease_s else None, "at": at, "reason": None,
            "plan_run_id": None}


def test_states_from_events():
    rows = [event("a", 1, "running", 60), event("b", 1, "running", 10), event("b", 1, "running", 100, at_s=5),
            event("c", 1, "running", 10), event("d", 1, "running", 10), event("d", 1, "done", at_s=3)]
    states = derive_states(rows, NOW + dt.timedelta(seconds=30))
    assert states["a"].status == "running"
    assert states["b"].status == "running"  # renewed
    assert states["c"].status == "pending" and "expired" in states["c"].reason
    assert states["d"].status == "done"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_a_dead_workers_request_is_retaken_after_its_lease(spark, lake_config):
    short = WorkerConfig(lease_s=60, max_attempts=2)
    clock = Clock()
    a, b = RequestQueue(spark, lake_config, short, clock), RequestQueue(spark, lake_config, short, clock)
    first = a.claim("r1", "worker-a")  # worker a takes it and dies (never renews or finishes)
    assert first is not None and first.epoch == 1
    assert b.claim("r1", "worker-b") is None  # held under a's lease
    clock.sleep(61)
    assert b.state("r1").status == "pending"
    second = b.claim("r1", "worker-b")
    assert second is not None and second.epoch == 2
    b.finish(second, "done", plan_run_id="run-2")
    assert a.state("r1").status == "done" and a.claim("r1", "worker-a") is None
    # a request that keeps losing its workers ends failed after max_attempts
    assert a.claim("r2", "worker-a").epoch == 1
    clock.sleep(61)
    assert b.claim("r2", "worker-b").epoch == 2
    clock.sleep(61)
    assert a.claim("r2", "worker-a") is None
    state = a.state("r2")
    assert state.status == "failed" and "max_attempts" in state.reason


def test_concurrent_workers_plan_a_request_once(spark, lake_config):
    lake = open_lake(spark, lake_config)
    row = normalize_request({"merchant_id": 1, "start_date": "2026-03-05", "end_date": "2026-03-12",
                             "budget": 100, "request_id": "race"})
    lake.write(request_frame(spark, [row]), PROMO_REQUESTS, mode="append")
    calls = []

    def planner(claim, _spark):
        calls.append(claim.worker_id)
        time.sleep(0.5)
        return "run"

    queue = RequestQueue(spark, lake_config)
    workers = [Worker(spark, lake_config, RequestBook(spark, lake_config, lake, queue), planner, f"w{i}")
               for i in range(3)]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(calls) == 1
    claims = [e for e in queue.events() if e["request_id"] == "race" and e["status"] == "running"]
    owner = queue.owner("race", 1)
    assert owner in {c["claim_id"] for c in claims}
    # the planner reported nothing in ops.promo_request_status, so the worker says so instead of "done"
    state = queue.state("race")
    assert state.status == "failed" and "without planning it" in state.reason
