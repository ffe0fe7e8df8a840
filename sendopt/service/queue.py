"""The promo-request queue: the requests table is the queue, ``ops.promo_request_events`` its state.

No broker: a request without events is pending. A worker *claims* it by appending a ``running`` row with a
lease; of two workers claiming the same request and epoch at once, the claim committed first (the lower
Delta version; the claim id is in the commit's run id, so ``Lake.history`` tells) owns it and the other
backs off. This holds on both lake backends, since it needs no conflict detection from Delta, only its
ordered log. The owner renews its lease while planning; a dead worker's lease expires and the next claim
(epoch + 1) retakes the request. ``max_attempts`` claims without an end mark it failed.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass

from sendopt.catalog import open_lake
from sendopt.service.config import WorkerConfig
from sendopt.service.reads import VersionedRead
from sendopt.service.tables import PROMO_REQUEST_EVENTS

log = logging.getLogger("sendopt.service.queue")

TERMINAL = ("done", "failed")
_counter = iter(range(1, 1 << 30))


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{next(_counter)}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RequestState:
    request_id: str
    status: str  # pending | running | done | failed
    epoch: int  # highest claim epoch seen (0: never claimed)
    lease_until: dt.datetime | None = None
    worker_id: str | None = None
    reason: str | None = None
    plan_run_id: str | None = None
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Claim:
    request_id: str
    epoch: int
    claim_id: str
    worker_id: str


def _aware(value):
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def derive_states(rows: list[dict], now: dt.datetime) -> dict[str, RequestState]:
    """Each request's state from its event rows (a running lease past its end reads as pending)."""
    by_request: dict[str, list[dict]] = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append(row)
    out = {}
    for request_id, events in by_request.items():
        events.sort(key=lambda r: (r["epoch"], _aware(r["at"])))
        epoch = max(r["epoch"] for r in events)
        ends = [r for r in events if r["status"] in TERMINAL]
        if ends:
            end = ends[-1]
            out[request_id] = RequestState(request_id, end["status"], epoch, None, end["worker_id"], end["reason"],
                                           end["plan_run_id"], _aware(end["at"]))
            continue
        current = [r for r in events if r["epoch"] == epoch]
        lease = max(_aware(r["lease_until"]) for r in current if r["lease_until"] is not None)
        last = current[-1]
        status = "running" if lease > now else "pending"
        out[request_id] = RequestState(request_id, status, epoch, lease, last["worker_id"],
                                       "lease expired: retaken by the next worker" if status == "pending" else None,
                                       None, _aware(last["at"]))
    return out


class RequestQueue:
    """Claims, renewals and ends of promo requests over the events table (writes go through the lake)."""

    def __init__(self, spark, config, worker: WorkerConfig | None = None, clock=utcnow) -> None:
        self.clock = clock  # leases are judged on this clock (tests step it instead of sleeping)
        self.spark = spark
        self.config = config
        self.worker = worker or config.service.worker
        self.lake = open_lake(spark, config, job="promo-worker")
        self._events = VersionedRead(self.lake.path(PROMO_REQUEST_EVENTS), lambda t: t.to_pyarrow_table().to_pylist())

    # ------------------------------------------------------------------ reading
    def events(self) -> list[dict]:
        return list(self._events.get() or [])

    def states(self, now: dt.datetime | None = None) -> dict[str, RequestState]:
        return derive_states(self.events(), now or self.clock())

    def state(self, request_id: str, now: dt.datetime | None = None) -> RequestState:
        return self.states(now).get(request_id) or RequestState(request_id, "pending", 0)

    # ------------------------------------------------------------------ writing
    def _append(self, run_id: str, rows: list[dict]) -> None:
        open_lake(self.spark, self.config, run_id=run_id, job="promo-worker").append_rows(rows, PROMO_REQUEST_EVENTS)

    def _row(self, claim: Claim, status: str, lease_s: float | None = None, reason: str | None = None,
             plan_run_id: str | None = None) -> dict:
        now = self.clock()
        return {"request_id": claim.request_id, "epoch": claim.epoch, "status": status, "claim_id": claim.claim_id,
                "worker_id": claim.worker_id, "lease_until": now + dt.timedelta(seconds=lease_s) if lease_s else None,
                "at": now, "reason": reason, "plan_run_id": plan_run_id}

    def claim(self, request_id: str, worker_id: str) -> Claim | None:
        """Take ``request_id`` if it is pending (never claimed, or its lease expired); None if another holds it."""
        state = self.state(request_id)
        if state.status != "pending":
            return None
        claim = Claim(request_id, state.epoch + 1, uuid.uuid4().hex[:12], worker_id)
        if claim.epoch > self.worker.max_attempts:
            self.finish(claim, "failed", f"abandoned: {state.epoch} workers took it and none finished "
                        f"(service.worker.max_attempts={self.worker.max_attempts})")
            return None
        prefix = f"claim:{request_id}:{claim.epoch}:"
        self._append(prefix + claim.claim_id, [self._row(claim, "running", self.worker.lease_s)])
        if self.owner(request_id, claim.epoch) != claim.claim_id:
            log.info("claim %s of %s epoch %s lost to an earlier commit", claim.claim_id, request_id, claim.epoch)
            return None
        return claim

    def owner(self, request_id: str, epoch: int) -> str | None:
        """The claim id committed first for (request, epoch), from the table's commit log."""
        prefix = f"claim:{request_id}:{epoch}:"
        first = None
        for entry in self.lake.history(PROMO_REQUEST_EVENTS, limit=500):
            run_id = str(entry.get("sendopt.run_id", ""))
            if run_id.startswith(prefix) and (first is None or entry["version"] < first[0]):
                first = (entry["version"], run_id[len(prefix):])
        return None if first is None else first[1]

    def renew(self, claim: Claim) -> None:
        self._append(f"renew:{claim.claim_id}", [self._row(claim, "running", self.worker.lease_s)])

    def finish(self, claim: Claim, status: str, reason: str | None = None, plan_run_id: str | None = None) -> None:
        assert status in TERMINAL
        self._append(f"{status}:{claim.claim_id}", [self._row(claim, status, None, reason, plan_run_id)])


class Heartbeat:
    """Renews a claim's lease every ``heartbeat_s`` until stopped (the worker thread plans meanwhile)."""

    def __init__(self, queue: RequestQueue, claim: Claim) -> None:
        self.queue, self.claim = queue, claim
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{claim.request_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.queue.worker.heartbeat_s):
            try:
                self.queue.renew(self.claim)
            except Exception as exc:  # a missed renewal shortens the lease; the next one may succeed
                log.error("lease renewal of %s failed: %s", self.claim.request_id, exc)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


