"""``ab-analyze``: per-arm outcomes from raw tables, tests, a sample-ratio check and the rollout rule.

Unit of analysis: the assigned user (``experiments.ab_assignments``), outcomes summed
over the window ``[start, run_date]`` where start is ``experiments.start_date`` or
the user's first assignment. Rates are compared with two-proportion z-tests
(pooled for the p-value, unpooled for the interval); means per user (revenue,
clicks, emails) with the normal approximation on the difference of means (Welch)
and a delta-method interval for the relative difference. Spark reduces users to a
few sums per arm — two rows reach the driver, where the tests run.

Rollout rule: **roll out** when the sample ratio is as configured, the
treatment's unsubscribe rate is significantly lower and its revenue per user is not
significantly lower; otherwise **hold** (or **invalid** on a sample-ratio mismatch or
too few users), always with the reasons.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from scipy import stats

from sendopt.channels.primitives import arm_of, in_market
from sendopt.errors import SendoptError
from sendopt.lake.quality import read_clean
from sendopt.lifecycle.experiment_config import ExperimentsConfig
from sendopt.lifecycle.tables import AB_ASSIGNMENTS, AB_RESULTS
from sendopt.observability import stage

if TYPE_CHECKING:
    from sendopt.runner import JobContext

#: Rate metrics: per-user 0/1 outcome column → metric name.
RATES = {"unsubscribed": "unsubscribe_rate", "purchased": "purchase_rate", "opened": "open_rate"}
#: Mean metrics: per-user numeric outcome column → metric name.
MEANS = {"revenue": "revenue_per_user", "clicks": "clicks_per_user", "emails": "emails_per_user"}


@dataclass(frozen=True)
class Comparison:
    metric: str
    control: float
    treatment: float
    difference: float
    relative: float | None
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


def _comparison(metric: str, control: float, treatment: float, se: float, p_value: float,
                alpha: float) -> Comparison:
    """Plain Python floats (Spark's row verifier refuses numpy scalars)."""
    diff = float(treatment - control)
    half = float(stats.norm.ppf(1 - alpha / 2) * se)
    return Comparison(metric, float(control), float(treatment), diff, diff / control if control else None,
                      diff - half, diff + half, float(p_value), bool(p_value < alpha))


def two_proportions(metric: str, x_c: float, n_c: float, x_t: float, n_t: float, alpha: float) -> Comparison:
    """Treatment − control of two rates: pooled z-test p-value, unpooled (Wald) interval."""
    p_c, p_t = x_c / n_c, x_t / n_t
    diff = p_t - p_c
    pooled = (x_c + x_t) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    p_value = 2 * stats.norm.sf(abs(diff) / se0) if se0 > 0 else 1.0
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    return _comparison(metric, p_c, p_t, se, p_value, alpha)


def two_means(metric: str, s_c: float, q_c: float, n_c: float, s_t: float, q_t: float, n_t: float,
              alpha: float) -> Comparison:
    """Treatment − control of two means from sums and sums of squares (Welch, normal approximation).

    Revenue per user is heavy-tailed, but with thousands of users per arm the mean's
    sampling distribution is close to normal; the A/A study checks the false-positive rate.
    """
    m_c, m_t = s_c / n_c, s_t / n_t
    v_c = max(q_c - n_c * m_c * m_c, 0.0) / max(n_c - 1, 1)
    v_t = max(q_t - n_t * m_t * m_t, 0.0) / max(n_t - 1, 1)
    diff = m_t - m_c
    se = math.sqrt(v_c / n_c + v_t / n_t)
    p_value = 2 * stats.norm.sf(abs(diff) / se) if se > 0 else (1.0 if diff == 0 else 0.0)
    return _comparison(metric, m_c, m_t, se, p_value, alpha)


def sample_ratio(n_c: int, n_t: int, treatment_share: float) -> tuple[float, float]:
    """Chi-square statistic and p-value of the observed split against the configured one (1 d.f.)."""
    total = n_c + n_t
    expected = (total * (1 - treatment_share), total * treatment_share)
    chi2 = sum((o - e) ** 2 / e for o, e in zip((n_c, n_t), expected, strict=True) if e > 0)
    return float(chi2), float(stats.chi2.sf(chi2, 1))


def compare_arms(sums: dict[str, dict[str, float]], alpha: float) -> list[Comparison]:
    """Every metric's comparison from per-arm sums (keys ``n``, ``<rate>``, ``<mean>``, ``<mean>_sq``)."""
    c, t = sums["control"], sums["treatment"]
    out = [two_proportions(name, c[col], c["n"], t[col], t["n"], alpha) for col, name in RATES.items()]
    out += [two_means(name, c[col], c[f"{col}_sq"], c["n"], t[col], t[f"{col}_sq"], t["n"], alpha)
            for col, name in MEANS.items()]
    return out


def rollout_decision(comparisons: list[Comparison], n_c: int, n_t: int, srm_p: float,
                     config: ExperimentsConfig) -> tuple[str, list[str]]:
    """The seed's rule: significant unsubscribe reduction without significant revenue loss."""
    by = {c.metric: c for c in comparisons}
    if min(n_c, n_t) < config.min_users_per_arm:
        return "invalid", [f"too few users (control {n_c}, treatment {n_t}; need {config.min_users_per_arm} each)"]
    if srm_p < config.srm_alpha:
        return "invalid", [f"sample ratio mismatch: control {n_c} vs treatment {n_t} at a configured treatment "
                           f"share of {config.treatment_share} (chi-square p={srm_p:.2g} < {config.srm_alpha})"]
    unsub, revenue = by["unsubscribe_rate"], by["revenue_per_user"]
    reasons = []
    unsub_down = unsub.significant and unsub.difference < 0
    revenue_loss = revenue.significant and revenue.difference < 0
    if unsub_down:
        reasons.append(f"unsubscribe rate down {unsub.difference:+.4%} (p={unsub.p_value:.3g})")
    elif unsub.significant:
        reasons.append(f"unsubscribe rate significantly UP {unsub.difference:+.4%} (p={unsub.p_value:.3g})")
    else:
        reasons.append(f"no significant unsubscribe reduction ({unsub.difference:+.4%}, p={unsub.p_value:.3g})")
    if revenue_loss:
        reasons.append(f"significant revenue loss {revenue.difference:+.3f}/user (p={revenue.p_value:.3g})")
    else:
        reasons.append(f"no significant revenue loss ({revenue.difference:+.3f}/user, p={revenue.p_value:.3g})")
    return ("rollout" if unsub_down and not revenue_loss else "hold"), reasons


# ----------------------------------------------------------------------------------------- Spark side


def user_outcomes(assigned: DataFrame, events: DataFrame, orders: DataFrame, sends: DataFrame,
                  window_start: Column, run_date) -> DataFrame:
    """One row per assigned user: arm and its outcomes in ``[max(window_start, first assignment), run_date]``.

    ``events``/``orders``/``sends`` are the validated raw tables (``raw.email_events``,
    ``raw.orders``, ``raw.email_sends``) — outcomes as observed, never the truth.
    """
    start = F.greatest(window_start, F.col("first_assigned_date"))
    users = assigned.select("user_id", "arm", start.alias("start"))

    def per_user(df: DataFrame, *aggs: Column) -> DataFrame:
        return (df.where(F.col("event_date") <= F.lit(run_date)).join(users.select("user_id", "start"), "user_id")
                .where(F.col("event_date") >= F.col("start")).groupBy("user_id").agg(*aggs))

    per_events = per_user(
        events,
        F.max((F.col("event_type") == "unsubscribe").cast("double")).alias("unsubscribed"),
        F.max((F.col("event_type") == "open").cast("double")).alias("opened"),
        F.sum((F.col("event_type") == "click").cast("double")).alias("clicks"),
    )
    per_orders = per_user(orders, F.sum("amount").alias("revenue"), F.lit(1.0).alias("purchased"))
    per_sends = per_user(sends, F.count(F.lit(1)).cast("double").alias("emails"))
    out = users.join(per_events, "user_id", "left").join(per_orders, "user_id", "left")
    return out.join(per_sends, "user_id", "left").fillna(0.0, subset=[*RATES, *MEANS])


def arm_sums(outcomes: DataFrame, arm: Column | str = "arm", by: tuple[str, ...] = ()) -> DataFrame:
    """Per arm (and ``by``): n, the rate counts, the means' sums and sums of squares — a few rows."""
    aggs = [F.count(F.lit(1)).cast("double").alias("n")]
    aggs += [F.sum(c).alias(c) for c in RATES]
    aggs += [x for c in MEANS for x in (F.sum(c).alias(c), F.sum(F.col(c) * F.col(c)).alias(f"{c}_sq"))]
    arm_col = F.col(arm) if isinstance(arm, str) else arm
    return outcomes.groupBy(*by, arm_col.alias("arm")).agg(*aggs)


def collect_sums(sums: DataFrame, by: tuple[str, ...] = ()) -> dict:
    """``{(by values…): {arm: {sum: value}}}`` — a handful of rows per group reach the driver."""
    out: dict = {}
    for row in sums.collect():  # arms × groups rows
        d = row.asDict()
        key = tuple(d.pop(b) for b in by)
        out.setdefault(key, {})[d.pop("arm")] = d
    return out


def analyze(sums: dict[str, dict[str, float]], config: ExperimentsConfig):
    """(comparisons, srm (chi2, p), decision, reasons) from one group's per-arm sums."""
    empty = {"n": 0.0, **dict.fromkeys(RATES, 0.0), **{x: 0.0 for c in MEANS for x in (c, f"{c}_sq")}}
    sums = {arm: sums.get(arm, empty) for arm in ("control", "treatment")}
    n_c, n_t = int(sums["control"]["n"]), int(sums["treatment"]["n"])
    chi2, srm_p = sample_ratio(n_c, n_t, config.treatment_share)
    if min(n_c, n_t) == 0:
        return [], (chi2, srm_p), "invalid", [f"an arm is empty (control {n_c}, treatment {n_t})"]
    comparisons = compare_arms(sums, config.alpha)
    decision, reasons = rollout_decision(comparisons, n_c, n_t, srm_p, config)
    return comparisons, (chi2, srm_p), decision, reasons


def format_table(experiment: str, region: str, brand: str, n_c: int, n_t: int, comparisons: list[Comparison],
                 srm: tuple[float, float], decision: str, reasons: list[str], arms: dict[str, str]) -> str:
    lines = [f"A/B {experiment} {region}/{brand}: control {n_c} users ({arms.get('control', '')}), "
             f"treatment {n_t} users ({arms.get('treatment', '')})",
             f"  {'metric':18} {'control':>11} {'treatment':>11} {'diff':>11} {'ci low':>11} {'ci high':>11} "
             f"{'p':>8}"]
    for c in comparisons:
        lines.append(f"  {c.metric:18} {c.control:>11.5f} {c.treatment:>11.5f} {c.difference:>+11.5f} "
                     f"{c.ci_low:>+11.5f} {c.ci_high:>+11.5f} {c.p_value:>8.4f}{' *' if c.significant else ''}")
    lines.append(f"  sample ratio: chi2={srm[0]:.3f} p={srm[1]:.4f}")
    lines.append(f"  DECISION: {decision.upper()} — " + "; ".join(reasons))
    return "\n".join(lines)


def result_rows(comparisons: list[Comparison], srm: tuple[float, float], n_c: int, n_t: int,
                config: ExperimentsConfig, decision: str, reasons: list[str]) -> list[tuple]:
    """Rows (metric … significant, decision, reasons) for experiments.ab_results."""
    why = "; ".join(reasons)
    rows = [(c.metric, n_c, n_t, c.control, c.treatment, c.difference, c.relative, c.ci_low, c.ci_high,
             c.p_value, c.significant, decision, why) for c in comparisons]
    total = max(n_c + n_t, 1)
    rows.append(("sample_ratio", n_c, n_t, n_c / total, 1 - config.treatment_share, srm[0], None, None, None,
                 srm[1], srm[1] < config.srm_alpha, decision, why))
    return rows


RESULT_SCHEMA = (
    "metric string, control_users long, treatment_users long, control_value double, treatment_value double, "
    "difference double, relative_difference double, ci_low double, ci_high double, p_value double, "
    "significant boolean, decision string, reasons string"
)


def aa_study(outcomes: DataFrame, salts: list[str], treatment_share: float, alpha: float) -> dict:
    """A/A: split the same users by many salts; the share of significant differences per metric (≈ alpha).

    One Spark pass: users × salts rows, reduced to 2 rows per salt on the driver.
    """
    salt_df = outcomes.sparkSession.createDataFrame([(s,) for s in salts], "salt string")
    split = outcomes.crossJoin(F.broadcast(salt_df))
    grouped = collect_sums(arm_sums(split, arm_of(F.col("user_id"), F.col("salt"), treatment_share), ("salt",)),
                           ("salt",))
    config = ExperimentsConfig(treatment_share=treatment_share, alpha=alpha)
    hits = dict.fromkeys([*RATES.values(), *MEANS.values(), "sample_ratio"], 0)
    for sums in grouped.values():
        comparisons, (_, srm_p), _, _ = analyze(sums, config)
        for c in comparisons:
            hits[c.metric] += c.significant
        hits["sample_ratio"] += srm_p < alpha
    return {name: count / len(grouped) for name, count in hits.items()}


def analyze_experiment(ctx: JobContext, arms: dict[str, str]) -> None:
    """``ab-analyze`` for one market: outcomes per arm, the tests, the rollout rule; ``arms`` describes each arm."""
    config: ExperimentsConfig = ctx.config.lifecycle.experiments
    lake = ctx.lake
    if not lake.exists(AB_ASSIGNMENTS):
        raise SendoptError(f"ab-analyze: {AB_ASSIGNMENTS.full_name} does not exist — enable "
                           "lifecycle.experiments and run ab-assign (and the decisions) first")
    assigned = lake.read(AB_ASSIGNMENTS).where(
        (F.col("experiment") == config.name) & in_market(ctx.region, ctx.brand)
        & (F.col("first_assigned_date") <= F.lit(ctx.run_date)))
    window_start = F.lit(config.start_date) if config.start_date else F.col("first_assigned_date")
    with stage(ctx.spark, ctx.log, "ab-analyze: outcomes per arm", experiment=config.name, region=ctx.region,
               brand=ctx.brand):
        outcomes = user_outcomes(assigned, *(read_clean(lake, t, ctx.run_date) for t in
                                             ("raw.email_events", "raw.orders", "raw.email_sends")),
                                 window_start, ctx.run_date)
        sums = collect_sums(arm_sums(outcomes)).get((), {})
    comparisons, srm, decision, reasons = analyze(sums, config)
    n_c, n_t = (int(sums.get(a, {}).get("n", 0)) for a in ("control", "treatment"))
    first = assigned.agg(F.min("first_assigned_date")).first()[0]  # one scalar
    start = config.start_date or first
    rows = result_rows(comparisons, srm, n_c, n_t, config, decision, reasons)
    out = ctx.spark.createDataFrame(rows, RESULT_SCHEMA).select(  # one row per metric
        F.lit(config.name).alias("experiment"), F.lit(ctx.run_date).alias("analysis_date"),
        F.lit(ctx.region).alias("region"), F.lit(ctx.brand).alias("brand"),
        F.lit(start).cast("date").alias("window_start"), "*", F.lit(ctx.run_id).alias("run_id"),
        F.lit(ctx.config.config_hash).alias("config_hash"),
    ).select(*AB_RESULTS.column_names)
    lake.write(out, AB_RESULTS, mode="replace", where={"experiment": config.name, "analysis_date": ctx.run_date,
                                                      "region": ctx.region, "brand": ctx.brand})
    print(format_table(config.name, ctx.region, ctx.brand, n_c, n_t, comparisons, srm, decision, reasons,
                       arms), flush=True)
    ctx.summary["message"] = f"{config.name}: {decision} — " + "; ".join(reasons)
    ctx.summary["decision"] = decision
