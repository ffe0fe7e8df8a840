"""What the lifecycle needs from a channel, and the email channel's answer.

The retrain and monitor jobs are channel-agnostic: they talk to a :class:`LifecycleChannel`
that says which model a market has, how to fit a fresh challenger on a rolling window
with a time-later holdout, how to turn scored rows into net value and outcome flags, and
where its published decisions and their matured outcomes are. A new channel (push, …)
implements this class and adds itself to :data:`CHANNELS`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sendopt.config import SendoptConfig
from sendopt.models.response import FitReport, ResponseModel


@dataclass
class Challenger:
    """A fitted, unregistered challenger and the time-later holdout it (and the champion) are judged on."""

    report: FitReport
    params: dict
    holdout: DataFrame
    holdout_from: dt.date
    release: Callable[[], None] = lambda: None  # drop caches once the cycle is done


class LifecycleChannel(ABC):
    name: ClassVar[str]

    @abstractmethod
    def model(self, config: SendoptConfig, region: str, brand: str) -> ResponseModel:
        """The market's response model (its name is the registry name)."""

    @abstractmethod
    def fit_challenger(self, ctx) -> Challenger:
        """Fit a challenger on the rolling window ending at ``ctx.run_date``; hold out the latest weeks."""

    @abstractmethod
    def with_value(self, scored: DataFrame, config: SendoptConfig) -> DataFrame:
        """Add ``net_value`` (predicted, at the row's treatment), ``converted`` and ``unsubscribed`` (0/1)."""

    @abstractmethod
    def decision_features(self, ctx) -> DataFrame:
        """The customer features the latest decision of ``ctx.run_date`` was (or will be) made from."""

    @abstractmethod
    def published(self, ctx) -> DataFrame:
        """The market's published decision rows up to ``ctx.run_date`` (``decision_date``, ``model_version``,
        score columns)."""

    #: Score columns of :meth:`published` whose distribution shift is monitored.
    score_columns: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def matured_decisions(self, ctx, weeks: int) -> DataFrame:
        """Published decisions of the latest ``weeks`` matured outcome weeks joined with their realised
        outcome: ``week_start``, the model's label and probability columns, ``bin``, ``tier``,
        ``net_value``, ``converted``, ``unsubscribed``, ``model_version``."""


# --------------------------------------------------------------------------- email
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
        from sendopt.channels.email.model import EmailResponseModel

        return EmailResponseModel(config, region, brand)

    def fit_challenger(self, ctx) -> Challenger:
        from sendopt.channels.email.training import fit_market

        fitted = fit_market(dataclasses.replace(ctx, config=with_training_window(ctx.config)))
        return Challenger(fitted.report, fitted.params, fitted.holdout, fitted.holdout_from,
                          release=fitted.data.unpersist)

    def with_value(self, scored, config):
        from sendopt.channels.email.decide import expected_revenue, net_value
        from sendopt.features.labels import PURCHASE, UNSUBSCRIBE

        value = net_value(F.col("p_purchase"), F.col("p_unsubscribe"), expected_revenue(config.email.value),
                          config.email.value.unsubscribe_cost)
        return (scored.withColumn("net_value", value)
                .withColumn("converted", (F.col("label") == PURCHASE).cast("int"))
                .withColumn("unsubscribed", (F.col("label") == UNSUBSCRIBE).cast("int")))

    def decision_features(self, ctx):
        from sendopt.channels.email.jobs import market_features

        return market_features(ctx)[0]

    def published(self, ctx):
        from sendopt.lake.tables.email import EMAIL_FREQUENCY

        if not ctx.lake.exists(EMAIL_FREQUENCY):
            return None
        return ctx.lake.read(EMAIL_FREQUENCY).where(
            (F.col("region") == ctx.region) & (F.col("brand") == ctx.brand)
            & (F.col("decision_date") <= F.lit(ctx.run_date)) & F.col("model_version").isNotNull()
        )

    def matured_decisions(self, ctx, weeks):
        """Each matured user-week's outcome with the first decision published inside that week.

        Outcomes come from validated raw tables through ``email_week_outcomes`` (the same
        labels the model trains on), never from the world's truth.
        """
        from sendopt.features.labels import PURCHASE, UNSUBSCRIBE, email_week_outcomes
        from sendopt.lake.quality import read_clean

        decisions = self.published(ctx)
        if decisions is None or not ctx.lake.exists("raw.email_assignments"):
            return None
        market = (F.col("region") == ctx.region) & (F.col("brand") == ctx.brand)
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


CHANNELS: dict[str, LifecycleChannel] = {"email": EmailLifecycle()}
