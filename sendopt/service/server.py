"""``sendopt serve`` and ``sendopt worker``: one process, one warm Spark session, the lake, the snapshot.

The service starts Spark once (for the lake's appends and the in-process worker); the decision snapshot and
every read use delta-rs and never start a Spark job per request.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading

from sendopt.catalog import open_lake
from sendopt.config import ConfigLoader
from sendopt.errors import ConfigError
from sendopt.service.queue import RequestQueue
from sendopt.service.requests import RequestBook
from sendopt.service.snapshot import DecisionSnapshot
from sendopt.service.tables import PROMO_REQUEST_EVENTS
from sendopt.service.worker import Planner, Worker, alive_workers, plan_with_runner

log = logging.getLogger("sendopt.service")


class Service:
    """What the app serves from: config, Spark, lake, decision snapshot, request book, worker."""

    def __init__(self, loader: ConfigLoader, spark=None, planner: Planner | None = None,
                 start_worker: bool | None = None) -> None:
        from sendopt.spark import get_spark

        self.loader = loader
        self.config = loader.load()
        self.spark = spark or get_spark(self.config)
        self.lake = open_lake(self.spark, self.config, job="service")
        self.snapshot = DecisionSnapshot(self.lake, self.config.service)
        self.queue = RequestQueue(self.spark, self.config)
        self.book = RequestBook(self.spark, self.config, self.lake, self.queue)
        in_process = self.config.service.worker.in_process if start_worker is None else start_worker
        self.worker = Worker(self.spark, self.config, self.book, planner or plan_with_runner(loader)) \
            if in_process else None

    def start(self) -> None:
        self.snapshot.start()
        if self.worker is not None:
            self.worker.start()

    def stop(self) -> None:
        self.snapshot.stop()
        if self.worker is not None:
            self.worker.stop()

    def health(self) -> dict:
        root = os.path.abspath(self.config.lake.root)
        # a lake nothing has been written to yet is reachable when its root can be created
        reachable = (os.path.isdir(root) or os.access(os.path.dirname(root) or ".", os.W_OK)) \
            if "://" not in self.config.lake.root else True
        versions = dict(self.snapshot.versions())
        for spec in ("ops.promo_requests", "ops.promo_request_status", PROMO_REQUEST_EVENTS.full_name):
            try:
                versions[spec] = self.lake.version(spec)
            except Exception as exc:  # an unreadable table is a health finding, not a crash
                versions[spec] = f"unreadable: {exc}"
                reachable = False
        workers = alive_workers(self.config)
        in_process = self.worker is not None
        worker_ok = (self.worker.alive if in_process else bool(workers))
        return {"ok": bool(reachable and worker_ok), "lake": {"root": root, "reachable": reachable},
                "tables": versions,
                "snapshot_refreshed_at": self.snapshot.refreshed_at,
                "worker": {"in_process": in_process, "alive": worker_ok, "workers": workers}}


def check_tokens(config) -> None:
    auth = config.service.auth
    missing = [v for v in (auth.read_token_env, auth.write_token_env) if not os.environ.get(v)]
    if missing and auth.require_tokens:
        raise ConfigError(f"sendopt serve: set the bearer tokens in the environment ({', '.join(missing)}), or "
                          "service.auth.require_tokens=false to refuse those calls with 403")


def serve(loader: ConfigLoader, host: str | None = None, port: int | None = None) -> int:
    import uvicorn

    from sendopt.service.app import create_app

    config = loader.load()
    check_tokens(config)
    service = Service(loader)
    service.start()
    cfg = config.service
    print(f"sendopt service on http://{host or cfg.host}:{port or cfg.port}/ (OpenAPI: /docs)", flush=True)
    try:
        uvicorn.run(create_app(service), host=host or cfg.host, port=port or cfg.port, log_level=cfg.log_level)
    finally:
        service.stop()
    return 0


def work(loader: ConfigLoader) -> int:
    """``sendopt worker``: the queue's worker alone (``service.worker.in_process=false`` on the server)."""
    service = Service(loader, start_worker=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service.worker.start()
    print(f"sendopt worker {service.worker.worker_id} polling every {service.config.service.worker.poll_s:g}s",
          flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    service.worker.stop()
    return 0
