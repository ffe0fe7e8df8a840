"""The HTTP face of sendopt (FastAPI): promo requests in, plans and customer decisions out, the ops page.

It holds no model logic: requests are validated by the promo channel's own rules and planned by the
``plan-promos`` job; decisions come from the decision tables as published. Every ``/api`` call needs a
bearer token (reads: the read or the write token; writes: the write token); ``/health`` and the page's
static HTML do not (the page asks for a token and sends it). Bodies are size-limited; malformed JSON,
wrong types and unknown fields get a 4xx naming the field, never a 500.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sendopt.channels.promo.requests import RequestError
from sendopt.service.requests import ConflictError

log = logging.getLogger("sendopt.service")

STATIC = Path(__file__).resolve().parent / "static"


class PromoRequestBody(BaseModel):
    """A campaign request (the OpenAPI description; validation itself is the promo channel's)."""

    model_config = ConfigDict(extra="forbid")
    merchant_id: int = Field(description="Merchant running the campaign (GET /api/merchants)")
    start_date: dt.date
    end_date: dt.date = Field(description="Last campaign day (inclusive)")
    budget: float = Field(gt=0, description="Total promo budget (discounts paid)")
    goal: str = "net_revenue"
    max_cps: float | None = Field(None, description="Maximum cost per incremental sale")
    weight_orders: float = 0.0
    weight_new_customers: float = 0.0
    promo_types: list[str] = ["percent", "voucher"]
    discount_pct_min: float = 5.0
    discount_pct_max: float = 30.0
    voucher_values: list[float] = [0.0, 5.0, 10.0]
    min_spend_min: float = 0.0
    min_spend_max: float = 40.0
    segments: list[str] = ["new", "active", "churned"]
    min_coverage: dict[str, float] = {}
    request_id: str | None = None
    submitted_by: str | None = None


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_json_default, allow_nan=False).encode("utf-8")


def problem(status: int, errors: list[dict], headers: dict | None = None) -> JSON:
    return JSON({"detail": errors}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with 413 (declared or streamed)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = JSON({"detail": [{"field": "body", "message": f"request body over {self.limit} bytes"}]},
                       status_code=413)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await too_big(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooBig()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooBig:
            await too_big(scope, receive, send)


class _TooBig(Exception):
    pass


class Tokens:
    """Bearer tokens read from the environment variables the config names (never stored in config)."""

    def __init__(self, auth) -> None:
        self.read = os.environ.get(auth.read_token_env) or None
        self.write = os.environ.get(auth.write_token_env) or None
        self.auth = auth

    def check(self, header: str | None, need: str) -> str:
        if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
            raise HTTPException(401, [{"field": "Authorization", "message": "a bearer token is required"}],
                                headers={"WWW-Authenticate": "Bearer"})
        token = header[7:].strip()
        if self.write and hmac.compare_digest(token, self.write):
            return "write"
        if need == "read" and self.read and hmac.compare_digest(token, self.read):
            return "read"
        allowed = "the write token" if need == "write" else "the read or the write token"
        raise HTTPException(403, [{"field": "Authorization", "message": f"this call needs {allowed}"}])


def _field_of(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def create_app(service) -> FastAPI:
    """The app over a running :class:`sendopt.service.server.Service`."""
    config = service.config.service
    tokens = Tokens(config.auth)
    app = FastAPI(title="sendopt service", version="1", description=__doc__,
                  docs_url="/docs", openapi_url="/openapi.json")
    app.state.service = service

    def reader(authorization: str | None = Header(None)) -> str:
        return tokens.check(authorization, "read")

    def writer(authorization: str | None = Header(None)) -> str:
        return tokens.check(authorization, "write")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, list) else [{"field": "", "message": str(exc.detail)}]
        return problem(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return problem(422, [{"field": _field_of(e["loc"]), "message": e["msg"]} for e in exc.errors()])

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return problem(503, [{"field": "", "message": f"the service could not complete this: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}])

    # ------------------------------------------------------------------ page, health
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/health", summary="lake reachable, table versions, worker alive")
    def health():
        report = service.health()
        return JSON(report, status_code=200 if report["ok"] else 503)

    # ------------------------------------------------------------------ decisions
    @app.get("/api/customers/{user_id}/decisions", summary="a customer's latest decisions across channels")
    def decisions(user_id: str, _: str = Depends(reader)):
        if len(user_id) > 128:
            raise HTTPException(422, [{"field": "user_id", "message": "longer than 128 characters"}])
        found = service.snapshot.lookup(user_id)
        if found is None:
            raise HTTPException(404, [{"field": "user_id", "message": f"no decisions for customer {user_id!r}"}])
        return JSON({"user_id": user_id, "decisions": found, "snapshot_versions": service.snapshot.versions()})

    # ------------------------------------------------------------------ merchants
    @app.get("/api/merchants", summary="merchants matching a search (id or name)")
    def merchants(q: str = Query("", max_length=100), limit: int = Query(20, ge=1, le=200),
                  _: str = Depends(reader)):
        return JSON({"merchants": service.book.merchants(q, limit)})

    # ------------------------------------------------------------------ promo requests
    @app.post("/api/promo-requests", status_code=201, summary="submit a campaign request",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": PromoRequestBody.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def submit(request: Request, idempotency_key: str | None = Header(None, max_length=200),
                     _: str = Depends(writer)):
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPException(400, [{"field": "body", "message": f"malformed JSON: {exc}"}]) from None
        if not isinstance(payload, dict):
            raise HTTPException(422, [{"field": "body", "message": "expected a JSON object"}])
        try:
            row, created = await _in_thread(service.book.submit, payload, idempotency_key, "service")
        except RequestError as exc:
            raise HTTPException(422, [e.to_dict() for e in exc.errors]) from None
        except ConflictError as exc:
            raise HTTPException(409, [{"field": "Idempotency-Key", "message": str(exc)}]) from None
        body = _request_view(service, row)
        return JSON(body, status_code=201 if created else 200,
                    headers={"Location": f"/api/promo-requests/{row['request_id']}"})

    @app.get("/api/promo-requests", summary="the latest requests with their status")
    def list_requests(limit: int = Query(50, ge=1, le=500), _: str = Depends(reader)):
        return JSON({"requests": [{**_request_view(service, r, plans=False)} for r in service.book.list(limit)]})

    @app.get("/api/promo-requests/{request_id}", summary="status, and when done the plans")
    def get_request(request_id: str, _: str = Depends(reader)):
        row = service.book.get(request_id)
        if row is None:
            raise HTTPException(404, [{"field": "request_id", "message": f"no request {request_id!r}"}])
        return JSON(_request_view(service, row))

    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    return app


def _request_view(service, row: dict, plans: bool = True) -> dict:
    state = service.book.state(row["request_id"])
    out = {"request_id": row["request_id"], "request": {k: v for k, v in row.items() if k != "status"}, **state}
    if plans and state["status"] == "done":
        out.update(service.book.plans(row["request_id"]))
    return out


async def _in_thread(func, *args):
    import anyio

    return await anyio.to_thread.run_sync(lambda: func(*args))
