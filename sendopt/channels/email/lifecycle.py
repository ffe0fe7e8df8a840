"""The email channel's answer to the lifecycle: its model, challenger fits, value and matured outcomes."""
from __future__ import annotations

import dataclasses

from pyspark.sql import Window
from pyspark.sql import functions as F

from sendopt.channels.email.decide import expected_revenue, net_value
from sendopt.channels.email.inputs import market_features
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.email.tables import EMAIL_FREQUENCY
from sendopt.channels.email.training import fit_market
from sendopt.channels.primitives import in_market
from sendopt.config import SendoptConfig
from sendopt.features.labels import PURCHASE, UNSUBSCRIBE, email_week_outcomes
from sendopt.lake.quality import read_clean
from sendopt.lifecycle.channels import Challenger, LifecycleChannel


def with_training_window(config: SendoptConfig) -> SendoptConfig:
    """The config with ``lifecycle.retrain`` window/holdout applied to ``email.training``."""
    retrain = config.lifecycle.retrain
    changes = {k: v for k, v in (("weeks", retrain.window_weeks), ("valid_weeks", retrain.holdout_weeks))
               if v is not None}
    if not changes:
        return config
    training = config.email.training.model_copy(update=changes)
    return config.model_copy(update={"email": config.email.model_copy(update={"training": training})})


class EmailLifecycle(LifecycleChannel):
    name = "email"
    score_columns = ("net_value_ref", "p_purchase", "p_unsubscribe")

    def model(self, config, region, brand):
        return EmailResponseModel(config, region, brand)

    def fit_challenger(self, ctx) -> Challenger:
        fitted = fit_market(dataclasses.replace(ctx, config=with_training_window(ctx.config)))
        return Challenger(fitted.report, fitted.params, fitted.holdout, fitted.holdout_from,
                          release=fitted.data.unpersist)

    def with_value(self, scored, config):
        value = net_value(F.col("p_purchase"), F.col("p_unsubscribe"), expected_revenue(config.email.value),
                          config.email.value.unsubscribe_cost)
        return (scored.withColumn("net_value", value)
                .withColumn("converted", (F.col("label") == PURCHASE).cast("int"))
                .withColumn("unsubscribed", (F.col("label") == UNSUBSCRIBE).cast("int")))

    def decision_features(self, ctx):
        return market_features(ctx)[0]

    def published(self, ctx):
        if not ctx.lake.exists(EMAIL_FREQUENCY):
            return None
        return ctx.lake.read(EMAIL_FREQUENCY).where(
            in_market(ctx.region, ctx.brand)
            & (F.col("decision_date") <= F.lit(ctx.run_date)) & F.col("model_version").isNotNull()
        )

    def matured_decisions(self, ctx, weeks):
        """Each matured user-week's outcome with the first decision published inside that week.

        Outcomes come from validated raw tables through ``email_week_outcomes`` (the same
        labels the model trains on), never from the world's truth.
        """
        decisions = self.published(ctx)
        if decisions is None or not ctx.lake.exists("raw.email_assignments"):
            return None
        market = in_market(ctx.region, ctx.brand)
        decisions = decisions.where(F.col("decision_date") < F.lit(ctx.run_date))
        outcomes = email_week_outcomes(
            read_clean(ctx.lake, "raw.email_assignments", ctx.run_date).where(market),
            read_clean(ctx.lake, "raw.orders", ctx.run_date).where(market),
            read_clean(ctx.lake, "raw.email_events", ctx.run_date),
            ctx.run_date,
        )
        first_day = decisions.agg(F.min("decision_date")).first()[0]  # one scalar
        if first_day is None:
            return None
        week_rows = (outcomes.where(F.date_add("week_start", 7) > F.lit(first_day)).select("week_start")
                     .distinct().orderBy(F.desc("week_start")).limit(weeks).collect())  # ≤ weeks rows
        if not week_rows:
            return None
        chosen = [r[0] for r in week_rows]
        d = decisions.select("user_id", "decision_date", "p_no_action", "p_purchase", "p_unsubscribe",
                             "net_value", "bin", F.col("emails_per_week").alias("tier"), "model_version")
        joined = outcomes.where(F.col("week_start").isin(chosen)).drop("region", "brand").join(
            d, (outcomes["user_id"] == d["user_id"])
            & d["decision_date"].between(outcomes["week_start"], F.date_add(outcomes["week_start"], 6)),
        ).drop(d["user_id"])
        first = Window.partitionBy("user_id", "week_start").orderBy("decision_date")
        return (joined.withColumn("_n", F.row_number().over(first)).where(F.col("_n") == 1).drop("_n")
                .withColumn("converted", (F.col("label") == PURCHASE).cast("int"))
                .withColumn("unsubscribed", (F.col("label") == UNSUBSCRIBE).cast("int")))

