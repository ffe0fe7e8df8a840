"""Safe policy improvement: ``decide-email`` publishes the model's candidate only if the holdout says it is better.

Before publishing, the candidate policy (today's tiers or optimiser), the **incumbent** (what this market
published last — recorded in ``analytics.email_policy_choice`` — or, on a first run, everyone at the brand's
historical frequency) and the simple baselines (everyone k, for every candidate k) are valued on the same
replayed exploration user-weeks with the backtest's doubly robust estimator
(:mod:`sendopt.channels.email.backtest`, :mod:`sendopt.lifecycle.estimators`). A policy is **safe** when the
lower bound of its paired difference to the incumbent is above zero, i.e.

    V(policy) − z · se(V(policy) − V(incumbent)) > V(incumbent)

(the interval of the difference on the same rows: rows where both policies agree add nothing to it). ``V`` is
``email.publish.safety.estimator``: ``dr`` is the doubly robust value, unbiased but corrected only by the ~1/8
of the rows whose logged k matches the policy's; ``smoothed`` is the model's value plus its residual smoothed
over k (per bin, a low-degree polynomial fitted on every randomized row of the bin,
:func:`sendopt.lifecycle.estimators.residual_curve`) — far narrower intervals, at the price of assuming the
model's error varies smoothly with k within a bin. Both are computed and reported. The
candidate is published when it is safe and passes the gross-change checks (share of customers moved to
0 emails/week, change of the mean frequency, a whole market going silent); otherwise the best safe option
that passes them among the **steps** towards the candidate (each bin's k moved at most s emails/week from
the incumbent's, :func:`step_options`) and the baselines; otherwise the incumbent. Every option's estimates, checks and the reason for
the choice land in ``analytics.email_policy_choice``. Structural sanity checks, the safe fallback and the
kill switch stay where they were (:mod:`sendopt.channels.email.publish`).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.email.backtest import Replay, replay
from sendopt.channels.email.calibrate import candidate_terms
from sendopt.channels.email.config import EmailConfig
from sendopt.channels.email.decide import tier_of
from sendopt.channels.email.tables import POLICY_CHOICE
from sendopt.channels.primitives import in_market
from sendopt.errors import SendoptError
from sendopt.lifecycle import estimators as est

CANDIDATE, INCUMBENT = "candidate", "incumbent"


@dataclass(frozen=True)
class Option:
    """A policy that could be published: a bin → k map (``tiers``), one k for everyone, or the optimiser."""

    name: str  # candidate | incumbent | step_<s> | everyone_<k>
    kind: str  # tiers | fixed | optimizer
    tier_map: dict[int, int] | None = None
    k: int | None = None
    source: str = ""

    def frequency(self) -> Column:
        """Its weekly frequency before hard rules, on rows carrying ``bin`` and ``optimal_frequency``."""
        if self.kind == "fixed":
            return F.lit(int(self.k))
        if self.kind == "optimizer":
            return F.col("optimal_frequency")
        return tier_of(F.col("bin"), self.tier_map)

    def label(self, email: EmailConfig) -> str:
        """The ``policy`` value of its decision rows."""
        return email.policy if self.name == CANDIDATE else self.name

    def describe(self) -> str:
        what = {"fixed": f"everyone {self.k}/week", "optimizer": "per-user optimiser",
                "tiers": f"tiers {self.tier_map}"}[self.kind]
        return f"{what} ({self.source})" if self.source else what


def candidate_option(email: EmailConfig, tier_map: dict[int, int]) -> Option:
    if email.policy == "optimizer":
        return Option(CANDIDATE, "optimizer", source="model")
    return Option(CANDIDATE, "tiers", dict(tier_map), source=f"model, tier_source {email.tier_source}")


def baseline_options(email: EmailConfig) -> list[Option]:
    return [Option(f"everyone_{k}", "fixed", k=k) for k in email.candidate_frequencies]


def step_options(cand: Option, inc: Option, email: EmailConfig) -> list[Option]:
    """Tier maps part of the way from the incumbent to the candidate: each bin's k moves at most ``s`` emails/week
    towards the candidate's (``s`` in ``email.publish.safety.steps``). Where the candidate overshoots (the value
    of k rises, then falls), the first part of its move can be certified where the whole cannot; published, a
    step becomes the incumbent the next run steps from."""
    if cand.kind != "tiers" or inc.kind not in ("fixed", "tiers"):
        return []
    freqs = sorted(email.candidate_frequencies)
    starts = {b: int(inc.k) if inc.kind == "fixed" else int(inc.tier_map.get(b, 0)) for b in cand.tier_map}
    out, seen = [], {tuple(sorted(cand.tier_map.items()))}
    for s in sorted(set(email.publish.safety.steps)):
        tiers = {}
        for b, goal in sorted(cand.tier_map.items()):
            start = starts[b]
            lo, hi = min(start, goal), max(start, goal)
            reach = [f for f in freqs if lo <= f <= hi and abs(f - start) <= s]
            tiers[b] = max(reach, key=lambda f: abs(f - start)) if reach else start
        key = tuple(sorted(tiers.items()))
        if key in seen or len(set(tiers.values())) == 1 or tiers == starts:
            continue  # the candidate, an everyone-k baseline, the incumbent, or a step already listed
        seen.add(key)
        out.append(Option(f"step_{s}", "tiers", tiers, source=f"at most {s} emails/week from the incumbent "
                                                              "towards the candidate"))
    return out


def incumbent_option(lake, region: str, brand: str, before: dt.date, email: EmailConfig, anchor: float) -> Option:
    """What the market published last (its recorded choice), or on a first run everyone at the history's frequency."""
    if lake.exists(POLICY_CHOICE):
        last = (lake.read(POLICY_CHOICE)
                .where(in_market(region, brand) & (F.col("decision_date") < F.lit(before)) & F.col("chosen"))
                .orderBy(F.desc("decision_date")).first())  # the latest chosen row
        if last is not None:
            when = f"published {last.decision_date}"
            if last.published_as == "safe_fallback":
                return Option(INCUMBENT, "fixed", k=email.publish.safe_frequency, source=f"{when}: safe fallback")
            if last.kind == "fixed":
                return Option(INCUMBENT, "fixed", k=int(last.emails_fixed), source=f"{when}: {last.option}")
            if last.kind == "tiers":
                tiers = {int(b): int(k) for b, k in json.loads(last.tier_map).items()}
                return Option(INCUMBENT, "tiers", tiers, source=f"{when}: {last.option}")
            return Option(INCUMBENT, "optimizer", source=f"{when}: {last.option} (today's model)")
    first = email.publish.safety.incumbent_frequency
    k = int(first) if first is not None else int(round(anchor))
    why = "email.publish.safety.incumbent_frequency" if first is not None else "the history's most common frequency"
    return Option(INCUMBENT, "fixed", k=k, source=f"first run: {why}")


@dataclass
class Evaluated:
    """One option's estimates on the replayed holdout and its verdict."""

    option: Option
    rows: int | None = None
    matched: int | None = None
    dr: float | None = None
    dr_se: float | None = None
    ips: float | None = None
    ips_se: float | None = None
    dm: float | None = None
    unsubscribe_dr: float | None = None
    emails: float | None = None
    zero_share: float | None = None
    estimator: str = "dr"  # what value / diff / lower_bound come from: smoothed | dr
    value: float | None = None  # the estimator's value per user-week
    value_se: float | None = None
    diff: float | None = None  # V(option) − V(incumbent), paired, by the estimator
    diff_se: float | None = None
    dr_diff: float | None = None  # the doubly robust paired difference, always reported beside it
    dr_diff_se: float | None = None
    lower_bound: float | None = None  # V(incumbent) + diff − z·diff_se
    safe: bool = False
    failures: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class Choice:
    chosen: Option
    reason: str
    evaluated: list[Evaluated]
    arms: dict[int, dict[int, tuple[float, float]]] | None = None  # bin → {k: (value, se)}: the holdout's allocation


#: First moments per (group, t): rows, DR / DR-unsubscribe / IPS terms, the model's value, k, k², zeros, matches.
MOMENTS = ("n", "dr", "du", "dm", "w", "wr", "w2", "w2r", "w2r2", "k", "k2", "zero", "matched")


@dataclass
class GroupStats:
    """Per-row DR terms of every candidate frequency t, summed per group — (bin, optimiser's k) — and t, with
    the cross-products of two t's: enough to value *any* option (a map group → t) and any paired difference
    of two options on the driver, exactly as row-level sums would (:func:`sendopt.lifecycle.estimators.estimates`).
    """

    frequencies: tuple[int, ...]
    first: dict[tuple[int, int, int], dict[str, float]]  # (bin, optimal k, t) → MOMENTS sums
    cross: dict[tuple[int, int, int, int], float]  # (bin, optimal k, t, t') → Σ dr_t · dr_t'
    cross_dm: dict[tuple[int, int, int, int], float]  # (bin, optimal k, t, t') → Σ dm_t · dm_t'
    residual: dict[tuple[int, int], tuple[float, float, float]]  # (bin, logged k) → (n, Σe, Σe²), e = r − q_logged

    def residual_curves(self, degree: int, pooling: str = "bin") -> dict[int, est.ResidualCurve]:
        """One residual curve per bin (``pooling="bin"``: the tiers pick k per bin, so the model's error may
        differ by bin; a bin whose holdout logged too few distinct k borrows the curve of all bins together),
        or the curve of all bins together for every bin (``"market"``: ten times the rows per curve, assuming
        the model's error varies with k alike in every bin). Bins sharing a curve share the same object, which
        :meth:`smoothed` relies on for the variance."""
        pooled: dict[int, list[float]] = {}
        for (_, k), sums in self.residual.items():
            pooled[k] = [a + b for a, b in zip(pooled.get(k, [0.0, 0.0, 0.0]), sums, strict=True)]
        everyone = est.residual_curve({k: tuple(v) for k, v in pooled.items()}, degree)
        curves = {}
        for b in sorted({b for b, _ in self.residual}):
            try:
                curves[b] = everyone if pooling == "market" else est.residual_curve(
                    {k: v for (bb, k), v in self.residual.items() if bb == b}, degree)
            except ValueError:
                curves[b] = everyone
        return curves

    @property
    def groups(self) -> list[tuple[int, int]]:
        return sorted({(b, o) for b, o, _ in self.first})

    def pick(self, option: Option) -> dict[tuple[int, int], int]:
        """The option's t in each group."""
        if option.kind == "fixed":
            return {g: int(option.k) for g in self.groups}
        if option.kind == "optimizer":
            return {g: g[1] for g in self.groups}
        return {g: int(option.tier_map.get(g[0], 0)) for g in self.groups}

    def sums(self, option: Option) -> dict[str, float]:
        """The estimator's sufficient statistics of the option (``dr2`` from the cross-products)."""
        out = dict.fromkeys((*MOMENTS, "dr2"), 0.0)
        for g, t in self.pick(option).items():
            for name, v in self.first.get((*g, t), {}).items():
                out[name] += v
            out["dr2"] += self.cross.get((*g, t, t), 0.0)
        return out

    def difference(self, a: Option, b: Option) -> est.Estimate:
        """DR of V(a) − V(b) on the same rows, with the standard error of the per-row differences."""
        ta, tb = self.pick(a), self.pick(b)
        n = dr = dr2 = 0.0
        for g in self.groups:
            x, y = ta[g], tb[g]
            n += self.first.get((*g, x), {}).get("n", 0.0)
            dr += self.first.get((*g, x), {}).get("dr", 0.0) - self.first.get((*g, y), {}).get("dr", 0.0)
            dr2 += (self.cross.get((*g, x, x), 0.0) - 2 * self.cross.get((*g, x, y), 0.0)
                    + self.cross.get((*g, y, y), 0.0))
        zeros = dict.fromkeys(("w", "wr", "w2", "w2r", "w2r2"), 0.0)
        return est.estimates({"n": n, "dr": dr, "dr2": dr2, **zeros}).dr

    def smoothed(self, a: Option, curves: dict[int, est.ResidualCurve], b: Option | None = None) -> est.Estimate:
        """V(a) (or V(a) − V(b) on the same rows): mean of the model's value at the option's k plus its bin's
        residual curve at that k. Variance: the model values' spread plus each curve's φ̄ᵀ·cov·φ̄, with φ̄ summed
        over the bins that share the curve (distinct curves come from disjoint rows; a shared one is one
        estimate, so its bins' errors add up before squaring)."""
        ta, tb = self.pick(a), self.pick(b) if b is not None else {}
        n = dm = dm2 = 0.0
        phis: dict[int, list[float]] = {}  # bin → Σ 1, Σ k, Σ k² over its rows (differences for a pair)
        for g in self.groups:
            x, y = ta[g], tb.get(g)
            fx, fy = self.first.get((*g, x), {}), self.first.get((*g, y), {}) if y is not None else {}
            n += fx.get("n", 0.0)
            dm += fx.get("dm", 0.0) - fy.get("dm", 0.0)
            dm2 += self.cross_dm.get((*g, x, x), 0.0)
            if y is not None:
                dm2 += self.cross_dm.get((*g, y, y), 0.0) - 2 * self.cross_dm.get((*g, x, y), 0.0)
            phi = phis.setdefault(g[0], [0.0, 0.0, 0.0])
            for j, m in enumerate(("n", "k", "k2")):
                phi[j] += fx.get(m, 0.0) - fy.get(m, 0.0)
        mean = dm / n
        value, var = mean, max(dm2 / n - mean * mean, 0.0) / max(n - 1.0, 1.0)
        shared: dict[int, tuple[est.ResidualCurve, np.ndarray]] = {}  # id(curve) → (curve, Σ of its bins' φ̄)
        for bin_, phi in phis.items():
            curve = curves[bin_]
            basis = np.array(phi[:curve.degree + 1]) / n
            value += float(basis @ curve.beta)
            prev = shared.get(id(curve))
            shared[id(curve)] = (curve, basis if prev is None else prev[1] + basis)
        for curve, basis in shared.values():
            var += float(basis @ curve.cov @ basis)
        return est.Estimate(value, var ** 0.5)


def gate_curves(stats: GroupStats, email: EmailConfig) -> tuple[dict[int, est.ResidualCurve] | None, str | None]:
    """The smoothed estimator's residual curves (``None`` with the ``dr`` estimator), and why they are missing
    when the holdout logged too few distinct k for them (the gate then uses DR and says so)."""
    safety = email.publish.safety
    if safety.estimator != "smoothed":
        return None, None
    try:
        return stats.residual_curves(safety.residual_degree, safety.residual_pooling), None
    except ValueError as exc:
        return None, f"smoothed estimator unavailable ({exc}): DR used"


def arm_values(stats: GroupStats, email: EmailConfig) -> dict[int, dict[int, tuple[float, float]]]:
    """Per replay bin and candidate frequency t: everyone-in-the-bin-at-t's value per user-week and its standard
    error, by the gate's estimator (smoothed: the model's mean value plus the bin's residual curve at t, whose
    covariance gives the error; dr, or too few logged k for a curve: the bin's doubly robust mean) — what
    Thompson sampling allocates the exploration holdout by (:mod:`sendopt.channels.email.exploration`)."""
    curves, _ = gate_curves(stats, email)
    sums: dict[tuple[int, int], list[float]] = {}  # (bin, t) → n, Σdm, Σdm², Σdr, Σdr²
    for (b, o, t), m in stats.first.items():
        acc = sums.setdefault((b, t), [0.0] * 5)
        for i, v in enumerate((m["n"], m["dm"], stats.cross_dm.get((b, o, t, t), 0.0), m["dr"],
                               stats.cross.get((b, o, t, t), 0.0))):
            acc[i] += v
    out: dict[int, dict[int, tuple[float, float]]] = {}
    for (b, t), (n, dm, dm2, dr, dr2) in sorted(sums.items()):
        if n <= 0:
            continue
        if curves is not None and b in curves:
            phi = est.powers(t, curves[b].degree)
            mean = dm / n + curves[b].at(t)
            var = max(dm2 / n - (dm / n) ** 2, 0.0) / n + float(phi @ curves[b].cov @ phi)
        else:
            mean, var = dr / n, max(dr2 / n - (dr / n) ** 2, 0.0) / n
        out.setdefault(int(b), {})[int(t)] = (mean, var ** 0.5)
    return out


def group_stats(rows: DataFrame, email: EmailConfig, region: str) -> GroupStats:
    """Two aggregates of the replayed rows: per (bin, optimal k, t) moments and per (…, t, t') cross-products
    (at most bins × 8 × 64 rows reach the driver, whatever the number of logged rows); with the smoothed
    estimator also the model values' cross-products and the residuals per (bin, logged k)."""
    smoothed = email.publish.safety.estimator == "smoothed"
    q_logged, u_logged, candidates = candidate_terms(email, region)
    terms = []
    for c in candidates:
        w, k = c.w, c.k
        terms.append(F.struct(
            F.lit(c.t).alias("t"), (c.q + w * (F.col("reward") - q_logged)).alias("dr"),
            (c.qu + w * (F.col("unsub") - u_logged)).alias("du"), c.q.alias("dm"),
            w.alias("w"), (w * F.col("reward")).alias("wr"), (w * w).alias("w2"),
            (w * w * F.col("reward")).alias("w2r"), (w * w * F.col("reward") * F.col("reward")).alias("w2r2"),
            k.cast("double").alias("k"), (k * k).cast("double").alias("k2"), (k == 0).cast("double").alias("zero"),
            (w > 0).cast("double").alias("matched"),
        ))
    per_row = rows.select("bin", F.col("optimal_frequency").alias("opt"), F.array(*terms).alias("ts")).cache()
    one = per_row.select("bin", "opt", F.explode("ts").alias("s"))
    first = {(r.bin, r.opt, r.t): {m: float(r[m] or 0.0) for m in MOMENTS} for r in one.groupBy(
        "bin", "opt", F.col("s.t").alias("t")).agg(
        F.count(F.lit(1)).alias("n"), *[F.sum(f"s.{m}").alias(m) for m in MOMENTS if m != "n"]).collect()}
    pairs = per_row.select("bin", "opt", F.explode("ts").alias("a"), "ts").select(
        "bin", "opt", "a", F.explode("ts").alias("b"))
    sums = [F.sum(F.col("a.dr") * F.col("b.dr")).alias("s")]
    if smoothed:
        sums.append(F.sum(F.col("a.dm") * F.col("b.dm")).alias("m"))
    cross, cross_dm = {}, {}
    for r in pairs.groupBy("bin", "opt", F.col("a.t").alias("ta"), F.col("b.t").alias("tb")).agg(*sums).collect():
        cross[(r.bin, r.opt, r.ta, r.tb)] = float(r.s or 0.0)
        if smoothed:
            cross_dm[(r.bin, r.opt, r.ta, r.tb)] = float(r.m or 0.0)
    per_row.unpersist()
    residual = {}
    if smoothed:
        e = F.col("reward") - q_logged
        residual = {(r.bin, int(r.logged_k)): (float(r.n), float(r.s or 0.0), float(r.s2 or 0.0))
                    for r in rows.groupBy("bin", "logged_k").agg(
                        F.count(F.lit(1)).alias("n"), F.sum(e).alias("s"), F.sum(e * e).alias("s2")).collect()}
    return GroupStats(tuple(email.candidate_frequencies), first, cross, cross_dm, residual)


def evaluate_options(rep: Replay, options: list[Option], email: EmailConfig, region: str,
                     z: float) -> list[Evaluated]:
    """Every option's values on the replayed holdout and its paired difference to the incumbent."""
    return evaluate_stats(group_stats(rep.rows, email, region), options, email, z)


def evaluate_stats(stats: GroupStats, options: list[Option], email: EmailConfig, z: float) -> list[Evaluated]:
    """DR (always) and the gate's estimator (``email.publish.safety.estimator``) from the replay's group sums;
    the smoothed estimator falls back to DR, saying so, when the holdout logged too few distinct k."""
    curves, note = gate_curves(stats, email)
    inc = next(o for o in options if o.name == INCUMBENT)
    marginal = {o.name: stats.sums(o) for o in options}

    def value(o: Option) -> est.Estimate:
        return stats.smoothed(o, curves) if curves is not None else est.estimates(marginal[o.name]).dr

    inc_value = value(inc).value
    out = []
    for o in options:
        s = marginal[o.name]
        e = est.estimates(s)
        u = est.estimates({**s, "dr": s["du"], "dr2": 0.0})
        v = value(o)
        ev = Evaluated(o, e.n, int(s["matched"]), e.dr.value, e.dr.se, e.ips.value, e.ips.se, e.dm, u.dr.value,
                       s["k"] / s["n"], s["zero"] / s["n"], "smoothed" if curves is not None else "dr",
                       v.value, v.se, note=note)
        if o.name != INCUMBENT:
            dr = stats.difference(o, inc)
            d = stats.smoothed(o, curves, inc) if curves is not None else dr
            ev.diff, ev.diff_se, ev.dr_diff, ev.dr_diff_se = d.value, d.se, dr.value, dr.se
            ev.lower_bound = inc_value + d.value - z * d.se
            ev.safe = is_safe(d.value, d.se, z)
        out.append(ev)
    return out


def gross_failures(e: Evaluated, incumbent: Evaluated, email: EmailConfig) -> list[str]:
    """Gross changes against the incumbent that no estimate may talk a policy into, each with its figures."""
    if e.option.name == INCUMBENT or e.emails is None:
        return []
    out = []
    moved = e.zero_share - incumbent.zero_share
    if moved > email.publish.max_zero_share_change:
        out.append(f"share at 0 emails/week {e.zero_share:.2f} vs the incumbent's {incumbent.zero_share:.2f} "
                   f"(> +{email.publish.max_zero_share_change})")
    change = e.emails - incumbent.emails
    if abs(change) > email.publish.safety.max_mean_frequency_change:
        out.append(f"mean emails/week {e.emails:.2f} vs the incumbent's {incumbent.emails:.2f} "
                   f"(|change| > {email.publish.safety.max_mean_frequency_change})")
    if e.emails == 0 and incumbent.emails > 0:
        out.append("the whole market would go silent (0 emails/week for everyone)")
    return out


def is_safe(diff: float | None, diff_se: float | None, z: float) -> bool:
    """Safe: the paired difference's lower bound at confidence ``z`` is above the incumbent (above 0)."""
    return diff is not None and diff_se is not None and diff - z * diff_se > 0


def preferred(passes: dict[str, bool], value: dict[str, float], prefer: str = CANDIDATE) -> str:
    """The gate's rule on option names (``email.publish.safety.prefer``). ``candidate``: the candidate if it
    passes (safe and sane); else the passing option of highest ``value`` other than the incumbent; else the
    incumbent. ``best``: the passing option of highest ``value``, the candidate among them; else the incumbent.
    Also what the robustness sweep's what-if applies to a stored choice table."""
    if prefer == CANDIDATE and passes.get(CANDIDATE):
        return CANDIDATE
    alternatives = [n for n, ok in passes.items() if ok and n != INCUMBENT]
    return max(alternatives, key=value.__getitem__) if alternatives else INCUMBENT


def choose(evaluated: list[Evaluated], email: EmailConfig) -> Choice:
    """Candidate if safe and sane; else the best safe, sane step towards it or baseline (by the gate's estimator);
    else the incumbent — with the reason."""
    by = {e.option.name: e for e in evaluated}
    inc, cand = by[INCUMBENT], by[CANDIDATE]
    for e in evaluated:
        e.failures = gross_failures(e, inc, email)
    z = email.publish.safety.z

    def bound(e: Evaluated) -> str:
        text = (f"{e.estimator} {e.value:.3f}, lower bound {e.lower_bound:.3f} (diff {e.diff:+.3f} ± {z}·"
                f"{e.diff_se:.3f}) vs the incumbent's {inc.value:.3f}")
        if e.estimator != "dr":
            text += f"; DR diff {e.dr_diff:+.3f} ± {e.dr_diff_se:.3f}"
        return text + (f" [{e.note}]" if e.note else "")

    pick = by[preferred({n: e.safe and not e.failures for n, e in by.items()}, {n: e.value for n, e in by.items()},
                        email.publish.safety.prefer)]
    if pick is cand:
        return Choice(cand.option, f"candidate published: {bound(cand)}", evaluated)
    why = (f"gross change: {'; '.join(cand.failures)}" if cand.failures
           else f"its lower bound does not beat the incumbent: {bound(cand)}" if not cand.safe
           else f"safe, but email.publish.safety.prefer=best and {pick.option.name} is valued higher: {bound(cand)}")
    if pick is not inc:
        return Choice(pick.option, f"candidate not published ({why}); {pick.option.name} is safe: {bound(pick)}",
                      evaluated)
    return Choice(inc.option, f"candidate not published ({why}); no baseline beats the incumbent safely: incumbent "
                  f"kept — {inc.option.describe()}, {inc.estimator} {inc.value:.3f} ± {inc.value_se:.3f}", evaluated)


def unevaluated(options: list[Option], chosen: Option, reason: str) -> Choice:
    """A choice made without estimates (safety off, or no holdout to compare on)."""
    return Choice(chosen, reason, [Evaluated(o) for o in options])


def fallback_choice(email: EmailConfig, reason: str) -> Choice:
    """The record of a run that could not choose (no champion): the safe policy was published."""
    safe = Option("safe_fallback", "fixed", k=email.publish.safe_frequency, source="email.publish.safe_frequency")
    return unevaluated([safe], safe, f"no choice made, the safe policy was published: {reason}")


def choice_frame(spark, choice: Choice, published_as: str | None, run_date: dt.date, region: str, brand: str,
                 model: str | None, version: str | None, run_id: str, config_hash: str) -> DataFrame:
    """The rows of ``analytics.email_policy_choice``: one per option, the chosen one flagged, with the reason."""
    records = []
    for e in choice.evaluated:
        o, chosen = e.option, e.option.name == choice.chosen.name
        records.append((
            run_date, region, brand, o.name, o.kind, o.describe(),
            json.dumps({str(b): k for b, k in sorted(o.tier_map.items())}) if o.tier_map else None,
            o.k, e.rows, e.matched, e.dr, e.dr_se, e.ips, e.ips_se, e.dm, e.unsubscribe_dr, e.emails, e.zero_share,
            e.diff, e.diff_se, e.lower_bound, e.safe if e.lower_bound is not None else None,
            "; ".join(e.failures) or None, chosen, choice.reason if chosen else None,
            published_as if chosen else None, model, version, run_id, config_hash,
        ))
    return spark.createDataFrame(records, POLICY_CHOICE.schema).select(*POLICY_CHOICE.column_names)


def format_choice(choice: Choice, region: str, brand: str, run_date) -> str:
    est_name = next((e.estimator for e in choice.evaluated), "dr")
    lines = [f"email policy choice {region}/{brand} on {run_date}: {choice.chosen.name} — {choice.reason}",
             f"  {'option':12} {'DR':>8} {'±se':>7} {'DR diff':>8} {'±se':>7} {est_name + ' diff':>14} {'±se':>7} "
             f"{'lower':>8} {'emails':>6} {'at 0':>5} {'safe':>5}  checks"]

    def num(v, width, fmt=".3f"):
        return f"{v:>{width}{fmt}}" if v is not None else f"{'-':>{width}}"

    for e in choice.evaluated:
        mark = "*" if e.option.name == choice.chosen.name else " "
        lines.append(f" {mark}{e.option.name:12} {num(e.dr, 8)} {num(e.dr_se, 7)} {num(e.dr_diff, 8)} "
                     f"{num(e.dr_diff_se, 7)} {num(e.diff, 14)} {num(e.diff_se, 7)} {num(e.lower_bound, 8)} "
                     f"{num(e.emails, 6, '.2f')} {num(e.zero_share, 5, '.2f')} "
                     f"{('yes' if e.safe else 'no') if e.lower_bound is not None else '-':>5}"
                     f"  {'; '.join(e.failures) or 'ok'}")
    return "\n".join(lines)


def choose_for(ctx, scored, registered) -> Choice:
    """The safe-improvement choice of one market's decision run (``scored``: :func:`decide.score_and_bin`)."""
    email = ctx.config.email
    safety = email.publish.safety
    cand = candidate_option(email, scored.tier_map)
    inc = incumbent_option(ctx.lake, ctx.region, ctx.brand, ctx.run_date, email, scored.anchor)
    options = [cand, inc, *step_options(cand, inc, email), *baseline_options(email)]
    if not safety.enabled:
        return unevaluated(options, cand, "email.publish.safety.enabled is false: the candidate is published "
                                          "without the comparison")
    try:
        rep = replay(ctx, registered)
    except SendoptError as exc:
        chosen = inc if safety.without_evidence == INCUMBENT else cand
        return unevaluated(options, chosen, f"no holdout evidence to compare on ({exc}); "
                                            f"email.publish.safety.without_evidence: {chosen.name}")
    try:
        stats = group_stats(rep.rows, email, ctx.region)
    finally:
        rep.rows.unpersist()
    choice = choose(evaluate_stats(stats, options, email, safety.z), email)
    if email.exploration.allocation == "thompson":
        choice.arms = arm_values(stats, email)
    return choice
