"""The one publishing skeleton of every channel: kill switch → decide → sanity checks → fallback → write.

A channel hands :func:`publish_with_guardrails` how to propose its decisions and what its safe
fallback is; the skeleton makes the outcome loud the same way everywhere — in the log, in the run
ledger's status (:class:`sendopt.ledger.Outcome`) and message — and writes the market's slice once,
atomically, replacing any earlier run of the same day.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame

from sendopt.lake.commit import WriteResult
from sendopt.lake.spec import TableSpec
from sendopt.ledger import Outcome


@dataclass
class CheckReport:
    """Sanity checks of a proposal: its figures, and each failed rule named with its figure."""

    passed: bool
    figures: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@dataclass
class Proposal:
    """What a channel proposes to publish; ``decisions`` is None when it could not decide (``reason`` says why)."""

    decisions: DataFrame | None
    checks: CheckReport | None = None
    reason: str | None = None

    @property
    def refusal(self) -> str | None:
        """Why the proposal must not be published, or None."""
        if self.reason:
            return self.reason
        if self.checks is not None and not self.checks.passed:
            return "sanity checks failed: " + "; ".join(self.checks.failures)
        return None


@dataclass
class Published:
    written: WriteResult
    fell_back: bool
    reason: str | None
    checks: CheckReport | None


def publish_with_guardrails(
    ctx,
    *,
    channel: str,
    enabled: bool,
    table: TableSpec,
    where: Mapping[str, Any],
    propose: Callable[[], Proposal],
    fallback: Callable[[], DataFrame],
    fallback_name: str,
    to_rows: Callable[[DataFrame, bool], DataFrame],
) -> Published | None:
    """Publish one market's decisions of ``ctx.run_date`` to ``table`` (replacing the ``where`` slice).

    ``enabled`` false (the kill switch) publishes nothing and returns None. Otherwise ``propose()``
    runs; a refused proposal (no model, failed checks) is replaced by ``fallback()``. ``to_rows(df,
    fell_back)`` adds the run columns in ``table``'s shape.
    """
    market = f"{ctx.region}/{ctx.brand}"
    if not enabled:
        ctx.log.warning("KILL SWITCH: %s.publish.enabled is false — nothing published for %s on %s",
                        channel, market, ctx.run_date)
        ctx.summary.update(status=Outcome.STOPPED_BY_KILL_SWITCH, message=f"{channel}.publish.enabled=false")
        return None
    proposal = propose()
    reason = proposal.refusal
    decisions = proposal.decisions
    if reason:
        ctx.log.error("FALLBACK to %s for %s on %s: %s", fallback_name, market, ctx.run_date, reason)
        decisions = fallback()
        ctx.summary.update(status=Outcome.SUCCEEDED_WITH_FALLBACK, message=reason)
    written = ctx.lake.write(to_rows(decisions, bool(reason)).select(*table.column_names), table, mode="replace",
                             where=dict(where))
    return Published(written, bool(reason), reason, proposal.checks)
