"""Typed ``lifecycle:`` config section: the retraining gate and the monitors' thresholds.

Sub-sections: ``retrain`` (rolling window and gate rules) and ``monitor`` (drift and
performance thresholds that trigger a retrain, report location). Backtest and
experiment settings are further sub-sections of :class:`LifecycleConfig`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from sendopt.lifecycle.experiment_config import BacktestConfig, ExperimentsConfig
from sendopt.strict import Strict


class GateConfig(Strict):
    """Rules a challenger must pass on the time-later holdout to take the champion alias."""

    auc_tolerance: float = Field(0.005, ge=0, le=1, description="challenger macro AUC ≥ champion's − this")
    max_ece: float = Field(0.05, gt=0, le=1, description="challenger mean expected calibration error ≤ this")
    max_log_loss_increase: float | None = Field(
        None, ge=0, description="challenger log loss ≤ champion's + this (null: not checked)")
    value_bins: int = Field(3, ge=2, le=20, description="holdout rows cut into this many predicted-net-value bins")
    bin_order: Literal["both", "conversion", "off"] = Field(
        "conversion",
        description="top value bin must convert more (conversion), and also unsubscribe less (both), than the "
        "bottom bin")
    min_holdout_rows: int = Field(200, ge=1, description="fewer holdout rows than this fail the cycle")


class RetrainConfig(Strict):
    window_weeks: int | None = Field(
        None, ge=2, description="rolling training window in matured weeks (null: the channel's own setting)")
    holdout_weeks: int | None = Field(
        None, ge=1, description="latest weeks of the window held out (null: the channel's own setting)")
    gate: GateConfig = GateConfig()


class MonitorConfig(Strict):
    """Thresholds that turn monitors into a retrain trigger (each breach is a recorded cause)."""

    psi_warn: float = Field(0.1, ge=0, description="PSI at which a feature or score is flagged 'warn'")
    psi_alert: float = Field(0.25, ge=0, description="PSI at which a feature or score is flagged 'alert'")
    psi_epsilon: float = Field(1e-4, gt=0, lt=0.01, description="floor on bucket shares inside the PSI log")
    max_alert_features: int = Field(3, ge=1, description="this many features at 'alert' trigger a retrain")
    trigger_exclude: tuple[str, ...] = Field(
        (), description="feature-name prefixes whose PSI is reported but never counts toward the trigger (e.g. "
        "send-history features that move whenever the policy changes what is sent)")
    score_psi_alert: float = Field(0.25, ge=0, description="PSI of a score vs its reference that triggers")
    outcome_weeks: int = Field(6, ge=1, description="matured decision weeks evaluated per run (AUC over time)")
    min_outcome_rows: int = Field(300, ge=1, description="a week with fewer labelled rows is not judged")
    auc_drop: float = Field(0.05, ge=0, description="latest week's AUC below champion's holdout AUC − this")
    max_ece: float = Field(0.05, gt=0, description="latest week's mean ECE above this triggers")
    calibration_ratio: float = Field(
        1.5, gt=1, description="observed / predicted rate of an outcome outside [1/r, r] in the latest week")
    calibration_outcomes: tuple[str, ...] = Field(
        ("purchase", "unsubscribe"), description="outcomes whose calibration-in-the-large is checked")
    report_dir: str | None = Field(None, description="HTML reports go here (null: <lake.root>/_reports)")


class LifecycleConfig(Strict):
    retrain: RetrainConfig = RetrainConfig()
    monitor: MonitorConfig = MonitorConfig()
    backtest: BacktestConfig = BacktestConfig()  # backtest and threshold calibration (experiment_config.py)
    experiments: ExperimentsConfig = ExperimentsConfig()  # A/B tests (experiment_config.py)
