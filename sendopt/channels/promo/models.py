"""Response models of the promo channel: a T-learner over the design's features, through the project's trainer.

Why a T-learner: the historical campaigns offered the promo to a random share of the eligible customers, so
the non-offered eligible customers are a large logged control group. ``order0`` learns P(order | customer,
no promo) on them alone and ``order1`` learns P(order | customer, design) on the offered, with the design's
discount %, voucher, minimum spend and minimum-spend-to-usual-basket ratio as features (designs vary across
campaigns, so one treated model interpolates between them). An S-learner would have to find the small
promo effect as splits on a treatment flag inside one model, and regularisation shrinks that effect toward
zero; two models keep the baseline and the treated response apart. ``redeem`` gives P(redeem | design) and
``discount`` E[discounts paid | redeemed, design] (the promo cost = Σ p · discount); ``basket`` is E[GMV in
the window | ordered, design] and ``orders`` E[orders in the window | ordered, design] (a voucher serves every
order of the window), regressions over both arms with the design zeroed in the control arm. Probabilities are calibrated on the holdout (isotonic / Platt) when their
ECE is above ``promo.models.ece_threshold``. Every model is MLflow-tracked and registered; a challenger
becomes champion only if its holdout loss is within ``gate_tolerance`` of the champion's on the same rows.

Effects (``promo.models.effect``): by default (``t``) the plan's net value is p1·g1 − p0·g0 − cost and its
incremental orders p1·n1 − p0·n0 — differences of two models, each with errors as large as the effect, which
the plan's selection then picks up. ``ipw`` / ``dr`` take them instead from two direct effect models (``effect_net``, ``effect_orders``) regressed on
pseudo-outcomes of the randomized offers (:func:`pseudo_outcomes`), and mapped per holdout bin to the
effect measured there (:func:`effect_calibration`). The T-learner stays for the cost, the redemptions and the
Bernoulli variances of the budget rule, and as the nuisance models of ``effect: dr``.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sendopt.channels.primitives import uniform_hash
from sendopt.channels.promo.config import ModelConfig
from sendopt.channels.promo.features import (
    CATEGORICAL,
    CUSTOMER_FEATURES,
    DESIGN_FEATURES,
    INCREASING,
    USAGE_FEATURES,
    with_design,
    with_usage,
)
from sendopt.models import tracking
from sendopt.models.calibration import Calibrator, calibrate
from sendopt.models.metrics import evaluate
from sendopt.models.scoring import Head, head, score, score_heads
from sendopt.models.spec import TrainSpec
from sendopt.models.trainer import train

log = logging.getLogger("sendopt.promo")

#: kind → (label, features, rows it learns from, task)
KINDS = {
    "order0": ("ordered", CUSTOMER_FEATURES, "control", "classification"),
    "order1": ("ordered", CUSTOMER_FEATURES + DESIGN_FEATURES, "offered", "classification"),
    "redeem": ("redeemed", CUSTOMER_FEATURES + DESIGN_FEATURES, "offered", "classification"),
    "basket": ("gmv", CUSTOMER_FEATURES + DESIGN_FEATURES + ["offered_f"], "orderers", "regression"),
    "orders": ("orders_n", CUSTOMER_FEATURES + DESIGN_FEATURES + ["offered_f"], "orderers", "regression"),
    "discount": ("discounts_n", CUSTOMER_FEATURES + DESIGN_FEATURES, "redeemers", "regression"),
}
#: Effect models (``promo.models.effect`` dr | ipw): the effect of the campaign's design on the net paid amount
#: (= incremental GMV − promo cost) and on the order count, regressed directly on a pseudo-outcome of every
#: eligible row (offered and control, each with its campaign's design) — see :func:`pseudo_outcomes`.
EFFECT_KINDS = {
    "effect_net": ("pseudo_net", CUSTOMER_FEATURES + DESIGN_FEATURES, "all", "regression"),
    "effect_orders": ("pseudo_orders", CUSTOMER_FEATURES + DESIGN_FEATURES, "all", "regression"),
}
#: The usage model (``promo.models.effect: usage``, the default): expected redemptions per offered customer as a
#: rate per usable category payment (label ``usage_rate`` = redemptions / ``usage_weight``, weighted by it; see
#: :func:`~sendopt.channels.promo.features.with_usage`). The plan's cost follows from the promo's terms, its
#: incremental orders from the measured incremental share of redemptions per segment (:func:`incremental_share`).
USAGE_KINDS = {"usage": ("usage_rate", USAGE_FEATURES, "offered", "regression")}
ALL_KINDS = {**KINDS, **EFFECT_KINDS, **USAGE_KINDS}


@dataclass
class PromoModel:
    kind: str
    text: str
    features: list[str]
    calibrator: Calibrator | None
    version: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def head(self, out: str) -> Head:
        """This model as one output column ``out`` of a fused pass: calibrated probabilities, regressions
        floored at 0 (the direct effects may be negative)."""
        floor = self.kind in USAGE_KINDS or (self.kind in KINDS and KINDS[self.kind][3] == "regression")
        return head(self.text, self.features, [out], post=_Post(self.calibrator, floor))

    def predict(self, df: DataFrame, out: str) -> DataFrame:
        return predict_all(df, [(self, out)])


@dataclass(frozen=True)
class _Post:
    """What follows a promo model's raw prediction inside the scoring task (picklable)."""

    calibrator: Calibrator | None
    floor: bool

    def __call__(self, p):
        if self.calibrator is not None:
            p = self.calibrator.transform(p)
        return p.clip(min=0.0) if self.floor else p


def predict_all(df: DataFrame, models: list[tuple[PromoModel, str]]) -> DataFrame:
    """``df`` plus each (model, output column), in one pass over the rows."""
    return score_heads(df, [m.head(out) for m, out in models])


@dataclass
class ModelSet:
    models: dict[str, PromoModel]
    trained: bool
    gate: list[str] = field(default_factory=list)
    #: segment → {by, edges, k}: factors on the predicted order uplift p1 − p0 per offer-strength bin, so that on
    #: the randomized holdout the predicted uplift equals the measured one (offered − control), bin by bin
    uplift_scale: dict[str, dict] = field(default_factory=dict)
    #: effect column → {x: predicted effect per holdout bin, y: measured (IPW, made monotone)}: the map
    #: :func:`effect_calibration` fits and :func:`calibrated_effect` applies
    effect_calibration: dict[str, dict] = field(default_factory=dict)
    #: ``effect: usage``: {incremental_share: segment → share of redemptions that are incremental orders,
    #: near_share, exposure_floor} — what scoring needs besides the usage model itself
    usage: dict = field(default_factory=dict)

    @property
    def versions(self) -> dict[str, str]:
        return {k: m.version for k, m in self.models.items()}

    @property
    def version_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.versions.items()))

    def level_sd(self, cfg: ModelConfig, log: logging.Logger | None = None) -> float:
        """The level error of an unseen campaign's predicted redemptions that the budget rule adds for the
        model's own error: the measured one (:func:`campaign_level_error`; 0 when not measured), or
        ``level_error_fallback`` when it was measured on fewer than ``level_error_min_campaigns`` campaigns.
        Read at planning time, so a changed fallback or minimum applies without a retrain."""
        err = self.usage.get("level_error")
        if not err:
            return 0.0
        if err.get("campaigns", 0) < cfg.level_error_min_campaigns:
            if log is not None:
                log.warning("stage=promo-models the level error was measured on %d campaigns, fewer than "
                            "promo.models.level_error_min_campaigns (%d): the budget rule assumes "
                            "level_error_fallback %.2f", err.get("campaigns", 0), cfg.level_error_min_campaigns,
                            cfg.level_error_fallback)
            return float(cfg.level_error_fallback)
        return float(err.get("measured_sd", err["sd"]))  # measured_sd: champions tagged before 2026-12-07

    def merchant_cost_level(self, merchant_id: int, cfg: ModelConfig) -> float:
        """How much higher the budget rule counts a plan's predicted cost at this merchant: its unseen campaigns'
        observed ÷ predicted redemptions (:func:`campaign_level_error`'s refits), shrunk to 1 with the weight of
        ``level_error_merchant_prior`` redemptions, and never below 1 — evidence that the model under-predicts
        this merchant tightens its budget; evidence of over-prediction does not loosen it (a level measured on
        other designs may not carry to the plan's). 1 when off (null), unmeasured or the merchant never ran."""
        prior = cfg.level_error_merchant_prior
        sums = (self.usage.get("level_error") or {}).get("merchants", {}).get(str(merchant_id))
        if prior is None or not sums:
            return 1.0
        observed, predicted = sums
        return max(1.0, (observed + prior) / (predicted + prior))


def training_frame(campaigns: DataFrame, eligible: DataFrame, merchants: DataFrame, window_payments: DataFrame,
                   redemptions: DataFrame, features) -> DataFrame:
    """One row per eligible customer of each finished campaign: pre-campaign features, the design, whether
    they were offered, and outcomes in the campaign window (ordered, orders, GMV before discount, redeemed,
    discounts paid). A redeemed order is one card payment at the price paid, so GMV = paid + discounts.

    ``features(pairs)`` is :func:`~sendopt.channels.promo.features.pair_features` bound to the raw tables."""
    c = campaigns.join(merchants.select("merchant_id", "mcc"), "merchant_id")
    prob = F.col("offer_probability").cast("double") if "offer_probability" in eligible.columns else F.lit(None)
    pairs = eligible.select("campaign_id", "user_id", F.col("offered").cast("boolean").alias("offered"),
                            prob.alias("_logged_p")).join(
        c.select("campaign_id", "merchant_id", "mcc", "start_date", "end_date",
                 F.col("discount_pct").cast("double").alias("discount_pct"),
                 F.col("voucher_value").cast("double").alias("voucher_value"),
                 F.col("min_spend").cast("double").alias("min_spend"),
                 F.col("offer_probability").cast("double").alias("_campaign_p")), "campaign_id")
    pairs = (pairs.withColumn("key", F.col("campaign_id")).withColumn("as_of", F.col("start_date"))
             .withColumn("propensity", F.coalesce("_logged_p", "_campaign_p", F.avg(F.col("offered").cast("double"))
                                                  .over(Window.partitionBy("campaign_id"))))  # else the share offered
             .drop("_logged_p", "_campaign_p"))
    x = features(pairs)
    w = window_payments.select(F.col("user_id").alias("w_user"), F.col("merchant_id").alias("w_m"),
                               F.col("event_date").alias("w_day"), F.col("amount").alias("w_amount"))
    inw = x.select("key", "user_id", "merchant_id", "start_date", "end_date").join(
        w, (F.col("user_id") == F.col("w_user")) & (F.col("merchant_id") == F.col("w_m"))
        & F.col("w_day").between(F.col("start_date"), F.col("end_date"))).groupBy(
        "key", "user_id").agg(F.count("*").alias("orders"), F.sum("w_amount").alias("paid"))
    red = redemptions.groupBy(F.col("campaign_id").alias("key"), "user_id").agg(
        F.count("*").alias("redemptions"), F.sum("discount_amount").alias("discounts"))
    out = x.join(inw, ["key", "user_id"], "left").join(red, ["key", "user_id"], "left")
    orders = F.coalesce(F.col("orders"), F.lit(0))
    gmv = F.coalesce(F.col("paid"), F.lit(0.0)) + F.coalesce(F.col("discounts"), F.lit(0.0))
    out = (out.withColumn("ordered", (orders > 0).cast("int"))
           .withColumn("redeemed", (F.coalesce(F.col("redemptions"), F.lit(0)) > 0).cast("int"))
           .withColumn("gmv", F.when(orders > 0, gmv))
           .withColumn("orders_n", F.when(orders > 0, orders.cast("double")))
           .withColumn("discounts_n", F.when(F.col("redemptions") > 0, F.col("discounts")))
           .withColumn("offered_f", F.col("offered").cast("double"))
           .withColumn("net_paid", F.coalesce(F.col("paid"), F.lit(0.0)))  # GMV − discount: the net value's outcome
           .withColumn("orders_all", orders.cast("double")))
    out = out.withColumns({f"c_{c}": F.col(c) for c in ("discount_pct", "voucher_value", "min_spend")})
    return with_design(out, F.col("offered"))


def split(df: DataFrame, share: float) -> tuple[DataFrame, DataFrame]:
    """Stable holdout by (campaign, customer)."""
    u = uniform_hash(F.col("user_id"), F.col("key"), "promo_holdout")
    return df.where(u >= share), df.where(u < share)


def rows_for(df: DataFrame, which: str) -> DataFrame:
    if which == "control":
        return df.where(~F.col("offered"))
    if which == "offered":
        return df.where(F.col("offered"))
    if which == "all":
        return df
    if which == "redeemers":
        return df.where(F.col("offered") & (F.col("redeemed") == 1))
    return df.where(F.col("ordered") == 1)


def holdout_loss(model: PromoModel, valid: DataFrame) -> tuple[float, dict[str, float]]:
    """Log-loss (probabilities) or mean squared error (basket) on the holdout, and the metrics logged."""
    label, _, _, task = ALL_KINDS[model.kind]
    scored = model.predict(valid, "_pred")
    if task == "regression":
        w = F.col("usage_weight") if model.kind in USAGE_KINDS else F.lit(1.0)  # the usage rate: weighted
        row = scored.agg((F.sum(w * (F.col("_pred") - F.col(label)) ** 2) / F.sum(w)).alias("mse"),
                         F.count("*").alias("n")).first()
        return float(row["mse"] or 0.0), {"holdout_mse": float(row["mse"] or 0.0), "holdout_rows": float(row["n"])}
    ev = evaluate(scored.withColumn(label, F.col(label).cast("int")), label, ["_pred"])
    return ev.log_loss, ev.as_metrics("holdout_")


def fit_kind(spark, kind: str, train_df: DataFrame, valid_df: DataFrame, cfg: ModelConfig) -> PromoModel:
    label, feats, which, task = ALL_KINDS[kind]
    tr, va = rows_for(train_df, which), rows_for(valid_df, which)
    params = dict(cfg.params)
    if kind in ("order1", "redeem", "usage"):  # a stronger offer never lowers the response
        params["monotone_constraints"] = [1 if f in INCREASING else 0 for f in feats]
        params.setdefault("monotone_constraints_method", "advanced")
    rounds, stopping = cfg.num_boost_round, cfg.early_stopping_rounds
    if kind in USAGE_KINDS:  # the design's effect builds up slowly; the noisy holdout rate stops it too early
        rounds, stopping = cfg.usage_boost_round, 0
        params.update(cfg.usage_params)
    spec = TrainSpec(features=list(feats), label=label, categorical=[c for c in CATEGORICAL if c in feats],
                     params=params, num_boost_round=rounds,
                     early_stopping_rounds=stopping, max_train_rows=cfg.max_train_rows,
                     seed=cfg.seed, task=task, weight="usage_weight" if kind in USAGE_KINDS else None)
    result = train(spark, tr, va, spec, backend=cfg.backend)
    model = PromoModel(kind, result.model_str, list(feats), None)
    if task == "classification":
        scored = score(va, result.model_str, list(feats), out_cols=["_p"])
        cal = calibrate(scored.withColumn(label, F.col(label).cast("int")), label, ["_p"], cfg.ece_threshold,
                        method=cfg.calibration)
        model.calibrator = cal
    model.metrics = {"train_rows": float(result.train_rows), "seconds": float(result.seconds)}
    return model


def registry_name(config, kind: str) -> str:
    return tracking.model_name(config, "promo", kind, "all", "all")


def log_model(config, model: PromoModel, data_versions: dict[str, int], run_id: str) -> str:
    import lightgbm as lgb
    import mlflow

    name = registry_name(config, model.kind)
    with mlflow.start_run(run_name=f"promo-{model.kind}"):
        mlflow.set_tags({"channel": "promo", "kind": model.kind, "sendopt_run": run_id,
                         "learner": "t" if model.kind.startswith("order") else "direct"})
        mlflow.log_metrics(model.metrics)
        artifacts = {"calibrator.json": model.calibrator.to_dict() if model.calibrator else None,
                     "features.json": model.features}
        version = tracking.log_booster(lgb.Booster(model_str=model.text), name, artifacts,
                                       {"data_versions": json.dumps(data_versions, sort_keys=True),
                                        "features": ",".join(model.features)})
    model.version = version
    return version


def load_champion(config, kind: str) -> tuple[PromoModel, dict[str, str]] | None:
    import os

    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    name = registry_name(config, kind)
    if tracking.champion_version(name) is None:
        return None
    reg = tracking.load_model(name)
    path = mlflow.artifacts.download_artifacts(run_id=reg.run_id, artifact_path="calibrator.json")
    with open(path, encoding="utf-8") as fh:
        cal = json.load(fh)
    model = PromoModel(kind, reg.model_text, reg.tags.get("features", "").split(","),
                       Calibrator.from_dict(cal) if cal else None, reg.version)
    return model, reg.tags


def kinds_of(cfg: ModelConfig) -> dict[str, tuple]:
    """The model kinds a configuration trains: the T-learner's, plus the usage model (``effect: usage``) or the
    direct effects (``ipw`` / ``dr``)."""
    if cfg.effect == "usage":
        return {**KINDS, **USAGE_KINDS}
    return {**KINDS, **EFFECT_KINDS} if cfg.effect != "t" else dict(KINDS)


def usage_frame(df: DataFrame, cfg: ModelConfig) -> DataFrame:
    """Training rows with the usage columns and the label: redemptions per unit of ``usage_weight``."""
    x = with_usage(df, cfg.near_share, cfg.exposure_floor)
    return x.withColumn("usage_rate", F.coalesce(F.col("redemptions"), F.lit(0)).cast("double") / F.col("usage_weight"))


def incremental_share(training: DataFrame, edges: list[float], min_rows: int = 5, prior: float = 0.0,
                      loyalty_edges: list[float] = ()) -> dict:
    """The share of redemptions that are incremental orders, per segment, bin of the campaign's offer strength
    against the category's basket (``strength_mcc`` cut at ``edges``: a weak offer is mostly used on orders that
    would have happened anyway) and bin of the customer's observed merchant share (``merchant_share`` of :func:`with_usage`, cut at
    ``loyalty_edges``: a customer who pays at this merchant most of the times they pay in its category would
    mostly have ordered anyway), measured on the randomized campaigns:
    Σ (orders per offered − per control customer) · offered / Σ redemptions of the offered, over the campaigns
    with at least ``min_rows`` offered and control customers in the cell. The rest of the redemptions are
    subsidised orders.

    A cell is shrunk towards its segment × strength bin's pooled share, that towards its segment's, and a segment
    towards the pool of every segment (``all``), each with the weight of ``prior`` redemptions:
    (Σ num + prior · parent) / (Σ redemptions + prior), clipped to [0, 1]. A cell of a few dozen redemptions is
    mostly noise (a small segment's weak bin measured 1.0 where the truth is 0.14); a cell without campaigns
    takes its parent's share.

    Returns {"edges", "loyalty_edges", "share": {segment: [share per cell]}}, cell = strength bin ×
    (len(loyalty_edges) + 1) + loyalty bin."""
    red = F.coalesce(F.col("redemptions"), F.lit(0)).cast("double")
    loyal = _bin(F.col("merchant_share"), loyalty_edges) if loyalty_edges else F.lit(0)
    per = (training.withColumn("_bin", _bin(F.col("strength_mcc"), edges)).withColumn("_loyal", loyal)
           .groupBy("segment", "_bin", "_loyal", "key").agg(
               F.sum(F.col("offered").cast("int")).alias("n1"), F.sum((~F.col("offered")).cast("int")).alias("n0"),
               F.avg(F.when(F.col("offered"), F.col("orders_all"))).alias("o1"),
               F.avg(F.when(~F.col("offered"), F.col("orders_all"))).alias("o0"),
               F.avg(F.when(F.col("offered"), red)).alias("r1")))
    per = per.where((F.col("n1") >= min_rows) & (F.col("n0") >= min_rows))
    rows = per.groupBy("segment", "_bin", "_loyal").agg(
        F.sum((F.col("o1") - F.col("o0")) * F.col("n1")).alias("num"),
        F.sum(F.col("r1") * F.col("n1")).alias("den")).collect()  # ≤ 3 × strength bins × loyalty bins

    def share(cells, parent: float, weight: float = prior) -> float:
        num, den = sum(r["num"] for r in cells), sum(r["den"] for r in cells)
        if den + weight <= 0:
            return parent
        return min(1.0, max(0.0, (num + weight * parent) / (den + weight)))

    n_loyal = len(loyalty_edges) + 1
    pooled = share(rows, 0.0, weight=0.0)
    out = {"all": [pooled] * ((len(edges) + 1) * n_loyal)}
    for seg in sorted({r["segment"] for r in rows}):
        mine = [r for r in rows if r["segment"] == seg]
        seg_all, out[seg] = share(mine, pooled), []
        for b in range(len(edges) + 1):
            in_bin = [r for r in mine if r["_bin"] == b]
            bin_all = share(in_bin, seg_all)
            out[seg] += [share([r for r in in_bin if r["_loyal"] == v], bin_all) if loyalty_edges else bin_all
                         for v in range(n_loyal)]
    return {"edges": [float(e) for e in edges], "loyalty_edges": [float(e) for e in loyalty_edges], "share": out}


def offered_rates(usage: PromoModel, valid: DataFrame) -> DataFrame:
    """The offered holdout rows (:func:`usage_frame`'s columns) with the usage model's predicted rate ``_rate``
    and the observed redemptions ``_obs``: what :func:`merchant_level` and :func:`rate_calibration` compare."""
    return usage.predict(rows_for(valid, "offered"), "_rate").withColumn(
        "_obs", F.coalesce(F.col("redemptions"), F.lit(0)).cast("double"))


def merchant_level(offered: DataFrame, prior: float) -> dict[str, float]:
    """Per merchant: observed ÷ predicted redemptions of its offered holdout customers (:func:`offered_rates`, out
    of sample), shrunk to 1 with the weight of ``prior`` redemptions: (Σ observed + prior) / (Σ predicted +
    prior). The usage model pools every merchant; what sets a merchant apart (its competitors in the category,
    its own customers) shows as a level its past campaigns measure."""
    rows = offered.groupBy("merchant_id").agg(F.sum("_obs").alias("obs"), F.sum(
        F.col("_rate") * F.col("usage_weight")).alias("pred")).collect()  # one row per merchant
    return {str(r["merchant_id"]): float((r["obs"] + prior) / (r["pred"] + prior)) for r in rows}


def campaign_level_error(spark, rows: DataFrame, cfg: ModelConfig) -> dict[str, float]:
    """How far a campaign the usage model has not seen redeems from its prediction: the model is refitted
    ``level_error_folds`` times, each time without a fold of whole campaigns, and predicts their offered
    customers. A plan is such a campaign (a design at a merchant the model never saw run); the holdout of
    :func:`split` is not, since it keeps other customers of every campaign in training.

    Per campaign i, observed O_i and predicted P_i redemptions, and the sampling variance of O_i, estimated
    as S_i = Σ o² over its customers (a customer may redeem more than once: not Poisson). With a level λ_i of
    mean μ and spread τ, E[(O_i − P_i)² − S_i] ≈ P_i²·(τ² + (μ − 1)²), so the level's root-mean-square error
    around 1 is ``sd`` = √(Σ((O_i − P_i)² − S_i) / Σ P_i²) (0 when the noise explains it all): the relative
    error of a plan's predicted cost that no Bernoulli variance of its sums contains
    (:meth:`simulator.Limits.cost_p`)."""
    folds = cfg.level_error_folds
    x = rows.withColumn("_fold", F.floor(uniform_hash(F.col("key"), "", "promo_level_fold") * folds)
                        ).localCheckpoint()
    used = sorted({r["_fold"] for r in x.select("_fold").distinct().collect()})  # at most ``folds`` rows
    per: list = []
    for k in used if len(used) > 1 else []:  # a fold needs campaigns outside it to be trained on
        held = x.where(F.col("_fold") == k)
        model = fit_kind(spark, "usage", x.where(F.col("_fold") != k), held, cfg)
        per += offered_rates(model, held).groupBy("key", "merchant_id").agg(  # one row per campaign
            F.sum("_obs").alias("obs"), F.sum(F.col("_obs") ** 2).alias("noise"),
            F.sum(F.col("_rate") * F.col("usage_weight")).alias("pred")).collect()
    merchants: dict[str, list[float]] = {}  # merchant → [Σ observed, Σ predicted] of its unseen campaigns
    for r in per:
        acc = merchants.setdefault(str(r["merchant_id"]), [0.0, 0.0])
        acc[0] += float(r["obs"])
        acc[1] += float(r["pred"])
    return {**level_error([(float(r["obs"]), float(r["noise"]), float(r["pred"])) for r in per]),
            "folds": float(folds), "merchants": merchants}


def level_error(campaigns: list[tuple[float, float, float]]) -> dict[str, float]:
    """:func:`campaign_level_error`'s estimate from (observed, Σ o², predicted) redemptions per campaign."""
    per = [(o, n, p) for o, n, p in campaigns if p > 0]
    den = sum(p * p for _, _, p in per)
    excess = sum((o - p) ** 2 - n for o, n, p in per)
    obs, pred = sum(o for o, _, _ in per), sum(p for _, _, p in per)
    return {"sd": math.sqrt(max(0.0, excess) / den) if den > 0 else 0.0, "campaigns": float(len(per)),
            "level": obs / pred if pred > 0 else 1.0}


def rate_calibration(offered: DataFrame, bins: int) -> dict[str, list[float]]:
    """On the offered holdout customers (:func:`offered_rates`), per quantile bin of the predicted redemption rate: the bin's mean
    predicted rate and its observed one (Σ redemptions / Σ usage weight), made non-decreasing. A plan reaches
    the customers the model rates highest, where its errors are largest (the winner's curse); mapping a rate to
    what such rates truly redeemed removes that bias (:func:`usage.calibrated_rates` applies it)."""
    x = offered.select("_rate", "usage_weight", "_obs")
    edges = sorted(set(x.approxQuantile("_rate", [i / bins for i in range(1, bins)], 0.001)))
    rows = sorted(x.withColumn("b", _bin(F.col("_rate"), edges)).groupBy("b").agg(
        (F.sum(F.col("_rate") * F.col("usage_weight")) / F.sum("usage_weight")).alias("x"),
        (F.sum("_obs") / F.sum("usage_weight")).alias("y"), F.sum("usage_weight").alias("w")).collect(),
        key=lambda r: r["b"])
    xs = [float(r["x"]) for r in rows]
    ys = monotone([float(r["y"]) for r in rows], [float(r["w"]) for r in rows])
    return {"x": xs, "y": ys, "ratio": [y / x if x > 0 else 1.0 for x, y in zip(xs, ys, strict=True)]}


def _same_usage_settings(usage_champion, cfg: ModelConfig) -> bool:
    """Whether the usage champion's incremental shares and merchant levels were measured as configured (else
    retrain)."""
    if usage_champion is None:
        return True
    usage = json.loads(usage_champion[1].get("usage", "{}"))
    share = usage.get("incremental_share", {})
    return (usage.get("merchant_level_prior") == cfg.merchant_level_prior
            and usage.get("rate_calibration_bins", 0) == cfg.rate_calibration_bins
            and usage.get("level_error", {}).get("folds", 0) == cfg.level_error_folds
            and share.get("edges") == [float(e) for e in cfg.incremental_share_edges]
            and (share.get("loyalty_edges") or []) == [float(e) for e in cfg.incremental_share_loyalty_edges])


def ensure_models(ctx, training: DataFrame | None, data_versions: dict[str, int]) -> ModelSet:
    """Champions when they were trained on these raw versions (and no retrain is asked); otherwise train
    challengers, gate each against its champion on this holdout, and return the champions after the gate."""
    cfg = ctx.config.promo.models
    kinds = kinds_of(cfg)
    tracking.configure(ctx.config)
    current = {k: load_champion(ctx.config, k) for k in kinds}
    fresh = all(c is not None and json.loads(c[1].get("data_versions", "{}")) == data_versions
                and c[0].features == list(kinds[k][1]) and c[1].get("effect", cfg.effect) == cfg.effect
                for k, c in current.items()) and _same_usage_settings(current.get("usage"), cfg)
    if fresh and not cfg.retrain:
        scale = json.loads(current["order1"][1].get("uplift_scale", "{}"))
        effect = json.loads(current["effect_net"][1].get("effect_calibration", "{}")) if "effect_net" in current \
            else {}
        usage = json.loads(current["usage"][1].get("usage", "{}")) if "usage" in current else {}
        return ModelSet({k: c[0] for k, c in current.items()}, trained=False, uplift_scale=scale,
                        effect_calibration=effect, usage=usage)
    if training is None:
        raise ValueError("no promo training data")
    train_df, valid_df = split(training, cfg.holdout_share)
    train_df, valid_df = train_df.localCheckpoint(), valid_df.localCheckpoint()
    models, lines = {}, []
    for kind in KINDS:
        models[kind], line = fit_and_gate(ctx, kind, train_df, valid_df, current[kind], data_versions)
        lines.append(line)
    out = ModelSet(models, trained=True, gate=lines)
    if cfg.effect == "usage":
        kind = "usage"
        valid_usage = usage_frame(valid_df, cfg)
        models[kind], line = fit_and_gate(ctx, kind, usage_frame(train_df, cfg), valid_usage,
                                          current[kind], data_versions)
        lines.append(line)
        design = {c: F.col(f"c_{c}") for c in ("discount_pct", "voucher_value", "min_spend")}  # control rows too
        at_design = with_usage(training.withColumns(design), cfg.near_share, cfg.exposure_floor)
        out.usage = {"incremental_share": incremental_share(
            at_design, list(cfg.incremental_share_edges), prior=cfg.incremental_share_prior,
            loyalty_edges=list(cfg.incremental_share_loyalty_edges)),
                     "near_share": cfg.near_share, "exposure_floor": cfg.exposure_floor}
        if cfg.level_error_folds:
            err = campaign_level_error(ctx.spark, usage_frame(training, cfg), cfg)
            out.usage["level_error"] = err
        if cfg.merchant_level_prior is not None or cfg.rate_calibration_bins:  # one scoring of the holdout
            offered = offered_rates(models["usage"], valid_usage).localCheckpoint()
            if cfg.merchant_level_prior is not None:
                out.usage["merchant_level_prior"] = cfg.merchant_level_prior
                out.usage["merchant_level"] = merchant_level(offered, cfg.merchant_level_prior)
            if cfg.rate_calibration_bins:
                out.usage["rate_calibration_bins"] = cfg.rate_calibration_bins
                out.usage["rate_calibration"] = rate_calibration(offered, cfg.rate_calibration_bins)
    elif cfg.effect != "t":  # the effects learn from pseudo-outcomes built with the nuisance models above
        train_e = pseudo_outcomes(out, train_df, cfg.effect).localCheckpoint()
        valid_e = pseudo_outcomes(out, valid_df, cfg.effect).localCheckpoint()
        for kind in EFFECT_KINDS:
            models[kind], line = fit_and_gate(ctx, kind, train_e, valid_e, current[kind], data_versions)
            lines.append(line)
    for line in lines:
        ctx.log.info("stage=promo-models gate %s", line)
    out.uplift_scale = uplift_scale(out, valid_df)
    import mlflow

    client = mlflow.MlflowClient()
    client.set_model_version_tag(registry_name(ctx.config, "order1"), models["order1"].version,
                                 "uplift_scale", json.dumps(out.uplift_scale, sort_keys=True))
    ctx.log.info("stage=promo-models uplift calibration per segment %s", out.uplift_scale)
    if cfg.effect == "usage":
        client.set_model_version_tag(registry_name(ctx.config, "usage"), models["usage"].version, "usage",
                                     json.dumps(out.usage, sort_keys=True))
        ctx.log.info("stage=promo-models usage: incremental share of redemptions %s", out.usage["incremental_share"])
        if "rate_calibration" in out.usage:
            ctx.log.info("stage=promo-models usage: rate calibration %s", out.usage["rate_calibration"])
        if "merchant_level" in out.usage:
            ctx.log.info("stage=promo-models usage: merchant levels %s", out.usage["merchant_level"])
        if "level_error" in out.usage:
            ctx.log.info("stage=promo-models usage: level error of unseen campaigns %s", out.usage["level_error"])
    elif cfg.effect != "t":
        out.effect_calibration = effect_calibration(out, valid_df, cfg.calibration_bins)
        client.set_model_version_tag(registry_name(ctx.config, "effect_net"), models["effect_net"].version,
                                     "effect_calibration", json.dumps(out.effect_calibration, sort_keys=True))
        ctx.log.info("stage=promo-models effect calibration %s", out.effect_calibration)
    return out


def effect_calibration(models: ModelSet, valid: DataFrame, bins: int) -> dict[str, dict]:
    """On the randomized holdout: per quantile bin of each predicted effect, the mean prediction and the measured
    effect (the mean IPW pseudo-outcome: unbiased whatever the models), made non-decreasing. Planning picks the
    largest predictions, where a model's errors are largest (the winner's curse); mapping a prediction to what
    such predictions truly achieved on the holdout removes that bias, and beyond the last bin it stays flat."""
    x = pseudo_outcomes(models, valid, "ipw")
    x = treated_predictions(x.withColumns({"p0": F.lit(0.0), "g0": F.lit(0.0), "n0": F.lit(1.0)}), models)
    x = x.select("tau_net", "tau_orders", "pseudo_net", "pseudo_orders").localCheckpoint()
    out = {}
    for col, y in (("tau_net", "pseudo_net"), ("tau_orders", "pseudo_orders")):
        edges = sorted(set(x.approxQuantile(col, [i / bins for i in range(1, bins)], 0.001)))
        rows = sorted(x.withColumn("b", _bin(F.col(col), edges)).groupBy("b").agg(
            F.avg(col).alias("x"), F.avg(y).alias("y"), F.count("*").alias("n")).collect(), key=lambda r: r["b"])
        xs, ys = [float(r["x"]) for r in rows], monotone([float(r["y"]) for r in rows], [r["n"] for r in rows])
        out[col] = {"x": xs, "y": ys}
    return out


def monotone(y: list[float], w: list[float]) -> list[float]:
    """Weighted pool-adjacent-violators: the closest non-decreasing sequence."""
    blocks = []  # [value, weight, count]
    for v, wt in zip(y, w, strict=True):
        blocks.append([v, float(wt), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return [b[0] for b in blocks for _ in range(b[2])]


def calibrated_effect(col: str, cal: dict[str, dict]):
    """The Spark column of :func:`effect_calibration`'s map for ``col``: piecewise linear between the bins'
    mean predictions, flat outside them (the raw prediction without a calibration)."""
    m = cal.get(col)
    if not m or not m["x"]:
        return F.col(col)
    xs, ys = m["x"], m["y"]
    out = F.lit(float(ys[-1]))
    for i in range(len(xs) - 1, 0, -1):
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        slope = (y1 - y0) / (x1 - x0) if x1 > x0 else 0.0
        out = F.when(F.col(col) <= F.lit(x1), F.lit(y0) + F.lit(slope) * (F.col(col) - F.lit(x0))).otherwise(out)
    return F.when(F.col(col) <= F.lit(xs[0]), F.lit(float(ys[0]))).otherwise(out)


def fit_and_gate(ctx, kind: str, train_df: DataFrame, valid_df: DataFrame, champ, data_versions) -> tuple:
    """Train a challenger of ``kind``, register it, and keep whichever of it and the champion ``champ`` passes
    the gate on the same holdout rows: (model, the gate's line)."""
    cfg = ctx.config.promo.models
    challenger = fit_kind(ctx.spark, kind, train_df, valid_df, cfg)
    va = rows_for(valid_df, ALL_KINDS[kind][2])
    loss, metrics = holdout_loss(challenger, va)
    challenger.metrics.update(metrics)
    version = log_model(ctx.config, challenger, data_versions, ctx.run_id)
    name = registry_name(ctx.config, kind)
    import mlflow

    mlflow.MlflowClient().set_model_version_tag(name, version, "effect", cfg.effect)
    if champ is None or champ[0].features != challenger.features or champ[1].get("effect", cfg.effect) != cfg.effect:
        tracking.set_alias(name, version, tracking.CHAMPION)
        return challenger, f"{kind}: v{version} champion (first of its features), holdout loss {loss:.4f}"
    champ_loss, _ = holdout_loss(champ[0], va)
    if loss <= champ_loss + cfg.gate_tolerance:
        tracking.set_alias(name, version, tracking.CHAMPION)
        return challenger, f"{kind}: pass v{version} {loss:.4f} vs champion v{champ[0].version} {champ_loss:.4f}"
    tracking.set_alias(name, version, tracking.CHALLENGER)
    return champ[0], (f"{kind}: FAIL v{version} {loss:.4f} vs champion v{champ[0].version} {champ_loss:.4f}; "
                      "champion kept")


def pseudo_outcomes(models: ModelSet, df: DataFrame, method: str, clip: float = 0.02) -> DataFrame:
    """Every eligible row at its campaign's design with ``pseudo_net`` and ``pseudo_orders``: unbiased for the
    design's effect on the net paid amount and on the order count because the offer was randomized with the
    logged propensity e (T = offered, Y the outcome):

    * ``ipw``: Y·(T − e) / (e·(1 − e));
    * ``dr``: μ1 − μ0 + T·(Y − μ1)/e − (1 − T)·(Y − μ0)/(1 − e), with μ1, μ0 the T-learner's predictions (the
      doubly robust learner: the models carry the signal, the randomization corrects their bias).

    A regression of it on the customer and design features is the effect model: one model of the difference
    instead of the difference of two models (whose errors the plan's selection would pick up)."""
    design = {c: F.col(f"c_{c}") for c in ("discount_pct", "voucher_value", "min_spend")}
    x = df.withColumns(design)
    e = F.least(F.greatest(F.col("propensity"), F.lit(clip)), F.lit(1 - clip))
    t = F.col("offered").cast("double")
    if method == "ipw":
        w = (t - e) / (e * (1 - e))
        return with_design(x).withColumns({"pseudo_net": F.col("net_paid") * w, "pseudo_orders": F.col("orders_all") * w})
    x = treated_predictions(control_predictions(x, models).withColumns(design), models, effects=False)
    pr, disc = F.least(F.col("p_redeem_raw"), F.col("p1")), F.least(F.col("disc_r"), F.col("g1"))
    mu = {"net": (F.col("p1") * F.col("g1") - pr * disc, F.col("p0") * F.col("g0")),
          "orders": (F.col("p1") * F.col("n1"), F.col("p0") * F.col("n0"))}
    y = {"net": F.col("net_paid"), "orders": F.col("orders_all")}
    return x.withColumns({f"pseudo_{k}": m1 - m0 + t * (y[k] - m1) / e - (1 - t) * (y[k] - m0) / (1 - e)
                          for k, (m1, m0) in mu.items()})


def uplift_scale(models: ModelSet, valid: DataFrame, bins: int = 4, cap: float = 1.5,
                 by: str = "offer_strength") -> dict[str, dict]:
    """Per segment and quantile bin of ``by`` (the offer strength: the design's pull), the measured order
    uplift on the randomized holdout (offered − control) over the predicted one at each row's campaign design,
    clipped to [0, cap]. The treated model learns the design's effect from few campaigns; this pins its level
    per segment and offer strength to what the control group shows."""
    x = valid.withColumns({c: F.col(f"c_{c}") for c in ("discount_pct", "voucher_value", "min_spend")})
    x = models.models["order0"].predict(with_design(x), "_p0")
    x = models.models["order1"].predict(x, "_p1").withColumn("_u", F.col("_p1") - F.col("_p0")).localCheckpoint()
    out: dict[str, dict] = {}
    for seg in [r["segment"] for r in x.select("segment").distinct().collect()]:  # ≤ 3 segments
        part = x.where(F.col("segment") == seg)
        edges = sorted(set(part.approxQuantile(by, [i / bins for i in range(1, bins)], 0.01)))
        rows = {r["b"]: r for r in part.withColumn("b", _bin(F.col(by), edges)).groupBy("b").agg(
            F.avg("_u").alias("pred"), F.avg(F.when(F.col("offered"), F.col("ordered"))).alias("t"),
            F.avg(F.when(~F.col("offered"), F.col("ordered"))).alias("c")).collect()}
        ks = []
        for i in range(len(edges) + 1):
            r = rows.get(i)
            if r is None or r["t"] is None or r["c"] is None:
                ks.append(1.0)
            elif (r["pred"] or 0.0) <= 1e-9:
                ks.append(0.0)
            else:
                ks.append(float(min(max((r["t"] - r["c"]) / r["pred"], 0.0), cap)))
        out[seg] = {"by": by, "edges": [float(e) for e in edges], "k": ks}
    return out


def _bin(value, edges):
    b = F.lit(0)
    for e in edges:
        b = b + (value > F.lit(float(e))).cast("int")
    return b


def _binned(values: list[float], by: str, edges: list[float]):
    """The value of the bin of ``by`` (cut at ``edges``) each row falls in."""
    return F.element_at(F.array(*[F.lit(float(v)) for v in values]), _bin(F.col(by), edges) + 1)


def _per_segment(columns: dict[str, object], default):
    """Each row's column of its segment (``default`` for a segment not in ``columns``)."""
    out = default
    for seg, col in sorted(columns.items()):
        out = F.when(F.col("segment") == seg, col).otherwise(out)
    return out


def uplift_factor(scale: dict[str, dict]):
    """The Spark column of :func:`uplift_scale`'s factor for each row's segment and bin."""
    return _per_segment({seg: _binned(m["k"], m.get("by", "offer_strength"), m["edges"])
                         for seg, m in scale.items()}, F.lit(1.0))


def control_predictions(df: DataFrame, models) -> DataFrame:
    """p0, g0, n0: the no-promo arm's order probability, GMV and orders per orderer (design zeroed)."""
    m = models.models
    none = with_design(df.withColumns({"discount_pct": F.lit(0.0), "voucher_value": F.lit(0.0),
                                       "min_spend": F.lit(0.0), "offered_f": F.lit(0.0)}))
    none = predict_all(none, [(m["order0"], "p0"), (m["basket"], "g0"), (m["orders"], "n0")])
    return none.drop("discount_pct", "voucher_value", "min_spend", "min_spend_ratio", "offered_f",
                     "offer_strength")


def treated_predictions(x: DataFrame, models, effects: bool = True) -> DataFrame:
    """At each row's design (``discount_pct``, ``voucher_value``, ``min_spend``): the T-learner's treated arm p1,
    p_redeem_raw, g1, n1, disc_r and, when the model set has them (and ``effects``), the direct effects tau_net
    and tau_orders. (The usage model scores through :mod:`usage` instead: no treated arm per design.)"""
    m = models.models
    x = with_design(x.withColumn("offered_f", F.lit(1.0)))
    heads = [("order1", "p1"), ("redeem", "p_redeem_raw"), ("basket", "g1"), ("orders", "n1"),
             ("discount", "disc_r")]
    if effects:
        heads += [(k, out) for k, out in (("effect_net", "tau_net"), ("effect_orders", "tau_orders")) if k in m]
    x = predict_all(x, [(m[k], out) for k, out in heads])
    return x.withColumns({n: F.greatest(F.col(n), F.lit(1.0)) for n in ("n0", "n1") if n in x.columns})
