"""Typed ``promo:`` config section: request limits, segmentation windows, designer, models, simulator, tuning."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sendopt.strict import Strict


class RequestLimits(Strict):
    """What a campaign request may ask for (``submit-promo-request`` and ``plan-promos`` check the same)."""

    max_campaign_days: int = Field(60, ge=1, description="longest campaign window accepted")
    max_lead_days: int = Field(365, ge=0, description="a campaign may start at most this far ahead")
    discount_pct_range: tuple[float, float] = Field((0.0, 50.0), description="outer bounds of any discount %")
    voucher_max: float = Field(50.0, ge=0, description="largest voucher value accepted")
    min_spend_max: float = Field(200.0, ge=0, description="largest minimum spend accepted")


class SegmentConfig(Strict):
    """new: no card payment at the merchant before the campaign; active: one within ``active_days``; churned:
    older. Matches how the world assigns a campaign's segments (docs/world.md)."""

    active_days: int = Field(30, ge=1, description="a payment at the merchant this recent makes a customer active")
    history_days: int = Field(180, ge=7, description="look-back window of the pre-campaign features")


class DesignerConfig(Strict):
    max_designs: int = Field(24, ge=1, description="candidate designs per request (the issue's benchmark: 50)")
    discount_step: float = Field(5.0, gt=0, description="grid step of discount % inside the guard rails")
    min_spend_step: float = Field(10.0, gt=0, description="grid step of minimum spend inside the guard rails")
    min_campaigns: int = Field(3, ge=1, description="a merchant with fewer past campaigns is centred on its MCC's "
                               "history, with fewer there on the population prior")
    prior_discount_pct: float = Field(15.0, ge=0, description="population prior centre of discount %")


class ModelConfig(Strict):
    backend: Literal["auto", "barrier", "synapseml", "local"] = "auto"
    num_boost_round: int = Field(120, ge=1)
    early_stopping_rounds: int = Field(15, ge=0)
    params: dict[str, Any] = Field(default_factory=lambda: {
        "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40, "lambda_l2": 1.0})
    max_train_rows: int | None = Field(500_000, ge=100)
    holdout_share: float = Field(0.2, gt=0, lt=0.5, description="campaign rows held out (stable hash) for the "
                                 "gate, calibration and early stopping")
    calibration: Literal["isotonic", "platt"] = "isotonic"
    ece_threshold: float = Field(0.01, ge=0, description="calibrate a probability model whose holdout ECE is above")
    gate_tolerance: float = Field(0.002, ge=0, description="a challenger may be this much worse in holdout "
                                  "log-loss than the champion and still be promoted")
    effect: Literal["usage", "dr", "ipw", "t"] = Field(
        "usage", description="how the plan's cost, net value and incremental orders are predicted: usage = a "
        "redemption-rate model per usable category payment, the promo's terms for the cost and the measured "
        "incremental share of redemptions; dr / ipw = direct effect models on doubly robust / inverse-propensity "
        "pseudo-outcomes; t = differences of the T-learner's two arms")
    near_share: float = Field(0.7, gt=0, le=1, description="effect usage: a basket at least this share of the "
                              "minimum spend is topped up to use the promo; smaller ones cannot use it")
    usage_boost_round: int = Field(150, ge=1, description="effect usage: boosting rounds of the usage model (no "
                                   "early stopping: the noisy holdout rate stops it before the design's effect is "
                                   "learned)")
    usage_params: dict[str, Any] = Field(default_factory=lambda: {"min_data_in_leaf": 200},
                                         description="effect usage: LightGBM parameters of "
                                         "the usage model over ``params`` (its label is a rate of rare events: "
                                         "larger leaves)")
    incremental_share_edges: list[float] = Field(
        default_factory=lambda: [0.2], description="effect usage: offer strengths (against the category's median "
        "basket) cutting the bins of the incremental share of redemptions, measured per segment and bin")
    incremental_share_loyalty_edges: list[float] = Field(
        default_factory=list, description="effect usage: the customer's observed share of their category payments "
        "at the merchant cutting bins of the incremental share within each segment × strength bin (empty: none)")
    merchant_level_prior: float | None = Field(
        None, ge=0, description="effect usage: scale each merchant's predicted redemptions by its offered holdout "
        "customers' observed ÷ predicted ones, shrunk to 1 with this many redemptions' weight (null: no scaling)")
    level_error_folds: int = Field(10, ge=0, le=20, description="effect usage: folds of whole campaigns the "
                                   "usage model is refitted without, to measure how far a campaign it has not "
                                   "seen redeems from its prediction (the budget rule's level error; 0: none)")
    level_error_min_campaigns: int = Field(10, ge=2, description="effect usage: fewer campaigns measured than "
                                           "this and the budget rule takes ``level_error_fallback`` instead")
    level_error_fallback: float = Field(0.35, ge=0, description="effect usage: the level error assumed when it "
                                        "cannot be measured (10 folds measured 0.17 and 0.16 on the 50,000-user "
                                        "worlds of seeds 7 and 11; a model of fewer campaigns errs more: 3 folds "
                                        "gave 0.37 on seed 7)")
    level_error_merchant_prior: float | None = Field(30.0, ge=0, description="effect usage: the budget rule "
                                                     "counts a plan's predicted cost × the merchant's level on its "
                                                     "unseen campaigns (the level error's refits), shrunk to 1 "
                                                     "with this many redemptions and never below 1; null = off")
    rate_calibration_bins: int = Field(0, ge=0, description="effect usage: quantile bins of the predicted "
                                       "redemption rate mapped to the offered holdout's observed rate (0: none)")
    incremental_share_prior: float = Field(30.0, ge=0, description="effect usage: redemptions' worth of weight "
                                           "that shrinks a bin's incremental share towards its segment's, and a "
                                           "segment's towards every segment's (0: each cell alone)")
    exposure_floor: float = Field(0.1, gt=0, description="effect usage: category payments in the window added to "
                                  "every customer's expected ones (a customer without category history still "
                                  "can order)")
    calibration_bins: int = Field(8, ge=2, description="holdout bins of the predicted effects mapped to their "
                                  "measured (IPW) effect before planning")
    retrain: bool = Field(False, description="train challengers on every plan-promos run (else only when no "
                          "champion exists or the raw promo tables changed)")
    seed: int = 42


class SimulatorConfig(Strict):
    budget_confidence: float = Field(0.9, gt=0.5, lt=1, description="P(actual cost ≤ budget) a plan must reach "
                                     "(normal approximation of the Bernoulli sums)")
    interval: float = Field(0.9, gt=0.5, lt=1, description="central interval reported with predicted metrics")
    bucket_resolution: float = Field(6.0, gt=0, description="score buckets per unit of asinh(predicted net value):"
                                     " finer = exacter reach cut, more sufficient-statistic rows")
    cost_model_margin: float = Field(0.0, ge=0, description="the plan's predicted cost is counted this much higher "
                                     "in the budget rule, on top of the Bernoulli variance of the sums and the "
                                     "measured level error (``models.level_error_folds``)")


class TuningConfig(Strict):
    trials: int = Field(30, ge=1, description="Optuna trials per request")
    sampler: Literal["nsga2", "tpe"] = "nsga2"
    weight_orders_max: float = Field(20.0, ge=0, description="search range of the per-incremental-order weight")
    weight_new_max: float = Field(20.0, ge=0, description="search range of the per-new-customer weight")
    log_trials: bool = Field(True, description="one MLflow run per trial (nested under the request's run)")
    seed: int = 7


class PublishConfig(Strict):
    enabled: bool = Field(True, description="kill switch: false plans nothing and writes no assignments")
    holdout_share: float = Field(0.1, ge=0, lt=0.5, description="share of each plan's chosen customers held back "
                                 "(not offered) as its control group, so promo-report can measure the plan's "
                                 "incremental orders")


class DemoConfig(Strict):
    """``seed-promo-requests`` (the demo pipeline): a few requests for the merchants with most history."""

    requests: int = Field(3, ge=0, description="feasible requests submitted (plus one whose CPS limit no design "
                          "meets, to show a failed request)")
    days: int = Field(14, ge=1, description="campaign length")
    budget_per_customer: float = Field(0.15, gt=0, description="budget per eligible customer of the merchant")


class ReportConfig(Strict):
    """When actual and predicted campaign outcomes are said to drift apart (``promo.report``)."""

    max_relative_error: float = Field(0.3, gt=0, description="a metric drifts when |actual − predicted| exceeds "
                                      "this share of the prediction …")
    z: float = Field(3.0, ge=0, description="… and this many standard errors of the actual value")
    min_redemptions: int = Field(30, ge=0, description="cells with fewer actual redemptions are not judged")
    model_name: str = Field("promo_response", description="model family named in the retrain trigger")


class PromoConfig(Strict):
    requests: RequestLimits = RequestLimits()
    segments: SegmentConfig = SegmentConfig()
    designer: DesignerConfig = DesignerConfig()
    models: ModelConfig = ModelConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    tuning: TuningConfig = TuningConfig()
    submit: dict[str, Any] | str | None = Field(None, description="the request submit-promo-request appends (the CLI's "
                                         "--request JSON|FILE sets it)")
    request_id: str | None = Field(None, description="plan only this request (the web service's worker); "
                                   "null: every pending one")
    replan: list[str] = Field(default_factory=list, description="request ids to plan again (their rows replaced)")
    claim_lease_minutes: float | None = Field(180.0, gt=0, description="a claim older than this without a planned "
                                              "/ failed status (its run was killed) is taken again; null: never")
    report: ReportConfig = ReportConfig()
    report_requests: list[str] = Field(default_factory=list, description="promo-report only these requests "
                                       "(empty: every request whose window has ended)")
    demo: DemoConfig = DemoConfig()
    publish: PublishConfig = PublishConfig()
