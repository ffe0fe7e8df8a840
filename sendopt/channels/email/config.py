"""Typed ``email:`` config section (values per region/brand come from conf/regions overlays)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from sendopt.strict import Strict


class TrainingConfig(Strict):
    weeks: int = Field(8, ge=2, description="most recent matured user-weeks used for training")
    valid_weeks: int = Field(1, ge=1, description="the latest of those weeks, held out (time-later)")
    population: Literal["all", "all_ipw", "exploration"] = "all"
    backend: Literal["auto", "barrier", "synapseml", "local"] = "auto"
    max_train_rows: int | None = Field(500_000, ge=1000)
    num_boost_round: int = Field(300, ge=1)
    early_stopping_rounds: int = Field(20, ge=0)
    params: dict[str, Any] = Field(default_factory=lambda: {
        "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 40,
        "feature_fraction": 0.8, "lambda_l2": 1.0,
    })
    class_weighting: Literal["none", "balanced"] = "none"
    k_effect: Literal["pooled", "trees"] = Field(
        "pooled", description="pooled: a dose-response head fitted on the randomized weeks (see model.py); "
        "trees: the booster's own splits on k")
    k_effect_max_rows: int = Field(500_000, ge=1000, description="randomized rows sampled for the head's fit")
    k_effect_ridge: float = Field(0.1, ge=0, description="L2 penalty of the head's logit shifts (in rows)")
    k_effect_smoothness: float = Field(30.0, ge=0, description="penalty on second differences of the head's "
                                       "curve over k (in rows); large = straight lines")
    k_effect_scales: dict[Literal["purchase", "unsubscribe"], Literal["linear", "log1p"]] = Field(
        default_factory=lambda: {"purchase": "log1p", "unsubscribe": "linear"},
        description="axis on which the smoothness prior straightens each outcome's curve: log1p = diminishing "
        "returns (purchases saturate), linear = a steady rise (fatigue); see dose_response.fit_dose_response")
    k_effect_pooling: float = Field(0.0, ge=0, description="shrink each market's head towards the curve "
                                    "fitted on every market's randomized weeks, with this strength (in rows, "
                                    "like k_effect_ridge); 0 = each market's curve from its own weeks alone")
    k_carryover: str | None = Field(
        "sends_7d", description="feature measuring last week's sends (e.g. sends_7d): the head then learns their "
        "carry-over (fatigue memory) on the randomized weeks, with the booster scored at that feature held at "
        "the anchor, and the decision chooses each k for its value when kept every week; null = one-week effect")
    k_carryover_outcomes: list[Literal["purchase", "unsubscribe"]] = Field(
        default_factory=lambda: ["unsubscribe"], description="outcomes whose logit carries last week's sends "
        "(fatigue memory is an unsubscribe effect; a purchase slope fitted on few rows is mostly noise)")
    select_features: bool = True
    selection_rows: int = Field(300_000, ge=1000, description="training rows of the importance pilot fit "
                                "(feature trimming); the full fit then runs once, on the kept features")
    seed: int = 42


class ValueConfig(Strict):
    revenue_per_purchase: float = Field(60.0, gt=0, description="prior revenue of a purchase week")
    revenue_prior_orders: float = Field(3.0, ge=0, description="shrinkage of the user's AOV towards the prior")
    unsubscribe_cost: float = Field(40.0, ge=0, description="lifetime value lost with a subscriber")
    history_days: int = Field(
        91, ge=1, description="the user's AOV comes from the orders_<d>d and revenue_<d>d features of this window "
        "(one of features.windows)")


class Tier(Strict):
    max_bin: int = Field(ge=1)
    emails_per_week: int = Field(ge=0, le=7)


class ExplorationConfig(Strict):
    share: float = Field(0.05, ge=0, le=0.5)
    salt: str = "email-exploration-v1"
    frequencies: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
    allocation: Literal["uniform", "thompson"] = Field(
        "uniform", description="uniform: every frequency 1/K; thompson: per bin, floor/K + (1 − floor)·P(best) "
        "from the safe-improvement replay's values (sendopt/channels/email/exploration.py)")
    floor: float = Field(0.5, gt=0, le=1, description="thompson: the share of the holdout spread uniformly, so "
                         "every frequency keeps probability ≥ floor/K")
    draws: int = Field(4000, ge=100, description="thompson: Monte Carlo draws per bin for P(best)")
    seed: int = 17


class SuppressRule(Strict):
    name: str
    when: str = Field(description="Spark SQL predicate over the feature columns")
    max_per_week: int = Field(ge=0, le=7)


class RulesConfig(Strict):
    region_max: dict[str, int] = Field(default_factory=dict)
    suppress: tuple[SuppressRule, ...] = ()


class SafetyConfig(Strict):
    """Safe policy improvement: the candidate is published only if the holdout says it beats the incumbent."""

    enabled: bool = Field(True, description="false: publish the candidate without the off-policy comparison")
    z: float = Field(1.645, ge=0, description="lower bound = DR estimate − z·(paired standard error of the "
                     "difference to the incumbent); 1.645 = one-sided 95%")
    max_mean_frequency_change: float = Field(
        2.0, ge=0, description="gross-change check: a policy whose mean emails/week differs from the incumbent's "
        "by more than this is not published")
    incumbent_frequency: int | None = Field(
        None, ge=0, le=7, description="first run (nothing published yet): the incumbent sends everyone this; "
        "null = the frequency the training history holds most (the brand's historical fixed frequency)")
    estimator: Literal["dr", "smoothed"] = Field(
        "smoothed", description="the paired difference the gate tests: smoothed = the model's value with its "
        "residual smoothed over k on every holdout row (sendopt.lifecycle.estimators.residual_curve; "
        "lower variance, assumes the model's error is smooth in k within a bin); dr = the "
        "doubly robust difference (unbiased, but only the rows whose logged k matches count)")
    residual_degree: int = Field(2, ge=1, le=2, description="smoothed: degree of the residual's polynomial in k")
    residual_pooling: Literal["bin", "market"] = Field(
        "bin", description="smoothed: one residual curve per bin (a bin with too few logged k borrows the "
        "market's), or the market's curve for every bin (more rows per curve; assumes the model's error moves "
        "with k alike in every bin)")
    steps: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=list, description="when the candidate is not safe, also value tier maps that move "
        "each bin at most this many emails/week from the incumbent towards the candidate (and publish the best "
        "safe one), e.g. [1, 2]: a part of an overshooting move can be certified where the whole is not; "
        "[] = candidate or baselines only (each option listed is one more chance of a false 'safe')")
    prefer: Literal["candidate", "best"] = Field(
        "candidate", description="which passing option is published: candidate = the candidate whenever it "
        "passes, else the passing alternative of highest value; best = the passing option of highest value, "
        "the candidate included (an everyone-k estimated above the candidate is published instead)")
    without_evidence: Literal["incumbent", "candidate"] = Field(
        "incumbent", description="what to publish when the holdout has no matured exploration week to compare on")


class PublishConfig(Strict):
    enabled: bool = Field(True, description="kill switch: false stops publishing")
    max_zero_share_change: float = Field(0.25, ge=0, le=1)
    safe_frequency: int = Field(1, ge=0, le=7)
    safety: SafetyConfig = SafetyConfig()


class EmailConfig(Strict):
    gap_days: int = Field(1, ge=0, le=14)
    candidate_frequencies: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
    policy: Literal["tiers", "optimizer"] = "tiers"
    reference_frequency: int = Field(3, ge=1, le=7)
    bins: int = Field(10, ge=2, le=100)
    tiers: tuple[Tier, ...] = (
        Tier(max_bin=2, emails_per_week=7), Tier(max_bin=5, emails_per_week=3),
        Tier(max_bin=8, emails_per_week=1), Tier(max_bin=10, emails_per_week=0),
    )
    tier_source: Literal["config", "model"] = Field(
        "model",
        description="config: each tier sends its configured emails_per_week; model: each tier (bins grouped by "
        "max_bin) sends the candidate frequency with the highest mean predicted net value among its users "
        "(logged per run)",
    )
    max_step: int | None = Field(
        2, ge=1, le=7,
        description="trust region: the model policies choose frequencies at most this many emails/week from the "
        "anchor (the frequency the training history holds most); null = no limit",
    )
    training: TrainingConfig = TrainingConfig()
    value: ValueConfig = ValueConfig()
    exploration: ExplorationConfig = ExplorationConfig()
    rules: RulesConfig = RulesConfig()
    publish: PublishConfig = PublishConfig()
    train_in_daily: Literal["if_missing", "always"] = "if_missing"
    consent_threshold: float = Field(
        0.5, gt=0, le=1, description="a user is emailed only when the email_consent feature is at least this")

    @model_validator(mode="after")
    def _tiers_cover_bins(self) -> EmailConfig:
        bounds = [t.max_bin for t in self.tiers]
        if bounds != sorted(bounds) or bounds[-1] != self.bins:
            raise ValueError(f"tiers must have increasing max_bin ending at bins={self.bins}, got {bounds}")
        if self.reference_frequency not in self.candidate_frequencies:
            raise ValueError("reference_frequency must be one of candidate_frequencies")
        return self
