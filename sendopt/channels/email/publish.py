"""Email's guardrails: its sanity checks and its safe fallback policy.

``decide-email`` publishes through :func:`sendopt.channels.publish.publish_with_guardrails`:
decisions that fail these checks (or a market without a champion model) are replaced by
:func:`safe_policy`, loudly — in the log, the ledger status (``succeeded_with_fallback``)
and the rows' ``policy``.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.email.config import EmailConfig
from sendopt.channels.email.tables import EMAIL_FREQUENCY
from sendopt.channels.primitives import has_consent, in_market
from sendopt.channels.publish import CheckReport


def previous_zero_share(lake, region: str, brand: str, before: dt.date) -> float | None:
    """Share of users at 0/week in the market's latest published run before ``before``."""
    if not lake.exists(EMAIL_FREQUENCY):
        return None
    by_date = (
        lake.read(EMAIL_FREQUENCY)
        .where(in_market(region, brand) & (F.col("decision_date") < F.lit(before)))
        .groupBy("decision_date")
        .agg(F.avg((F.col("emails_per_week") == 0).cast("double")).alias("zero_share"))
        .orderBy(F.desc("decision_date"))
        .first()  # one row per date, the latest
    )
    return None if by_date is None else float(by_date["zero_share"])


def sanity_checks(decisions: DataFrame, users: int, previous_zero: float | None, email: EmailConfig) -> CheckReport:
    """One aggregate over the decisions; every failed rule is named with its figure."""
    row = decisions.agg(
        F.count(F.lit(1)).alias("rows"),
        F.avg((F.col("emails_per_week") == 0).cast("double")).alias("zero_share"),
        F.sum(((F.col("rule") == "no_email_consent") & (F.col("emails_per_week") > 0)).cast("int"))
        .alias("unconsented_with_sends"),
        F.sum((F.abs(F.col("p_purchase") + F.col("p_unsubscribe") + F.col("p_no_action") - 1) > 1e-6).cast("int"))
        .alias("bad_probabilities"),
        F.sum(((F.col("emails_per_week") < 0) | (F.col("emails_per_week") > 7)).cast("int")).alias("bad_frequency"),
    ).first()
    figures = {k: float(row[k] or 0) for k in row.asDict()}
    failures = []
    if figures["rows"] != users:
        failures.append(f"{int(figures['rows'])} decisions for {users} users")
    for name in ("unconsented_with_sends", "bad_probabilities", "bad_frequency"):
        if figures[name] > 0:
            failures.append(f"{name} = {int(figures[name])}")
    if previous_zero is not None:
        figures["previous_zero_share"] = previous_zero
        change = abs(figures["zero_share"] - previous_zero)
        if change > email.publish.max_zero_share_change:
            failures.append(
                f"share at 0/week moved {change:.2f} (now {figures['zero_share']:.2f}, previous "
                f"{previous_zero:.2f}) > max_zero_share_change {email.publish.max_zero_share_change}"
            )
    return CheckReport(not failures, figures, failures)


def safe_policy(features: DataFrame, email: EmailConfig) -> DataFrame:
    """Everyone with consent gets ``publish.safe_frequency``; no model columns."""
    consent = has_consent(F.col("email_consent"), email.consent_threshold)
    null_d, null_i = F.lit(None).cast("double"), F.lit(None).cast("int")
    return features.select(
        "user_id",
        null_d.alias("p_purchase"), null_d.alias("p_unsubscribe"), null_d.alias("p_no_action"),
        null_d.alias("net_value"), null_d.alias("net_value_ref"),
        null_i.alias("bin"), null_i.alias("tier_frequency"), null_i.alias("optimal_frequency"),
        F.when(consent, F.lit(email.publish.safe_frequency)).otherwise(F.lit(0)).cast("int").alias("emails_per_week"),
        F.lit("safe_fallback").alias("policy"),
        F.lit(False).alias("is_exploration"),
        F.lit(1.0).alias("exploration_prob"),
        F.when(~consent, F.lit("no_email_consent")).alias("rule"),
    )
