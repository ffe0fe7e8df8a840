"""Campaign impact simulator: customer × design scores → sufficient statistics → plans and their metrics.

Scoring runs in Spark over every eligible customer and candidate design once (with the usage model in one
fused pass, :func:`candidate_stats`: the product is formed and summed inside the Python workers). The result
is aggregated to sufficient statistics per (request, segment, region, design, score bucket) — sums of expected incremental
GMV, incremental orders, cost, redemptions and their Bernoulli variances — so a plan (one design per
segment, reaching the best buckets of it) is evaluated on a few thousand rows on the driver, never by
re-scoring customers. The buckets are ``floor(asinh(value) × simulator.bucket_resolution)`` of the predicted
net value: fine where values are small, logarithmic where they are large; a plan may take a fraction of its
last bucket (customers drawn by a stable hash), so budgets are met exactly in expectation.

Metrics (docs/promo.md): ``redemptions`` = Σ p_redeem; ``incremental_orders`` = Σ (p1·n1 − p0·n0);
``reached`` = chosen customers (the plan's control group included), ``offered`` = those offered; the sums
below are over the offered ones (:func:`prepare`'s ``offer_share``); ``gmv`` = Σ p1·g1 of the reached (GMV with the promo, before discount); ``incremental_gmv`` = Σ (p1·g1 −
p0·g0); ``cost`` = Σ p_redeem·discount; ``net_value`` = incremental GMV − cost; ``objective`` = net value +
weight_orders·incremental orders + weight_new·(p1 − p0) of new customers (expected acquisitions); ``cps`` = cost /
incremental orders; ``cost_p90`` = cost + z·sd (z of ``budget_confidence``; sd² = the Bernoulli variance +
(``level_sd``·cost)², :meth:`Limits.cost_p`) — the budget is met with that probability when cost_p90 ≤ budget; ``_lo``/``_hi`` = the ``interval`` bounds from the summed variances.
With the usage model p_redeem is its expected redemptions, the incremental orders their incremental share, the
cost the promo's terms on the redeemed basket and ``gmv`` = Σ (p0·g0 + incremental GMV): no treated arm is
scored per design (:func:`usage.expectations`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from sendopt.channels.primitives import uniform_hash
from sendopt.channels.promo import usage

STAT_COLS = ["n", "inc_gmv", "inc_orders", "cost", "cost_var", "orders_var", "p_redeem", "redeem_var",
             "new_inc", "gmv"]
UNIT_KEYS = ["request_id", "segment", "region", "design_id", "bucket"]


def bucket_of(value, resolution: float):
    """Score bucket of a predicted value (Spark column or numpy array)."""
    if isinstance(value, np.ndarray):
        return usage.score_bucket(value, resolution)
    return F.floor(F.asinh(value) * F.lit(resolution)).cast("int")


def with_values(df: DataFrame, resolution: float) -> DataFrame:
    """From the model outputs (p0, p1: P(order); g0, g1: GMV per orderer; n0, n1: orders per orderer;
    p_redeem_raw, disc_r: discounts per redeemer) and the request's weights: the per-row expectations and the
    score bucket."""
    pr = F.least(F.col("p_redeem_raw"), F.col("p1"))  # a redemption is an order
    disc = F.least(F.col("disc_r"), F.col("g1"))
    o1, o0 = F.col("p1") * F.col("n1"), F.col("p0") * F.col("n0")
    inc_orders, inc_gmv = o1 - o0, F.col("p1") * F.col("g1") - F.col("p0") * F.col("g0")
    cost_var, redeem_var = pr * (1 - pr) * disc * disc, pr * (1 - pr)
    orders_var = (F.col("p1") * (1 - F.col("p1")) * F.col("n1") * F.col("n1")
                  + F.col("p0") * (1 - F.col("p0")) * F.col("n0") * F.col("n0"))
    new_inc, gmv = F.col("p1") - F.col("p0"), F.col("p1") * F.col("g1")
    if "tau_net" in df.columns:  # direct effect models: net value = the effect on the net paid amount
        inc_orders, inc_gmv = F.col("tau_orders"), F.col("tau_net") + pr * disc
    out = (df.withColumn("p_redeem", pr)
           .withColumn("discount", disc)
           .withColumn("cost", pr * disc)
           .withColumn("cost_var", cost_var)
           .withColumn("redeem_var", redeem_var)
           .withColumn("inc_orders", inc_orders)
           .withColumn("orders_var", orders_var)
           .withColumn("gmv", gmv)
           .withColumn("inc_gmv", inc_gmv)
           .withColumn("new_inc", F.when(F.col("segment") == "new", new_inc).otherwise(F.lit(0.0))))
    value = (F.col("inc_gmv") - F.col("cost") + F.col("weight_orders") * F.col("inc_orders")
             + F.col("weight_new_customers") * F.col("new_inc"))
    return out.withColumn("value", value).withColumn("bucket", bucket_of(F.col("value"), resolution))


def score_candidates(base: DataFrame, designs: DataFrame, models, resolution: float,
                     keep: Sequence[str] | None = None) -> DataFrame:
    """Every eligible customer (``base``: features, segment, region, request weights) × every candidate design
    of its request (``designs``: request_id, design_id, discount_pct, voucher_value, min_spend), scored once,
    one row each (the assignments' form; :func:`candidate_stats` goes straight to the statistics).

    ``keep``: with the usage model, only the columns scoring reads and these cross the Python worker (the
    assignments keep a few identifiers); None keeps every column of ``base``."""
    from sendopt.channels.promo.models import (
        calibrated_effect,
        control_predictions,
        treated_predictions,
        uplift_factor,
    )

    none = control_predictions(base, models)
    if "usage" in models.models and keep is not None:
        none = none.select(*dict.fromkeys([*usage.scoring_inputs(models.models["usage"].features), *keep]))
    x = none.join(F.broadcast(designs), "request_id")
    if "usage" in models.models:
        return _usage_scored(x, models, resolution)
    x = treated_predictions(x, models)
    x = x.withColumn("p1", F.col("p0") + uplift_factor(models.uplift_scale) * (F.col("p1") - F.col("p0")))
    if "tau_net" in x.columns and models.effect_calibration:
        x = x.withColumns({c: calibrated_effect(c, models.effect_calibration) for c in ("tau_net", "tau_orders")})
    return with_values(x, resolution)


def sufficient_stats(scored: DataFrame) -> DataFrame:
    """Sums per (request, segment, region, design, bucket): what every tuning trial reads."""
    aggs = [F.count("*").cast("double").alias("n")] + [F.sum(c).alias(c) for c in STAT_COLS if c != "n"]
    return scored.groupBy(*UNIT_KEYS).agg(*aggs)


def candidate_stats(base: DataFrame, designs: DataFrame, models, resolution: float) -> DataFrame:
    """:func:`sufficient_stats` of :func:`score_candidates`. With the usage model in one fused pass: each customer
    row goes to the Python worker once with only the columns scoring reads, is crossed there with its request's
    designs and leaves as partial sums (:func:`usage.stats_batches`), so the customer × design product never
    exists as Spark rows."""
    from sendopt.channels.promo.models import control_predictions

    if "usage" not in models.models:
        return sufficient_stats(score_candidates(base, designs, models, resolution))
    model = models.models["usage"]
    rows = control_predictions(base, models).select(*usage.scoring_inputs(model.features))
    by_request = {rid: d.reset_index(drop=True) for rid, d in designs.toPandas().groupby("request_id")}  # small
    keys = {f.name: f for f in rows.schema.fields}
    schema = StructType([keys["request_id"], keys["segment"], keys["region"], StructField("design_id", StringType()),
                         StructField("bucket", IntegerType()), *[StructField(c, DoubleType()) for c in STAT_COLS]])
    fn = partial(usage.stats_batches, designs=by_request, predict_rate=_rate_of(rows, model),
                 usage=models.usage, features=list(model.features), resolution=resolution, stat_cols=STAT_COLS)
    return rows.mapInArrow(fn, schema).groupBy(*UNIT_KEYS).agg(*[F.sum(c).alias(c) for c in STAT_COLS])


def _rate_of(df: DataFrame, model):
    """The usage model's rate inside a task: its booster (broadcast once) and post-processing (the floor at 0)."""
    return usage.booster_rate(df.sparkSession.sparkContext.broadcast(model.text), model.head("usage_rate_hat").post)


def _usage_scored(x: DataFrame, models, resolution: float) -> DataFrame:
    """Customer × design rows plus :func:`usage.values`' columns (one Arrow pass)."""
    model = models.models["usage"]
    added = [*usage.USAGE_COLUMNS, *usage.VALUE_COLUMNS]
    x = x.drop(*[c for c in [*added, "bucket"] if c in x.columns])
    schema = StructType([*x.schema.fields, *[StructField(c, DoubleType()) for c in added],
                         StructField("bucket", IntegerType())])
    fn = partial(usage.row_batches, predict_rate=_rate_of(x, model), usage=models.usage,
                 features=list(model.features), resolution=resolution)
    return x.mapInArrow(fn, schema)


# ---------------------------------------------------------------- plans on the statistics (driver, small)
@dataclass
class PlanParams:
    """One tuning trial: priority weights, the band of design strengths allowed, the budget split."""

    weight_orders: float = 0.0
    weight_new: float = 0.0
    strength_lo: float = 0.0  # quantiles of the candidates' strengths
    strength_hi: float = 1.0
    split: dict[str, float] = field(default_factory=dict)  # segment → share of the budget (normalised)

    def as_dict(self) -> dict[str, float]:
        return {"weight_orders": self.weight_orders, "weight_new": self.weight_new,
                "strength_lo": self.strength_lo, "strength_hi": self.strength_hi,
                **{f"split_{k}": v for k, v in self.split.items()}}


@dataclass
class Plan:
    designs: dict[str, str]  # segment → design id (or "none")
    units: pd.DataFrame  # chosen rows of the statistics with a ``fraction`` column
    metrics: dict[str, float]
    feasible: bool
    violations: dict[str, float]
    params: PlanParams | None = None

    @property
    def reach(self) -> dict[str, float]:
        return {k[len("reach_"):]: v for k, v in self.metrics.items() if k.startswith("reach_")}


@dataclass(frozen=True)
class Limits:
    """A request's constraints and goal as the planner needs them."""

    budget: float
    max_cps: float | None
    segments: tuple[str, ...]
    min_coverage: Mapping[str, float]
    weight_orders: float
    weight_new: float
    confidence: float = 0.9
    interval: float = 0.9
    cost_margin: float = 0.0  # predicted cost counted this much higher in the budget rule (the model's error)
    level_sd: float = 0.0  # relative error of the predicted cost level of a campaign the model has not seen

    @property
    def plan_budget(self) -> float:
        """The budget :meth:`cost_p` must fit: ``budget`` / (1 + ``cost_margin``)."""
        return self.budget / (1.0 + self.cost_margin)

    @cached_property
    def z(self) -> float:
        """The normal quantile of ``confidence`` (computed once: :meth:`cost_p` runs in the planner's inner loop)."""
        return NormalDist().inv_cdf(self.confidence)

    def cost_p(self, cost: float, var: float) -> float:
        """The cost the plan stays under with probability ``confidence``: cost + z·sd, where the variance is
        the Bernoulli sums' plus the level error's, (``level_sd``·cost)² — one error shared by every customer
        of the plan (``models.campaign_level_error``), so it grows with the cost, not with its square root."""
        return cost + self.z * math.sqrt(var + (self.level_sd * cost) ** 2)


def prepare(stats: pd.DataFrame, offer_share: float = 1.0) -> dict[str, Any]:
    """Index the statistics of one request for fast trials: (segment, design) → unit arrays.

    ``offer_share``: the share of the chosen customers who are offered (1 − the plan's holdout). Every sum but
    ``n`` is counted at that share, so the budget rule, the metrics and their intervals are the offered
    customers' and the control group costs no budget. (The holdout's own draw would add (1 − share)·p/(1 − p)
    of the cost variance at redemption probability p: negligible at promo redemption rates.)

    The rows are sorted by the unit keys first: Spark returns the statistics in no fixed order, and units of
    equal value per budget are taken in row order, so without it a re-plan of the same statistics could
    reach other customers."""
    stats = stats.sort_values(UNIT_KEYS, kind="stable").reset_index(drop=True)
    if offer_share != 1.0:
        stats = stats.assign(**{c: stats[c] * offer_share for c in STAT_COLS if c != "n"})
    groups = {key: idx.to_numpy() for key, idx in stats.groupby(["segment", "design_id"]).groups.items()}
    sizes = stats.groupby(["segment", "design_id"])["n"].sum().groupby(level=0).max().to_dict()
    return {"stats": stats, "groups": groups, "sizes": sizes, "offer_share": offer_share,
            "arrays": {c: stats[c].to_numpy(np.float64) for c in STAT_COLS}}


def _objective(a: Mapping[str, np.ndarray], w_orders: float, w_new: float) -> np.ndarray:
    return a["inc_gmv"] - a["cost"] + w_orders * a["inc_orders"] + w_new * a["new_inc"]


def _take(order: np.ndarray, cost: np.ndarray, var: np.ndarray, gain: np.ndarray, budget: float,
          limits: Limits, c: float = 0.0, v: float = 0.0) -> np.ndarray:
    """Fractions of units in ``order``: best first while the gain is positive and ``limits.cost_p`` ≤ budget
    (``c``, ``v``: cost and variance already committed)."""
    frac = np.zeros(len(cost))
    for i in order:
        if gain[i] <= 0:
            break
        if limits.cost_p(c + cost[i], v + var[i]) <= budget:
            frac[i], c, v = 1.0, c + cost[i], v + var[i]
            continue
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            if limits.cost_p(c + mid * cost[i], v + mid * var[i]) <= budget:
                lo = mid
            else:
                hi = mid
        frac[i] = lo
        break
    return frac


def build_plan(prep: Mapping[str, Any], designs_strength: Mapping[str, float], limits: Limits,
               params: PlanParams) -> Plan:
    """The plan of one trial: per allowed segment the design whose best buckets (by the trial's priority
    weights, inside its budget share) add most; then CPS trimming and coverage floors."""
    a, stats = prep["arrays"], prep["stats"]
    strengths = np.array(sorted(designs_strength.values())) if designs_strength else np.array([0.0])
    lo_s, hi_s = np.quantile(strengths, params.strength_lo), np.quantile(strengths, params.strength_hi)
    prio = _objective(a, params.weight_orders, params.weight_new)
    density = prio / np.maximum(a["cost"], 1e-6)  # value per unit of budget: the knapsack order
    total_split = sum(params.split.get(s, 0.0) for s in limits.segments) or 1.0
    frac = np.zeros(len(stats))
    chosen: dict[str, str] = {}
    for seg in limits.segments:
        share = params.split.get(seg, 1.0 / len(limits.segments)) / total_split
        seg_budget = limits.plan_budget * share
        best_val, best = 0.0, None
        for (s, d), idx in prep["groups"].items():
            if s != seg or not (lo_s - 1e-9 <= designs_strength.get(d, 0.0) <= hi_s + 1e-9):
                continue
            order = idx[np.argsort(-density[idx], kind="stable")]
            f = np.zeros(len(stats))
            f[order] = _take(np.arange(len(order)), a["cost"][order], a["cost_var"][order],
                             prio[order], seg_budget, limits)
            need = limits.min_coverage.get(seg, 0.0) * prep["sizes"].get(seg, 0.0)
            if need > 0:  # coverage floor: reach further, best first, even at a loss
                for i in order:
                    room = need - float((f * a["n"]).sum())
                    if room <= 1e-9:
                        break
                    f[i] += min(1.0 - f[i], room / max(a["n"][i], 1.0))
            val = float((f * prio).sum())
            if best is None or val > best_val:
                best_val, best = val, (d, f)
        if best is not None and (best_val > 0 or limits.min_coverage.get(seg, 0.0) > 0):
            chosen[seg] = best[0]
            frac = frac + best[1]
        else:
            chosen[seg] = "none"
    frac = fill(prep, frac, chosen, prio, density, limits)
    if limits.max_cps is not None:
        frac = trim_cps(a, frac, limits.max_cps)
    return evaluate_units(prep, frac, chosen, limits, params)


def fill(prep: Mapping[str, Any], frac: np.ndarray, chosen: Mapping[str, str], prio: np.ndarray,
         density: np.ndarray, limits: Limits) -> np.ndarray:
    """Spend what the segments' shares left over on the chosen designs' remaining units, best value per
    budget first across segments (a segment with little to gain must not strand the budget)."""
    a = prep["arrays"]
    idx = np.concatenate([prep["groups"][(s, d)] for s, d in chosen.items() if (s, d) in prep["groups"]] or
                         [np.array([], dtype=int)])
    idx = idx[(frac[idx] < 1.0) & (prio[idx] > 0)]
    if len(idx) == 0:
        return frac
    order = idx[np.argsort(-density[idx], kind="stable")]
    c, v = float((frac * a["cost"]).sum()), float((frac * a["cost_var"]).sum())
    rest = 1.0 - frac[order]  # what is left of each unit, taken as a unit of its own
    extra = _take(np.arange(len(order)), a["cost"][order] * rest, a["cost_var"][order] * rest, prio[order],
                  limits.plan_budget, limits, c, v)
    out = frac.copy()
    out[order] += extra * rest
    return out


def trim_cps(a: Mapping[str, np.ndarray], frac: np.ndarray, max_cps: float) -> np.ndarray:
    """Drop the units with the worst cost per incremental order until the plan's CPS is within the limit."""
    frac = frac.copy()
    ratio = np.where(a["inc_orders"] > 0, a["cost"] / np.maximum(a["inc_orders"], 1e-12), np.inf)
    for i in np.argsort(-ratio):
        cost, orders = (frac * a["cost"]).sum(), (frac * a["inc_orders"]).sum()
        if frac.sum() == 0 or (orders > 0 and cost / orders <= max_cps):
            break
        frac[i] = 0.0
    return frac


def evaluate_units(prep: Mapping[str, Any], frac: np.ndarray, chosen: Mapping[str, str], limits: Limits,
                   params: PlanParams | None = None) -> Plan:
    """Metrics, intervals, coverage and spend per segment and region of the units taken at ``frac``."""
    a, stats = prep["arrays"], prep["stats"]
    s = {c: float((frac * a[c]).sum()) for c in STAT_COLS}
    zi = NormalDist().inv_cdf(0.5 + limits.interval / 2)
    cost_sd, orders_sd, red_sd = math.sqrt(s["cost_var"]), math.sqrt(s["orders_var"]), math.sqrt(s["redeem_var"])
    m = {"reached": s["n"], "offered": s["n"] * prep["offer_share"], "redemptions": s["p_redeem"], "incremental_orders": s["inc_orders"], "gmv": s["gmv"],
         "incremental_gmv": s["inc_gmv"], "cost": s["cost"], "net_value": s["inc_gmv"] - s["cost"],
         "objective": s["inc_gmv"] - s["cost"] + limits.weight_orders * s["inc_orders"]
         + limits.weight_new * s["new_inc"], "new_customers": s["new_inc"],
         "cps": s["cost"] / s["inc_orders"] if s["inc_orders"] > 0 else (0.0 if s["cost"] == 0 else math.inf),
         "cost_p90": limits.cost_p(s["cost"], s["cost_var"]), "budget": limits.budget,
         "cost_lo": s["cost"] - zi * cost_sd, "cost_hi": s["cost"] + zi * cost_sd,
         "incremental_orders_lo": s["inc_orders"] - zi * orders_sd,
         "incremental_orders_hi": s["inc_orders"] + zi * orders_sd,
         "redemptions_lo": s["p_redeem"] - zi * red_sd, "redemptions_hi": s["p_redeem"] + zi * red_sd}
    taken = stats.assign(fraction=frac)
    taken = taken[taken["fraction"] > 0]
    for seg in limits.segments:
        size = prep["sizes"].get(seg, 0.0)
        reached = float((taken.loc[taken["segment"] == seg, "n"] * taken.loc[taken["segment"] == seg, "fraction"]
                         ).sum())
        m[f"reach_{seg}"] = reached / size if size else 0.0
        m[f"spend_{seg}"] = float((taken.loc[taken["segment"] == seg, "cost"]
                                   * taken.loc[taken["segment"] == seg, "fraction"]).sum())
    violations = {"budget": max(0.0, m["cost_p90"] - limits.plan_budget),
                  "cps": 0.0 if limits.max_cps is None or m["cost"] == 0 else max(0.0, m["cps"] - limits.max_cps),
                  "coverage": sum(max(0.0, limits.min_coverage.get(seg, 0.0) - m[f"reach_{seg}"])
                                  for seg in limits.segments)}
    if m["cps"] == math.inf:
        violations["cps"] = 1e9 if limits.max_cps is not None else 0.0
        m["cps"] = -1.0  # cost without incremental orders; reported as -1 (Delta stats refuse infinities)
    feasible = all(v <= 1e-6 for v in violations.values())
    return Plan(dict(chosen), taken.reset_index(drop=True), m, feasible, violations, params)


def region_table(plan: Plan, prep: Mapping[str, Any]) -> pd.DataFrame:
    """Coverage and spend per region (fairness) of a plan."""
    stats = prep["stats"]
    size = stats.groupby(["segment", "design_id", "region"])["n"].sum().groupby(["segment", "region"]).max() \
        .groupby("region").sum()
    t = plan.units.assign(reached=plan.units["n"] * plan.units["fraction"],
                          spend=plan.units["cost"] * plan.units["fraction"])
    by = t.groupby("region")[["reached", "spend"]].sum()
    out = pd.DataFrame({"eligible": size}).join(by, how="left").fillna(0.0)
    out["coverage"] = out["reached"] / out["eligible"].where(out["eligible"] > 0, 1.0)
    return out.reset_index()


def selection_frame(spark, request_id: str, plan: Plan) -> DataFrame:
    """The plan's units as a small DataFrame: what ``assign`` joins the scored customers with."""
    cols = ["segment", "region", "design_id", "bucket", "fraction"]
    rows = [(request_id, r.segment, r.region, r.design_id, int(r.bucket), float(r.fraction))
            for r in plan.units[cols].itertuples(index=False)]
    return spark.createDataFrame(rows, "request_id string, segment string, region string, design_id string, "
                                 "bucket int, fraction double")


def chosen_designs(designs: DataFrame, selection: DataFrame) -> DataFrame:
    """The candidate designs some plan chose: all ``assign`` needs scored again (the full customer × design
    product streams into the statistics once and is never stored)."""
    return designs.join(F.broadcast(selection.select("request_id", "design_id").distinct()),
                        ["request_id", "design_id"], "left_semi")


def assign(scored: DataFrame, selection: DataFrame) -> DataFrame:
    """Customers of the chosen units; a partly taken unit keeps the customers whose stable hash is below its
    fraction (so the expected sums are the plan's)."""
    j = scored.join(F.broadcast(selection), UNIT_KEYS)
    return j.where(uniform_hash(F.col("user_id"), F.col("request_id"), "promo_take") < F.col("fraction"))


def plan_rows(plans: Sequence[tuple[str, int, Plan]]) -> list[dict[str, Any]]:
    """(kind, rank, plan) → rows of decisions.promo_plans (without the run columns)."""
    out = []
    for kind, rank, plan in plans:
        out.append({"kind": kind, "plan_rank": rank, "name": f"{kind}-{rank}", "designs": plan.designs,
                    "reach": plan.reach, "metrics": {k: float(v) for k, v in plan.metrics.items()},
                    "params": plan.params.as_dict() if plan.params else {}, "feasible": plan.feasible})
    return out
