"""True value of coupon policies on a generated world (reads ``truth.coupon_effects``; evaluation only).

For held-out trial customers with one chosen arm per policy, the true net value per customer is
E[value | chosen level] − E[cost | chosen level] (expected 90-day value minus expected face value
paid), from the same formulas that generated the trial. The **oracle** allocates with the true net
effects and true expected costs under the same budget (the same Lagrangian allocator). The **true
effect ranking** gives the Qini of a perfect CATE ranking on the realized outcomes, the yardstick
for a learner's Qini.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.coupons.allocation import allocate
from sendopt.channels.coupons.metrics import uplift_curves
from sendopt.world.tables import COUPON_EFFECTS


def with_truth(lake, df: DataFrame, levels: list[float]) -> DataFrame:
    """``df`` (user_id, …) plus per arm k: true_value_k, true_cost_k, true_net_k, true_tau_k."""
    eff = lake.read(COUPON_EFFECTS)
    aggs = []
    for k, lv in enumerate(levels):
        here = F.col("coupon_level") == F.lit(float(lv))
        aggs += [F.max(F.when(here, F.col("expected_value_90d"))).alias(f"true_value_{k}"),
                 F.max(F.when(here, F.col("expected_cost"))).alias(f"true_cost_{k}"),
                 F.max(F.when(here, F.col("net_effect"))).alias(f"true_tau_{k}")]
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


def oracle_policy(df: DataFrame, arms: int, budget: float | None, steps: int = 12) -> DataFrame:
    """``df`` plus ``pi_oracle``: the allocation by the true net effects and costs under ``budget``."""
    alloc = allocate(df, [f"true_tau_{k}" for k in range(arms)], [f"true_cost_{k}" for k in range(arms)],
                     budget=budget, steps=steps)
    return alloc.frame.withColumnRenamed("choice", "pi_oracle").drop("gain", "spend")


def true_ranking_qini(df: DataFrame, arm: int, outcome: str = "net", grid: int = 200) -> float:
    """Qini area (net outcome, level ``arm`` vs control) of the ranking by the true net effect."""
    rows = df.where(F.col("arm").isin(0, arm)).withColumn("_t", (F.col("arm") == arm).cast("int"))
    return uplift_curves(rows, f"true_tau_{arm}", "_t", outcome, grid=grid).qini_area


def evaluate_uplift(ctx) -> None:
    """evaluate-uplift: the truth-free estimates, plus on a generated world the true values and the oracle."""
    from sendopt.channels.coupons.evaluate import estimate, policy_numbers, write_and_print

    ev = estimate(ctx)
    truth = None
    if ctx.config.coupons.trial == "world" and ctx.lake.exists(COUPON_EFFECTS):
        arms = len(ev.levels)
        joined = oracle_policy(with_truth(ctx.lake, ev.holdout, ev.levels), arms, ev.budget,
                               ctx.config.coupons.allocation.bisection_steps).localCheckpoint()
        values = true_policy_values(joined, [*ev.pi.values(), "pi_oracle"], arms)
        truth = {name: values[col] for name, col in ev.pi.items()}
        oracle = dict(values["pi_oracle"])
        ev.holdout = joined
        oracle.update(policy_numbers(joined, "pi_oracle", arms))
        truth["oracle"] = oracle
        none = truth["uniform_0"]["true_net"]
        for m in truth.values():
            m["true_gain"] = m["true_net"] - none  # over no coupons
        for m in truth.values():
            m["share_of_oracle_gain"] = m["true_gain"] / oracle["true_gain"] if oracle["true_gain"] else float("nan")
        for k in range(1, arms):
            true_area = true_ranking_qini(joined, k, grid=ctx.config.coupons.evaluation.grid)
            for name, m in ev.qini.items():
                if name.endswith(f"/level_{k}") and "qini_area_net" in m:
                    truth[f"true_qini/{name}"] = {"share": m["qini_area_net"] / true_area if true_area else float("nan"),
                                                  "true_area": true_area}
        best = max((m["true_gain"] for n, m in truth.items() if n.startswith("learned_")), default=float("nan"))
        ctx.log.info("stage=evaluate-uplift best learned true gain over no coupons %.3f/customer vs oracle %.3f "
                     "(%.0f%%)", best, oracle["true_gain"],
                     100 * best / oracle["true_gain"] if oracle["true_gain"] else float("nan"))
    write_and_print(ctx, ev, truth)
