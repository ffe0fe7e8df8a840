"""Promo requests behind the API: validation (the channel's own), idempotent appends, status and plans.

Validation is ``sendopt.channels.promo.requests.normalize_request`` — the same rules and words as
``submit-promo-request``. Accepted requests are appended to ``ops.promo_requests`` through the lake in
*group commits*: POSTs that arrive within ``service.write_batch_s`` share one Delta commit, so a burst of
concurrent POSTs costs a few commits, and each POST returns only after its row is committed.
An ``Idempotency-Key`` fixes the request id (``pr-`` + a hash of the key): a retried POST finds the
request already stored (in this process's index, or in the table written by another) and gets it back.
Reads (status, plans, merchants) use delta-rs on the tables' latest versions, cached per version.
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import hashlib
import json
import logging
import os
import queue
import threading
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable

from sendopt.channels.promo.requests import FieldError, RequestError, normalize_request
from sendopt.channels.promo.tables import PROMO_PLANS, PROMO_REQUEST_STATUS, PROMO_REQUESTS
from sendopt.service.queue import RequestQueue, utcnow
from sendopt.service.reads import VersionedRead, arrow_rows

log = logging.getLogger("sendopt.service.requests")

#: Fields of the stored row that are not the caller's (excluded when comparing a retry with the original).
SERVER_FIELDS = ("request_id", "submitted_at", "status", "submitted_by")


def request_id_for_key(key: str) -> str:
    return "pr-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def _fingerprint(row: dict[str, Any]) -> str:
    body = {k: v for k, v in row.items() if k not in SERVER_FIELDS}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def metric(metrics: dict[str, float], name: str) -> float | None:
    """``metrics[name]``, else the first point metric whose name contains it (the Pareto chart's axes)."""
    if name in metrics:
        return metrics[name]
    for alias in {"net": ("net_revenue", "net_value"), "cost": ()}.get(name, ()):
        if alias in metrics:
            return metrics[alias]
    for key in sorted(metrics):
        if name in key and not key.endswith(("_lo", "_hi")):
            return metrics[key]
    return None


class ConflictError(Exception):
    """The id is taken by a request with a different body (a reused Idempotency-Key)."""


def _rows_by_id(table: DeltaTable) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for row in arrow_rows(table.to_pyarrow_table()):
        out.setdefault(row["request_id"], row)  # a duplicate append of one id (two processes) reads as one
    return out


def _status_by_id(table: DeltaTable) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for row in sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: (r["attempt"], r["updated_at"])):
        out[row["request_id"]] = row
    return out


def _merchants(table: DeltaTable) -> list[dict]:
    cols = [c for c in ("merchant_id", "merchant_name", "mcc", "region") if c in table.schema().to_arrow().names]
    return sorted(table.to_pyarrow_table(columns=cols).to_pylist(), key=lambda r: r["merchant_id"])


class RequestBook:
    """The API's side of ``ops.promo_requests``: submit (group-committed), read, status, plans."""

    def __init__(self, spark, config, lake, queue_: RequestQueue, today: dt.date | None = None) -> None:
        self.spark, self.config, self.lake, self.queue = spark, config, lake, queue_
        self.today = today
        self.requests = VersionedRead(lake.path(PROMO_REQUESTS), _rows_by_id)
        self.status = VersionedRead(lake.path(PROMO_REQUEST_STATUS), _status_by_id)
        self.merchant_list = VersionedRead(lake.path("raw.merchants"), _merchants)
        self._index: dict[str, str] = {}  # request_id → fingerprint, committed or in flight
        self._ids: set[str] = set()  # every request id in the table's files read so far
        self._id_files: dict[str, list[str]] = {}
        self._lock_ids = threading.Lock()
        self._inflight: dict[str, cf.Future] = {}
        self._lock = threading.Lock()
        self._pending: queue.Queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="request-writer", daemon=True)
        self._writer.start()

    # -------------------------------------------------------------- submit
    def submit(self, payload: dict[str, Any], idempotency_key: str | None, submitted_by: str) -> tuple[dict, bool]:
        """(stored row, created). Raises RequestError (422) or ConflictError (409)."""
        payload = dict(payload)
        if idempotency_key:
            key_id = request_id_for_key(idempotency_key)
            if payload.get("request_id") not in (None, "", key_id):
                raise RequestError([FieldError("request_id", "give either a request_id or an Idempotency-Key "
                                               "header, not both")])
            payload["request_id"] = key_id
        payload.setdefault("submitted_by", submitted_by)
        today = self.today or self.config.run.date or utcnow().date()
        row = normalize_request(payload, today=today, limits=self.config.promo.requests)
        self._check_merchant(row["merchant_id"])
        fingerprint = _fingerprint(row)
        with self._lock:
            known = self._index.get(row["request_id"])
            if known is None:
                stored = self._stored(row["request_id"])
                if stored is not None:
                    known = self._index[row["request_id"]] = _fingerprint(stored)
            if known is not None:
                if known != fingerprint:
                    raise ConflictError(f"request {row['request_id']} exists with a different body")
                future = self._inflight.get(row["request_id"])
            else:
                self._index[row["request_id"]] = fingerprint
                future = self._inflight[row["request_id"]] = cf.Future()
                self._pending.put((row, future))
                created = True
        if known is not None:
            if future is not None:
                future.result(timeout=120)  # the original is still being committed: wait for it
            return self.get(row["request_id"]) or row, False
        try:
            future.result(timeout=120)
        except Exception:
            with self._lock:
                self._index.pop(row["request_id"], None)
            raise
        finally:
            with self._lock:
                self._inflight.pop(row["request_id"], None)
        return row, created

    def _stored(self, request_id: str) -> dict | None:
        """The row another process (or an earlier run of this one) stored under ``request_id``, if any.

        The ids in the table are indexed file by file as commits add them (only new files are read), so a
        POST costs the same whatever the table's size; the row itself is read only for an id found."""
        table = self.requests.table()
        if table is None:
            return None
        with self._lock_ids:
            actions = pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist()
            for path in actions:
                if path not in self._id_files:
                    ids = pq.read_table(os.path.join(table.table_uri.removeprefix("file://"), path),
                                        columns=["request_id"]).column("request_id").to_pylist()
                    self._id_files[path] = ids
                    self._ids.update(ids)
            if request_id not in self._ids:
                return None
        rows = table.to_pyarrow_dataset().to_table(filter=ds.field("request_id") == request_id)
        return arrow_rows(rows.slice(0, 1))[0] if rows.num_rows else None

    def _check_merchant(self, merchant_id: int) -> None:
        merchants = self.merchant_list.get()
        if merchants is not None and merchant_id not in {m["merchant_id"] for m in merchants}:
            raise RequestError([FieldError("merchant_id", f"merchant {merchant_id} is not in raw.merchants")])

    def _write_loop(self) -> None:
        """Group commit: take what arrived within write_batch_s and append it in one lake write."""
        while True:
            batch = [self._pending.get()]
            deadline = utcnow() + dt.timedelta(seconds=self.config.service.write_batch_s)
            while True:
                left = (deadline - utcnow()).total_seconds()
                try:
                    batch.append(self._pending.get(timeout=max(left, 0)) if left > 0 else self._pending.get_nowait())
                except queue.Empty:
                    break
            rows = [r for r, _ in batch]
            try:
                self.lake.append_rows(rows, PROMO_REQUESTS)
            except Exception as exc:
                log.error("appending %d promo requests failed: %s", len(rows), exc)
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            for _, fut in batch:
                fut.set_result(True)

    # -------------------------------------------------------------- read
    def get(self, request_id: str) -> dict | None:
        return (self.requests.get() or {}).get(request_id)

    def list(self, limit: int = 50) -> list[dict]:
        rows = sorted((self.requests.get() or {}).values(), key=lambda r: r["submitted_at"], reverse=True)
        return rows[:limit]

    def pending_ids(self) -> list[str]:
        """Requests neither planned nor failed nor under a live lease, oldest first."""
        requests = self.requests.get() or {}
        states = self.queue.states()
        status = self.status.get() or {}
        out = []
        for rid, _row in sorted(requests.items(), key=lambda kv: kv[1]["submitted_at"]):
            if rid in status and status[rid]["status"] in ("planned", "failed"):
                continue
            state = states.get(rid)
            if state is None or state.status == "pending":
                out.append(rid)
        return out

    def state(self, request_id: str) -> dict:
        """pending → running → done | failed, with the reason."""
        planned = (self.status.get() or {}).get(request_id)
        lease = self.queue.state(request_id)
        if planned is not None and planned["status"] == "planned":
            return {"status": "done", "reason": planned["reason"] or None, "updated_at": planned["updated_at"],
                    "model_versions": planned.get("model_versions"), "plan_run_id": planned.get("run_id")}
        if planned is not None and planned["status"] == "failed":
            return {"status": "failed", "reason": planned["reason"], "updated_at": planned["updated_at"]}
        if lease.status == "failed":
            return {"status": "failed", "reason": lease.reason, "updated_at": lease.updated_at}
        return {"status": "running" if lease.status == "running" else "pending", "reason": lease.reason,
                "updated_at": lease.updated_at, "attempt": lease.epoch, "lease_until": lease.lease_until}

    def plans(self, request_id: str) -> dict:
        """Ranked plans, the Pareto front and per-segment coverage from decisions.promo_plans."""
        path = self.lake.path(PROMO_PLANS)
        if not DeltaTable.is_deltatable(path):
            return {"plans": [], "pareto": [], "segments": []}
        rows = arrow_rows(DeltaTable(path).to_pyarrow_dataset().to_table(filter=ds.field("request_id") == request_id))
        for r in rows:
            r.pop("config_hash", None)
            r["metrics"] = r.get("metrics") or {}
        by_rank = sorted((r for r in rows if r["kind"] in ("chosen", "pareto")), key=lambda r: r["plan_rank"])
        return {"plans": by_rank,
                "pareto": [{"plan_rank": r["plan_rank"], "chosen": r["kind"] == "chosen",
                            "cost": metric(r["metrics"], "cost"), "net_revenue": metric(r["metrics"], "net"),
                            "feasible": r["feasible"]} for r in by_rank],
                "segments": sorted((r for r in rows if r["kind"] == "segment"), key=lambda r: r["name"]),
                "regions": sorted((r for r in rows if r["kind"] == "region"), key=lambda r: r["name"])}

    def merchants(self, q: str = "", limit: int = 20) -> list[dict]:
        q = q.strip().lower()
        out = []
        for m in self.merchant_list.get() or []:
            if not q or q in str(m["merchant_id"]) or q in str(m.get("merchant_name") or "").lower():
                out.append(m)
                if len(out) >= limit:
                    break
        return out


