"""``backtest`` / ``calibrate-tiers``: value email policies on past weeks from the logged exploration holdout.

Replay: for each of the last ``lifecycle.backtest.weeks`` matured weeks, the users of
the exploration holdout (``raw.email_assignments`` rows with policy ``exploration``:
a uniformly random weekly k with its logged probability) are scored with the
candidate model on their point-in-time snapshot (``features.customer_daily`` at
``week_start − gap_days``), exactly as ``decide-email`` scores: every candidate k, net
value, bins at the reference frequency (edges from this random sample of the
market), tiers, the per-user optimiser, then the hard rules. Each policy's k per
user-week is compared with the logged k:

* reward ``r = revenue − unsubscribe_cost · [unsubscribed]`` from the raw outcomes
  (``sendopt.features.labels.email_week_outcomes``), revenue from ``raw.orders`` or, with
  ``reward_revenue: expected``, the model's revenue estimate of a purchase week;
* IPS / SNIPS / doubly robust value per user-week (``sendopt.lifecycle.estimators``),
  the reward model being the candidate's own net value at each k; the same for the
  unsubscribe rate;
* per net-value bin, the model's predicted net value / P(unsubscribe) / P(purchase) at
  the logged k against what happened.

Policies: ``tiers`` is what ``decide-email`` publishes (bins → tiers, each tier's k from
the config or, with ``email.tier_source: model``, the model's best k); ``config_tiers`` and
``model_tiers`` are those two variants; ``optimizer`` the per-user argmax; ``logged`` the
uniform exploration policy itself (its estimate is the observed mean — a sanity check).

``calibrate-tiers`` reduces the same rows to bins × k sufficient statistics once (Spark)
and lets Optuna search the tier thresholds on the driver (``calibrate.py``); the
chosen tiers are written as a reviewable YAML proposal and valued here as policy
``proposal``. The truth-based value on generated worlds is added by
``sendopt.evaluation.backtest_truth`` (job ``backtest-truth``), never by this module.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.email.calibrate import calibrate_tiers, write_proposal
from sendopt.channels.email.decide import (
    at_k,
    bin_edges,
    bin_of,
    config_tier_map,
    expected_revenue,
    hard_rules,
    model_tier_map,
    tier_of,
    user_values,
)
from sendopt.channels.email.exploration import uniformly_logged
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.email.tables import BACKTEST_RESULTS
from sendopt.channels.primitives import in_market
from sendopt.errors import SendoptError
from sendopt.features.labels import PURCHASE, UNSUBSCRIBE, email_week_outcomes
from sendopt.features.snapshots import build_snapshots
from sendopt.features.tables import CUSTOMER_DAILY
from sendopt.lake.quality import read_clean
from sendopt.lifecycle import estimators as est
from sendopt.models import tracking
from sendopt.observability import stage

if TYPE_CHECKING:
    from sendopt.runner import JobContext

#: ``true_values(replay, policies) -> {policy: (true net value, true unsubscribe rate)}`` (evaluation only).
TrueValues = Callable[["Replay", list[str]], dict[str, tuple[float, float]]]


@dataclass
class Replay:
    """The scored exploration user-weeks of one market, one row per user-week (cached)."""

    rows: DataFrame  # user_id, week_start, logged_k, prob, reward, unsub, purchased, bin, by_k, k_<policy>…
    weeks: list[dt.date]
    tier_maps: dict[str, dict]  # policy → {week: {bin: k}} for map-based policies
    model_name: str
    model_version: str


def backtest_weeks(lake, region: str, brand: str, run_date: dt.date, weeks: int) -> list[dt.date]:
    """The last ``weeks`` week starts with matured exploration outcomes (a handful of dates)."""
    rows = (
        lake.read("raw.email_assignments")
        .where(in_market(region, brand) & (F.col("policy") == "exploration")
               & (F.date_add(F.col("week_start"), 7) <= F.lit(run_date)))
        .select("week_start").distinct().orderBy(F.desc("week_start")).limit(weeks).collect()
    )
    return sorted(r.week_start for r in rows)


def logged_weeks(ctx: JobContext, weeks: list[dt.date]) -> DataFrame:
    """Exploration user-weeks with k, probability, outcome and reward, joined with their snapshot features."""
    email = ctx.config.email
    market = in_market(ctx.region, ctx.brand)
    assignments = read_clean(ctx.lake, "raw.email_assignments", ctx.run_date).where(
        market & (F.col("policy") == "exploration") & F.col("week_start").isin(weeks))
    outcomes = email_week_outcomes(
        assignments, read_clean(ctx.lake, "raw.orders", ctx.run_date).where(market),
        read_clean(ctx.lake, "raw.email_events", ctx.run_date), ctx.run_date,
    ).where(F.col("week_start").isin(weeks))
    snapshots = [w - dt.timedelta(days=email.gap_days) for w in weeks]
    build_snapshots(ctx, snapshots)
    features = ctx.lake.read(CUSTOMER_DAILY).where(F.col("snapshot_date").isin(snapshots) & market).drop("region", "brand")
    cost = email.value.unsubscribe_cost
    return (
        outcomes.withColumn("snapshot_date", F.date_sub("week_start", email.gap_days))
        .join(features, ["user_id", "snapshot_date"], "inner")
        .withColumnRenamed("revenue", "actual_revenue")
        .withColumnRenamed("k", "logged_k")
        .withColumn("revenue", expected_revenue(email.value))  # the model's revenue of a purchase week
        .withColumn("prob", F.col("assignment_prob").cast("double"))
        .withColumn("unsub", (F.col("label") == UNSUBSCRIBE).cast("double"))
        .withColumn("purchased", (F.col("label") == PURCHASE).cast("double"))
        .withColumn("reward", (F.col("actual_revenue") if ctx.config.lifecycle.backtest.reward_revenue == "orders"
                               else F.col("purchased") * F.col("revenue")) - F.col("unsub") * F.lit(cost))
    )


def replay(ctx: JobContext, registered=None) -> Replay:
    """Score the logged weeks with the candidate model and attach every policy's k (after hard rules)."""
    cfg, email = ctx.config.lifecycle.backtest, ctx.config.email
    model = EmailResponseModel(ctx.config, ctx.region, ctx.brand)
    tracking.configure(ctx.config)
    registered = registered or tracking.load_model(model.name, cfg.model)
    weeks = backtest_weeks(ctx.lake, ctx.region, ctx.brand, ctx.run_date, cfg.weeks)
    if not weeks:
        raise SendoptError(f"backtest {ctx.region}/{ctx.brand}: raw.email_assignments has no matured exploration "
                           f"week before {ctx.run_date} — nothing to replay")
    logged = logged_weeks(ctx, weeks).cache()
    parts, cached, maps = [], [], {"config_tiers": {}, "model_tiers": {}}
    for week in weeks:
        users = logged.where(F.col("week_start") == F.lit(week))
        decided, anchor = user_values(users, model, registered, email)
        decided = decided.cache()
        cached.append(decided)
        if decided.limit(1).count() == 0:
            continue
        # Edges from the holdout: a uniform random sample of the market, so its quantiles estimate the
        # population's that decide-email cuts (and scoring 5 % of users instead of all is what keeps this cheap).
        edges = bin_edges(decided, "net_value_ref", email.bins)
        decided = decided.withColumn("bin", bin_of(F.col("net_value_ref"), edges).cast("int"))
        maps["config_tiers"][week] = config_tier_map(email)
        maps["model_tiers"][week] = model_tier_map(decided, email, anchor)
        part = users.join(decided.select("user_id", "bin", "by_k", "optimal_frequency"), "user_id")
        ks = {"optimizer": F.col("optimal_frequency"), "logged": F.col("logged_k")}
        for policy in ("config_tiers", "model_tiers"):
            ks[policy] = tier_of(F.col("bin"), maps[policy][week])
        ks["tiers"] = ks["model_tiers" if email.tier_source == "model" else "config_tiers"]  # as decide-email
        for policy, k in ks.items():
            part = part.withColumn(f"k_{policy}", k if policy == "logged" else hard_rules(k, email, ctx.region)[0])
        parts.append(part)
    if not parts:
        raise SendoptError(f"backtest {ctx.region}/{ctx.brand}: no exploration user-week of {weeks} has a feature "
                           f"snapshot in {CUSTOMER_DAILY.full_name}")
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part, allowMissingColumns=True)
    rows = rows.cache()
    n = rows.count()
    for df in [logged, *cached]:
        df.unpersist()
    if n < cfg.min_rows:
        raise SendoptError(f"backtest {ctx.region}/{ctx.brand}: {n} exploration user-weeks in {weeks}, fewer than "
                           f"lifecycle.backtest.min_rows={cfg.min_rows}")
    return Replay(rows, weeks, maps, registered.name, registered.version)


def _mean_over_k(by_k: Column, field: str) -> Column:
    """The uniform exploration policy's expectation of a by-k field (every candidate k equally likely)."""
    return F.aggregate(by_k, F.lit(0.0), lambda acc, s: acc + s.getField(field)) / F.size(by_k)


def _policy_aggs(policy: str) -> list[Column]:
    """Sufficient-statistic aggregates of one policy; ``logged`` is the uniform exploration policy itself."""
    k, by_k, logged_k = F.col(f"k_{policy}"), F.col("by_k"), F.col("logged_k")
    q_logged, u_logged = at_k(by_k, logged_k, "net_value"), at_k(by_k, logged_k, "p_unsubscribe")
    if policy == "logged":  # stochastic: π(a|x) = p(a|x), expectation over every k where the log was uniform
        # over them; a row logged with another probability (a Thompson-allocated holdout) is its own on-policy
        # term: q_target = q(x, a), so DR's term is the observed reward
        uniform = uniformly_logged(F.col("prob"), F.size(by_k))
        pi = F.col("prob")
        q_target = F.when(uniform, _mean_over_k(by_k, "net_value")).otherwise(q_logged)
        u_target = F.when(uniform, _mean_over_k(by_k, "p_unsubscribe")).otherwise(u_logged)
    else:
        pi = (logged_k == k).cast("double")
        q_target, u_target = at_k(by_k, k, "net_value"), at_k(by_k, k, "p_unsubscribe")
    return [
        F.sum((logged_k == k).cast("long")).alias(f"{policy}|matched"),
        *est.sum_columns(F.col("reward"), F.col("prob"), pi, q_logged, q_target, prefix=f"{policy}|"),
        *est.sum_columns(F.col("unsub"), F.col("prob"), pi, u_logged, u_target, prefix=f"{policy}|u_"),
        F.avg(k.cast("double")).alias(f"{policy}|emails"),
    ]


def policy_estimates(rep: Replay, policies: list[str]) -> dict[str, dict]:
    """Per policy: estimator results of net value and unsubscribe rate, and the mean frequency (one row)."""
    row = rep.rows.agg(*[a for p in policies for a in _policy_aggs(p)]).first().asDict()  # one row of sums
    out = {}
    for p in policies:
        value, unsub = est.estimates(row, prefix=f"{p}|"), est.estimates(row, prefix=f"{p}|u_")
        out[p] = {"value": value, "unsub": unsub, "emails": row[f"{p}|emails"], "matched": row[f"{p}|matched"]}
    return out


def bin_calibration(rep: Replay) -> list:
    """Per bin: the model's predictions at the logged k vs the realised outcome (bins rows)."""
    by_k, k = F.col("by_k"), F.col("logged_k")
    return (
        rep.rows.groupBy("bin").agg(
            F.count(F.lit(1)).alias("rows"),
            F.avg(at_k(by_k, k, "net_value")).alias("predicted_net_value"),
            F.avg("reward").alias("actual_net_value"),
            F.avg(at_k(by_k, k, "p_unsubscribe")).alias("predicted_unsubscribe"),
            F.avg("unsub").alias("actual_unsubscribe"),
            F.avg(at_k(by_k, k, "p_purchase")).alias("predicted_purchase"),
            F.avg("purchased").alias("actual_purchase"),
        ).orderBy("bin").collect()  # one row per bin
    )


def result_frame(ctx: JobContext, rep: Replay, estimates: dict[str, dict], bins: list,
                 truth: dict[str, tuple[float, float]]) -> DataFrame:
    def ci(e):
        return (e.value, e.se) if e is not None else (None, None)

    common = (len(rep.weeks), rep.weeks[0], rep.weeks[-1])
    records = []
    for p, e in estimates.items():
        v, u = e["value"], e["unsub"]
        t = truth.get(p, (None, None))
        records.append(("policy", p, 0, *common, v.n, int(e["matched"]), v.effective_n,
                        *ci(v.ips), v.snips.value, *ci(v.dr), v.dm, u.dr.value if u.dr else None, e["emails"],
                        None, None, None, None, None, None, *t))
    for b in bins:
        records.append(("bin", "logged", int(b.bin), *common, int(b.rows), int(b.rows), float(b.rows),
                        None, None, None, None, None, None, None, None, b.predicted_net_value, b.actual_net_value,
                        b.predicted_unsubscribe, b.actual_unsubscribe, b.predicted_purchase, b.actual_purchase,
                        None, None))
    schema = ", ".join(f"{c.name} {c.type}" for c in BACKTEST_RESULTS.columns
                       if c.name not in ("backtest_date", "region", "brand", "model_name", "model_version",
                                         "run_id", "config_hash"))
    df = ctx.spark.createDataFrame(records, schema)  # a few rows per policy and bin
    return df.select(
        F.lit(ctx.run_date).alias("backtest_date"), F.lit(ctx.region).alias("region"),
        F.lit(ctx.brand).alias("brand"), F.lit(rep.model_name).alias("model_name"),
        F.lit(rep.model_version).alias("model_version"), "*", F.lit(ctx.run_id).alias("run_id"),
        F.lit(ctx.config.config_hash).alias("config_hash"),
    ).select(*BACKTEST_RESULTS.column_names)


def format_table(ctx: JobContext, rep: Replay, estimates: dict[str, dict], bins: list, truth: dict) -> str:
    lines = [f"backtest {ctx.region}/{ctx.brand} on {ctx.run_date}: model {rep.model_name} v{rep.model_version}, "
             f"weeks {rep.weeks[0]}..{rep.weeks[-1]} (net value per user-week)",
             f"  {'policy':12} {'IPS':>9} {'±se':>7} {'SNIPS':>9} {'DR':>9} {'±se':>7} {'DM':>9} {'unsub DR':>9} "
             f"{'emails':>6} {'true':>9}"]
    for p, e in estimates.items():
        v, u, t = e["value"], e["unsub"], truth.get(p)
        lines.append(f"  {p:12} {v.ips.value:>9.3f} {v.ips.se:>7.3f} {v.snips.value:>9.3f} {v.dr.value:>9.3f} "
                     f"{v.dr.se:>7.3f} {v.dm:>9.3f} {100 * u.dr.value:>8.3f}% {e['emails']:>6.2f} "
                     + (f"{t[0]:>9.3f}" if t else f"{'-':>9}"))
    lines.append(f"  {'bin':>4} {'rows':>6} {'pred value':>10} {'actual':>8} {'pred unsub':>10} {'actual':>8} "
                 f"{'pred buy':>8} {'actual':>8}")
    for b in bins:
        lines.append(f"  {b.bin:>4} {b.rows:>6} {b.predicted_net_value:>10.3f} {b.actual_net_value:>8.3f} "
                     f"{100 * b.predicted_unsubscribe:>9.3f}% {100 * b.actual_unsubscribe:>7.3f}% "
                     f"{100 * b.predicted_purchase:>7.2f}% {100 * b.actual_purchase:>7.2f}%")
    return "\n".join(lines)


def backtest(ctx: JobContext, calibrate: bool = False, true_values: TrueValues | None = None) -> None:
    """Replay, estimate, optionally calibrate the tiers, write analytics.backtest_results and print the table."""
    cfg = ctx.config.lifecycle.backtest
    with stage(ctx.spark, ctx.log, "backtest: replay", region=ctx.region, brand=ctx.brand) as info:
        rep = replay(ctx)
        info.update(weeks=len(rep.weeks), model=f"{rep.model_name}/v{rep.model_version}")
    proposal_path = None
    if calibrate:
        with stage(ctx.spark, ctx.log, "backtest: calibrate tiers", region=ctx.region, brand=ctx.brand):
            result = calibrate_tiers(rep, ctx.config.email, cfg.calibration, ctx.region)
            proposal_path = write_proposal(ctx, rep, result)
        rows = rep.rows.withColumn(
            "k_proposal", hard_rules(tier_of(F.col("bin"), result.proposal_map), ctx.config.email, ctx.region)[0])
        rep = Replay(rows, rep.weeks, {**rep.tier_maps, "proposal": result.proposal_map}, rep.model_name,
                     rep.model_version)
    policies = ["logged", *cfg.policies, *(["proposal"] if calibrate else [])]
    with stage(ctx.spark, ctx.log, "backtest: estimate", region=ctx.region, brand=ctx.brand):
        estimates = policy_estimates(rep, policies)
        bins = bin_calibration(rep)
        truth = true_values(rep, policies) if true_values else {}
    out = result_frame(ctx, rep, estimates, bins, truth)
    ctx.lake.write(out, BACKTEST_RESULTS, mode="replace",
                   where={"backtest_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand})
    print(format_table(ctx, rep, estimates, bins, truth), flush=True)
    if proposal_path:
        print(f"tier proposal for review: {proposal_path}", flush=True)
    rep.rows.unpersist()
    best = max((p for p in policies if p != "logged"), key=lambda p: estimates[p]["value"].dr.value)
    ctx.summary["message"] = (
        "; ".join(f"{p} DR={estimates[p]['value'].dr.value:.3f}" for p in policies)
        + f"; best by DR: {best}" + (f"; proposal: {proposal_path}" if proposal_path else ""))

