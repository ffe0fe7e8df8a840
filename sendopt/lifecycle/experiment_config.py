"""Typed ``lifecycle.backtest`` and ``lifecycle.experiments`` sub-sections (values in conf/base.yaml)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from sendopt.strict import Strict


class CalibrationConfig(Strict):
    """Search of the email bin → tier thresholds on the logged exploration data (Optuna TPE)."""

    trials: int = Field(300, ge=1, description="Optuna trials; each one is a few array sums on the driver")
    seed: int = Field(17, description="sampler seed: the same data and seed give the same proposal")
    search_frequencies: bool = Field(
        True, description="also search each tier's emails_per_week among email.candidate_frequencies")
    monotone: bool = Field(True, description="tier frequencies must not increase from the top bins downwards")
    max_unsubscribe_rate: float | None = Field(
        None, ge=0, le=1, description="constraint per user-week; null: the current tiers' estimated rate")
    unsubscribe_tolerance: float = Field(
        0.0, ge=0, description="relative slack on the current rate when max_unsubscribe_rate is null")
    proposal_dir: str | None = Field(None, description="where proposals are written (null: <lake.root>/_proposals)")


class BacktestConfig(Strict):
    weeks: int = Field(8, ge=1, description="most recent matured decision weeks replayed (also by the safe-improvement gate)")
    model: str = Field("champion", description="registered alias or version number of the candidate model")
    policies: tuple[Literal["tiers", "optimizer", "config_tiers", "model_tiers"], ...] = Field(
        ("tiers", "optimizer"), description="policies valued (tiers = as decide-email publishes, per "
        "email.tier_source); the logged (exploration) policy is always reported")
    reward_revenue: Literal["orders", "expected"] = Field(
        "expected", description="expected: a purchase week is worth the user's expected revenue "
        "(decide.expected_revenue), the scale the model's net value uses (far lower variance); orders: the "
        "week's revenue from raw.orders (unbiased for revenue, noisy: one large basket moves a small market)")
    min_rows: int = Field(50, ge=1, description="fewer logged exploration user-weeks than this is an error")
    calibration: CalibrationConfig = CalibrationConfig()


class ArmConfig(Strict):
    """The policy one A/B arm applies (the decision job reads it through experiments.arm_frequency)."""

    policy: Literal["current", "tiers", "optimizer", "fixed"] = Field(
        "current", description="current: email.policy as configured; tiers / optimizer: that policy of the "
        "same model; fixed: everyone gets emails_per_week")
    emails_per_week: int | None = Field(None, ge=0, le=7, description="frequency of the fixed policy")
    model: str = Field("champion", description="registered alias or version scoring this arm")

    @model_validator(mode="after")
    def _fixed_has_frequency(self) -> ArmConfig:
        if (self.policy == "fixed") != (self.emails_per_week is not None):
            raise ValueError("emails_per_week is required by (and only by) policy: fixed")
        return self


class ExperimentsConfig(Strict):
    enabled: bool = Field(False, description="assign users to arms and let the decision job apply them")
    name: str = Field("email-ab-1", min_length=1, description="experiment id recorded with every assignment")
    salt: str = Field("email-ab-v1", min_length=1, description="hash salt; a new salt redraws the arms")
    treatment_share: float = Field(0.5, gt=0, lt=1, description="share of (non-holdout) users in treatment")
    start_date: dt.date | None = Field(None, description="outcomes count from this date (null: first assignment)")
    control: ArmConfig = ArmConfig(policy="current")
    treatment: ArmConfig = ArmConfig(policy="optimizer")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="significance level of the tests and the rollout rule")
    srm_alpha: float = Field(0.001, gt=0, lt=0.5, description="sample-ratio-mismatch chi-square level")
    min_users_per_arm: int = Field(100, ge=1, description="fewer users in an arm: no decision")
