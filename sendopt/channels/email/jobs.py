"""The email channel's jobs: ``train``, ``ensure-models``, ``decide-email``, ``backtest``, ``calibrate-tiers``,
``ab-assign`` and ``ab-analyze`` (its truth evaluations live in ``sendopt.evaluation.jobs``)."""
from __future__ import annotations

from pyspark.sql import functions as F

from sendopt.channels.email.backtest import backtest
from sendopt.channels.email.decide import assemble, score_and_bin, with_run_columns
from sendopt.channels.email.experiments import arms_of, describe_arms, record_assignments
from sendopt.channels.email.exploration import thompson_allocation
from sendopt.channels.email.inputs import market_features
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.email.publish import previous_zero_share, safe_policy, sanity_checks
from sendopt.channels.email.safety import choice_frame, choose_for, fallback_choice, format_choice
from sendopt.channels.email.tables import EMAIL_FREQUENCY, POLICY_CHOICE
from sendopt.channels.email.training import train_market
from sendopt.channels.primitives import has_consent, in_market
from sendopt.channels.publish import Proposal, publish_with_guardrails
from sendopt.errors import SendoptError
from sendopt.features.tables import CUSTOMER_DAILY
from sendopt.lifecycle.ab_analysis import analyze_experiment
from sendopt.models import tracking
from sendopt.observability import stage
from sendopt.runner import JobContext


def run_train(ctx: JobContext) -> None:
    """Train, evaluate and register this market's email response model (first = champion, later = challenger)."""
    train_market(ctx)


def run_ensure_models(ctx: JobContext) -> None:
    """Train when the market has no champion yet (or always, per ``email.train_in_daily``)."""
    tracking.configure(ctx.config)
    name = EmailResponseModel(ctx.config, ctx.region, ctx.brand).name
    if ctx.config.email.train_in_daily == "always" or tracking.champion_version(name) is None:
        train_market(ctx)
    else:
        ctx.summary["message"] = f"{name} has a champion; retraining is the lifecycle's job"


def run_decide_email(ctx: JobContext) -> None:
    """Score, bin, tier and publish the market's weekly email frequencies through the shared guardrails."""
    email = ctx.config.email
    state: dict = {}

    def propose() -> Proposal:
        features, snapshot = market_features(ctx)
        features = state["features"] = features.cache()
        users = state["users"] = features.count()
        if users == 0:
            raise SendoptError(f"decide-email {ctx.region}/{ctx.brand}: {CUSTOMER_DAILY.full_name} has no rows "
                               f"for snapshot {snapshot}; run build-features --date {ctx.run_date} first")
        model = EmailResponseModel(ctx.config, ctx.region, ctx.brand)
        tracking.configure(ctx.config)
        try:
            registered = state["registered"] = tracking.load_model(model.name, tracking.CHAMPION)
        except tracking.NoChampionError as exc:
            return Proposal(None, reason=str(exc))
        with stage(ctx.spark, ctx.log, "decide-email: score and decide", region=ctx.region, brand=ctx.brand,
                   model=f"{registered.name}/v{registered.version}"):
            scored = state["scored"] = score_and_bin(features, model, registered, email)
            ctx.log.info("stage=decide-email tier_source=%s bin→emails/week %s", email.tier_source, scored.tier_map)
        with stage(ctx.spark, ctx.log, "decide-email: safe policy improvement", region=ctx.region, brand=ctx.brand):
            choice = state["choice"] = choose_for(ctx, scored, registered)
            ctx.log.info("stage=decide-email chose=%s reason=%s", choice.chosen.name, choice.reason)
        with stage(ctx.spark, ctx.log, "decide-email: assemble and check", region=ctx.region, brand=ctx.brand):
            allocation = thompson_allocation(choice.arms, email.exploration) if choice.arms else None
            if allocation:
                ctx.log.info("stage=decide-email exploration=thompson bin→{k: probability} %s",
                             {b: {k: round(p, 3) for k, p in share.items()} for b, share in allocation.items()})
            decisions = assemble(scored, features, email, ctx.region, choice.chosen.frequency(),
                                 choice.chosen.label(email), arms_of(ctx.config.lifecycle.experiments, email),
                                 allocation)
            decisions = state["decisions"] = decisions.cache()
            report = sanity_checks(decisions, users, previous_zero_share(ctx.lake, ctx.region, ctx.brand,
                                                                          ctx.run_date), email)
        return Proposal(decisions, report)

    def to_rows(decisions, fell_back: bool):
        return with_run_columns(decisions, ctx.run_date, ctx.region, ctx.brand,
                                None if fell_back else state.get("registered"), ctx.run_id, ctx.config.config_hash)

    published = publish_with_guardrails(
        ctx, channel="email", enabled=email.publish.enabled, table=EMAIL_FREQUENCY,
        where={"decision_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand}, propose=propose,
        fallback=lambda: safe_policy(state["features"], email),
        fallback_name=f"the safe policy ({email.publish.safe_frequency}/week)", to_rows=to_rows)
    if published is None:
        return
    choice = state.get("choice")
    if choice is None and published.fell_back:  # no model to choose with: the record says the safe policy ran
        choice = fallback_choice(email, published.reason)
    if choice is not None:
        registered = state.get("registered")
        ctx.lake.write(choice_frame(ctx.spark, choice, "safe_fallback" if published.fell_back else "chosen",
                                    ctx.run_date, ctx.region, ctx.brand, getattr(registered, "name", None),
                                    getattr(registered, "version", None), ctx.run_id, ctx.config.config_hash),
                       POLICY_CHOICE, mode="replace",
                       where={"decision_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand})
        print(format_choice(choice, ctx.region, ctx.brand, ctx.run_date), flush=True)
    mix = {r[0]: r[1] for r in ctx.lake.read(EMAIL_FREQUENCY).where(
        (F.col("decision_date") == F.lit(ctx.run_date)) & in_market(ctx.region, ctx.brand))
        .groupBy("emails_per_week").count().collect()}  # ≤ 8 rows
    chose = f"; policy {choice.chosen.name}: {choice.reason}" if choice is not None else ""
    ctx.summary.setdefault("message", f"published {state['users']} decisions; emails/week mix "
                                      f"{dict(sorted(mix.items()))}{chose}")
    ctx.log.info("stage=decide-email region=%s brand=%s users=%s mix=%s", ctx.region, ctx.brand, state["users"],
                 dict(sorted(mix.items())))
    for name in ("features", "decisions"):
        if name in state:
            state[name].unpersist()
    if "scored" in state:
        state["scored"].users.unpersist()


def run_backtest(ctx: JobContext) -> None:
    """Value email policies on past weeks' exploration holdout (IPS / SNIPS / DR); predicted vs actual per bin."""
    backtest(ctx)


def run_calibrate_tiers(ctx: JobContext) -> None:
    """The backtest plus the threshold search and its reviewable proposal."""
    backtest(ctx, calibrate=True)


def run_ab_assign(ctx: JobContext) -> None:
    """Record this market's arms for the decision snapshot's consenting users."""
    experiments = ctx.config.lifecycle.experiments
    if not experiments.enabled:
        ctx.summary["message"] = "lifecycle.experiments.enabled is false: nobody assigned"
        return
    features, snapshot = market_features(ctx)
    users = features.where(has_consent(F.col("email_consent"), ctx.config.email.consent_threshold))
    added = record_assignments(ctx.lake, users, experiments, ctx.config.email.exploration, ctx.region, ctx.brand,
                               ctx.run_date, ctx.run_id)
    arms = describe_arms(experiments, ctx.config.email)
    ctx.log.info("stage=ab-assign experiment=%s snapshot=%s added=%s arms=%s", experiments.name, snapshot, added,
                 arms)
    ctx.summary["message"] = f"{experiments.name}: {added} users newly assigned; {arms}"


def run_ab_analyze(ctx: JobContext) -> None:
    """Per-arm outcomes, tests, the sample-ratio check and the rollout decision of the email experiment."""
    analyze_experiment(ctx, describe_arms(ctx.config.lifecycle.experiments, ctx.config.email))
