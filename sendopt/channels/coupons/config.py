"""Typed ``coupons:`` config section: the trial to learn from, the learners, the allocation and evaluation."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sendopt.strict import Strict as _Frozen

LEARNERS = ("t", "s", "x", "dr")


class ImportTrialConfig(_Frozen):
    """A team's own trial (``sendopt import-trial``); ``path`` unset = the world's raw coupon tables."""

    path: str | None = None
    format: Literal["auto", "csv", "parquet", "delta"] = "auto"
    treatment: str = "treatment"
    control: str = "0"
    outcome: str = "converted"
    value: str | None = None
    cost: str | None = None
    id: str | None = Field(None, description="customer id column (default: row number)")
    propensity: str | None = Field(None, description="logged assignment probability column (default: arm share)")
    features: list[str] = Field(default_factory=list, description="pre-treatment feature columns")
    min_rows_per_arm: int = Field(50, ge=1)


class LearnerConfig(_Frozen):
    kinds: list[Literal["t", "s", "x", "dr"]] = Field(default_factory=lambda: ["t", "x", "dr", "s"])
    backend: Literal["auto", "barrier", "synapseml", "local"] = "auto"
    num_boost_round: int = Field(150, ge=1)
    early_stopping_rounds: int = Field(15, ge=0)
    params: dict[str, Any] = Field(default_factory=lambda: {
        "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40, "lambda_l2": 1.0})
    valid_share: float = Field(0.2, gt=0, lt=0.5, description="training rows kept for early stopping")
    max_train_rows: int | None = Field(500_000, ge=100)
    monotone: bool = Field(False, description="isotonic (non-decreasing) conversion across levels per customer")
    value: Literal["per_arm", "per_converter"] = Field(
        "per_converter", description="per_arm: each learner models every arm's value outcome (zeros of non-converters "
        "included); per_converter: value_k = conv_k × V(x, k), one model V of the converters' value over all arms "
        "with the arm as a feature, so the learners estimate conversion effects only (docs/uplift.md)")
    seed: int = 42


class ObservationalConfig(_Frozen):
    """On data without randomization: a propensity model, IPW, and an overlap check that refuses."""

    overlap_min: float = Field(0.05, gt=0, lt=0.5, description="smallest acceptable propensity of any level")
    max_violation_share: float = Field(0.01, ge=0, le=1, description="share of rows allowed below overlap_min")
    clip: float = Field(0.01, gt=0, lt=0.5, description="propensities clipped here before weighting")


class AllocationConfig(_Frozen):
    budget: float | None = Field(None, ge=0, description="total coupon spend per run (expected cost); None: no budget")
    budget_per_customer: float | None = Field(
        None, ge=0, description="budget as expected spend per scored customer (used when budget is None)")
    method: Literal["lagrangian", "greedy"] = "lagrangian"
    bisection_steps: int = Field(12, ge=3, le=100, description="k-section passes (8 prices per Spark aggregation)")
    min_share: dict[str, float] = Field(
        default_factory=dict, description="minimum share of customers given some coupon per group value, "
        "e.g. {'region=south': 0.1}")
    require_consent: Literal["email", "email_or_push", "none"] = "email_or_push"


class EvaluationConfig(_Frozen):
    holdout_share: float = Field(0.3, gt=0, lt=0.9, description="randomized rows held out from training")
    bootstrap: int = Field(100, ge=0, le=2000)
    grid: int = Field(200, ge=10, description="score buckets of the Qini / uplift curves")
    k: float = Field(0.3, gt=0, lt=1, description="uplift@k share")
    budget_points: int = Field(25, ge=3, description="λ values along the Q(B) budget path")
    gate_tolerance: float = Field(0.0, ge=0, description="a challenger may be this much below the champion's "
                                  "DR policy value (per customer) and still be promoted")


class PublishConfig(_Frozen):
    enabled: bool = Field(True, description="kill switch: false publishes no coupon assignments at all")


class CouponsConfig(_Frozen):
    trial: str = Field("world", description="name of the trial in features.coupon_trial to learn from")
    observational: bool = Field(False, description="learn from the world's observational period instead "
                                "(propensity model + overlap check)")
    import_trial: ImportTrialConfig = ImportTrialConfig()
    learners: LearnerConfig = LearnerConfig()
    observational_checks: ObservationalConfig = ObservationalConfig()
    allocation: AllocationConfig = AllocationConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    publish: PublishConfig = PublishConfig()

    @model_validator(mode="after")
    def _check(self) -> CouponsConfig:
        if not self.learners.kinds:
            raise ValueError("coupons.learners.kinds is empty: name at least one of t, s, x, dr")
        return self
