"""Evaluation: with ``sendopt.world``, the only code allowed to read ground truth (``truth.*``).

It scores policies and models against the world's true response functions
(``sendopt.world.truth``): true net value of a decision policy versus the
oracle and baselines, recall of planted MCC pairs, true uplift policy value.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sendopt.ledger import Outcome

if TYPE_CHECKING:
    from sendopt.runner import JobContext


def without_truth(ctx: JobContext, job: str, table: str = "truth.user_traits") -> bool:
    """True (and says so, and records it) when the lake has no ground truth: a real lake, not a generated world.

    The truth evaluations sit in ``daily`` so a generated world is judged every day; on a production lake
    they have nothing to compare with, which is not an error.
    """
    if ctx.lake.exists(table):
        return False
    ctx.log.warning("stage=%s skipped: %s does not exist — ground-truth evaluation runs on generated worlds only",
                    job, table)
    ctx.summary.update(status=Outcome.SKIPPED, message=f"no {table}: not a generated world")
    return True
