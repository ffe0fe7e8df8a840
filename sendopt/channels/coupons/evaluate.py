"""evaluate-uplift without truth: on the trial's held-out randomized customers, per learner and level the
Qini / AUUC / uplift@k with bootstrap intervals, every policy's IPS / DR value and spend under the same
budget, and the champion's Q(B) budget path. (``sendopt.evaluation.coupon_policy`` adds the truth.)

Policies, each an arm per held-out customer:

* ``learned_<kind>``: the learner's allocation (Lagrangian under the evaluation budget);
* ``uniform_<level>``: everybody that level (``uniform_0`` = no coupons);
* ``random``: a random level to random customers until the budget is spent;
* ``predictive``: the most likely converters (by predicted conversion without coupon) get the best
  uniform level until the budget is spent — the seed's trap;
* (truth) ``oracle``: the allocation by the true effects.

The evaluation budget per customer is ``coupons.allocation.budget_per_customer``, else the expected
spend per customer of the champion's unbudgeted allocation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.coupons import lifecycle
from sendopt.channels.coupons.allocation import allocate
from sendopt.channels.coupons.features import expand
from sendopt.channels.coupons.jobs import read_trial, trial_levels, with_net
from sendopt.channels.coupons.learners import predict
from sendopt.channels.coupons.metrics import (
    budget_curve,
    dr_scores,
    hash_uniform,
    policy_value,
    uplift_at_k,
    uplift_curves,
)
from sendopt.channels.coupons.tables import COUPON_EVALUATION
from sendopt.errors import SendoptError
from sendopt.models import tracking

NEG = -1e18  # "this level is not an option" for the allocator (finite: 0·NEG stays a number)


@dataclass
class Evaluation:
    holdout: DataFrame  # held-out rows with the champion's predictions and every pi_<policy> column
    levels: list[float]
    budget_per_customer: float | None
    rows: int
    policies: dict[str, dict[str, float]] = field(default_factory=dict)
    qini: dict[str, dict[str, float]] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    champion: str = ""
    pi: dict[str, str] = field(default_factory=dict)  # policy name → its arm column in ``holdout``
    budget: float | None = None


def _prefixed(df: DataFrame, kind: str, arms: int) -> DataFrame:
    cols = [f"{c}_{k}" for c in ("conv", "value", "cost", "net", "inc_value", "tau") for k in range(arms)]
    return df.select("*", *[F.col(c).alias(f"{kind}__{c}") for c in cols]).drop(*cols)


def estimate(ctx) -> Evaluation:
    cfg = ctx.config.coupons
    ev = cfg.evaluation
    tracking.configure(ctx.config)
    registry = lifecycle.model_name(ctx.config, cfg.trial)
    champ = lifecycle.load(registry)
    learners = {v.model.kind: v for v in lifecycle.latest_run_versions(registry)} or {champ.model.kind: champ}
    trial_name = "world" if cfg.trial == "world" else cfg.trial
    trial = read_trial(ctx, trial_name)
    levels = trial_levels(trial)
    arms = len(levels)
    hold = with_net(expand(trial, champ.model.features)).where(
        (F.col("split") == "holdout") & F.col("randomized"))
    for kind, reg in learners.items():
        hold = _prefixed(predict(hold, reg.model), kind, arms)
    hold = predict(hold, champ.model).localCheckpoint()  # the champion's columns unprefixed; lineage cut
    n = hold.count()
    if n < 20:
        raise SendoptError(f"evaluate-uplift: only {n} held-out randomized customers in trial {trial_name!r}")

    free = allocate(hold, [f"tau_{k}" for k in range(arms)], [f"cost_{k}" for k in range(arms)])
    budget_pc = cfg.allocation.budget_per_customer
    if budget_pc is None:
        budget_pc = free.spend / n
    budget = budget_pc * n
    # learned policies under the budget
    for kind in learners:
        a = allocate(hold, [f"{kind}__tau_{k}" for k in range(arms)], [f"{kind}__cost_{k}" for k in range(arms)],
                     budget=budget, steps=cfg.allocation.bisection_steps)
        hold = a.frame.select("user_id", F.col("choice").alias(f"pi_learned_{kind}")).join(
            hold, "user_id").localCheckpoint()
    for k in range(arms):
        hold = hold.withColumn(f"pi_uniform_{k}", F.lit(k))
    # random: a random level, random customers, until the budget (greedy on a random ratio)
    r_arm = 1 + (hash_uniform(F.col("user_id"), 31) * (arms - 1)).cast("int")
    u = hash_uniform(F.col("user_id"), 37)
    rnd = hold.select("user_id", *[F.when(r_arm == k, u * F.col(f"cost_{k}")).otherwise(F.lit(NEG)).alias(f"rg_{k}")
                                   for k in range(arms)], *[F.col(f"cost_{k}") for k in range(arms)])
    a = allocate(rnd, [f"rg_{k}" for k in range(arms)], [f"cost_{k}" for k in range(arms)], budget=budget,
                 method="greedy", steps=cfg.allocation.bisection_steps)
    hold = a.frame.select("user_id", F.col("choice").alias("pi_random")).join(hold, "user_id").localCheckpoint()
    # evaluate uniform policies first: the predictive baseline uses the best uniform level
    res: dict[str, dict[str, float]] = {}

    def value(pi: str) -> dict[str, float]:
        return policy_numbers(hold, pi, arms)

    pi = {f"uniform_{levels[k]:g}": f"pi_uniform_{k}" for k in range(arms)}
    pi.update({"random": "pi_random", "predictive": "pi_predictive", **{f"learned_{k}": f"pi_learned_{k}"
                                                                         for k in learners}})
    for k in range(arms):
        res[f"uniform_{levels[k]:g}"] = value(f"pi_uniform_{k}")
    best_k = max(range(1, arms), key=lambda k: res[f"uniform_{levels[k]:g}"]["dr_value"])
    pred = hold.select("user_id", *[(F.col("conv_0") * F.col(f"cost_{k}") if k == best_k else F.lit(NEG)).alias(
        f"pg_{k}") for k in range(arms)], *[F.col(f"cost_{k}") for k in range(arms)])
    a = allocate(pred, [f"pg_{k}" for k in range(arms)], [f"cost_{k}" for k in range(arms)], budget=budget,
                 method="greedy", steps=cfg.allocation.bisection_steps)
    hold = a.frame.select("user_id", F.col("choice").alias("pi_predictive")).join(hold, "user_id").localCheckpoint()
    res["random"] = value("pi_random")
    res["predictive"] = value("pi_predictive")
    for kind in learners:
        res[f"learned_{kind}"] = value(f"pi_learned_{kind}")
    out = Evaluation(hold, levels, budget_pc, n, res, champion=champ.model.kind, pi=pi, budget=budget)
    out.qini = qini_table(hold, list(learners), arms, ev)
    out.curve = champion_curve(hold, arms, ev.budget_points)
    return out


def policy_numbers(hold: DataFrame, pi: str, arms: int) -> dict[str, float]:
    """IPS / DR value (net per customer) and DR / predicted spend of the policy in column ``pi``."""
    v = policy_value(hold, pi, outcome="net", mu=[f"net_{k}" for k in range(arms)])
    s = policy_value(hold, pi, outcome="cost", mu=[f"cost_{k}" for k in range(arms)])
    predicted = hold.agg(F.avg(F.element_at(F.array(*[F.col(f"cost_{k}") for k in range(arms)]),
                                            F.col(pi) + 1))).first()[0]
    return {"dr_value": v.dr, "dr_se": v.dr_se, "ips_value": v.ips, "ips_se": v.ips_se, "snips_value": v.snips,
            "dr_spend": s.dr, "predicted_spend": predicted, "match_share": v.match_share}


def qini_table(hold: DataFrame, kinds: list[str], arms: int, ev) -> dict[str, dict[str, float]]:
    """Per learner × level (vs control) and per learner's chosen-level policy: Qini, AUUC, uplift@k."""
    out = {}
    for kind in kinds:
        for k in range(1, arms):
            rows = hold.where(F.col("arm").isin(0, k)).withColumn("_t", (F.col("arm") == k).cast("int"))
            out[f"{kind}/level_{k}"] = _curve_numbers(rows, f"{kind}__tau_{k}", ev)
        # chosen level: customers whose logged arm is control or the learner's choice (unbudgeted best)
        best = F.lit(0)
        best_v = F.lit(0.0)
        for k in range(1, arms):
            better = F.col(f"{kind}__tau_{k}") > best_v
            best = F.when(better, F.lit(k)).otherwise(best)
            best_v = F.when(better, F.col(f"{kind}__tau_{k}")).otherwise(best_v)
        rows = hold.withColumn("_best", best).withColumn("_score", best_v).where(
            (F.col("arm") == 0) | ((F.col("arm") == F.col("_best")) & (F.col("_best") > 0))).withColumn(
            "_t", (F.col("arm") > 0).cast("int"))
        out[f"{kind}/chosen"] = _curve_numbers(rows, "_score", ev)
    return out


def _curve_numbers(rows: DataFrame, score: str, ev) -> dict[str, float]:
    nums: dict[str, float] = {}
    try:
        net = uplift_curves(rows, score, "_t", "net", grid=ev.grid, bootstrap=ev.bootstrap)
        conv = uplift_curves(rows, score, "_t", "converted", grid=ev.grid, bootstrap=ev.bootstrap)
    except SendoptError:  # one arm missing among these rows
        return {"rows": float(rows.count())}
    nums.update(rows=net.rows, qini_area_net=net.qini_area, uplift_area_net=net.uplift_area,
                qini_coefficient=conv.qini_coefficient, auuc=conv.auuc)
    for name, (lo, hi) in net.intervals.items():
        nums[f"{name}_net_lo"], nums[f"{name}_net_hi"] = lo, hi
    for name, (lo, hi) in conv.intervals.items():
        if name == "qini_coefficient":
            nums["qini_coefficient_lo"], nums["qini_coefficient_hi"] = lo, hi
    try:
        nums["uplift_at_k_conv"] = uplift_at_k(rows, score, "_t", "converted", ev.k)
        nums["uplift_at_k_net"] = uplift_at_k(rows, score, "_t", "net", ev.k)
    except SendoptError:
        nums["uplift_at_k_conv"] = nums["uplift_at_k_net"] = float("nan")
    return nums


def champion_curve(hold: DataFrame, arms: int, points: int) -> list[dict[str, float]]:
    """Q(B) along λ for the champion: DR incremental value, spend and net with 95% intervals."""
    ratios = [0.0] + [math.exp(x) for x in [-4 + 8 * i / (points - 2) for i in range(points - 1)]] + [1e9]
    gain = [f"inc_value_{k}" for k in range(arms)]
    cost = [f"cost_{k}" for k in range(arms)]
    # λ prices cost inside the value: pick argmax inc_value − (1 + λ)·cost ⇔ net − λ·cost
    vs = dr_scores("arm", "propensity", "value", [f"value_{k}" for k in range(arms)])
    cs = dr_scores("arm", "propensity", "cost", cost)
    return budget_curve(hold, gain, cost, vs, cs, [1.0 + r for r in ratios])


def write_and_print(ctx, ev: Evaluation, truth: dict[str, dict[str, float]] | None = None) -> None:
    """Rows into analytics.coupon_evaluation and a readable table in the log (and on stdout)."""
    cfg = ctx.config.coupons
    rows = []
    for name, m in ev.policies.items():
        rows.append(("policy", name, {**m, **((truth or {}).get(name, {}))}))
    oracles = [n for n in ("observable_oracle", "oracle") if truth and n in truth]
    for name in oracles:
        rows.append(("policy", name, truth[name]))
    for name, m in ev.qini.items():
        rows.append(("qini", name, {k: v for k, v in m.items() if not k.startswith("_")}))
    for p in ev.curve:
        rows.append(("budget_curve", f"{p['lambda']:.6g}", p))
    clean = [(kind, name, {k: float(v) for k, v in m.items() if v is not None and not (
        isinstance(v, float) and math.isnan(v))}) for kind, name, m in rows]
    df = ctx.spark.createDataFrame(
        [(cfg.trial, ctx.run_date, kind, name, m, ctx.run_id, ctx.config.config_hash) for kind, name, m in clean],
        COUPON_EVALUATION.schema)
    ctx.lake.write(df, COUPON_EVALUATION, mode="replace", where={"trial": cfg.trial})
    lines = [f"coupon policies on {ev.rows} held-out randomized customers of trial {cfg.trial!r}, budget "
             f"{ev.budget_per_customer:.3f}/customer (champion {ev.champion}); net value per customer",
             f"{'policy':22} {'DR value (95% CI)':>26} {'IPS':>9} {'spend':>8}" + (
                 f" {'true net':>9} {'true gain':>9} {'of obs. oracle':>14} {'of oracle':>9} {'true spend':>10}"
                 if truth else "")]
    names = list(ev.policies) + oracles
    for name in names:
        m = ev.policies.get(name, {})
        t = (truth or {}).get(name, {})
        if m:
            ci = f"{m['dr_value']:8.3f} ({m['dr_value'] - 1.96 * m['dr_se']:7.3f}, {m['dr_value'] + 1.96 * m['dr_se']:7.3f})"
            line = f"{name:22} {ci:>26} {m['ips_value']:9.3f} {m['dr_spend']:8.3f}"
        else:
            line = f"{name:22} {'':>26} {'':>9} {'':>8}"
        if truth:
            line += (f" {t.get('true_net', float('nan')):9.3f} {t.get('true_gain', float('nan')):9.3f} "
                     f"{t.get('share_of_observable_oracle_gain', float('nan')):14.0%} "
                     f"{t.get('share_of_oracle_gain', float('nan')):9.0%} {t.get('true_spend', float('nan')):10.3f}")
        lines.append(line)
    lines.append(f"{'qini (net, level vs control)':34} {'area (95% CI)':>28} {'Qini coef (conv)':>18} "
                 f"{'uplift@k':>9}")
    for name, m in ev.qini.items():
        if "qini_area_net" not in m:
            lines.append(f"{name:34} (too few rows)")
            continue
        ci = f"{m['qini_area_net']:8.4f} ({m.get('qini_area_net_lo', float('nan')):7.4f}, " \
             f"{m.get('qini_area_net_hi', float('nan')):7.4f})"
        coef = m.get("qini_coefficient")
        lines.append(f"{name:34} {ci:>28} {coef if coef is not None else float('nan'):18.4f} "
                     f"{m.get('uplift_at_k_net', float('nan')):9.3f}")
        if truth and f"true_qini/{name}" in truth:
            tq = truth[f"true_qini/{name}"]
            lines[-1] += (f"  {tq['share_of_observable']:.0%} of the observable ranking's, "
                          f"{tq['share']:.0%} of the true ranking's")
    text = "\n".join(lines)
    ctx.log.info("stage=evaluate-uplift\n%s", text)
    print(text)
    ctx.summary["message"] = f"evaluated {len(ev.policies)} policies on {ev.rows} held-out customers"
