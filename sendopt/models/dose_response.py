"""A pooled dose-response head on top of a response booster: how the outcome moves with the treatment.

Why: a tree model learns the effect of the treatment (e.g. emails per week) only where
its splits reach it, and only randomized rows vary the treatment — a small share of
the data — so the booster's k-curve comes out flat and noisy, and decisions built on
it send too little or too much. The head fixes the shape of the problem instead:

    logit_c(x, t) = booster_c(x, t = anchor) + delta_c(t)        (class 0 is the reference, delta = 0)

The booster supplies who the customer is, at the treatment level with the most data
(``anchor``); ``delta`` — one number per (level, class) — is fitted on the randomized
rows only, with the booster's logits as a fixed offset, so it is identified by the
randomization and pooled over every randomized row. Heterogeneity in probability space
still follows from each customer's own base rates through the softmax. Levels where a
class is impossible by construction (no email, no email unsubscribe) are structural zeros.

The fit reads a bounded sample of randomized rows (``max_rows``) on the driver:
(levels × classes) parameters, L-BFGS on the exact multinomial likelihood.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.models.spec import ModelError

TAG = "dose_response"


@dataclass(frozen=True)
class DoseResponse:
    treatment: str
    levels: tuple[float, ...]
    anchor: float
    delta: tuple[tuple[float, ...], ...]  # [level][class]; class 0 and the anchor level are 0
    zeros: dict[int, tuple[float, ...]] = field(default_factory=dict)  # class -> levels where P = 0
    rows: int = 0
    #: the carry-over of the previous period's treatment: the feature that measures it (``carry_feature``,
    #: e.g. last week's sends) and one logit slope per class (class 0: 0) on (feature − anchor)
    carry_feature: str | None = None
    carry: tuple[float, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"treatment": self.treatment, "levels": self.levels, "anchor": self.anchor,
                           "delta": self.delta, "zeros": {str(c): v for c, v in self.zeros.items()},
                           "rows": self.rows, "carry_feature": self.carry_feature, "carry": self.carry})

    @classmethod
    def from_json(cls, text: str) -> DoseResponse:
        d = json.loads(text)
        return cls(d["treatment"], tuple(d["levels"]), d["anchor"], tuple(tuple(r) for r in d["delta"]),
                   {int(c): tuple(v) for c, v in d["zeros"].items()}, d.get("rows", 0),
                   d.get("carry_feature"), tuple(d.get("carry") or ()))

    def level_index(self, t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.levels), t)
        bad = (idx >= len(self.levels)) | (np.asarray(self.levels)[np.minimum(idx, len(self.levels) - 1)] != t)
        if bad.any():
            raise ModelError(f"{self.treatment} values {sorted(set(t[bad].tolist()))[:5]} are not levels "
                             f"{self.levels} of the dose-response head")
        return idx

    def mask(self, num_class: int) -> np.ndarray:
        """[level][class] True where the class is impossible."""
        m = np.zeros((len(self.levels), num_class), dtype=bool)
        for c, levels in self.zeros.items():
            for lv in levels:
                if lv in self.levels:
                    m[self.levels.index(lv), c] = True
        return m


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _positions(levels: tuple[float, ...], scale: str) -> np.ndarray:
    """Where the smoothness prior places each level: the level itself, or log(1 + level) over the same span."""
    x = np.asarray(levels, dtype=float)
    if scale == "linear":
        return x
    if scale != "log1p":
        raise ModelError(f"dose-response scale {scale!r}: expected linear or log1p")
    if x.min() <= -1:
        raise ModelError(f"log1p scale needs levels > -1, got {levels}")
    t = np.log1p(x)
    return x.min() + (t - t.min()) * (x.max() - x.min()) / max(t.max() - t.min(), 1e-12)


def fit_dose_response(base: np.ndarray, t: np.ndarray, y: np.ndarray, w: np.ndarray | None, *,
                      treatment: str, levels: Sequence[float], anchor: float,
                      zeros: dict[int, Sequence[float]] | None = None, ridge: float = 1.0,
                      smoothness: float = 0.0, scales: dict[int, str] | None = None,
                      prior: DoseResponse | None = None, prior_strength: float = 0.0,
                      prev: np.ndarray | None = None, carry_feature: str | None = None,
                      carry_classes: Sequence[int] | None = None) -> DoseResponse:
    """Penalised maximum-likelihood ``delta`` given fixed base logits (n × C), treatment levels and labels.

    ``ridge`` is an L2 penalty (it keeps levels with little data near the anchor);
    ``smoothness`` penalises second differences of each class's curve over consecutive
    levels (a P-spline-like prior: large values tend to a straight line). Both are in
    units of rows' log-likelihood. ``scales`` (class → ``linear`` | ``log1p``) says on which axis a class's
    curve is pulled towards a straight line: ``log1p`` places level t at log(1 + t) (rescaled to the levels'
    span), so the prior is a curve of diminishing returns — for a purchase response that saturates, a
    straight line in t flattens the steep first steps, which is where the choice between 0 and a few
    emails is made. ``prior`` (a head fitted on more rows — every market's randomized weeks) and
    ``prior_strength`` (in rows, like ``ridge``) shrink the curve towards that shared curve instead of
    leaving a thin market's levels to their own few rows: a hierarchical pull, strong where this
    market's data are thin and negligible where they are many.

    ``prev`` (the previous period's treatment per row, measured by ``carry_feature``) adds one slope per
    class on (prev − anchor): the carry-over of last period's dose (fatigue memory: last week's sends still
    raise this week's unsubscribes). On randomized rows whose previous level was randomized too it is
    identified like ``delta``; the base logits must then be scored with the feature held at the anchor, so
    the head owns its whole effect. A policy that keeps the dose t every period is valued with prev = t.
    ``carry_classes`` limits the slopes to those classes (default: every class but the reference).
    """
    from scipy.optimize import minimize

    levels = tuple(float(v) for v in levels)
    if anchor not in levels:
        raise ModelError(f"anchor {anchor} is not one of the levels {levels}")
    n, num_class = base.shape
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    head = DoseResponse(treatment, levels, float(anchor), (), {c: tuple(map(float, v)) for c, v in
                                                                  (zeros or {}).items()}, n)
    li = head.level_index(np.asarray(t, dtype=float))
    y = np.asarray(y, dtype=int)
    mask = head.mask(num_class)
    free = np.ones((len(levels), num_class), dtype=bool)
    free[:, 0] = False
    free[levels.index(anchor), :] = False
    free &= ~mask
    penalty = np.where(mask, -np.inf, 0.0)
    centre = np.zeros(int(free.sum()))
    if prior is None:
        prior_strength = 0.0  # no shared curve, no pull (the ridge alone pulls towards the anchor)
    elif prior_strength > 0:
        if prior.levels != levels or prior.anchor != float(anchor):
            raise ModelError(f"prior head has levels {prior.levels} / anchor {prior.anchor}; this fit "
                             f"{levels} / {float(anchor)}")
        centre = np.asarray(prior.delta, dtype=float)[free]

    def unpack(theta: np.ndarray) -> np.ndarray:
        d = np.zeros((len(levels), num_class))
        d[free] = theta
        return d

    onehot = np.eye(num_class)[y]
    # second differences over consecutive possible levels of each class: D @ d[:, c]
    diffs = []
    for c in range(1, num_class):
        ok = [i for i in range(len(levels)) if not mask[i, c]]
        x = _positions(levels, (scales or {}).get(c, "linear"))
        for a, b, e in zip(ok, ok[1:], ok[2:], strict=False):
            h1, h2 = x[b] - x[a], x[e] - x[b]  # second divided difference: [1, -2, 1] on unit spacing
            row = np.zeros((len(levels), num_class))
            row[a, c], row[b, c], row[e, c] = 2 / (h1 * (h1 + h2)), -2 / (h1 * h2), 2 / (h2 * (h1 + h2))
            diffs.append(row.ravel())
    second = np.array(diffs) if diffs else np.zeros((0, len(levels) * num_class))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = unpack(theta)
        z = base + d[li] + penalty[li]
        p = _softmax(z)
        ll = np.log(np.maximum(p[np.arange(n), y], 1e-300))
        resid = (p - onehot) * w[:, None]  # d(-ll)/dz
        grad = np.zeros_like(d)
        np.add.at(grad, li, resid)
        curve = second @ d.ravel()
        grad_smooth = (2 * smoothness * (second.T @ curve)).reshape(d.shape)
        pull = theta - centre
        value = (-(w * ll).sum() + ridge * (theta ** 2).sum() + smoothness * (curve ** 2).sum()
                 + prior_strength * (pull ** 2).sum())
        return float(value), grad[free] + 2 * ridge * theta + grad_smooth[free] + 2 * prior_strength * pull

    n_delta = int(free.sum())
    if prev is not None:  # one carry-over slope per carrying class, on (prev − anchor)
        lag = np.asarray(prev, dtype=float) - float(anchor)
        carrying = sorted({int(c) for c in (carry_classes if carry_classes is not None else range(1, num_class))}
                          - {0})
        centre = np.concatenate([centre, np.zeros(len(carrying))])

        def with_carry(theta: np.ndarray) -> tuple[float, np.ndarray]:
            gamma = np.zeros(num_class)
            gamma[carrying] = theta[n_delta:]
            d = unpack(theta[:n_delta])
            z = base + gamma[None, :] * lag[:, None] + d[li] + penalty[li]
            p = _softmax(z)
            ll = np.log(np.maximum(p[np.arange(n), y], 1e-300))
            resid = (p - onehot) * w[:, None]
            grad = np.zeros_like(d)
            np.add.at(grad, li, resid)
            curve = second @ d.ravel()
            grad_smooth = (2 * smoothness * (second.T @ curve)).reshape(d.shape)
            pull = theta[:n_delta] - centre[:n_delta]
            value = (-(w * ll).sum() + ridge * (theta ** 2).sum() + smoothness * (curve ** 2).sum()
                     + prior_strength * (pull ** 2).sum())
            g_delta = grad[free] + 2 * ridge * theta[:n_delta] + grad_smooth[free] + 2 * prior_strength * pull
            g_carry = (resid * lag[:, None]).sum(axis=0)[carrying] + 2 * ridge * theta[n_delta:]
            return float(value), np.concatenate([g_delta, g_carry])

        result = minimize(with_carry, centre.copy(), jac=True, method="L-BFGS-B")
        gamma = np.zeros(num_class)
        gamma[carrying] = result.x[n_delta:]
        carry = tuple(float(v) for v in gamma)
    else:
        result = minimize(objective, centre.copy(), jac=True, method="L-BFGS-B")
        carry, carry_feature = (), None
    delta = unpack(result.x[:n_delta])
    return DoseResponse(treatment, levels, float(anchor), tuple(tuple(float(v) for v in r) for r in delta),
                        head.zeros, n, carry_feature, carry)


def compose(df: DataFrame, raw_cols: Sequence[str], treatment_col: str, head: DoseResponse,
            out_cols: Sequence[str], prev: Column | None = None) -> DataFrame:
    """Probabilities from base logits (``raw_cols``, at the anchor) plus the head at ``treatment_col``, and
    its carry-over slopes at ``prev`` (the previous period's dose; default: the treatment itself, i.e. the
    value of keeping that dose every period).

    Plain Spark columns: a small lookup per class, a softmax — no Python UDF.
    """
    mask = head.mask(len(raw_cols))
    t = F.col(treatment_col).cast("double")
    lag = (t if prev is None else prev.cast("double")) - F.lit(head.anchor)
    logits: list[Column] = []
    for c, raw in enumerate(raw_cols):
        shift = F.lit(None).cast("double")
        for i, level in enumerate(head.levels):
            value = F.lit(None).cast("double") if mask[i, c] else F.lit(head.delta[i][c])
            shift = F.when(t == F.lit(level), value).otherwise(shift)
        if head.carry and head.carry[c]:
            shift = shift + F.lit(head.carry[c]) * F.coalesce(lag, F.lit(0.0))
        logits.append(F.col(raw) + shift)  # null = impossible (or an unknown level: caught below)
    top = F.greatest(*[F.coalesce(z, F.lit(-1e300)) for z in logits])
    exps = [F.coalesce(F.exp(z - top), F.lit(0.0)) for z in logits]
    total = sum(exps[1:], exps[0])
    known = F.lit(False)
    for level in head.levels:
        known = known | (t == F.lit(level))
    out = df
    for col_name, e in zip(out_cols, exps, strict=True):
        out = out.withColumn(col_name, F.when(known, e / total).otherwise(
            F.raise_error(F.concat(F.lit(f"{head.treatment}="), t.cast("string"),
                                   F.lit(f" is not a level {head.levels} of the dose-response head")))))
    return out
