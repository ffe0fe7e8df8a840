"""Which coupon level for whom: the multi-choice knapsack over customers × levels, solved in Spark.

Net gain of level k for customer i: ``g_ik = tau_k`` (incremental value − expected cost), cost
``c_ik = cost_k`` (expected spend); level 0 (no coupon) has g = c = 0.

* No budget: every customer gets argmax_k g_ik (none when no level gains).
* Budget B on the total expected spend, **Lagrangian dual**: for a price λ ≥ 0 every customer picks
  argmax_k (g_ik − λ·c_ik); spend S(λ) falls as λ rises. A bisection on λ (k-section: each step is
  one Spark aggregation of the chosen costs at 8 prices, shrinking the bracket 9×) finds the
  smallest feasible λ (S(λ) ≤ B). The customers whose
  choice differs between the bisection's last infeasible and feasible λ (ties at the shadow
  price) are then upgraded in order of Δg/Δc while the budget lasts, so the spend never exceeds B.
* **Greedy by ratio** (the baseline): every customer's best-ratio level (max g/c among gaining
  levels), customers taken by ratio while the budget lasts — the same bisection on a ratio
  threshold, then the same tie fill.
* ``min_share`` {"col=value": s}: customers of that group get a bonus μ_g on every coupon level,
  raised (bisection, at the current λ) until the group's coupon share reaches s; λ is re-solved
  after, so the budget still holds (the share is then reported, not forced past the budget).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sendopt.errors import SendoptError

POINTS = 8  # prices evaluated per aggregation of the k-section search


class AllocationError(SendoptError):
    """The allocation input or settings are unusable."""


@dataclass
class Allocation:
    frame: DataFrame  # input columns + choice, gain, spend
    lam: float
    spend: float
    gain: float
    treated: int
    rows: int
    steps: int  # Spark aggregations used by the search
    method: str
    shares: dict[str, float] = field(default_factory=dict)


def _group_col(spec: str) -> Column:
    if "=" not in spec:
        raise AllocationError(f"min_share key {spec!r} must be column=value, e.g. region=south")
    c, v = spec.split("=", 1)
    return F.col(c.strip()).cast("string") == F.lit(v.strip())


def _choice(gains: list[Column], costs: list[Column], lam: float | Column, bonus: Column) -> Column:
    """argmax_k (g_k + bonus·[k>0] − λ·c_k), arm 0 scoring 0; ties keep the cheaper (lower) arm."""
    best, best_s = F.lit(0), F.lit(0.0)
    lam = F.lit(float(lam)) if not isinstance(lam, Column) else lam
    for k in range(1, len(gains)):
        s = gains[k] + bonus - lam * costs[k]
        better = s > best_s
        best = F.when(better, F.lit(k)).otherwise(best)
        best_s = F.when(better, s).otherwise(best_s)
    return best


def _pick(arr: list[Column], choice: Column) -> Column:
    return F.element_at(F.array(*arr), choice + 1)


def _ratio_choice(gains: list[Column], costs: list[Column], r: float, bonus: Column) -> Column:
    """Greedy: the best-ratio gaining level if its ratio ≥ r, else none."""
    best, best_r = F.lit(0), F.lit(float("-inf"))
    for k in range(1, len(gains)):
        g = gains[k] + bonus
        ratio = F.when(costs[k] > 0, g / costs[k]).otherwise(F.when(g > 0, F.lit(float("inf"))))
        ok = (g > 0) & ratio.isNotNull() & (ratio > best_r)
        best = F.when(ok, F.lit(k)).otherwise(best)
        best_r = F.when(ok, ratio).otherwise(best_r)
    return F.when(best_r >= F.lit(float(r)), best).otherwise(F.lit(0))


def allocate(df: DataFrame, gain_cols: list[str], cost_cols: list[str], budget: float | None = None,
             method: str = "lagrangian", steps: int = 12, min_share: dict[str, float] | None = None,
             eligible: str | None = None, key: str = "user_id") -> Allocation:
    """Choose one arm per row of ``df`` (``gain_cols``/``cost_cols`` per arm, arm 0 first and ignored).

    ``eligible`` names a boolean column: rows where it is false get arm 0 (e.g. opted out).
    """
    if len(gain_cols) != len(cost_cols) or len(gain_cols) < 2:
        raise AllocationError("allocate: need one gain and one cost column per arm (control first)")
    if method not in ("lagrangian", "greedy"):
        raise AllocationError(f"allocate: method must be lagrangian or greedy, got {method!r}")
    if budget is not None and budget < 0:
        raise AllocationError(f"allocate: budget must be ≥ 0, got {budget}")
    elig = F.col(eligible) if eligible else F.lit(True)
    base = df.withColumn("_elig", elig.cast("boolean"))
    groups = {name: _group_col(name) for name in (min_share or {})}
    for name, cond in groups.items():
        base = base.withColumn(_gname(name), cond)
    base = base.localCheckpoint()  # materialized once: every search step re-reads it
    gains = [F.when(F.col("_elig"), F.col(c).cast("double")).otherwise(F.lit(float("-inf"))) if k else F.lit(0.0)
             for k, c in enumerate(gain_cols)]
    costs = [F.col(c).cast("double") if k else F.lit(0.0) for k, c in enumerate(cost_cols)]
    negative = base.where(F.least(*[F.col(c) for c in cost_cols[1:]]) < 0).limit(1).count()
    if negative:
        base.unpersist()
        raise AllocationError(f"allocate: negative expected costs in {cost_cols[1:]}")
    bonus_of = dict.fromkeys(groups, 0.0)
    counter = {"steps": 0}

    def bonus() -> Column:
        out = F.lit(0.0)
        for name, b in bonus_of.items():
            out = out + F.when(F.col(_gname(name)), F.lit(float(b))).otherwise(0.0)
        return out

    def choose(x: float) -> Column:
        if method == "greedy":
            return _ratio_choice(gains, costs, x, bonus())
        return _choice(gains, costs, x, bonus())

    def spends(xs: list[float]) -> list[float]:
        """Total chosen cost at each price in ``xs`` — one Spark aggregation for all of them."""
        counter["steps"] += 1
        row = base.agg(*[F.sum(_pick(costs, choose(x))).alias(f"s{i}") for i, x in enumerate(xs)]).first()
        return [row[f"s{i}"] or 0.0 for i in range(len(xs))]

    def solve() -> tuple[float, float | None]:
        """(feasible x, infeasible x or None) for the budget; x = λ (or the ratio threshold).

        k-section search: each pass evaluates ``POINTS`` prices in one aggregation and keeps the bracket
        [largest infeasible, smallest feasible]; ``steps`` passes shrink it by (POINTS + 1)^steps."""
        if budget is None:
            return 0.0, None
        probe = [0.0, *[4.0 ** i for i in range(-4, 16)]]
        got = spends(probe)
        if got[0] <= budget:
            return 0.0, None
        feasible = [x for x, v in zip(probe, got, strict=True) if v <= budget]
        if not feasible:
            raise AllocationError(f"allocate: no price makes the spend fit the budget {budget} (gains without "
                                  f"costs?)")
        hi = feasible[0]
        lo = max(x for x, v in zip(probe, got, strict=True) if v > budget and x < hi)
        for _ in range(steps):
            xs = [lo + (hi - lo) * (i + 1) / (POINTS + 1) for i in range(POINTS)]
            for x, v in zip(xs, spends(xs), strict=True):
                if v > budget:
                    lo = max(lo, x)
                else:
                    hi = min(hi, x)
            if hi - lo <= 1e-12 * max(1.0, hi):
                break
        return hi, lo

    x, x_infeasible = solve()
    for _ in range(3 if groups else 0):
        changed = False
        for name, target in (min_share or {}).items():
            if _share(base, choose(x), name) + 1e-12 >= target:
                continue
            lo_b, hi_b = bonus_of[name], max(1.0, bonus_of[name] * 4)
            bonus_of[name] = hi_b
            while _share(base, choose(x), name) < target and hi_b < 1e9:
                lo_b, hi_b = hi_b, hi_b * 4
                bonus_of[name] = hi_b
            for _ in range(12):
                bonus_of[name] = (lo_b + hi_b) / 2
                counter["steps"] += 1
                if _share(base, choose(x), name) >= target:
                    hi_b = bonus_of[name]
                else:
                    lo_b = bonus_of[name]
            bonus_of[name] = hi_b
            changed = True
        if not changed:
            break
        x, x_infeasible = solve()

    feasible = choose(x)
    out = base.withColumn("_choice", feasible)
    if budget is not None and x_infeasible is not None:
        out = _fill(out, choose(x_infeasible), gains, costs, budget, key)
    out = out.withColumn("choice", F.col("_choice")).withColumn("gain", _pick(gains, F.col("choice"))) \
        .withColumn("spend", _pick(costs, F.col("choice"))).drop("_choice", "_elig", "_alt",
                                                                  *[_gname(n) for n in groups])
    out = out.withColumn("gain", F.when(F.col("choice") == 0, 0.0).otherwise(F.col("gain"))).localCheckpoint()
    base.unpersist()
    totals = out.agg(F.sum("spend").alias("s"), F.sum("gain").alias("g"), F.count(F.lit(1)).alias("n"),
                     F.sum((F.col("choice") > 0).cast("int")).alias("t")).first()
    shares = {name: _share(out.withColumn(_gname(name), cond), F.col("choice"), name)
              for name, cond in groups.items()}
    result = Allocation(out, x, totals["s"] or 0.0, totals["g"] or 0.0, totals["t"] or 0, totals["n"],
                        counter["steps"], method, shares)
    return result


def _gname(name: str) -> str:
    return "_grp_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def _share(df: DataFrame, choice: Column, name: str) -> float:
    r = df.where(F.col(_gname(name))).agg(F.avg((choice > 0).cast("double")).alias("s")).first()["s"]
    return r if r is not None else 1.0


def _fill(df: DataFrame, alt: Column, gains, costs, budget: float, key: str) -> DataFrame:
    """Upgrade tie customers (choice differs at the infeasible price) by Δg/Δc while the budget lasts."""
    df = df.withColumn("_alt", alt)
    used = df.agg(F.sum(_pick(costs, F.col("_choice"))).alias("s")).first()["s"] or 0.0
    left = budget - used
    dc = _pick(costs, F.col("_alt")) - _pick(costs, F.col("_choice"))
    dg = _pick(gains, F.col("_alt")) - _pick(gains, F.col("_choice"))
    cand = df.where((F.col("_alt") != F.col("_choice")) & (dc > 0)).select(key, dc.alias("_dc"),
                                                                           (dg / dc).alias("_ratio"))
    # tie customers are few (the bisection narrowed λ to ~2^-steps of its range): one ordered window over them
    w = Window.orderBy(F.col("_ratio").desc(), F.col(key)).rowsBetween(Window.unboundedPreceding, 0)
    take = cand.withColumn("_cum", F.sum("_dc").over(w)).where(F.col("_cum") <= F.lit(left + 1e-9)).select(
        key, F.lit(True).alias("_up"))
    joined = df.join(take, key, "left")
    return joined.withColumn("_choice", F.when(F.col("_up"), F.col("_alt")).otherwise(F.col("_choice"))).drop("_up")
