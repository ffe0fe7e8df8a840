"""Typed ``push:`` config section: the orchestration's rules, strategies (plug-ins), scoring and conciliation.

Not to be confused with ``world.push`` (the synthetic world's historical push policy and true response).
A new strategy is one class (a :class:`sendopt.channels.push.strategies.base.PushStrategy` subclass) and one
entry under ``push.strategies`` naming its class path.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sendopt.strict import Strict


class ScoreWeights(Strict):
    """Weights of the heuristic score (each term lies in [0, 1])."""

    affinity: float = Field(0.5, ge=0, description="strategy's relevance signal (lift / interest strength)")
    distance: float = Field(0.3, ge=0, description="closeness: 1 − distance / radius")
    discount: float = Field(0.2, ge=0, description="discount_pct / 100 of an active promo at the merchant")


class StrategyEntry(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="strategy name written to the decisions")
    class_path: str = Field(description="module:Class of a PushStrategy subclass")
    enabled: bool = True
    weights: ScoreWeights = ScoreWeights()
    template: str = Field(description="message text; placeholders {store_name} {category} {discount} {link}")
    params: dict[str, Any] = Field(default_factory=dict, description="strategy-specific settings")


class ConciliationConfig(Strict):
    """Thompson sampling over strategy click rates, with a floor."""

    prior_clicks: float = Field(1.0, gt=0, description="Beta prior α (pseudo clicks)")
    prior_misses: float = Field(30.0, gt=0, description="Beta prior β (pseudo pushes without click)")
    history_days: int = Field(28, ge=1, description="pushes of this many days inform the posterior")
    draws: int = Field(1024, ge=1, description="posterior draws; each user reads one (hash-assigned)")
    floor: float = Field(0.5, ge=0, le=1, description="a strategy's draw is at least floor × the best draw")
    seed: int = 20260101
    salt: str = "push-conciliation-v1"


class CalibrationConfig(Strict):
    """Click model of a (user, store) pair fitted on the push log, so strategies compare on one scale.

    Every logged push of the last ``days`` days is replayed through every strategy as of its day (which
    stores would it have proposed, with which affinity); a logistic regression of click given open on each
    strategy's affinity for the logged store and the store's distance gives P(click | open) of a candidate.
    """

    enabled: bool = Field(True, description="false: compare the heuristic scores (× posterior click rate)")
    days: int = Field(56, ge=1, description="past days of logged pushes replayed through the strategies")
    min_opens: int = Field(200, ge=1, description="fewer opened pushes in the replay → heuristic scores")
    l2: float = Field(1.0, ge=0, description="precision (1 / variance) of the prior on the affinity slopes")
    prior_slope: float = Field(1.0, description="click logit per unit of a strategy's affinity before any data")
    affinity_bins: int = Field(10, ge=1, description="affinities are binned to this many levels before the fit")
    distance_bin_km: float = Field(2.0, gt=0, description="distance bin of the fit (km)")
    distance_cap_km: float = Field(40.0, gt=0, description="distances beyond this count as this far")


class ExplorationConfig(Strict):
    share: float = Field(0.05, ge=0, le=0.5, description="users who get a uniformly random available strategy")
    salt: str = "push-exploration-v1"


class SendTimeConfig(Strict):
    history_days: int = Field(56, ge=1, description="push opens of this many days vote for the send hour")
    min_opens: int = Field(2, ge=1, description="fewer opens → fallback hour")
    fallback_hour: int = Field(18, ge=0, le=23, description="local hour when history is too thin")


class PublishConfig(Strict):
    enabled: bool = Field(True, description="kill switch: false publishes nothing")
    max_share_change: float = Field(0.5, ge=0, le=1, description="max move of the pushed-user share vs the last run")


class PushConfig(Strict):
    scorer_version: str = Field("heuristic-v1", description="name of the heuristic score, recorded in model_versions")
    period_days: int = Field(1, ge=1, description="at most one push per user per period")
    cooldown_hours: int = Field(24, ge=0, description="no push after any contact this recent (any channel)")
    cooldown_channels: tuple[str, ...] | None = Field(None, description="channels that count; null = all")
    quiet_hours: tuple[int, int] = Field((21, 8), description="local [start, end) hours nothing is sent")
    utc_offset_hours: dict[str, int] = Field(default_factory=dict, description="region → local − UTC hours")
    fatigue_ignored: int = Field(5, ge=1, description="skip users whose last k pushes were all unopened")
    fatigue_days: int = Field(14, ge=1, description="pushes of this many days count for fatigue")
    radius_km: float = Field(20.0, gt=0, description="stores farther than this from the user are not promoted")
    location_days: int = Field(56, ge=1, description="card payments of this many days locate the user")
    location_sources: tuple[Literal["home", "card_median"], ...] = Field(
        ("home", "card_median"), min_length=1,
        description="where a user is, first available wins: registered home address, median card payment "
                    "location; the region's store centre is the last resort")
    link: str = Field("https://app.example.com/s/{store_id}", description="deep link; {store_id} {merchant_id}")
    strategies: tuple[StrategyEntry, ...] = ()
    conciliation: ConciliationConfig = ConciliationConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    exploration: ExplorationConfig = ExplorationConfig()
    send_time: SendTimeConfig = SendTimeConfig()
    publish: PublishConfig = PublishConfig()

    @model_validator(mode="after")
    def _check(self) -> PushConfig:
        names = [s.name for s in self.strategies]
        if len(set(names)) != len(names):
            raise ValueError(f"push.strategies: duplicate names in {names}")
        if not all(0 <= h <= 23 for h in self.quiet_hours):
            raise ValueError("push.quiet_hours must be hours 0-23")
        if is_quiet(self.send_time.fallback_hour, self.quiet_hours):
            raise ValueError("push.send_time.fallback_hour lies in push.quiet_hours")
        return self

    @property
    def enabled_strategies(self) -> tuple[StrategyEntry, ...]:
        return tuple(s for s in self.strategies if s.enabled)


def is_quiet(hour: int, quiet: tuple[int, int]) -> bool:
    start, end = quiet
    return (start <= hour < end) if start <= end else (hour >= start or hour < end)
