"""``backtest-truth``: the backtest (with calibration) plus each policy's value under the world's true response.

Generated worlds only. The lifecycle backtest never sees the truth; this module hands
it a function that, for the replayed exploration user-weeks and every policy's
frequency column ``k_<policy>``, computes the true expected net value and
unsubscribe probability (``evaluation.email_policy.true_net_values``, the world's own
formulas) — so the off-policy estimates can be checked against what really holds.
"""
from __future__ import annotations

from pyspark.sql import functions as F

from sendopt.channels.email.backtest import Replay
from sendopt.channels.email.exploration import uniformly_logged
from sendopt.evaluation.email_policy import _as_arrays, _pick, true_net_values

TRAITS = "truth.user_traits"


def true_values_of(lake, world, email):
    """The ``true_values`` callable for :func:`sendopt.channels.email.backtest.backtest`."""

    def true_values(rep: Replay, policies: list[str]) -> dict[str, tuple[float, float]]:
        ks = email.candidate_frequencies
        cols = [f"k_{p}" for p in policies if p != "logged"] + (["k_logged", "prob"] if "logged" in policies else [])
        users = rep.rows.select("user_id", "week_start", *cols).join(
            lake.read(TRAITS).drop("region", "brand"), "user_id")
        valued = _as_arrays(true_net_values(users, world, ks, email.value.unsubscribe_cost, "week_start"), ks)
        aggs = []
        for p in policies:
            if p == "logged":  # uniform rows: every k equally likely; other (Thompson) rows: the logged k
                uniform = uniformly_logged(F.col("prob"), len(ks))
                nv = F.when(uniform, sum(F.col(f"tnv_{k}") for k in ks) / len(ks)).otherwise(
                    _pick("tnv", F.col("k_logged"), ks))
                un = F.when(uniform, sum(F.col(f"tunsub_{k}") for k in ks) / len(ks)).otherwise(
                    _pick("tunsub", F.col("k_logged"), ks))
            else:
                nv, un = _pick("tnv", F.col(f"k_{p}"), ks), _pick("tunsub", F.col(f"k_{p}"), ks)
            aggs += [F.avg(nv).alias(f"{p}|nv"), F.avg(un).alias(f"{p}|un")]
        row = valued.agg(*aggs).first().asDict()  # one row of averages
        return {p: (row[f"{p}|nv"], row[f"{p}|un"]) for p in policies}

    return true_values
