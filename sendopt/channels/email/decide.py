"""Email frequency decisions: score every candidate k, net value, bins → tiers, exploration, hard rules.

Governance: rank users by expected net value at the reference frequency, cut into bins (approximate quantiles — one small list on the
driver), map bins to weekly-frequency tiers from config. The per-user optimiser
(argmax_k net value) is the alternative policy. Then a stable hash puts a share of
users into the exploration holdout with a random frequency (uniform, or per bin by Thompson sampling:
:mod:`sendopt.channels.email.exploration`; probability recorded), and hard rules cap everything last: no consent → 0, region maximum,
configured suppressions.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.email.config import EmailConfig
from sendopt.channels.email.exploration import Allocation, holdout_columns
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.primitives import has_consent
from sendopt.models.tracking import RegisteredModel

if TYPE_CHECKING:
    from sendopt.channels.email.experiments import Arms


def expected_revenue(value) -> Column:
    """Revenue of a purchase week: the user's AOV over ``value.history_days`` shrunk towards the configured prior."""
    prior, m, days = value.revenue_per_purchase, value.revenue_prior_orders, value.history_days
    orders = F.coalesce(F.col(f"orders_{days}d"), F.lit(0.0))
    revenue = F.coalesce(F.col(f"revenue_{days}d"), F.lit(0.0))
    return (revenue + F.lit(m * prior)) / (orders + F.lit(m))


def net_value(p_purchase: Column, p_unsubscribe: Column, revenue: Column, unsubscribe_cost: float) -> Column:
    return p_purchase * revenue - p_unsubscribe * F.lit(unsubscribe_cost)


def score_candidates(features: DataFrame, model: EmailResponseModel, registered: RegisteredModel,
                     email: EmailConfig) -> DataFrame:
    """One row per (user, candidate k) with the three probabilities and the net value."""
    scored = model.score_treatments(features, registered, email.candidate_frequencies)
    cost = email.value.unsubscribe_cost
    scored = scored.withColumn("net_value", net_value(F.col("p_purchase"), F.col("p_unsubscribe"),
                                                      F.col("revenue"), cost))
    # the choice: a k's value when it is sent every week (the head's carry-over term), else this week's
    choice = (net_value(F.col("p_purchase_steady"), F.col("p_unsubscribe_steady"), F.col("revenue"), cost)
              if "p_unsubscribe_steady" in scored.columns else F.col("net_value"))
    return scored.withColumn("choice_value", choice)


def within_step(k: Column, anchor: float, max_step: int | None) -> Column:
    """The trust region: frequencies at most ``max_step`` emails/week from the anchor (all when None)."""
    return F.lit(True) if max_step is None else F.abs(k - F.lit(float(anchor))) <= F.lit(float(max_step))


def per_user(candidates: DataFrame, reference_k: int, allowed: Column | None = None) -> DataFrame:
    """Collapse candidates to one row per user: reference-k net value, the optimum within ``allowed``,
    every k's values."""
    at_ref = F.col("k") == float(reference_k)
    allowed = F.lit(True) if allowed is None else allowed
    by_k = F.sort_array(F.collect_list(F.struct("k", "net_value", "p_purchase", "p_unsubscribe", "p_no_action",
                                                "choice_value")))
    best = F.max(F.when(allowed, F.struct(F.col("choice_value"), (-F.col("k")).alias("neg_k"))))
    return candidates.groupBy("user_id").agg(
        F.max(F.when(at_ref, F.col("net_value"))).alias("net_value_ref"),
        best.getField("neg_k").alias("_neg_best_k"),
        by_k.alias("by_k"),
    ).withColumn("optimal_frequency", (-F.col("_neg_best_k")).cast("int")).drop("_neg_best_k")


def user_values(users: DataFrame, model: EmailResponseModel, registered: RegisteredModel,
                email: EmailConfig) -> tuple[DataFrame, float]:
    """Per user: every candidate's values and the optimum inside the trust region; and the region's anchor
    (the head's — the frequency training saw most — or the reference frequency for a head-less model)."""
    head = model.head_for(registered)
    anchor = head.anchor if head else float(email.reference_frequency)
    candidates = score_candidates(users, model, registered, email)
    return per_user(candidates, email.reference_frequency, within_step(F.col("k"), anchor, email.max_step)), anchor


def bin_edges(df: DataFrame, column: str, bins: int) -> list[float]:
    """``bins - 1`` approximate quantile edges (a short list, whatever the user count)."""
    return df.approxQuantile(column, [i / bins for i in range(1, bins)], 0.001)


def bin_of(column: Column, edges: list[float]) -> Column:
    """1 = highest values … len(edges)+1 = lowest."""
    above = F.lit(0)
    for edge in edges:
        above = above + (column > F.lit(edge)).cast("int")
    return F.lit(len(edges) + 1) - above


def config_tier_map(email: EmailConfig) -> dict[int, int]:
    """Bin → weekly frequency from the configured thresholds (``max_bin``)."""
    return {b: next(t.emails_per_week for t in email.tiers if b <= t.max_bin) for b in range(1, email.bins + 1)}


def model_tier_map(decided: DataFrame, email: EmailConfig, anchor: float) -> dict[int, int]:
    """Bin → frequency, one per configured tier: the candidate k with the highest mean predicted net value
    among the tier's users (the tiers' bin thresholds stay the governed config; the model picks their k).

    One aggregate of (tier, k) means reaches the driver — tiers × candidates rows.
    """
    tier_index = {b: next(i for i, t in enumerate(email.tiers) if b <= t.max_bin) for b in range(1, email.bins + 1)}
    means = (
        decided.select(tier_of(F.col("bin"), tier_index).alias("tier"), F.explode("by_k").alias("c"))
        .where(within_step(F.col("c.k"), anchor, email.max_step))
        .groupBy("tier", F.col("c.k").alias("k"))
        .agg(F.avg("c.choice_value").alias("mean_net_value"))
        .collect()
    )
    best: dict[int, tuple[float, int]] = {}
    for row in means:
        if row.tier not in best or row.mean_net_value > best[row.tier][0]:
            best[row.tier] = (row.mean_net_value, int(row.k))
    fallback = config_tier_map(email)
    return {b: best[tier_index[b]][1] if tier_index[b] in best else fallback[b] for b in range(1, email.bins + 1)}


def tier_of(bin_col: Column, tier_map: dict[int, int]) -> Column:
    """The value ``tier_map`` gives the bin (0 for an unknown bin)."""
    expr = None
    for b, k in sorted(tier_map.items()):
        expr = F.when(bin_col == b, k) if expr is None else expr.when(bin_col == b, k)
    return expr.otherwise(0)


def at_k(by_k: Column, k: Column, field: str) -> Column:
    """Field of the by-k array entry for frequency ``k``."""
    return F.element_at(F.filter(by_k, lambda s: s.getField("k") == k.cast("double")), 1).getField(field)


def hard_rules(k: Column, email: EmailConfig, region: str) -> tuple[Column, Column]:
    """(capped k, rule name or null). Consent first; rules are applied in config order."""
    capped, rule = k, F.lit(None).cast("string")
    limit = email.rules.region_max.get(region)
    if limit is not None:
        hit = capped > limit
        rule = F.when(hit, F.lit(f"region_max:{region}")).otherwise(rule)
        capped = F.least(capped, F.lit(limit))
    for suppress in email.rules.suppress:
        hit = F.coalesce(F.expr(suppress.when), F.lit(False)) & (capped > suppress.max_per_week)
        rule = F.when(hit, F.lit(f"suppress:{suppress.name}")).otherwise(rule)
        capped = F.when(hit, F.lit(suppress.max_per_week)).otherwise(capped)
    no_consent = ~has_consent(F.col("email_consent"), email.consent_threshold)
    rule = F.when(no_consent & (capped > 0), F.lit("no_email_consent")).otherwise(rule)
    capped = F.when(no_consent, F.lit(0)).otherwise(capped)
    return capped.cast("int"), rule


@dataclass
class Scored:
    """Every customer's candidate values and bin (cached), the model's bin → tier map and the anchor."""

    users: DataFrame  # user_id, net_value_ref, by_k, optimal_frequency, bin
    tier_map: dict[int, int]
    anchor: float


def score_and_bin(features: DataFrame, model: EmailResponseModel, registered: RegisteredModel,
                  email: EmailConfig) -> Scored:
    """Score every candidate k, cut the bins and pick each tier's frequency (the policy-independent part)."""
    users = features.withColumn("revenue", expected_revenue(email.value))
    decided, anchor = user_values(users, model, registered, email)
    decided = decided.cache()
    edges = bin_edges(decided, "net_value_ref", email.bins)
    decided = decided.withColumn("bin", bin_of(F.col("net_value_ref"), edges).cast("int"))
    tier_map = model_tier_map(decided, email, anchor) if email.tier_source == "model" else config_tier_map(email)
    return Scored(decided, tier_map, anchor)


def assemble(scored: Scored, features: DataFrame, email: EmailConfig, region: str, model_k: Column | None = None,
             policy: str | None = None, arms: Arms | None = None, allocation: Allocation | None = None) -> DataFrame:
    """Decision rows: ``model_k`` (default: the configured policy's k) for each customer, then the A/B arms,
    the exploration holdout (its frequencies per bin by ``allocation``, else uniform) and the hard rules;
    ``policy`` labels the rows (default ``email.policy``)."""
    decided = scored.users.withColumn("tier_frequency", tier_of(F.col("bin"), scored.tier_map).cast("int"))
    if model_k is None:
        model_k = F.col("tier_frequency") if email.policy == "tiers" else F.col("optimal_frequency")
    policy_col = F.lit(policy or email.policy)
    if arms is not None:
        arm = arms.column()
        model_k = arms.frequency(arm, model_k)
        policy_col = F.coalesce(F.concat(F.lit("ab_"), arm), policy_col)

    in_holdout, random_k, random_prob = holdout_columns(email.exploration, F.col("bin"), allocation)
    chosen = F.when(in_holdout, random_k).otherwise(model_k)

    rule_inputs = features.drop("region", "brand", "snapshot_date")  # suppress rules may use any feature
    out = (decided.join(rule_inputs, "user_id").withColumn("is_exploration", in_holdout).withColumn("_k", chosen)
           .withColumn("_policy", policy_col).withColumn("_prob", F.when(in_holdout, random_prob).otherwise(1.0)))
    capped, rule = hard_rules(F.col("_k"), email, region)
    out = out.withColumn("emails_per_week", capped).withColumn("rule", rule)
    k = F.col("emails_per_week")
    return out.select(
        "user_id",
        at_k(F.col("by_k"), k, "p_purchase").alias("p_purchase"),
        at_k(F.col("by_k"), k, "p_unsubscribe").alias("p_unsubscribe"),
        at_k(F.col("by_k"), k, "p_no_action").alias("p_no_action"),
        at_k(F.col("by_k"), k, "net_value").alias("net_value"),
        "net_value_ref",
        "bin",
        "tier_frequency",
        "optimal_frequency",
        "emails_per_week",
        F.when(F.col("is_exploration"), F.lit("exploration")).otherwise(F.col("_policy")).alias("policy"),
        "is_exploration",
        F.col("_prob").alias("exploration_prob"),
        "rule",
    )


def decide(features: DataFrame, model: EmailResponseModel, registered: RegisteredModel, email: EmailConfig,
           region: str, arms: Arms | None = None) -> tuple[dict[int, int], DataFrame]:
    """The bin → tier map, and decision rows of the configured policy for every customer in ``features``
    (one market, one snapshot).

    With ``arms`` (an enabled A/B experiment, ``experiments.arms_of``), each arm's users get their arm's
    policy; the exploration holdout stays out of the arms, and hard rules still apply last.
    """
    scored = score_and_bin(features, model, registered, email)
    return scored.tier_map, assemble(scored, features, email, region, arms=arms)


def with_run_columns(df: DataFrame, decision_date: dt.date, region: str, brand: str, registered, run_id: str,
                     config_hash: str) -> DataFrame:
    return (
        df.withColumn("decision_date", F.lit(decision_date))
        .withColumn("region", F.lit(region))
        .withColumn("brand", F.lit(brand))
        .withColumn("model_name", F.lit(registered.name if registered else None).cast("string"))
        .withColumn("model_version", F.lit(registered.version if registered else None).cast("string"))
        .withColumn("run_id", F.lit(run_id))
        .withColumn("config_hash", F.lit(config_hash))
    )
