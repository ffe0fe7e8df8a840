"""The ``service:`` config section: where ``sendopt serve`` listens, who may call it, what it hides.

Tokens are never configured here: the section names the environment variables that hold them, so a
config file (or a commit) never carries a secret.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from sendopt.strict import Strict


class AuthConfig(Strict):
    #: env var holding the bearer token for reads (GET /api/…); the write token also reads
    read_token_env: str = "SENDOPT_READ_TOKEN"
    #: env var holding the bearer token for writes (POST /api/…)
    write_token_env: str = "SENDOPT_WRITE_TOKEN"
    #: refuse to start when a token variable is unset (false: that kind of call is refused with 403)
    require_tokens: bool = True


class SuppressionRule(Strict):
    """A rule applied on read: the listed customers get no decision from ``channels``, whatever the score."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    #: decision tables it applies to, by name (e.g. coupon_assignments, promo_assignments)
    channels: list[str] = Field(min_length=1)
    #: customer ids inline …
    user_ids: list[str] = Field(default_factory=list)
    #: … and/or a text file with one id per line (re-read when it changes)
    user_ids_file: str | None = None
    reason: str = "suppressed by rule"


class WorkerConfig(Strict):
    #: run the promo-request worker inside `sendopt serve` (false: run `sendopt worker` beside it)
    in_process: bool = True
    poll_s: float = Field(2.0, gt=0)
    #: a claimed request is the worker's for this long; a dead worker's request is retaken after it
    lease_s: float = Field(300.0, gt=0)
    #: the worker renews its lease this often while planning
    heartbeat_s: float = Field(60.0, gt=0)
    #: claims of one request before it is marked failed (a request that keeps killing workers)
    max_attempts: int = Field(3, ge=1)
    #: a worker is reported alive in /health while its last beat is younger than this
    alive_after_s: float = Field(30.0, gt=0)


class ServiceConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    #: request bodies larger than this are refused with 413
    max_body_bytes: int = Field(65536, ge=1024)
    #: how often the decision snapshot checks the tables' Delta versions
    snapshot_refresh_s: float = Field(5.0, gt=0)
    #: POSTs arriving within this window are appended in one commit (group commit)
    write_batch_s: float = Field(0.05, ge=0)
    auth: AuthConfig = AuthConfig()
    worker: WorkerConfig = WorkerConfig()
    suppression: list[SuppressionRule] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
