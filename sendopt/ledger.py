"""The run ledger ``ops.job_runs``: one row per job run and market, with its outcome.

A job says how its day ended through :class:`Outcome` (``ctx.summary["status"]``): an operator reading
the ledger can tell a normal run from one where a fallback or the kill switch decided the day.
"""
from __future__ import annotations

from sendopt.lake.spec import TableSpec, col


class Outcome:
    """The statuses a run ends with."""

    SUCCEEDED = "succeeded"
    SUCCEEDED_WITH_FALLBACK = "succeeded_with_fallback"  # published the configured safe policy instead
    STOPPED_BY_KILL_SWITCH = "stopped_by_kill_switch"  # the channel's publish.enabled is false
    SKIPPED = "skipped"  # nothing to do here (e.g. a truth evaluation on a lake without truth)
    FAILED = "failed"


JOB_RUNS = TableSpec(
    "ops",
    "job_runs",
    description="Run ledger: one row per job run (and region/brand) with inputs' versions and outcome.",
    columns=(
        col("run_id", "string", "Identifier of the job run", nullable=False),
        col("run_date", "date", "Business date the run was for", nullable=False),
        col("job", "string", "Job name, e.g. generate-world", nullable=False),
        col("region", "string", "Region; empty for market-independent jobs", nullable=False),
        col("brand", "string", "Brand; empty for market-independent jobs", nullable=False),
        col("status", "string", "succeeded | succeeded_with_fallback | stopped_by_kill_switch | skipped | failed", nullable=False),
        col("started_at", "timestamp", "Run start (UTC)", nullable=False),
        col("finished_at", "timestamp", "Run end (UTC)", nullable=False),
        col("seconds", "double", "Wall time", unit="s"),
        col("inputs", "map<string,long>", "Delta version read of every input table"),
        col("outputs", "map<string,long>", "Delta version written of every output table"),
        col("message", "string", "Error or fallback reason; empty on success"),
        col("config_hash", "string", "Hash of the merged configuration", nullable=False),
        col("code_version", "string", "sendopt version and git commit, when known"),
    ),
    keys=("run_id", "region", "brand"),
    partition_by=("run_date",),
)

TABLES = [JOB_RUNS]
