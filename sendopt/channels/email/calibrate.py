"""Threshold calibration: search the email bin → tier mapping that maximises the doubly robust net value.

A tier policy gives every user of bin ``b`` the same frequency ``t_b`` (then hard
rules). Its DR value on the replayed exploration rows splits by bin::

    V = (1/N) Σ_b [ Σ_{i∈b} q_i(k_i(t_b)) + Σ_{i∈b, a_i = k_i(t_b)} (r_i − q_i(a_i)) / p_i ]

where ``k_i(t)`` is ``t`` after user ``i``'s hard rules. So one Spark aggregate of
these sums per (bin, t) — bins × candidate frequencies rows — is enough to value
*any* threshold set on the driver in microseconds, and Optuna (TPE, seeded) searches
the ``max_bin`` boundaries and, optionally, each tier's frequency (every combination
when there are no more of them than trials), subject to an
unsubscribe-rate constraint valued the same way. The current tiers are the first
trial, so the proposal is never worse than today by this estimate. The result is a
YAML file for review — production config is never touched.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import yaml
from pyspark.sql import Column
from pyspark.sql import functions as F

from sendopt.channels.email.config import EmailConfig, Tier
from sendopt.channels.email.decide import at_k, config_tier_map, hard_rules
from sendopt.lifecycle.experiment_config import CalibrationConfig

if TYPE_CHECKING:
    from sendopt.runner import JobContext

log = logging.getLogger(__name__)

#: Per (bin, t) sums: q = Σ q(k(t)), c = DR correction, qu/cu the same for P(unsubscribe), wr/wu IPS, k = Σ k(t).
STATS = ("q", "c", "qu", "cu", "wr", "wu", "k")


@dataclass
class BinStats:
    """Sums per bin (rows, 1..bins) and candidate frequency (columns, email.candidate_frequencies order)."""

    n: int
    frequencies: tuple[int, ...]
    sums: dict[str, np.ndarray]  # name → [bins, len(frequencies)]

    def value(self, tier_map: dict[int, int]) -> dict[str, float]:
        idx = [self.frequencies.index(tier_map[b]) for b in range(1, self.sums["q"].shape[0] + 1)]
        rows = np.arange(len(idx))

        def total(name):
            return float(self.sums[name][rows, idx].sum()) / self.n

        return {"dr_net_value": total("q") + total("c"), "ips_net_value": total("wr"),
                "dr_unsubscribe_rate": total("qu") + total("cu"), "ips_unsubscribe_rate": total("wu"),
                "emails_per_user": total("k")}


@dataclass
class CalibrationResult:
    current_tiers: tuple[Tier, ...]
    proposal_tiers: tuple[Tier, ...]
    current: dict[str, float]
    proposal: dict[str, float]
    max_unsubscribe_rate: float
    trials: int
    feasible_trials: int
    rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def proposal_map(self) -> dict[int, int]:
        bins = self.proposal_tiers[-1].max_bin
        return {b: next(t.emails_per_week for t in self.proposal_tiers if b <= t.max_bin) for b in range(1, bins + 1)}


@dataclass(frozen=True)
class CandidateTerms:
    """One candidate frequency's pieces of the replay's doubly robust sums, as columns of a replayed row."""

    t: int  # the candidate frequency
    k: Column  # what the market's hard rules make of it
    w: Column  # 1{logged frequency = k} / logged propensity
    q: Column  # the model's net value at k
    qu: Column  # the model's P(unsubscribe) at k


def candidate_terms(email: EmailConfig, region: str) -> tuple[Column, Column, list[CandidateTerms]]:
    """(model net value at the logged frequency, its P(unsubscribe), each candidate's terms) — what every
    DR sum over the replay (tier calibration here, safe improvement in safety.py) is built from."""
    by_k, logged_k = F.col("by_k"), F.col("logged_k")
    terms = []
    for t in email.candidate_frequencies:
        k = hard_rules(F.lit(t), email, region)[0]
        terms.append(CandidateTerms(t, k, (logged_k == k).cast("double") / F.col("prob"),
                                    at_k(by_k, k, "choice_value"), at_k(by_k, k, "p_unsubscribe")))
    return at_k(by_k, logged_k, "net_value"), at_k(by_k, logged_k, "p_unsubscribe"), terms


def bin_stats(rows, email: EmailConfig, region: str) -> BinStats:
    """One Spark aggregate of the replayed rows into bins × candidate-frequency sums (small: collected)."""
    q_logged, u_logged, terms = candidate_terms(email, region)
    per_t = [F.struct(
        F.lit(c.t).alias("t"), c.q.alias("q"), (c.w * (F.col("reward") - q_logged)).alias("c"),
        c.qu.alias("qu"), (c.w * (F.col("unsub") - u_logged)).alias("cu"),
        (c.w * F.col("reward")).alias("wr"), (c.w * F.col("unsub")).alias("wu"), c.k.cast("double").alias("k"),
    ) for c in terms]
    exploded = rows.select("bin", F.explode(F.array(*per_t)).alias("s"))
    agg = exploded.groupBy("bin", F.col("s.t").alias("t")).agg(
        F.count(F.lit(1)).alias("n"), *[F.sum(f"s.{name}").alias(name) for name in STATS]
    ).collect()  # bins × candidate frequencies rows
    freqs = tuple(email.candidate_frequencies)
    sums = {name: np.zeros((email.bins, len(freqs))) for name in STATS}
    counts = np.zeros(email.bins)
    for r in agg:
        j = freqs.index(r.t)
        for name in STATS:
            sums[name][r.bin - 1, j] = r[name] or 0.0
        counts[r.bin - 1] = r.n
    return BinStats(int(counts.sum()), freqs, sums)


def _tiers_of(bounds: list[int], freqs: list[int]) -> tuple[Tier, ...]:
    return tuple(Tier(max_bin=b, emails_per_week=f) for b, f in zip(bounds, freqs, strict=True))


def search(stats: BinStats, email: EmailConfig, cfg: CalibrationConfig) -> CalibrationResult:
    """Optuna TPE over the tier boundaries (and frequencies); the unsubscribe rate is a constraint."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    current = stats.value(config_tier_map(email))
    limit = (cfg.max_unsubscribe_rate if cfg.max_unsubscribe_rate is not None
             else current["dr_unsubscribe_rate"] * (1 + cfg.unsubscribe_tolerance))
    m, bins = len(email.tiers), email.bins

    def objective(trial):
        bounds, low = [], 1
        for i in range(m - 1):
            b = trial.suggest_int(f"max_bin_{i}", low, bins - (m - 1 - i))
            bounds.append(b)
            low = b + 1
        bounds.append(bins)
        freqs = [trial.suggest_categorical(f"emails_{i}", list(stats.frequencies)) if cfg.search_frequencies
                 else t.emails_per_week for i, t in enumerate(email.tiers)]
        tiers = _tiers_of(bounds, freqs)
        tier_map = {b: next(t.emails_per_week for t in tiers if b <= t.max_bin) for b in range(1, bins + 1)}
        v = stats.value(tier_map)
        rising = sum(max(0, freqs[i + 1] - freqs[i]) for i in range(m - 1)) if cfg.monotone else 0
        trial.set_user_attr("constraints", (v["dr_unsubscribe_rate"] - limit, float(rising)))
        trial.set_user_attr("tiers", [[t.max_bin, t.emails_per_week] for t in tiers])
        trial.set_user_attr("estimate", v)
        return v["dr_net_value"]

    with warnings.catch_warnings():  # constraints_func is flagged experimental by Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        space = math.comb(bins - 1, m - 1) * (len(stats.frequencies) ** m if cfg.search_frequencies else 1)
        if space <= cfg.trials:  # small enough to try every threshold set: exact
            sampler = optuna.samplers.BruteForceSampler(seed=cfg.seed)
        else:
            # multivariate + group: the boundaries and frequencies interact and the space is conditional
            # (a later boundary's range depends on the earlier one); found the optimum far more often in tests
            sampler = optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=max(10, cfg.trials // 5),
                                                 multivariate=True, group=True,
                                                 constraints_func=lambda t: t.user_attrs["constraints"])
        study = optuna.create_study(direction="maximize", sampler=sampler)
        first = {f"max_bin_{i}": t.max_bin for i, t in enumerate(email.tiers[:-1])}
        if cfg.search_frequencies:
            first.update({f"emails_{i}": t.emails_per_week for i, t in enumerate(email.tiers)})
        study.enqueue_trial(first)
        study.optimize(objective, n_trials=cfg.trials)

    feasible = [t for t in study.trials if t.value is not None
                and all(c <= 1e-9 for c in t.user_attrs["constraints"])]  # float slack
    notes = []
    if feasible:
        best = max(feasible, key=lambda t: t.value)
        tiers = _tiers_of(*map(list, zip(*best.user_attrs["tiers"], strict=True)))
        estimate = best.user_attrs["estimate"]
    else:
        notes.append(f"no trial met the unsubscribe constraint {limit:.5f}: the current tiers are kept")
        tiers, estimate = tuple(email.tiers), current
    if tiers == tuple(email.tiers):
        notes.append("the current tiers are the best found: no change proposed")
    if email.tier_source == "model":
        notes.append("email.tier_source is 'model': decide-email takes each tier's k from the model, so only the "
                     "max_bin thresholds apply as is; the frequencies apply with tier_source: config")
    return CalibrationResult(tuple(email.tiers), tiers, current, estimate, limit, len(study.trials), len(feasible),
                             stats.n, notes)


def calibrate_tiers(rep, email: EmailConfig, cfg: CalibrationConfig, region: str) -> CalibrationResult:
    result = search(bin_stats(rep.rows, email, region), email, cfg)
    log.info("stage=calibrate-tiers current=%s proposal=%s estimate=%s", result.current_tiers,
             result.proposal_tiers, result.proposal)
    return result


def proposal_document(result: CalibrationResult, meta: dict) -> dict:
    def tiers(ts):
        return [{"max_bin": t.max_bin, "emails_per_week": t.emails_per_week} for t in ts]

    def rounded(d):
        return {k: round(float(v), 6) for k, v in d.items()}

    return {
        "proposal": {**meta, "rows": result.rows, "trials": result.trials, "feasible_trials": result.feasible_trials,
                     "max_unsubscribe_rate": round(result.max_unsubscribe_rate, 6), "notes": result.notes},
        "email": {"tiers": tiers(result.proposal_tiers)},
        "estimate": {"current": {"tiers": tiers(result.current_tiers), **rounded(result.current)},
                     "proposal": {"tiers": tiers(result.proposal_tiers), **rounded(result.proposal)}},
    }


def write_proposal(ctx: JobContext, rep, result: CalibrationResult) -> str:
    """``<proposal_dir>/email_tiers_<region>_<brand>_<date>.yaml``; the path is returned (and printed)."""
    cfg = ctx.config.lifecycle.backtest.calibration
    folder = cfg.proposal_dir or os.path.join(os.path.abspath(ctx.config.lake.root), "_proposals")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"email_tiers_{ctx.region}_{ctx.brand}_{ctx.run_date}.yaml")
    meta = {"region": ctx.region, "brand": ctx.brand, "date": str(ctx.run_date), "run_id": ctx.run_id,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "model": f"{rep.model_name}/v{rep.model_version}", "weeks": [str(w) for w in rep.weeks],
            "objective": "doubly robust net value per user-week on the logged exploration holdout"}
    header = (f"# Email tier proposal from calibrate-tiers — REVIEW BEFORE USE. Nothing reads this file.\n"
              f"# To adopt it, copy the `email.tiers` block into conf/regions/{ctx.region}-{ctx.brand}.yaml.\n")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + yaml.safe_dump(proposal_document(result, meta), sort_keys=False))
    return path
