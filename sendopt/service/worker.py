"""The promo-request worker: claims pending requests off the queue and plans each through the runner.

One warm Spark session for every request (the service's, or ``sendopt worker``'s own). ``plan`` is the one
interface to the planner: by default :func:`plan_with_runner` runs the ``plan-promos`` job through
``sendopt.runner.run_job`` exactly as the CLI would; tests pass their own planner to exercise the queue.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from sendopt.config import ConfigLoader
from sendopt.errors import SendoptError
from sendopt.service.queue import Claim, Heartbeat, RequestQueue, new_worker_id, utcnow

log = logging.getLogger("sendopt.service.worker")

#: (claim, spark) → run id of the plan-promos run that planned it; raises when it could not plan.
Planner = Callable[[Claim, object], str]


def plan_with_runner(loader: ConfigLoader) -> Planner:
    """Run ``plan-promos`` for the claimed request through the runner (a retake replans it)."""
    from sendopt.observability import configure_logging
    from sendopt.registry import jobs
    from sendopt.runner import run_job

    def plan(claim: Claim, spark) -> str:
        extra = [f"promo.request_id={json.dumps(claim.request_id)}"]  # plan just this one
        if claim.epoch > 1:  # a dead worker's run may have claimed the first attempt
            extra.append(f"promo.replan={json.dumps([claim.request_id])}")
        sub = ConfigLoader(loader.env, loader.extra_files, [*loader.overrides, *extra], loader.conf_dir)
        try:
            contexts = run_job(jobs()["plan-promos"], sub, spark=spark)
        finally:  # the run logged to its own file; the service's own lines go back to stderr only
            configure_logging(sub.load().logging.level)
        return contexts[0].run_id if contexts else ""

    return plan


def beat_dir(config) -> Path:
    return Path(os.path.abspath(config.lake.root)) / "_service" / "workers"


def alive_workers(config) -> list[dict]:
    """Workers whose last beat is younger than ``service.worker.alive_after_s``."""
    out = []
    folder = beat_dir(config)
    if not folder.is_dir():
        return out
    now = utcnow().timestamp()
    for f in folder.glob("*.json"):
        try:
            beat = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if now - beat.get("beat_at", 0) <= config.service.worker.alive_after_s:
            out.append(beat)
    return out


class Worker:
    """Polls the queue every ``poll_s``; one request at a time (several workers may run side by side)."""

    def __init__(self, spark, config, book, planner: Planner, worker_id: str | None = None) -> None:
        self.spark, self.config, self.book, self.planner = spark, config, book, planner
        self.queue: RequestQueue = book.queue
        self.worker_id = worker_id or new_worker_id()
        self.current: str | None = None
        self.planned: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        folder = beat_dir(self.config)
        folder.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() else "_" for c in self.worker_id)
        tmp = folder / f".{name}.tmp"
        tmp.write_text(json.dumps({"worker_id": self.worker_id, "beat_at": utcnow().timestamp(),
                                   "current": self.current}))
        tmp.replace(folder / f"{name}.json")

    def run_once(self) -> int:
        """Claim and plan every pending request once; returns how many this worker planned or failed."""
        done = 0
        for request_id in self.book.pending_ids():
            if self._stop.is_set():
                break
            claim = self.queue.claim(request_id, self.worker_id)
            if claim is not None:
                self.handle(claim)
                done += 1
        return done

    def handle(self, claim: Claim) -> None:
        self.current = claim.request_id
        self.beat()
        log.info("worker %s plans %s (epoch %s)", self.worker_id, claim.request_id, claim.epoch)
        try:
            with Heartbeat(self.queue, claim):
                run_id = self.planner(claim, self.spark)
        except Exception as exc:
            message = str(exc) if isinstance(exc, SendoptError) else f"{type(exc).__name__}: {exc}"
            log.error("planning %s failed: %s", claim.request_id, message)
            self.queue.finish(claim, "failed", message.splitlines()[0][:2000] if message else type(exc).__name__)
        else:
            state = self.book.state(claim.request_id)
            if state["status"] == "done":
                self.queue.finish(claim, "done", plan_run_id=run_id)
            elif state["status"] == "failed":
                self.queue.finish(claim, "failed", state.get("reason"), plan_run_id=run_id)
            else:
                self.queue.finish(claim, "failed", f"plan-promos run {run_id} ended without planning it",
                                  plan_run_id=run_id)
            self.planned.append(claim.request_id)
        finally:
            self.current = None
            self.beat()

    def loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
                self.run_once()
            except Exception as exc:  # the queue read failed (lake away?): say so and try again later
                log.error("worker %s: %s", self.worker_id, exc)
            self._stop.wait(self.config.service.worker.poll_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.loop, name=f"promo-worker-{self.worker_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
