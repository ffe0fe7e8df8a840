"""Uplift metrics that need no truth: Qini / uplift curves, AUUC, uplift@k, IPS / DR policy value, Q(B).

Definitions follow scikit-uplift 0.5.1 (``sklift.metrics``) exactly:

* ``qini_curve``: customers ranked by the score (descending), at every distinct score
  threshold t: ``Q(t) = Y_T(t) − Y_C(t) · N_T(t) / N_C(t)`` (cumulative outcome sums and counts of
  treated / control rows above the threshold; 0 where N_C = 0); x = rows above the threshold;
  the curve starts at (0, 0).
* ``uplift_curve``: ``U(t) = (Y_T/N_T − Y_C/N_C) · N(t)`` (each ratio 0 where its count is 0).
* Qini coefficient = ``qini_auc_score(..., negative_effect=True)``: (area under the model's Qini
  curve − area under the straight line from (0, 0) to the perfect curve's end) / (the perfect
  curve's area − that line's); the perfect curve ranks by ``y·t − y·(1 − t)``. AUUC =
  ``uplift_auc_score``: the same normalisation with ``perfect_uplift_curve`` (rank by
  ``2·[y = t] + (y if control responders > treated non-responders else t)``). Both are
  defined for binary outcomes; for a value outcome :func:`uplift_curves` reports the raw areas
  above the random line (``qini_area``, in outcome·customers units divided by customers², i.e. the
  sklift area / n²) and the caller normalises by another ranking (e.g. the true effect's).
* ``uplift_at_k(strategy="overall")``: the top ``int(n·k)`` rows by score, mean outcome of the
  treated among them minus that of the controls.

Everything is aggregated in Spark: rows are grouped by distinct score (exact, as sklift) when
there are at most ``grid`` distinct scores, else into ``grid`` quantile buckets (ties within a
bucket count as one threshold, an O(1/grid) approximation of the area); only those ≤ ``grid``
group sums reach the driver. Bootstrap intervals use Poisson(1) row weights drawn from a hash of
(row key, replicate), so each replicate is one more group in the same aggregation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.errors import SendoptError

# Poisson(1) CDF at 0..6 (the rest, 8e-5 of the mass, counts as 7)
_POISSON1_CDF = [math.exp(-1) * sum(1 / math.factorial(j) for j in range(k + 1)) for k in range(7)]


class MetricError(SendoptError):
    """Input to a metric is unusable (no treated or control rows, bad k…)."""


def hash_uniform(key: Column, salt: Column | int) -> Column:
    """A deterministic uniform on [0, 1) from (key, salt) — the same on any partitioning."""
    salt = salt if isinstance(salt, Column) else F.lit(int(salt))
    return (F.xxhash64(key, salt).bitwiseAND(F.lit((1 << 53) - 1)).cast("double") / float(1 << 53))


def poisson1(u: Column) -> Column:
    """Poisson(1) draw by inverse CDF of a uniform column."""
    out = F.lit(7)
    for k in reversed(range(7)):
        out = F.when(u < _POISSON1_CDF[k], F.lit(k)).otherwise(out)
    return out


# ---------------------------------------------------------------- curves from grouped sums
def _curves(n_t: np.ndarray, n_c: np.ndarray, y_t: np.ndarray, y_c: np.ndarray):
    """sklift's qini and uplift curves from per-threshold-group sums ordered by descending score."""
    num_t, num_all = np.cumsum(n_t), np.cumsum(n_t + n_c)
    num_c = num_all - num_t
    ys_t, ys_c = np.cumsum(y_t), np.cumsum(y_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        qini = ys_t - ys_c * np.where(num_c != 0, num_t / np.where(num_c != 0, num_c, 1), 0.0)
        rate_t = np.where(num_t != 0, ys_t / np.where(num_t != 0, num_t, 1), 0.0)
        rate_c = np.where(num_c != 0, ys_c / np.where(num_c != 0, num_c, 1), 0.0)
    uplift = (rate_t - rate_c) * num_all
    x = np.r_[0.0, num_all.astype(float)]
    return x, np.r_[0.0, qini], np.r_[0.0, uplift]


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def _coefficient(x, y, xp, yp) -> float:
    base = _area(np.array([0.0, xp[-1]]), np.array([0.0, yp[-1]]))
    perfect = _area(xp, yp) - base
    return (_area(x, y) - base) / perfect if perfect != 0 else float("nan")


def _above_random(x, y) -> float:
    return _area(x, y) - _area(np.array([0.0, x[-1]]), np.array([0.0, y[-1]]))


@dataclass
class UpliftCurves:
    """Curves (x = customers above the threshold) and the summary numbers, with bootstrap intervals."""

    x: np.ndarray
    qini: np.ndarray
    uplift: np.ndarray
    qini_area: float  # area between the Qini curve and the random line, / n²
    uplift_area: float  # same for the uplift curve
    qini_coefficient: float | None  # sklift qini_auc_score (binary outcome only)
    auuc: float | None  # sklift uplift_auc_score (binary outcome only)
    rows: int
    exact: bool  # grouped by distinct score (True) or by quantile buckets
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def _score_groups(df: DataFrame, score: str, grid: int) -> tuple[Column, bool]:
    """A group column ordered like the score (higher = better): the score itself or its bucket."""
    distinct = df.select(score).distinct().limit(grid + 1).count()
    if distinct <= grid:
        return F.col(score).cast("double"), True
    edges = sorted(set(df.approxQuantile(score, [i / grid for i in range(1, grid)], 1.0 / (10 * grid))))
    bucket = F.lit(0)
    for e in edges:
        bucket = bucket + (F.col(score) > F.lit(float(e))).cast("int")
    return bucket.cast("double"), False


def _grouped_sums(df: DataFrame, group: Column, t: str, y: str, extra: list[Column] | None = None,
                  weight: Column | None = None):
    w = weight if weight is not None else F.lit(1.0)
    tt = F.col(t).cast("double")
    yy = F.col(y).cast("double")
    keys = [*(extra or []), group.alias("g")]
    return df.groupBy(*keys).agg(
        F.sum(w * tt).alias("n_t"), F.sum(w * (1 - tt)).alias("n_c"),
        F.sum(w * tt * yy).alias("y_t"), F.sum(w * (1 - tt) * yy).alias("y_c"))


def _arrays(pdf) -> tuple[np.ndarray, ...]:
    pdf = pdf.sort_values("g", ascending=False)
    return tuple(pdf[c].to_numpy(dtype=float) for c in ("n_t", "n_c", "y_t", "y_c"))


def _perfect(df: DataFrame, t: str, y: str, weight: Column | None = None, extra: list[Column] | None = None):
    """Grouped sums for sklift's perfect Qini and perfect uplift orderings (binary y)."""
    tt, yy = F.col(t).cast("int"), F.col(y).cast("int")
    qini_score = yy * tt - yy * (1 - tt)
    q = _grouped_sums(df, qini_score, t, y, extra, weight)
    cr = F.sum(((yy == 1) & (tt == 0)).cast("int"))
    tn = F.sum(((yy == 0) & (tt == 1)).cast("int"))
    return q, cr, tn


def _check_binary(df: DataFrame, col: str) -> bool:
    row = df.agg(F.sum(((F.col(col) != 0) & (F.col(col) != 1)).cast("int")).alias("bad")).first()
    return (row["bad"] or 0) == 0


def uplift_curves(df: DataFrame, score: str, treatment: str, outcome: str, grid: int = 1000,
                  bootstrap: int = 0, key: str = "user_id", seed: int = 11, alpha: float = 0.05) -> UpliftCurves:
    """Qini and uplift curves of ``score`` (higher = treat first) on rows with ``treatment`` ∈ {0, 1}.

    ``bootstrap`` > 0 adds percentile intervals (1 − ``alpha``) of the summary numbers from that many
    Poisson-bootstrap replicates, all in one Spark aggregation (replicate × score group).
    """
    counts = df.groupBy(F.col(treatment).cast("int").alias("t")).count().collect()
    by_arm = {r["t"]: r["count"] for r in counts}
    if set(by_arm) - {0, 1}:
        raise MetricError(f"treatment column {treatment!r} must be 0/1, has {sorted(by_arm)}")
    if not by_arm.get(0) or not by_arm.get(1):
        raise MetricError(f"uplift curves need treated and control rows, got {by_arm}")
    binary = _check_binary(df, outcome)
    group, exact = _score_groups(df, score, grid)
    x, qini, upl = _curves(*_arrays(_grouped_sums(df, group, treatment, outcome).toPandas()))
    n = float(x[-1])
    coef = auuc = None
    if binary:
        coef, auuc = _binary_coefficients(df, treatment, outcome, x, qini, upl)
    out = UpliftCurves(x=x, qini=qini, uplift=upl, qini_area=_above_random(x, qini) / n**2,
                       uplift_area=_above_random(x, upl) / n**2, qini_coefficient=coef, auuc=auuc,
                       rows=int(n), exact=exact)
    if bootstrap:
        out.intervals = _bootstrap(df, group, score, treatment, outcome, key, bootstrap, seed, alpha, binary)
    return out


def _binary_coefficients(df, t, y, x, qini, upl, weight=None):
    q, cr, tn = _perfect(df, t, y, weight)
    xp, yp, _ = _curves(*_arrays(q.toPandas()))
    row = df.agg(cr.alias("cr"), tn.alias("tn")).first()
    tt, yy = F.col(t).cast("int"), F.col(y).cast("int")
    summand = yy if (row["cr"] or 0) > (row["tn"] or 0) else tt
    perfect_u = 2 * (yy == tt).cast("int") + summand
    xu, _, yu = _curves(*_arrays(_grouped_sums(df, perfect_u, t, y, None, weight).toPandas()))
    return _coefficient(x, qini, xp, yp), _coefficient(x, upl, xu, yu)


def _bootstrap(df, group, score, t, y, key, replicates, seed, alpha, binary) -> dict[str, tuple[float, float]]:
    reps = df.sparkSession.range(replicates).withColumnRenamed("id", "b")
    w = poisson1(hash_uniform(F.col(key), F.col("b") * 7919 + seed)).cast("double")
    rows = df.select(key, F.col(score), F.col(t), F.col(y), group.alias("_g")).crossJoin(F.broadcast(reps))
    sums = _grouped_sums(rows, F.col("_g"), t, y, [F.col("b")], w).toPandas()
    stats: dict[str, list[float]] = {"qini_area": [], "uplift_area": []}
    if binary:
        ttc, yyc = F.col(t).cast("int"), F.col(y).cast("int")
        pq = _grouped_sums(rows, yyc * ttc - yyc * (1 - ttc), t, y, [F.col("b")], w).toPandas()
        stats["qini_coefficient"] = []
    for b, part in sums.groupby("b"):
        x, qini, upl = _curves(*_arrays(part))
        n = float(x[-1])
        stats["qini_area"].append(_above_random(x, qini) / n**2)
        stats["uplift_area"].append(_above_random(x, upl) / n**2)
        if binary:
            xp, yp, _ = _curves(*_arrays(pq[pq["b"] == b]))
            stats["qini_coefficient"].append(_coefficient(x, qini, xp, yp))
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    return {k: (float(np.nanpercentile(v, lo)), float(np.nanpercentile(v, hi))) for k, v in stats.items() if v}


def uplift_at_k(df: DataFrame, score: str, treatment: str, outcome: str, k: float = 0.3) -> float:
    """sklift ``uplift_at_k(strategy="overall")``: top ``int(n·k)`` rows by score, treated − control mean."""
    if not 0 < k < 1:
        raise MetricError(f"uplift_at_k: k must be in (0, 1), got {k}")
    n = df.count()
    top = df.orderBy(F.col(score).desc()).limit(int(n * k))
    rows = {r["t"]: r["m"] for r in top.groupBy(F.col(treatment).cast("int").alias("t")).agg(
        F.avg(F.col(outcome).cast("double")).alias("m")).collect()}
    if rows.get(0) is None or rows.get(1) is None:
        raise MetricError(f"uplift_at_k: the top {int(n * k)} rows lack treated or control rows")
    return float(rows[1] - rows[0])


# ---------------------------------------------------------------- policy value (IPS / DR)
@dataclass(frozen=True)
class PolicyValue:
    """Estimated mean outcome per customer of a policy (with a normal 95% interval) and its spend."""

    ips: float
    ips_se: float
    snips: float
    dr: float | None
    dr_se: float | None
    rows: int
    match_share: float  # share of rows whose logged arm equals the policy's

    def interval(self, which: str = "dr") -> tuple[float, float]:
        v, se = (self.dr, self.dr_se) if which == "dr" else (self.ips, self.ips_se)
        return (v - 1.96 * se, v + 1.96 * se)


def policy_value(df: DataFrame, action: Column | str, arm: str = "arm", propensity: str = "propensity",
                 outcome: str = "net", mu: list[str] | None = None) -> PolicyValue:
    """IPS, self-normalised IPS and doubly robust value of the policy ``action`` (an arm index column).

    IPS term: 1[A = π(x)]·Y/e_A; DR term: μ̂_π(x)(x) + 1[A = π(x)]·(Y − μ̂_A(x))/e_A, with ``mu`` the
    outcome-model columns per arm (index = arm). Standard errors are sd/√n of the per-row terms.
    """
    a = F.col(action) if isinstance(action, str) else action
    match = (F.col(arm) == a).cast("double")
    e = F.col(propensity).cast("double")
    y = F.col(outcome).cast("double")
    ips = match * y / e
    aggs = [F.count(F.lit(1)).alias("n"), F.avg(ips).alias("ips"), F.stddev_samp(ips).alias("ips_sd"),
            F.sum(match / e).alias("w"), F.sum(ips).alias("ips_sum"), F.avg(match).alias("match"),
            F.sum(F.when(e.isNull() | (e <= 0), 1).otherwise(0)).alias("bad")]
    if mu:
        mu_arr = F.array(*[F.col(c).cast("double") for c in mu])
        mu_pi = F.element_at(mu_arr, a.cast("int") + 1)
        mu_a = F.element_at(mu_arr, F.col(arm).cast("int") + 1)
        dr = mu_pi + match * (y - mu_a) / e
        aggs += [F.avg(dr).alias("dr"), F.stddev_samp(dr).alias("dr_sd")]
    r = df.agg(*aggs).first()
    if r["bad"]:
        raise MetricError(f"policy_value: {r['bad']} rows have a null or non-positive propensity {propensity!r}")
    n = r["n"]
    root = math.sqrt(max(n, 1))
    return PolicyValue(
        ips=r["ips"], ips_se=(r["ips_sd"] or 0.0) / root, snips=(r["ips_sum"] / r["w"]) if r["w"] else float("nan"),
        dr=r["dr"] if mu else None, dr_se=((r["dr_sd"] or 0.0) / root) if mu else None, rows=n,
        match_share=r["match"])


# ---------------------------------------------------------------- cost-aware Q(B) curve
def dr_scores(arm: str, propensity: str, outcome: str, mu: list[str]) -> list[Column]:
    """Per arm k, the doubly robust score Γ_k = μ̂_k + 1[A = k]·(Y − μ̂_k)/e_k (E[Γ_k | x] = μ_k(x))."""
    y, e = F.col(outcome).cast("double"), F.col(propensity).cast("double")
    return [F.col(m) + F.when(F.col(arm) == k, (y - F.col(m)) / e).otherwise(0.0) for k, m in enumerate(mu)]


def budget_curve(df: DataFrame, gain: list[str], cost: list[str], value_scores: list[Column],
                 cost_scores: list[Column], lambdas: list[float]) -> list[dict[str, float]]:
    """The cost-aware Qini Q(B) of Sverdrup, Wu, Athey & Wager (2023) along the Lagrangian path.

    For each λ the policy gives every customer argmax_k (gain_k − λ·cost_k) over the arms (arm 0 =
    no coupon, gain 0, cost 0); its spend B(λ) and incremental value Q(B(λ)) are estimated with the
    doubly robust ``value_scores`` / ``cost_scores`` (Γ per arm) as means of Γ_π(x) − Γ_0, with
    normal 95% intervals (sd/√n). All λ's are one Spark aggregation (rows × λ grid).
    """
    lam = F.broadcast(df.sparkSession.createDataFrame([(float(v),) for v in lambdas], "lam double"))
    val = F.array(*value_scores)
    cst = F.array(*cost_scores)
    rows = df.select(*[F.col(c).alias(f"_g{k}") for k, c in enumerate(gain)],
                     *[F.col(c).alias(f"_c{k}") for k, c in enumerate(cost)],
                     val.alias("_v"), cst.alias("_s")).crossJoin(lam)
    score = [F.col(f"_g{k}") - F.col("lam") * F.col(f"_c{k}") for k in range(len(gain))]
    best = F.lit(0)
    best_s = score[0]
    for k in range(1, len(score)):
        better = score[k] > best_s
        best = F.when(better, F.lit(k)).otherwise(best)
        best_s = F.when(better, score[k]).otherwise(best_s)
    rows = rows.withColumn("_a", best)
    dv = F.element_at("_v", F.col("_a") + 1) - F.element_at("_v", F.lit(1))
    ds = F.element_at("_s", F.col("_a") + 1) - F.element_at("_s", F.lit(1))
    agg = rows.groupBy("lam").agg(
        F.count(F.lit(1)).alias("n"), F.avg(dv).alias("value"), F.stddev_samp(dv).alias("value_sd"),
        F.avg(ds).alias("spend"), F.stddev_samp(ds).alias("spend_sd"), F.avg(dv - ds).alias("net"),
        F.stddev_samp(dv - ds).alias("net_sd"), F.avg((F.col("_a") > 0).cast("double")).alias("treated"),
    ).orderBy(F.col("lam").desc()).collect()
    out = []
    for r in agg:
        root = math.sqrt(r["n"])
        out.append({"lambda": r["lam"], "spend": r["spend"], "value": r["value"], "net": r["net"],
                    "value_se": (r["value_sd"] or 0) / root, "spend_se": (r["spend_sd"] or 0) / root,
                    "net_se": (r["net_sd"] or 0) / root, "treated_share": r["treated"]})
    return out
