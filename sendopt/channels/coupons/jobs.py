"""Coupon jobs: ``import-trial``, ``train-uplift``, ``assign-coupons``, ``evaluate-uplift``."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.coupons import lifecycle
from sendopt.channels.coupons.allocation import allocate
from sendopt.channels.coupons.features import expand, signup_features
from sendopt.channels.coupons.learners import face_values, fit_learners, predict
from sendopt.channels.coupons.metrics import PolicyValue, policy_value
from sendopt.channels.coupons.tables import COUPON_ASSIGNMENTS, COUPON_TRIAL
from sendopt.channels.coupons.trial import (
    TrialError,
    import_trial,
    read_source,
    trial_feature_names,
    world_trial,
)
from sendopt.errors import SendoptError
from sendopt.models import tracking
from sendopt.sources.tables import CONSENTS, CUSTOMERS, SIGNUP_SESSIONS

OBSERVATIONAL = "world_observational"


# ---------------------------------------------------------------- import-trial
def run_import_trial(ctx) -> None:
    """Write a trial into ``features.coupon_trial``: a team's file (``coupons.import_trial.path``) or the world's."""
    cfg = ctx.config.coupons
    imp = cfg.import_trial
    if imp.path:
        source = read_source(ctx.spark, imp.path, imp.format)
        out = import_trial(ctx.spark, source, imp, cfg.trial, cfg.evaluation.holdout_share)
        names = [cfg.trial]
        frames = [out]
    else:
        if cfg.trial != "world":
            raise TrialError(f"import-trial: coupons.trial={cfg.trial!r} needs --path (only 'world' is built "
                             f"from the lake's raw coupon tables)")
        levels = list(ctx.config.world.coupons.levels)
        frames = [world_trial(ctx.lake, cfg, levels), world_trial(ctx.lake, cfg, levels, observational=True)]
        names = ["world", OBSERVATIONAL]
    counts = {}
    for name, frame in zip(names, frames, strict=True):
        ctx.lake.write(frame, COUPON_TRIAL, mode="replace", where={"trial": name})
        counts[name] = {r["arm"]: r["count"] for r in ctx.lake.read(COUPON_TRIAL).where(
            F.col("trial") == name).groupBy("arm").count().collect()}
    ctx.summary["message"] = f"imported {counts}"
    ctx.log.info("stage=import-trial rows per arm %s", counts)


# ---------------------------------------------------------------- shared
def read_trial(ctx, name: str) -> DataFrame:
    if not ctx.lake.exists(COUPON_TRIAL):
        raise SendoptError(f"{COUPON_TRIAL.full_name} does not exist: run import-trial first")
    df = ctx.lake.read(COUPON_TRIAL).where(F.col("trial") == name)
    if df.limit(1).count() == 0:
        raise SendoptError(f"{COUPON_TRIAL.full_name} has no trial {name!r}: run import-trial "
                           f"(--set coupons.trial={name} --path …) first")
    return df


def trial_levels(df: DataFrame) -> list[float]:
    rows = sorted((r["arm"], r["level"]) for r in df.select("arm", "level").distinct().limit(100).collect())
    arms = [a for a, _ in rows]
    if arms != list(range(len(arms))) or len(arms) < 2:
        raise SendoptError(f"trial arms {arms} must be 0..K with a control and at least one level")
    return [float(v) for _, v in rows]


def with_net(df: DataFrame) -> DataFrame:
    return df.withColumn("net", F.col("value") - F.col("cost"))


def best_arm(arms: int, prefix: str = "tau") -> F.Column:
    """argmax over arms of the gain columns (tau_k, arm 0 = 0)."""
    best, best_v = F.lit(0), F.lit(0.0)
    for k in range(1, arms):
        better = F.col(f"{prefix}_{k}") > best_v
        best = F.when(better, F.lit(k)).otherwise(best)
        best_v = F.when(better, F.col(f"{prefix}_{k}")).otherwise(best_v)
    return best


def holdout_value(pred: DataFrame, arms: int, budget_per_customer: float | None = None,
                  steps: int = 12) -> PolicyValue:
    """DR value (net = value − cost per customer) on the holdout of the learner's allocation: unbudgeted,
    or under ``budget_per_customer`` (the gate then judges the policy that would be deployed)."""
    if budget_per_customer is None:
        return policy_value(pred.withColumn("_pi", best_arm(arms)), "_pi", outcome="net",
                            mu=[f"net_{k}" for k in range(arms)])
    n = pred.count()
    alloc = allocate(pred, [f"tau_{k}" for k in range(arms)], [f"cost_{k}" for k in range(arms)],
                     budget=budget_per_customer * n, steps=steps)
    return policy_value(alloc.frame, "choice", outcome="net", mu=[f"net_{k}" for k in range(arms)])


# ---------------------------------------------------------------- train-uplift
def run_train_uplift(ctx) -> None:
    cfg = ctx.config.coupons
    name = OBSERVATIONAL if cfg.observational else cfg.trial
    trial = read_trial(ctx, name)
    levels = trial_levels(trial)
    features = trial_feature_names(trial)
    randomized = trial.agg(F.min(F.col("randomized").cast("int"))).first()[0] == 1
    faces = face_values(trial, levels)
    data = with_net(expand(trial, features)).cache()
    train_df = data.where(F.col("split") == "train")
    eval_name = "world" if name == OBSERVATIONAL else name
    holdout = with_net(expand(read_trial(ctx, eval_name), features)).where(
        (F.col("split") == "holdout") & F.col("randomized")).cache()
    tracking.configure(ctx.config)
    models, report = fit_learners(ctx.spark, train_df, features, levels, faces, cfg.learners, cfg.learners.kinds,
                                  randomized=randomized, obs=cfg.observational_checks)
    registry = lifecycle.model_name(ctx.config, cfg.trial)
    candidates = {}
    for kind, model in models.items():
        pred = predict(holdout, model).cache()
        value = holdout_value(pred, len(levels), cfg.allocation.budget_per_customer, cfg.allocation.bisection_steps)
        metrics = {"holdout_dr_value": value.dr, "holdout_dr_se": value.dr_se, "holdout_ips_value": value.ips,
                   "holdout_rows": value.rows, "train_seconds": model.meta.get("seconds", 0.0)}
        model.meta.update(trial=name, features=features)
        version = lifecycle.log_learner(registry, model, metrics, {"trial": name, "randomized": randomized},
                                        ctx.run_id)
        candidates[kind] = (version, value.dr)
        pred.unpersist()
        ctx.log.info("stage=train-uplift learner=%s version=%s holdout DR value %.4f ± %.4f (IPS %.4f) in %.0fs",
                     kind, version, value.dr, 1.96 * value.dr_se, value.ips, model.meta.get("seconds", 0.0))
    champion_value = None
    if tracking.champion_version(registry) is not None:
        champ = lifecycle.load(registry)
        if champ.model.features == features and champ.model.levels == levels:
            champion_value = holdout_value(predict(holdout, champ.model), len(levels),
                                           cfg.allocation.budget_per_customer, cfg.allocation.bisection_steps).dr
    decision = lifecycle.gate(registry, candidates, champion_value, cfg.evaluation.gate_tolerance)
    for line in decision.reasons:
        ctx.log.info("stage=train-uplift gate %s", line)
    data.unpersist()
    holdout.unpersist()
    ctx.summary["message"] = (f"{len(models)} learners on {name}; best {decision.winner} "
                              f"{'promoted' if decision.promoted else 'not promoted'}; "
                              f"overlap {report.get('overlap', 'randomized')}")


# ---------------------------------------------------------------- assign-coupons
def consent_eligible(ctx, customers: DataFrame, rule: str) -> DataFrame:
    """``eligible``: may receive a coupon (consent at signup and not withdrawn by the run date)."""
    if rule == "none":
        return customers.withColumn("eligible", F.lit(True))
    email, push = F.col("email_opt_in"), F.col("push_opt_in")
    if ctx.lake.exists(CONSENTS):
        latest = ctx.lake.read(CONSENTS).where(F.to_date("changed_at") <= F.lit(ctx.run_date)).groupBy(
            "user_id", "channel").agg(F.max_by("consented", "changed_at").alias("now"))
        pivot = latest.groupBy("user_id").agg(
            F.max(F.when(F.col("channel") == "email", F.col("now").cast("int"))).alias("email_now"),
            F.max(F.when(F.col("channel") == "push", F.col("now").cast("int"))).alias("push_now"))
        customers = customers.join(pivot, "user_id", "left")
        email = F.coalesce(F.col("email_now") == 1, email)
        push = F.coalesce(F.col("push_now") == 1, push)
    ok = email if rule == "email" else (email | push)
    return customers.withColumn("eligible", F.coalesce(ok, F.lit(False)))


def budget_for(cfg, customers: int) -> float | None:
    a = cfg.allocation
    if a.budget is not None:
        return a.budget
    if a.budget_per_customer is not None:
        return a.budget_per_customer * customers
    return None


def run_assign_coupons(ctx) -> None:
    """Coupon level per signup of the run date, published through the channels' guardrails.

    Kill switch: ``coupons.publish.enabled``. Without a champion the fallback publishes no coupon for
    anyone (``reason = no_model``); the sanity check refuses an allocation over the budget."""
    from sendopt.channels.publish import CheckReport, Proposal, publish_with_guardrails

    cfg = ctx.config.coupons
    tracking.configure(ctx.config)
    registry = lifecycle.model_name(ctx.config, cfg.trial)
    feats = signup_features(ctx.lake.read(CUSTOMERS), ctx.lake.read(SIGNUP_SESSIONS)).where(
        F.col("signup_date") == F.lit(ctx.run_date))
    feats = consent_eligible(ctx, feats, cfg.allocation.require_consent).localCheckpoint()
    n = feats.count()
    state: dict = {}

    def propose() -> Proposal:
        try:
            champ = lifecycle.load(registry)
        except tracking.NoChampionError as exc:
            return Proposal(None, reason=str(exc))
        state["champ"] = champ
        model = champ.model
        arms = model.arms
        scored = predict(expand(feats, model.features), model).localCheckpoint()
        budget = budget_for(cfg, n)
        state["budget"] = budget
        if n == 0:
            ctx.log.warning("stage=assign-coupons no signups on %s: writing an empty slice", ctx.run_date)
            frame = scored.withColumn("choice", F.lit(0)).withColumn("gain", F.lit(0.0)).withColumn(
                "spend", F.lit(0.0))
            state.update(spend=0.0, gain=0.0, lam=0.0)
        else:
            alloc = allocate(scored, [f"tau_{k}" for k in range(arms)], [f"cost_{k}" for k in range(arms)],
                             budget=budget, method=cfg.allocation.method, steps=cfg.allocation.bisection_steps,
                             min_share=cfg.allocation.min_share or None, eligible="eligible")
            frame = alloc.frame
            state.update(spend=alloc.spend, gain=alloc.gain, lam=alloc.lam)
        levels = F.array(*[F.lit(float(v)) for v in model.levels])
        inc = F.element_at(F.array(*[F.col(f"inc_value_{k}") for k in range(arms)]), F.col("choice") + 1)
        best_gain = F.greatest(*[F.col(f"tau_{k}") for k in range(1, arms)])
        reason = (F.when(~F.col("eligible"), "opted_out").when(F.col("choice") > 0, "allocated")
                  .when(best_gain <= 0, "no_positive_gain").otherwise("budget"))
        out = frame.select(
            "user_id", "region", "brand", F.element_at(levels, F.col("choice") + 1).alias("coupon_level"),
            F.col("choice").alias("arm"), inc.alias("predicted_incremental_value"),
            F.col("spend").alias("predicted_cost"), F.col("gain").alias("predicted_net_gain"),
            reason.alias("reason"), F.lit(float(state["lam"])).alias("lambda"), F.lit(model.kind).alias("learner"),
            F.lit(champ.name).alias("model_name"), F.lit(champ.version).alias("model_version"))
        over = budget is not None and state["spend"] > budget + 1e-6
        failures = [f"predicted spend {state['spend']:.2f} exceeds the budget {budget}"] if over else []
        return Proposal(out, checks=CheckReport(not failures, {"spend": state["spend"]}, failures))

    def fallback() -> DataFrame:
        return feats.select("user_id", "region", "brand", F.lit(0.0).alias("coupon_level"), F.lit(0).alias("arm"),
                            F.lit(None).cast("double").alias("predicted_incremental_value"),
                            F.lit(0.0).alias("predicted_cost"), F.lit(None).cast("double").alias("predicted_net_gain"),
                            F.lit("no_model").alias("reason"), F.lit(None).cast("double").alias("lambda"),
                            F.lit("none").alias("learner"), F.lit(None).cast("string").alias("model_name"),
                            F.lit(None).cast("string").alias("model_version"))

    def to_rows(df: DataFrame, fell_back: bool) -> DataFrame:
        return df.select("*", F.lit(ctx.run_date).alias("decision_date"), F.lit(ctx.run_id).alias("run_id"),
                         F.lit(ctx.config.config_hash).alias("config_hash"))

    published = publish_with_guardrails(
        ctx, channel="coupons", enabled=cfg.publish.enabled, table=COUPON_ASSIGNMENTS,
        where={"decision_date": ctx.run_date}, propose=propose, fallback=fallback,
        fallback_name="no coupons", to_rows=to_rows)
    if published is None:
        return
    mix = {r[0]: r[1] for r in ctx.lake.read(COUPON_ASSIGNMENTS).where(
        F.col("decision_date") == F.lit(ctx.run_date)).groupBy("coupon_level").count().collect()}
    champ = state.get("champ")
    msg = (f"{n} signups on {ctx.run_date}: levels {dict(sorted(mix.items()))}, predicted spend "
           f"{state.get('spend', 0.0):.2f} of budget {state.get('budget')}, net gain {state.get('gain', 0.0):.2f} "
           f"({champ.model.kind + ' v' + champ.version if champ else 'fallback'})")
    ctx.summary.setdefault("message", msg)
    ctx.log.info("stage=assign-coupons %s", msg)
