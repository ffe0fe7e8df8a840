"""The exploration holdout's frequencies: uniform, or allocated per bin by Thompson sampling.

A stable hash puts ``email.exploration.share`` of each market's users into the holdout (the same users every
week until the salt changes). ``allocation: uniform`` gives each of them a frequency drawn uniformly from
``exploration.frequencies`` (probability ``1/K``). ``allocation: thompson`` spends the holdout where it
costs less: in each bin, a frequency's probability is

    p(k | bin) = floor / K + (1 − floor) · P(k is the bin's best frequency)

where ``P(best)`` is read from the safe-improvement replay's value of each (bin, k) — the gate's estimator
with its standard error (:func:`sendopt.channels.email.safety.arm_values`) — by Monte Carlo draws from
independent normals. ``floor`` keeps every frequency at probability ≥ floor / K, so every off-policy estimate
(IPS / DR weights ``π / p`` with the logged ``p``) stays defined for every option. The probability of the
frequency actually drawn is what ``exploration_prob`` records, and ``raw.email_assignments.assignment_prob``
after it; the backtest and the gate weight each row by it, and the k-response head reweights the randomized
rows to the uniform design (:meth:`sendopt.channels.email.model.EmailResponseModel.fit_head`).
"""
from __future__ import annotations

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F

from sendopt.channels.email.config import ExplorationConfig
from sendopt.channels.primitives import uniform_hash

#: bin → {k: probability of k for the bin's holdout users}
Allocation = dict[int, dict[int, float]]


def uniformly_logged(prob: Column, frequencies: int | Column) -> Column:
    """Whether a logged row's probability is that of a uniform draw over ``frequencies`` (a count): such a row's
    stochastic logging policy is the uniform one; any other probability came from a Thompson-allocated holdout."""
    return F.abs(prob * frequencies - 1.0) < 1e-9


def thompson_allocation(values: dict[int, dict[int, tuple[float, float]]], explore: ExplorationConfig) -> Allocation:
    """Per bin: ``floor / K`` for every exploration frequency plus ``(1 − floor)`` times the probability that it
    is the bin's best, from ``values`` (bin → {k: (estimate, standard error)}; frequencies without an estimate
    get the floor only). Deterministic: the draws use ``explore.seed``."""
    ks = tuple(explore.frequencies)
    rng = np.random.default_rng(explore.seed)
    out: Allocation = {}
    for b, by_k in sorted(values.items()):
        valued = [k for k in ks if k in by_k]
        share = dict.fromkeys(ks, explore.floor / len(ks))
        if valued:
            mean = np.array([by_k[k][0] for k in valued])
            se = np.array([max(by_k[k][1], 0.0) for k in valued])
            draws = mean + se * rng.standard_normal((explore.draws, len(valued)))
            best = np.bincount(draws.argmax(axis=1), minlength=len(valued)) / explore.draws
            for k, p in zip(valued, best, strict=True):
                share[k] += (1.0 - explore.floor) * float(p)
        else:  # nothing valued in this bin: uniform
            share = dict.fromkeys(ks, 1.0 / len(ks))
        out[b] = share
    return out


def holdout_columns(explore: ExplorationConfig, bin_col: Column, allocation: Allocation | None = None
                    ) -> tuple[Column, Column, Column]:
    """(in the holdout, its frequency, that frequency's probability) for each user: a stable hash picks the
    holdout and, by the inverse of the bin's cumulative probabilities (uniform without ``allocation``, and for
    a bin it does not list), the frequency."""
    ks = tuple(explore.frequencies)
    in_holdout = uniform_hash(F.col("user_id"), explore.salt, "holdout") < F.lit(explore.share)
    u = uniform_hash(F.col("user_id"), explore.salt, "frequency")
    pick = F.floor(u * len(ks))
    k = F.element_at(F.array(*[F.lit(v) for v in ks]), (pick + 1).cast("int"))
    prob = F.lit(1.0 / len(ks))
    for b, share in sorted((allocation or {}).items()):
        k_b, p_b, cum = None, None, 0.0
        for i, v in enumerate(ks):
            cum = 1.0 if i == len(ks) - 1 else cum + share[v]
            k_b = (F.when(u < F.lit(cum), F.lit(v)) if k_b is None else k_b.when(u < F.lit(cum), F.lit(v)))
            p_b = (F.when(u < F.lit(cum), F.lit(share[v])) if p_b is None else p_b.when(u < F.lit(cum),
                                                                                          F.lit(share[v])))
        k = F.when(bin_col == F.lit(b), k_b.otherwise(F.lit(ks[-1]))).otherwise(k)
        prob = F.when(bin_col == F.lit(b), p_b.otherwise(F.lit(share[ks[-1]]))).otherwise(prob)
    return in_holdout, k.cast("int"), prob.cast("double")
