"""True value of coupon policies on a generated world (reads ``truth.coupon_effects``; evaluation only).

For held-out trial customers with one chosen arm per policy, the true net value per customer is
E[value | chosen level] − E[cost | chosen level] (expected 90-day value minus expected face value
paid), from the same formulas that generated the trial. Two yardsticks, both under the same budget
with the same Lagrangian allocator:

* the **oracle** allocates by each customer's true net effects and costs — it knows the hidden type
  and threshold, so no model of the observables can reach it;
* the **observable oracle** allocates by E[net effect | signup observables] (``net_effect_given_x``,
  exact from the world's formulas): the best any learner can do with the features the lake has —
  the fair ceiling.

Likewise the Qini of the **true effect ranking** and of the **observable effect ranking** on the
realized outcomes are the yardsticks for a learner's Qini.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.coupons.allocation import allocate
from sendopt.channels.coupons.metrics import uplift_curves
from sendopt.world.tables import COUPON_EFFECTS


def with_truth(lake, df: DataFrame, levels: list[float]) -> DataFrame:
    """``df`` (user_id, …) plus per arm k: true_value_k, true_cost_k, true_net_k, true_tau_k and the
    observable expectations x_tau_k, x_cost_k."""
    eff = lake.read(COUPON_EFFECTS)
    aggs = []
    for k, lv in enumerate(levels):
        here = F.col("coupon_level") == F.lit(float(lv))
        aggs += [F.max(F.when(here, F.col("expected_value_90d"))).alias(f"true_value_{k}"),
                 F.max(F.when(here, F.col("expected_cost"))).alias(f"true_cost_{k}"),
                 F.max(F.when(here, F.col("net_effect"))).alias(f"true_tau_{k}"),
                 F.max(F.when(here, F.col("net_effect_given_x"))).alias(f"x_tau_{k}"),
                 F.max(F.when(here, F.col("expected_cost_given_x"))).alias(f"x_cost_{k}")]
    wide = eff.groupBy("user_id").agg(*aggs)
    out = df.join(wide, "user_id")
    return out.select("*", *[(F.col(f"true_value_{k}") - F.col(f"true_cost_{k}")).alias(f"true_net_{k}")
                             for k in range(len(levels))])


def _pick(prefix: str, arms: int, arm_col: str):
    return F.element_at(F.array(*[F.col(f"{prefix}_{k}") for k in range(arms)]), F.col(arm_col) + 1)


def true_policy_values(df: DataFrame, policies: list[str], arms: int) -> dict[str, dict[str, float]]:
    """Per policy column (an arm index): true net value, spend and value per customer — one aggregation."""
    aggs = []
    for p in policies:
        aggs += [F.avg(_pick("true_net", arms, p)).alias(f"{p}__net"), F.avg(_pick("true_cost", arms, p)).alias(
            f"{p}__spend"), F.avg(_pick("true_value", arms, p)).alias(f"{p}__value")]
    row = df.agg(*aggs).first()
    return {p: {"true_net": row[f"{p}__net"], "true_spend": row[f"{p}__spend"], "true_value": row[f"{p}__value"]}
            for p in policies}


ORACLES = {"oracle": "true", "observable_oracle": "x"}  # policy name → column prefix it allocates by


def oracle_policies(df: DataFrame, arms: int, budget: float | None, steps: int = 12) -> DataFrame:
    """``df`` plus ``pi_oracle`` (by the true net effects and costs) and ``pi_observable_oracle`` (by
    their expectations given the observables), each under ``budget``."""
    for name, prefix in ORACLES.items():
        alloc = allocate(df, [f"{prefix}_tau_{k}" for k in range(arms)], [f"{prefix}_cost_{k}" for k in range(arms)],
                         budget=budget, steps=steps)
        df = alloc.frame.withColumnRenamed("choice", f"pi_{name}").drop("gain", "spend")
    return df


def ranking_qini(df: DataFrame, arm: int, prefix: str = "true", outcome: str = "net", grid: int = 200) -> float:
    """Qini area (net outcome, level ``arm`` vs control) of the ranking by ``{prefix}_tau_{arm}``."""
    rows = df.where(F.col("arm").isin(0, arm)).withColumn("_t", (F.col("arm") == arm).cast("int"))
    return uplift_curves(rows, f"{prefix}_tau_{arm}", "_t", outcome, grid=grid).qini_area


def evaluate_uplift(ctx) -> None:
    """evaluate-uplift: the truth-free estimates, plus on a generated world the true values and the oracle."""
    from sendopt.channels.coupons.evaluate import estimate, policy_numbers, write_and_print

    ev = estimate(ctx)
    truth = None
    if ctx.config.coupons.trial == "world" and ctx.lake.exists(COUPON_EFFECTS):
        arms = len(ev.levels)
        joined = oracle_policies(with_truth(ctx.lake, ev.holdout, ev.levels), arms, ev.budget,
                                 ctx.config.coupons.allocation.bisection_steps).localCheckpoint()
        cols = [f"pi_{name}" for name in ORACLES]
        values = true_policy_values(joined, [*ev.pi.values(), *cols], arms)
        truth = {name: values[col] for name, col in ev.pi.items()}
        ev.holdout = joined
        for name, col in zip(ORACLES, cols, strict=True):
            truth[name] = {**values[col], **policy_numbers(joined, col, arms)}
        none = truth["uniform_0"]["true_net"]
        for m in truth.values():
            m["true_gain"] = m["true_net"] - none  # over no coupons
        for m in truth.values():
            for name in ORACLES:
                ref = truth[name]["true_gain"]
                m[f"share_of_{name}_gain"] = m["true_gain"] / ref if ref else float("nan")
        grid = ctx.config.coupons.evaluation.grid
        for k in range(1, arms):
            areas = {prefix: ranking_qini(joined, k, prefix, grid=grid) for prefix in ORACLES.values()}
            for name, m in ev.qini.items():
                if name.endswith(f"/level_{k}") and "qini_area_net" in m:
                    truth[f"true_qini/{name}"] = {
                        "share": m["qini_area_net"] / areas["true"] if areas["true"] else float("nan"),
                        "share_of_observable": m["qini_area_net"] / areas["x"] if areas["x"] else float("nan"),
                        "true_area": areas["true"], "observable_area": areas["x"]}
        best = max((m["true_gain"] for n, m in truth.items() if n.startswith("learned_")), default=float("nan"))
        for name in ORACLES:
            ref = truth[name]["true_gain"]
            ctx.log.info("stage=evaluate-uplift best learned true gain over no coupons %.3f/customer vs %s %.3f "
                         "(%.0f%%)", best, name, ref, 100 * best / ref if ref else float("nan"))
    write_and_print(ctx, ev, truth)
