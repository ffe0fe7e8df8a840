"""``evaluate-promos``: the TRUE outcome of each planned promo request and of the baselines (world only).

For every planned request the world's truth (``sendopt.world.promos.promo_outcomes``: exact expected orders,
GMV and discount cost with and without a design) is computed once for every eligible customer × candidate
design (plus the blanket design). From it, per policy: true incremental GMV (= revenue, before discount),
cost, net value (incremental GMV − cost), incremental orders and cost per incremental sale (CPS = cost /
incremental orders):

* **tuned** — the published assignments (``decisions.promo_assignments``) that are offered (not holdout);
* **blanket** — the merchant's most frequent historical design for every eligible customer;
* **best_fixed** — the one design, chosen with the truth, that gives most net value for all customers;
* **segment_rule** — strongest candidate for new customers, the middle one for churned, none for active;
* **oracle** — the same designer, planner, tuner, constraints and budget, fed the true effects.

A fixed policy whose true cost would break the budget is given to the random share of the customers that
meets it with the plans' probability (``promo.simulator.budget_confidence``; expected values scale with the
share), so every policy obeys the same budget rule.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.promo import designer, simulator, tuning
from sendopt.channels.promo.tables import (
    PROMO_ASSIGNMENTS,
    PROMO_EVALUATION,
    PROMO_PLANS,
    PROMO_REQUEST_STATUS,
    PROMO_REQUESTS,
    PROMO_SEGMENTS,
)

POLICIES = ("tuned", "blanket", "best_fixed", "segment_rule", "oracle")


def true_frame(world, segments: DataFrame, requests: DataFrame, designs: DataFrame) -> DataFrame:
    """Per (request, eligible customer, design): true incremental GMV, orders, cost (and value, bucket)."""
    from sendopt.world.promos import promo_outcomes

    pairs = segments.join(requests.select("request_id", "start_date", "end_date", "weight_orders",
                                          "weight_new_customers"), "request_id").join(designs, "request_id")
    t = promo_outcomes(world, pairs.select("request_id", "user_id", "merchant_id", "segment", "region", "start_date",
                                           "end_date", "design_id", "discount_pct", "voucher_value", "min_spend",
                                           "weight_orders", "weight_new_customers"))
    inc_orders = F.col("orders_with") - F.col("orders_without")
    per = F.col("expected_cost") / F.greatest(F.col("expected_redemptions"), F.lit(1e-9))
    t = (t.withColumn("inc_gmv", F.col("gmv_with") - F.col("gmv_without"))
         .withColumn("inc_orders", inc_orders)
         .withColumn("cost", F.col("expected_cost"))
         .withColumn("cost_var", per * per * F.col("expected_redemptions"))
         .withColumn("orders_var", F.col("orders_with") + F.col("orders_without"))
         .withColumn("p_redeem", F.col("expected_redemptions"))
         .withColumn("redeem_var", F.col("expected_redemptions"))
         .withColumn("new_inc", F.when(F.col("segment") == "new", inc_orders).otherwise(F.lit(0.0)))
         .withColumn("gmv", F.col("gmv_with")))
    value = (F.col("inc_gmv") - F.col("cost") + F.col("weight_orders") * F.col("inc_orders")
             + F.col("weight_new_customers") * F.col("new_inc"))
    return t.withColumn("value", value)


def totals(df: DataFrame, by: list[str]) -> pd.DataFrame:
    """Sums of the true columns (small: one row per group)."""
    return df.groupBy(*by).agg(F.count("*").alias("reached"), F.sum("inc_gmv").alias("incremental_gmv"),
                               F.sum("cost").alias("cost"), F.sum("cost_var").alias("cost_var"),
                               F.sum("inc_orders").alias("incremental_orders"),
                               F.sum("new_inc").alias("new_customers")).toPandas()


def metrics_of(gmv: float, cost: float, orders: float, reached: float, budget: float, max_cps: float | None,
               share: float = 1.0) -> dict[str, float]:
    gmv, cost, orders, reached = gmv * share, cost * share, orders * share, reached * share
    cps = cost / orders if orders > 0 else (0.0 if cost == 0 else -1.0)
    return {"incremental_gmv": gmv, "cost": cost, "net_value": gmv - cost, "incremental_orders": orders,
            "cps": cps, "reached": reached, "share": share,
            "within_budget": float(cost <= budget * (1 + 1e-9)),
            "within_cps": float(max_cps is None or cost == 0 or (0 < cps <= max_cps))}


def scaled(row: Mapping[str, float], budget: float, max_cps: float | None, z: float) -> dict[str, float]:
    """A fixed policy at the random share of customers that meets the budget with the plans' probability
    (share·cost + z·√(share·var) ≤ budget: the rule every plan obeys)."""
    cost, var = float(row["cost"]), float(row.get("cost_var", 0.0) or 0.0)
    share = 1.0
    if cost + z * math.sqrt(var) > budget and cost > 0:
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if mid * cost + z * math.sqrt(mid * var) <= budget else (lo, mid)
        share = lo
    return metrics_of(row["incremental_gmv"], cost, row["incremental_orders"], row["reached"], budget,
                      max_cps, share)


def evaluate_request(ctx, req: Mapping, truth: DataFrame, assignments: DataFrame, cands: list[designer.Design],
                     blanket: designer.Design) -> dict[str, tuple[str, dict[str, float]]]:
    cfg = ctx.config.promo
    rid, budget, max_cps = req["request_id"], float(req["budget"]), req["max_cps"]
    t = truth.where(F.col("request_id") == rid)
    out: dict[str, tuple[str, dict[str, float]]] = {}
    offered = assignments.where(F.col("request_id") == rid)
    if "holdout" in offered.columns:  # the plan's control group is not offered
        offered = offered.where(~F.coalesce(F.col("holdout"), F.lit(False)))
    tuned = t.join(offered.select("user_id", "design_id"), ["user_id", "design_id"])
    tt = totals(tuned, ["request_id"])
    row = tt.iloc[0].to_dict() if len(tt) else {"incremental_gmv": 0.0, "cost": 0.0, "incremental_orders": 0.0,
                                                "reached": 0.0}
    out["tuned"] = ("published assignments", metrics_of(row["incremental_gmv"], row["cost"],
                                                        row["incremental_orders"], row["reached"], budget, max_cps))
    per_design = totals(t, ["design_id"]).set_index("design_id")
    z = NormalDist().inv_cdf(cfg.simulator.budget_confidence)
    fixed = {d: scaled(per_design.loc[d].to_dict(), budget, max_cps, z) for d in per_design.index}
    out["blanket"] = (f"{blanket.design_id} for all", fixed[blanket.design_id])
    ok = {d: m for d, m in fixed.items() if m["within_cps"] and d in {c.design_id for c in cands}}
    pool = ok or {d: m for d, m in fixed.items() if d in {c.design_id for c in cands}}
    best = max(pool, key=lambda d: pool[d]["net_value"])
    out["best_fixed"] = (f"{best} for all", fixed[best])
    by_strength = sorted(cands, key=lambda d: d.strength)
    rule = {"new": by_strength[-1].design_id, "churned": by_strength[len(by_strength) // 2].design_id}
    allowed = set(req["segments"])
    rule = {k: v for k, v in rule.items() if k in allowed}
    cond = None
    for seg, d in rule.items():
        c = (F.col("segment") == seg) & (F.col("design_id") == d)
        cond = c if cond is None else cond | c
    if cond is not None:
        rt = totals(t.where(cond), ["request_id"])
        r = rt.iloc[0].to_dict() if len(rt) else {"incremental_gmv": 0.0, "cost": 0.0, "incremental_orders": 0.0,
                                                   "reached": 0.0}
        out["segment_rule"] = (", ".join(f"{k}: {v}" for k, v in rule.items()) + ", active: none",
                               scaled(r, budget, max_cps, z))
    # the oracle: the same planner and tuner on the truth's sufficient statistics
    ot = t.withColumn("bucket", simulator.bucket_of(F.col("value"), cfg.simulator.bucket_resolution)).where(
        F.col("design_id").isin([c.design_id for c in cands]))
    stats = simulator.sufficient_stats(ot).toPandas()
    limits = simulator.Limits(budget=budget, max_cps=max_cps, segments=tuple(req["segments"]),
                              min_coverage=dict(req["min_coverage"] or {}),
                              weight_orders=float(req["weight_orders"]), weight_new=float(req["weight_new_customers"]),
                              confidence=cfg.simulator.budget_confidence, interval=cfg.simulator.interval)
    prep = simulator.prepare(stats)
    chosen, _, _ = tuning.tune(prep, {c.design_id: c.strength for c in cands}, limits,
                               cfg.tuning.model_copy(update={"log_trials": False}))
    if chosen is not None:
        m = chosen.metrics
        out["oracle"] = (", ".join(f"{k}: {v}" for k, v in chosen.designs.items()),
                         metrics_of(m["incremental_gmv"], m["cost"], m["incremental_orders"], m["reached"], budget,
                                    max_cps))
    return out


def evaluate_promos(ctx) -> None:
    from sendopt.evaluation import without_truth
    from sendopt.world.generate import lake_world

    if without_truth(ctx, "evaluate-promos"):
        return
    lake = ctx.lake
    if not lake.exists(PROMO_REQUEST_STATUS) or not lake.exists(PROMO_ASSIGNMENTS):
        ctx.summary.update(status="skipped", message="no planned promo request yet: run plan-promos")
        return
    status = lake.read(PROMO_REQUEST_STATUS).groupBy("request_id").agg(
        F.max_by("status", "updated_at").alias("status"))
    planned = [r["request_id"] for r in status.where(F.col("status") == "planned").collect()]
    if not planned:
        ctx.summary.update(status="skipped", message="no planned promo request yet")
        return
    reqs = lake.read(PROMO_REQUESTS).where(F.col("request_id").isin(planned))
    req_rows = {r["request_id"]: r.asDict(recursive=True) for r in reqs.collect()}
    plans = lake.read(PROMO_PLANS).where(F.col("request_id").isin(planned))
    cand_rows = plans.where(F.col("kind") == "candidate").collect()
    chosen_rows = {r["request_id"]: r for r in plans.where(F.col("kind") == "chosen").collect()}
    cands: dict[str, list[designer.Design]] = {}
    for r in cand_rows:
        m = r["metrics"]
        cands.setdefault(r["request_id"], []).append(designer.Design(m["discount_pct"], m["voucher_value"],
                                                                     m["min_spend"]))
    hist = lake.read("raw.promo_campaigns")
    if "source" in hist.columns:
        hist = hist.where(F.col("source") == "history")
    history = [r.asDict() for r in hist.select("merchant_id", "discount_pct", "voucher_value", "min_spend").collect()]
    design_rows, blankets = [], {}
    for rid, req in req_rows.items():
        blanket = designer.most_frequent(history, req["merchant_id"]) or sorted(
            cands[rid], key=lambda d: d.strength)[len(cands[rid]) // 2]
        blankets[rid] = blanket
        for d in {*cands[rid], blanket}:
            design_rows.append((rid, d.design_id, float(d.discount_pct), float(d.voucher_value), float(d.min_spend)))
    designs = ctx.spark.createDataFrame(design_rows, "request_id string, design_id string, discount_pct double, "
                                        "voucher_value double, min_spend double")
    segments = lake.read(PROMO_SEGMENTS).where(F.col("request_id").isin(planned) & ~F.col("opted_out"))
    allowed = reqs.select("request_id", "segments")
    segments = segments.join(F.broadcast(allowed), "request_id").where(
        F.array_contains(F.col("segments"), F.col("segment"))).drop("segments")
    truth = true_frame(lake_world(ctx.lake, ctx.config), segments, reqs, designs).localCheckpoint()
    assignments = lake.read(PROMO_ASSIGNMENTS).where(F.col("request_id").isin(planned))
    rows, lines = [], []
    for rid in sorted(req_rows):
        req = req_rows[rid]
        result = evaluate_request(ctx, req, truth, assignments, cands[rid], blankets[rid])
        pred = chosen_rows[rid]["metrics"] if rid in chosen_rows else {}
        tuned = result["tuned"][1]
        tuned.update({"predicted_net_value": pred.get("net_value", 0.0), "predicted_cost": pred.get("cost", 0.0),
                      "predicted_incremental_orders": pred.get("incremental_orders", 0.0),
                      "budget": float(req["budget"]), "max_cps": float(req["max_cps"] or 0.0)})
        best = result["best_fixed"][1]["net_value"]
        oracle = result.get("oracle", ("", {"net_value": math.nan}))[1]["net_value"]
        tuned["vs_best_fixed"] = tuned["net_value"] / best if best > 0 else math.nan
        tuned["vs_oracle"] = tuned["net_value"] / oracle if oracle and oracle > 0 else math.nan
        for policy, (desc, m) in result.items():
            clean = {k: (float(v) if math.isfinite(v) else -1.0) for k, v in m.items()}
            rows.append((rid, policy, desc, clean, ctx.run_date, ctx.run_id, ctx.config.config_hash))
        lines += format_request(rid, req, result)
    lake.write(ctx.spark.createDataFrame(rows, PROMO_EVALUATION.schema), PROMO_EVALUATION, mode="replace",
               where={"request_id": sorted(req_rows)})
    text = "\n".join(lines)
    print(text)
    ctx.log.info("stage=evaluate-promos\n%s", text)
    ctx.summary["message"] = f"{len(req_rows)} request(s) evaluated against the truth"


def format_request(rid: str, req: Mapping, result: Mapping[str, tuple[str, dict[str, float]]]) -> list[str]:
    """The proof table of one request (true figures)."""
    cps = f", max CPS {req['max_cps']:g}" if req["max_cps"] else ""
    lines = [f"request {rid}: merchant {req['merchant_id']}, budget {req['budget']:g}{cps}",
             f"  {'policy':13} {'net value':>10} {'incr. GMV':>10} {'cost':>9} {'incr. ord':>9} {'CPS':>7} "
             f"{'reached':>8}  in budget/CPS  designs"]
    for policy in POLICIES:
        if policy not in result:
            continue
        desc, m = result[policy]
        lines.append(f"  {policy:13} {m['net_value']:10.1f} {m['incremental_gmv']:10.1f} {m['cost']:9.1f} "
                     f"{m['incremental_orders']:9.1f} {m['cps']:7.2f} {m['reached']:8.0f}  "
                     f"{'yes' if m['within_budget'] else 'NO':>3}/{'yes' if m['within_cps'] else 'NO':<3}      "
                     f"{desc[:60]}")
    t = result["tuned"][1]
    lines.append(f"  tuned / best fixed = {t.get('vs_best_fixed', math.nan):.2f} (target ≥ 1.2), tuned / oracle = "
                 f"{t.get('vs_oracle', math.nan):.2f} (target ≥ 0.9); predicted net {t.get('predicted_net_value', 0):.1f}")
    pred_cost = t.get("predicted_cost", 0.0)
    if pred_cost > 0:  # the model's error that decides whether a budget holds
        lines.append(f"  tuned cost: predicted {pred_cost:.1f}, true {t['cost']:.1f} (true ÷ predicted "
                     f"{t['cost'] / pred_cost:.2f})")
    return lines
