"""What the lifecycle needs from a channel.

The retrain and monitor jobs are channel-agnostic: they talk to a :class:`LifecycleChannel`
that says which model a market has, how to fit a fresh challenger on a rolling window
with a time-later holdout, how to turn scored rows into net value and outcome flags, and
where its published decisions and their matured outcomes are. A channel with models
implements this class in its own folder and names it in its ``DecisionChannel(lifecycle=...)``;
:func:`lifecycle_channels` finds them there.
"""
from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pyspark.sql import DataFrame

from sendopt.channels import channels
from sendopt.channels.seam import resolve
from sendopt.models.response import FitReport, ResponseModel

if TYPE_CHECKING:
    from sendopt.config import SendoptConfig


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


def lifecycle_channels() -> dict[str, LifecycleChannel]:
    """Every registered channel's lifecycle adapter, by channel name."""
    return {c.name: resolve(c.lifecycle)() for c in channels() if c.lifecycle}
