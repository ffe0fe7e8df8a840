"""The service's own table: the promo-request queue's state transitions (the requests table stays as posted)."""
from sendopt.lake.spec import TableSpec, col

PROMO_REQUEST_EVENTS = TableSpec(
    "ops",
    "promo_request_events",
    description="Append-only state transitions of promo requests: a worker's claim (status running, with a "
    "lease), its lease renewals, and the end (done | failed, with the reason). A request without rows here is "
    "pending; a running lease past lease_until is pending again. Of two claims of one request and epoch, the "
    "one committed first (lower Delta version, its claim id in the commit's run id) owns the request.",
    columns=(
        col("request_id", "string", "Request (the promo requests table's key)", nullable=False),
        col("epoch", "int", "Claim number of the request, 1 for the first worker that took it", nullable=False),
        col("status", "string", "running | done | failed", nullable=False),
        col("claim_id", "string", "The claim this row belongs to (a worker's take of the request)", nullable=False),
        col("worker_id", "string", "Worker (host:pid:n) holding the claim", nullable=False),
        col("lease_until", "timestamp", "The claim is the worker's until then (running rows)"),
        col("at", "timestamp", "When the row was written (UTC)", nullable=False),
        col("reason", "string", "Why the request failed (failed rows)"),
        col("plan_run_id", "string", "Run id of the plan-promos run that planned it (done rows)"),
    ),
    keys=("request_id", "epoch", "claim_id", "status", "at"),
)

TABLES = [PROMO_REQUEST_EVENTS]
