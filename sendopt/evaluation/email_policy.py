"""``evaluate-email``: the true expected value of the published decisions vs baselines and the oracle.

Reads the world's truth (this package is one of the two allowed to). For every user
decided on a date it computes, with the world's own response functions, the true
expected net value per user-week — revenue − P(unsubscribe)·unsubscribe cost — at
every candidate frequency, then scores each policy: the model's bins→tiers and
per-user optimiser, the baselines (everyone daily, everyone 3/week, uniformly random
frequency, everyone k for every candidate k and ``best_fixed``, the best of those) and the oracle (true-best frequency per user). Every policy goes through
the same hard rules (consent, region caps, suppressions), so the comparison is fair.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.email.decide import hard_rules
from sendopt.models import tracking
from sendopt.world.truth import with_expected_email_outcomes

if TYPE_CHECKING:
    from sendopt.runner import JobContext

BASELINES = ("daily", "three_per_week", "random")


def true_net_values(users: DataFrame, world, ks: tuple[int, ...], unsubscribe_cost: float, date_col: str) -> DataFrame:
    """Add ``tnv_<k>``, ``trev_<k>``, ``tunsub_<k>`` for every candidate k."""
    out = users
    for k in ks:
        out = with_expected_email_outcomes(out.withColumn("_k", F.lit(float(k))), world, "_k", date_col)
        out = (
            out.withColumn(f"trev_{k}", F.col("true_expected_revenue"))
            .withColumn(f"tunsub_{k}", F.col("true_p_unsubscribe"))
            .withColumn(f"tnv_{k}", F.col("true_expected_revenue") - F.col("true_p_unsubscribe") * unsubscribe_cost)
            .drop("true_p_purchase", "true_p_unsubscribe", "true_p_no_action", "true_expected_revenue", "_k")
        )
    return out


def _pick(prefix: str, k: Column, ks: tuple[int, ...]) -> Column:
    """Value of ``<prefix>_<k>`` for a per-row k (an array lookup keeps generated code small)."""
    index = F.create_map(*[x for i, v in enumerate(ks) for x in (F.lit(v), F.lit(i + 1))])
    return F.element_at(F.col(f"_{prefix}"), F.element_at(index, k.cast("int")))


def _as_arrays(df: DataFrame, ks: tuple[int, ...]) -> DataFrame:
    for prefix in ("tnv", "trev", "tunsub"):
        df = df.withColumn(f"_{prefix}", F.array(*[F.col(f"{prefix}_{k}") for k in ks]))
    return df


def policy_frequencies(df: DataFrame, email, region: str) -> dict[str, Column]:
    """Weekly frequency per policy, after the same hard rules; ``random`` is handled as an average."""
    ks = email.candidate_frequencies
    best = F.lit(ks[0])
    best_value = F.col(f"tnv_{ks[0]}")
    for k in ks[1:]:  # oracle within the hard-rule caps: compare capped candidates only
        capped_k, _ = hard_rules(F.lit(k), email, region)
        better = (capped_k == k) & (F.col(f"tnv_{k}") > best_value)
        best = F.when(better, F.lit(k)).otherwise(best)
        best_value = F.when(better, F.col(f"tnv_{k}")).otherwise(best_value)
    raw = {
        "published": F.col("emails_per_week"),
        "tiers": F.col("tier_frequency"),
        "optimizer": F.col("optimal_frequency"),
        "daily": F.lit(7),
        "three_per_week": F.lit(3),
        "oracle": best,
        **{f"everyone_{k}": F.lit(k) for k in ks},  # every simple baseline; best_fixed is the best of them
    }
    return {name: hard_rules(k, email, region)[0] for name, k in raw.items()}


def evaluate_policies(decisions: DataFrame, features: DataFrame, traits: DataFrame, world, email,
                      region: str) -> DataFrame:
    """One row per policy: users, true net value / revenue / unsubscribe rate per user-week, share of oracle."""
    ks = email.candidate_frequencies
    users = (
        decisions.select("user_id", "decision_date", "emails_per_week", "tier_frequency", "optimal_frequency")
        .join(features.drop("region", "brand", "snapshot_date"), "user_id")
        .join(traits.drop("region", "brand"), "user_id")
    )
    valued = true_net_values(users, world, ks, email.value.unsubscribe_cost, "decision_date")
    # cached: the aggregate below reads the truth arrays ~70 times; uncached, the optimiser inlines the
    # response formulas into every reference and code generation takes minutes
    valued = _as_arrays(valued, ks).cache()
    aggs = []
    for name, k in policy_frequencies(valued, email, region).items():
        aggs += [
            F.avg(_pick("tnv", k, ks)).alias(f"{name}|net_value_per_user"),
            F.avg(_pick("trev", k, ks)).alias(f"{name}|revenue_per_user"),
            F.avg(_pick("tunsub", k, ks)).alias(f"{name}|unsubscribe_rate"),
            F.avg(k.cast("double")).alias(f"{name}|emails_per_user"),
        ]
    # random: each allowed frequency equally likely, after the hard rules
    capped = [hard_rules(F.lit(k), email, region)[0] for k in ks]
    for metric, prefix in (("net_value_per_user", "tnv"), ("revenue_per_user", "trev"),
                           ("unsubscribe_rate", "tunsub")):
        aggs.append(F.avg(sum(_pick(prefix, c, ks) for c in capped) / len(ks)).alias(f"random|{metric}"))
    aggs.append(F.avg(sum(c.cast("double") for c in capped) / len(ks)).alias("random|emails_per_user"))
    aggs.append(F.count(F.lit(1)).alias("users"))
    row = valued.agg(*aggs).first().asDict()  # one row of aggregates
    valued.unpersist()
    fixed = [f"everyone_{k}" for k in ks]
    best_fixed = max(fixed, key=lambda p: row[f"{p}|net_value_per_user"])  # the truth's best single frequency
    for key in [key for key in row if key.startswith(f"{best_fixed}|")]:
        row[key.replace(best_fixed, "best_fixed")] = row[key]
    policies = sorted({key.split("|")[0] for key in row if "|" in key})
    oracle = row["oracle|net_value_per_user"]
    records = [
        (p, int(row["users"]), row[f"{p}|net_value_per_user"], row[f"{p}|revenue_per_user"],
         row[f"{p}|unsubscribe_rate"], row[f"{p}|emails_per_user"],
         row[f"{p}|net_value_per_user"] / oracle if oracle else None)
        for p in policies
    ]
    schema = ("policy string, users long, net_value_per_user double, revenue_per_user double, "
              "unsubscribe_rate double, emails_per_user double, share_of_oracle double")
    return decisions.sparkSession.createDataFrame(records, schema)  # one row per policy


def format_table(rows: list, region: str, brand: str, date) -> str:
    lines = [f"email policy value on {date} for {region}/{brand} (true expected, per user-week):",
             f"  {'policy':16} {'net value':>10} {'revenue':>9} {'unsub %':>8} {'emails':>7} {'of oracle':>9}"]
    for r in sorted(rows, key=lambda r: -r.net_value_per_user):
        if r.policy.startswith("everyone_"):  # in the table; best_fixed stands for them here
            continue
        lines.append(f"  {r.policy:16} {r.net_value_per_user:>10.3f} {r.revenue_per_user:>9.3f} "
                     f"{100 * r.unsubscribe_rate:>7.2f}% {r.emails_per_user:>7.2f} {100 * r.share_of_oracle:>8.1f}%")
    return "\n".join(lines)


def log_to_mlflow(ctx: JobContext, rows) -> None:
    import mlflow

    tracking.configure(ctx.config)
    tags = {"kind": "policy_evaluation", "channel": "email", "region": ctx.region, "brand": ctx.brand,
            "sendopt_run_id": ctx.run_id, "run_date": str(ctx.run_date)}
    with mlflow.start_run(run_name=f"evaluate-email-{ctx.region}-{ctx.brand}-{ctx.run_date}", tags=tags):
        for r in rows:
            mlflow.log_metrics({f"{r.policy}_net_value": r.net_value_per_user,
                                f"{r.policy}_unsubscribe_rate": r.unsubscribe_rate,
                                f"{r.policy}_share_of_oracle": r.share_of_oracle or 0.0})
