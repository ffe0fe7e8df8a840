"""Off-policy value estimators: inverse propensity (IPS), self-normalised IPS and doubly robust.

Logged data: per row the logged action ``a``, its logging probability ``p(a|x)``,
the observed reward ``r``, the target policy's probability of the logged action
``π(a|x)`` and, for the doubly robust estimator, a reward model's prediction at
the logged action ``q(x, a)`` and its expectation under the target policy
``Σ_k π(k|x) q(x, k)`` (the direct method). With ``w = π(a|x) / p(a|x)``:

* IPS   ``V = mean(w·r)`` — unbiased with correct propensities, high variance;
* SNIPS ``V = Σ w·r / Σ w`` — slightly biased, far steadier when weights are large;
* DR    ``V = mean(q_π + w·(r − q(x, a)))`` — unbiased if either the propensities or
  the reward model are right, and low-variance when the model is good.

Each estimator reduces to a handful of sums, so the same formulas serve numpy
arrays (tests, the calibration search on the driver) and Spark columns (the
backtest over millions of logged rows): :func:`sum_columns` builds the Spark
aggregates, :func:`array_sums` the numpy ones, :func:`estimates` turns either into
values with standard errors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F

#: The sufficient statistics every estimator is computed from.
SUMS = ("n", "w", "wr", "w2", "w2r", "w2r2", "dr", "dr2", "dm")


@dataclass(frozen=True)
class Estimate:
    value: float
    se: float

    @property
    def ci95(self) -> tuple[float, float]:
        return self.value - 1.96 * self.se, self.value + 1.96 * self.se


@dataclass(frozen=True)
class Estimates:
    n: int
    ips: Estimate
    snips: Estimate
    dr: Estimate | None
    dm: float | None
    effective_n: float  # (Σw)² / Σw²: how many rows the weighted estimate is worth


def _terms(r, p, pi, q_logged, q_target, xp):
    """Per-row terms; ``xp`` is numpy or a column namespace with the same operators."""
    w = pi / p
    terms = {"n": 1.0 + 0.0 * w, "w": w, "wr": w * r, "w2": w * w, "w2r": w * w * r, "w2r2": w * w * r * r}
    if q_logged is not None and q_target is not None:
        dr = q_target + w * (r - q_logged)
        terms.update(dr=dr, dr2=dr * dr, dm=q_target)
    return terms


def array_sums(reward, logged_prob, target_prob, q_logged=None, q_target=None) -> dict[str, float]:
    """Sufficient statistics of numpy arrays (one entry per logged row)."""
    arrays = [np.asarray(a, dtype=float) if a is not None else None
              for a in (reward, logged_prob, target_prob, q_logged, q_target)]
    if np.any(arrays[1] <= 0):
        raise ValueError("logged_prob must be > 0 for every logged row (a zero-propensity row cannot be reweighted)")
    return {k: float(np.sum(v)) for k, v in _terms(*arrays, np).items()}


def sum_columns(reward: Column, logged_prob: Column, target_prob: Column, q_logged: Column | None = None,
                q_target: Column | None = None, prefix: str = "") -> list[Column]:
    """Spark aggregate expressions for the sufficient statistics, aliased ``<prefix><name>``."""
    terms = _terms(reward.cast("double"), logged_prob.cast("double"), target_prob.cast("double"),
                   q_logged, q_target, F)
    return [F.sum(v).alias(f"{prefix}{k}") for k, v in terms.items()]


def estimates(sums: dict[str, float], prefix: str = "") -> Estimates:
    """IPS, SNIPS, DR (when its sums are present) and the direct method from the sufficient statistics."""
    s = {k: float(sums[prefix + k]) for k in SUMS if sums.get(prefix + k) is not None}
    n = s["n"]
    if n <= 0:
        raise ValueError("no logged rows to estimate from")

    def mean_se(total: float, squares: float) -> Estimate:
        mean = total / n
        var = max(squares / n - mean * mean, 0.0) * n / max(n - 1.0, 1.0)
        return Estimate(mean, math.sqrt(var / n))

    ips = mean_se(s["wr"], s["w2r2"])
    if s["w"] > 0:
        v = s["wr"] / s["w"]
        # delta method: Var(Σwr/Σw) ≈ Σ w²(r − v)² / (Σw)²
        resid = max(s["w2r2"] - 2 * v * s["w2r"] + v * v * s["w2"], 0.0)
        snips = Estimate(v, math.sqrt(resid) / s["w"])
    else:
        snips = Estimate(float("nan"), float("nan"))
    dr = mean_se(s["dr"], s["dr2"]) if "dr" in s else None
    dm = s["dm"] / n if "dm" in s else None
    effective_n = s["w"] ** 2 / s["w2"] if s["w2"] > 0 else 0.0
    return Estimates(int(round(n)), ips, snips, dr, dm, effective_n)


def ips(reward, logged_prob, target_prob) -> float:
    return estimates(array_sums(reward, logged_prob, target_prob)).ips.value


def snips(reward, logged_prob, target_prob) -> float:
    return estimates(array_sums(reward, logged_prob, target_prob)).snips.value


def doubly_robust(reward, logged_prob, target_prob, q_logged, q_target) -> float:
    return estimates(array_sums(reward, logged_prob, target_prob, q_logged, q_target)).dr.value


def from_matrices(actions, logged_prob, reward, target_probs, q_hat) -> Estimates:
    """Estimates from action indices and ``[n, K]`` matrices of target probabilities and model predictions."""
    actions = np.asarray(actions, dtype=int)
    target_probs, q_hat = np.asarray(target_probs, dtype=float), np.asarray(q_hat, dtype=float)
    rows = np.arange(len(actions))
    return estimates(array_sums(reward, logged_prob, target_probs[rows, actions], q_hat[rows, actions],
                                (target_probs * q_hat).sum(axis=1)))


@dataclass(frozen=True)
class ResidualCurve:
    """The reward model's mean residual ``E[r − q(x, a) | a]`` as a polynomial in a numeric, randomized action.

    Where the logged action is drawn independently of ``x`` (a uniform exploration holdout), regressing
    the residual on the action estimates the model's average error *at each action*, from every logged row.
    The doubly robust correction of a policy's value uses only the ~1/K rows whose action matches the
    policy's; the smoothed correction ``mean_x q(x, π(x)) + c(π(x))`` uses all of them, so a paired
    difference of two policies a few actions apart has a far smaller standard error. The price is an
    assumption — the model's error varies with the action like a low-degree polynomial (and not with
    ``x`` beyond that) — which the doubly robust value beside it keeps honest.
    ``cov`` is the heteroskedasticity-robust (HC0) covariance of ``beta``.
    """

    degree: int
    beta: np.ndarray  # [1, a, a², …] coefficients
    cov: np.ndarray

    def at(self, action: float) -> float:
        return float(powers(action, self.degree) @ self.beta)


def powers(action: float, degree: int) -> np.ndarray:
    """The curve's regressors ``1, a, …, a^degree``."""
    return np.array([float(action) ** j for j in range(degree + 1)])


def residual_curve(per_action: dict[float, tuple[float, float, float]], degree: int) -> ResidualCurve:
    """Least squares of the residual on ``1, a, …, a^degree`` from per-action sums ``a → (n, Σe, Σe²)``
    (exactly the row-level regression, since the regressors only depend on the action)."""
    actions = sorted(a for a, (n, _, _) in per_action.items() if n > 0)
    if len(actions) <= degree:
        raise ValueError(f"a degree-{degree} residual curve needs more than {degree} logged actions, got "
                         f"{len(actions)}")
    x = np.array([powers(a, degree) for a in actions])
    n, s1, s2 = (np.array([per_action[a][i] for a in actions], dtype=float) for i in range(3))
    bread = np.linalg.inv((x.T * n) @ x)
    beta = bread @ (x.T @ s1)
    fitted = x @ beta
    squares = np.maximum(s2 - 2 * s1 * fitted + n * fitted * fitted, 0.0)  # Σ (e − ê)² per action
    return ResidualCurve(degree, beta, bread @ ((x.T * squares) @ x) @ bread)
