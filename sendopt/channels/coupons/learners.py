"""Multi-level meta-learners over LightGBM base models trained with ``sendopt.models.trainer.train``.

Arms: 0 = control (no coupon), 1..K = the levels ascending. Every learner predicts, for every
customer and arm k, the conversion probability ``conv_k`` and the expected (gross) value
``value_k``; from those :func:`predict` derives the expected cost ``cost_k = conv_k · face_k``
(the coupon's face value is paid when a converted customer redeems it), the net value
``net_k = value_k − cost_k``, the incremental value ``inc_value_k = value_k − value_0`` and the net
effect ``tau_k = net_k − net_0`` (k ≥ 1).

* **T** — one model per arm and outcome: μ_k(x).
* **S** — one model per outcome on all rows with the arm as a categorical feature: μ(x, k).
* **X** (Künzel et al. 2019, per arm vs control) — T models, then imputed effects
  D¹ = Y − μ̂_0(x) on arm-k rows and D⁰ = μ̂_k(x) − Y on control rows, regressed on x; the two
  effect models are blended with g = n_k / (n_k + n_0): τ_k = g·τ⁰_k + (1 − g)·τ¹_k; μ_k = μ̂_0 + τ_k.
* **DR** (Kennedy 2023) — with sample splitting: T models on fold A; on fold B the pseudo-outcome
  φ_k = μ̂_k − μ̂_0 + 1[A=k](Y − μ̂_k)/e_k − 1[A=0](Y − μ̂_0)/e_0 regressed on x; μ_k = μ̂_0 + τ_k.

On observational data (``randomized`` false) :func:`propensities` fits a multiclass propensity
model, refuses with :class:`OverlapError` when too many customers have a level with propensity
below ``overlap_min``, and otherwise weights stage-1 fits by 1/e_A (IPW) and uses e_A in DR.
``monotone`` makes conversion non-decreasing in the level per customer (isotonic regression of
the K+1 predictions, max–min formula, in Spark columns).

``value = per_converter`` replaces the value outcome of every learner by a hurdle model:
value_k = conv_k · V(x, k), V one regression of the value of converted customers of every arm with
the arm as a feature. The value of a converter is then estimated from all arms' converters at
once, and a level's incremental value comes from its conversion effect — far less variance than the
difference of two per-arm regressions of a heavy-tailed outcome that is mostly zeros.
"""
from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import lightgbm as lgb
import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from sendopt.channels.coupons.config import LearnerConfig, ObservationalConfig
from sendopt.channels.coupons.metrics import hash_uniform
from sendopt.errors import SendoptError
from sendopt.models.prepare import arrow_matrix
from sendopt.models.spec import TrainSpec
from sendopt.models.trainer import train

ARM = "arm"


class OverlapError(SendoptError):
    """Propensities too close to 0 or 1: effects there would rest on extrapolation, so none are estimated."""


@dataclass
class UpliftModel:
    """A fitted learner: booster texts and, per output column, a linear combination of their predictions."""

    kind: str
    features: list[str]
    levels: list[float]  # face value per arm (arm 0 = 0)
    faces: list[float]  # cost paid per redemption per arm
    boosters: dict[str, str]
    outputs: dict[str, list[tuple[float, str, int | None]]]  # column → [(coef, booster key, arm override)]
    monotone: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def arms(self) -> int:
        return len(self.levels)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> UpliftModel:
        d = json.loads(text)
        d["outputs"] = {k: [tuple(t) for t in v] for k, v in d["outputs"].items()}
        return UpliftModel(**d)


# ---------------------------------------------------------------- scoring
def score_outputs(df: DataFrame, model: UpliftModel) -> DataFrame:
    """``df`` plus every output column of ``model`` — all boosters in one ``mapInArrow`` pass."""
    names = list(model.outputs)
    schema = StructType([*df.schema.fields, *[StructField(c, DoubleType(), True) for c in names]])
    bc = df.sparkSession.sparkContext.broadcast((model.boosters, model.outputs, model.features))

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        texts, outputs, feats = bc.value
        boosters: dict[str, lgb.Booster] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            x = arrow_matrix(batch, feats)
            cache: dict[tuple[str, int | None], np.ndarray] = {}
            cols = []
            for name in outputs:
                acc = np.zeros(batch.num_rows)
                for coef, key, arm in outputs[name]:
                    if (key, arm) not in cache:
                        if key not in boosters:
                            boosters[key] = lgb.Booster(model_str=texts[key])
                        m = x if arm is None else np.column_stack([x, np.full(batch.num_rows, float(arm))])
                        cache[(key, arm)] = boosters[key].predict(m, num_threads=1)
                    acc += coef * cache[(key, arm)]
                cols.append(pa.array(acc))
            yield pa.RecordBatch.from_arrays([*batch.columns, *cols], names=[*batch.schema.names, *names])

    return df.mapInArrow(run, schema)


def isotonic(cols: list[Column]) -> list[Column]:
    """Non-decreasing least-squares fit of a short sequence, per row: fit_i = max_{j≤i} min_{l≥i} mean(y_j..y_l)."""
    n = len(cols)

    def mean(j, ln):
        return sum(cols[j:ln + 1], F.lit(0.0)) / (ln - j + 1)

    return [F.greatest(*[F.least(*[mean(j, ln) for ln in range(i, n)], F.lit(float("inf")))
                         for j in range(i + 1)], F.lit(float("-inf"))) for i in range(n)]


def predict(df: DataFrame, model: UpliftModel) -> DataFrame:
    """conv_k, value_k, cost_k, net_k, inc_value_k and tau_k (0 for arm 0) for every arm and row of ``df``."""
    out = score_outputs(df, model)
    k1 = model.arms
    conv = [F.least(F.greatest(F.col(f"_conv_{k}"), F.lit(0.0)), F.lit(1.0)) for k in range(k1)]
    if model.monotone:
        conv = isotonic(conv)
    out = out.select("*", *[c.alias(f"conv_{k}") for k, c in enumerate(conv)])
    per_converter = f"_{CONVERTER_VALUE}_0" in model.outputs
    value = [F.col(f"conv_{k}") * F.greatest(F.col(f"_{CONVERTER_VALUE}_{k}"), F.lit(0.0)) if per_converter
             else F.col(f"_value_{k}") for k in range(k1)]
    out = out.select("*", *[v.alias(f"value_{k}") for k, v in enumerate(value)],
                     *[(F.col(f"conv_{k}") * F.lit(float(model.faces[k]))).alias(f"cost_{k}") for k in range(k1)])
    out = out.select("*", *[(F.col(f"value_{k}") - F.col(f"cost_{k}")).alias(f"net_{k}") for k in range(k1)])
    out = out.select("*", *[(F.col(f"value_{k}") - F.col("value_0")).alias(f"inc_value_{k}") for k in range(k1)],
                     *[(F.col(f"net_{k}") - F.col("net_0")).alias(f"tau_{k}") for k in range(k1)])
    return out.drop(*[c for c in out.columns if c.startswith(("_conv_", "_value_", f"_{CONVERTER_VALUE}_"))])


# ---------------------------------------------------------------- fitting
@dataclass
class Fitter:
    """Trains base models through the project's trainer; keeps every booster it made (shared by learners)."""

    spark: SparkSession
    cfg: LearnerConfig
    features: list[str]
    boosters: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def fit(self, key: str, df: DataFrame, label: str, task: str, features: list[str] | None = None,
            weight: str | None = None, categorical: list[str] | None = None, num_class: int = 2) -> str:
        if key in self.boosters:
            return key
        cfg = self.cfg
        u = hash_uniform(F.col("user_id"), zlib.crc32(key.encode()) % 100_000 + cfg.seed)
        tr, va = df.where(u >= cfg.valid_share), df.where(u < cfg.valid_share)
        spec = TrainSpec(
            features=list(features or self.features), label=label, task=task, weight=weight, num_class=num_class,
            categorical=list(categorical or []), params=dict(cfg.params), num_boost_round=cfg.num_boost_round,
            early_stopping_rounds=cfg.early_stopping_rounds, max_train_rows=cfg.max_train_rows, seed=cfg.seed)
        t0 = time.perf_counter()
        result = train(self.spark, tr, va, spec, backend=cfg.backend)
        self.seconds[key] = time.perf_counter() - t0
        self.boosters[key] = result.model_str
        return key

    @property
    def outcomes(self) -> tuple[tuple[str, str, str], ...]:
        """The outcomes every learner models: conversion, and value unless a converter-value model pools it."""
        return OUTCOMES[:1] if self.cfg.value == "per_converter" else OUTCOMES

    def model(self, kind: str, keys: set[str], outputs, levels, faces, meta=None) -> UpliftModel:
        return UpliftModel(kind, list(self.features), list(levels), list(faces),
                           {k: self.boosters[k] for k in sorted(keys)}, outputs, self.cfg.monotone, meta or {})


OUTCOMES = (("conv", "converted", "classification"), ("value", "value", "regression"))
CONVERTER_VALUE = "vconv"


def with_converter_value(fit: Fitter, df: DataFrame, model: UpliftModel, weight: str | None) -> UpliftModel:
    """``model`` plus V(x, k): one regression of converted customers' value over every arm (the arm a feature)."""
    key = fit.fit(CONVERTER_VALUE, df.where(F.col("converted") == 1), "value", "regression",
                  features=[*fit.features, ARM], weight=weight, categorical=[ARM])
    model.outputs.update({f"_{CONVERTER_VALUE}_{k}": [(1.0, key, k)] for k in range(model.arms)})
    model.boosters[key] = fit.boosters[key]
    return model


def _t_models(fit: Fitter, df: DataFrame, arms: int, prefix: str, weight: str | None) -> dict:
    outputs = {}
    for short, label, task in fit.outcomes:
        for k in range(arms):
            key = fit.fit(f"{prefix}_{short}_{k}", df.where(F.col(ARM) == k), label, task, weight=weight)
            outputs[f"_{short}_{k}"] = [(1.0, key, None)]
    return outputs


def _keys(outputs) -> set[str]:
    return {key for terms in outputs.values() for _, key, _ in terms}


def fit_t(fit: Fitter, df: DataFrame, arms: int, levels, faces, weight=None) -> UpliftModel:
    outputs = _t_models(fit, df, arms, "t", weight)
    return fit.model("t", _keys(outputs), outputs, levels, faces)


def fit_s(fit: Fitter, df: DataFrame, arms: int, levels, faces, weight=None) -> UpliftModel:
    feats = [*fit.features, ARM]
    outputs = {}
    for short, label, task in fit.outcomes:
        key = fit.fit(f"s_{short}", df, label, task, features=feats, weight=weight, categorical=[ARM])
        for k in range(arms):
            outputs[f"_{short}_{k}"] = [(1.0, key, k)]
    model = fit.model("s", _keys(outputs), outputs, levels, faces)
    return model


def _stage1(fit: Fitter, df: DataFrame, base: UpliftModel) -> DataFrame:
    """``df`` with the stage-1 predictions mu_<outcome>_<k> of a T model (raw, unclipped)."""
    scored = score_outputs(df, base)
    return scored.select(*df.columns, *[F.col(f"_{s}_{k}").alias(f"mu_{s}_{k}")
                                        for s, _, _ in fit.outcomes for k in range(base.arms)])


def fit_x(fit: Fitter, df: DataFrame, arms: int, levels, faces, counts: dict[int, int], weight=None) -> UpliftModel:
    t_out = _t_models(fit, df, arms, "t", weight)
    base = fit.model("t", _keys(t_out), t_out, levels, faces)
    staged = _stage1(fit, df, base).cache()
    outputs = {f"_{s}_0": t_out[f"_{s}_0"] for s, _, _ in fit.outcomes}
    for short, label, _task in fit.outcomes:
        y = F.col(label).cast("double")
        for k in range(1, arms):
            d1 = staged.where(F.col(ARM) == k).withColumn("_d", y - F.col(f"mu_{short}_0"))
            d0 = staged.where(F.col(ARM) == 0).withColumn("_d", F.col(f"mu_{short}_{k}") - y)
            k1 = fit.fit(f"x_{short}_1_{k}", d1, "_d", "regression", weight=weight)
            k0 = fit.fit(f"x_{short}_0_{k}", d0, "_d", "regression", weight=weight)
            g = counts[k] / (counts[k] + counts[0])
            outputs[f"_{short}_{k}"] = [*t_out[f"_{short}_0"], (g, k0, None), (1.0 - g, k1, None)]
    staged.unpersist()
    return fit.model("x", _keys(outputs), outputs, levels, faces)


def fit_dr(fit: Fitter, df: DataFrame, arms: int, levels, faces, weight=None) -> UpliftModel:
    """DR-learner with 2-fold cross-fitting: nuisances of fold A score fold B and vice versa, then the
    pseudo-outcomes of all rows are regressed on x; μ_0 of the output averages both folds' models."""
    fold = hash_uniform(F.col("user_id"), 4242) < 0.5
    staged = None
    bases = []
    for name, fit_rows, score_rows in (("a", df.where(fold), df.where(~fold)), ("b", df.where(~fold), df.where(fold))):
        t_out = _t_models(fit, fit_rows, arms, f"dr_mu{name}", weight)
        base = fit.model("t", _keys(t_out), t_out, levels, faces)
        bases.append(t_out)
        part = _stage1(fit, score_rows, base)
        staged = part if staged is None else staged.unionByName(part)
    staged = staged.cache()
    outputs = {f"_{s}_0": [(0.5, k, a) for t in bases for _, k, a in t[f"_{s}_0"]] for s, _, _ in fit.outcomes}
    e = F.col("propensity").cast("double")
    for short, label, _task in fit.outcomes:
        y = F.col(label).cast("double")
        mu0 = F.col(f"mu_{short}_0")
        for k in range(1, arms):
            muk = F.col(f"mu_{short}_{k}")
            phi = (muk - mu0 + F.when(F.col(ARM) == k, (y - muk) / e).otherwise(0.0)
                   - F.when(F.col(ARM) == 0, (y - mu0) / e).otherwise(0.0))
            key = fit.fit(f"dr_{short}_{k}", staged.withColumn("_phi", phi), "_phi", "regression")
            outputs[f"_{short}_{k}"] = [*outputs[f"_{short}_0"], (1.0, key, None)]
    staged.unpersist()
    return fit.model("dr", _keys(outputs), outputs, levels, faces)


# ---------------------------------------------------------------- propensity and overlap
def propensities(fit: Fitter, df: DataFrame, arms: int, obs: ObservationalConfig) -> tuple[DataFrame, dict]:
    """Fit P(arm | x); refuse on poor overlap; return ``df`` with ``propensity`` = clipped e_A(x), ``_ipw``."""
    from sendopt.models.scoring import score

    key = fit.fit("propensity", df, ARM, "classification", num_class=arms)
    text = fit.boosters[key]
    if arms > 2:
        probs = score(df, text, fit.features, out_cols=[f"_e_{k}" for k in range(arms)])
    else:
        probs = score(df, text, fit.features, out_cols=["_e_1"]).withColumn("_e_0", 1.0 - F.col("_e_1"))
    mins = F.least(*[F.col(f"_e_{k}") for k in range(arms)])
    stats = probs.agg(F.count(F.lit(1)).alias("n"),
                      F.avg((mins < obs.overlap_min).cast("double")).alias("violations"),
                      *[F.min(f"_e_{k}").alias(f"min_{k}") for k in range(arms)],
                      *[F.max(f"_e_{k}").alias(f"max_{k}") for k in range(arms)]).first()
    report = {"rows": stats["n"], "violation_share": stats["violations"],
              **{f"min_e_{k}": stats[f"min_{k}"] for k in range(arms)},
              **{f"max_e_{k}": stats[f"max_{k}"] for k in range(arms)}}
    if stats["violations"] > obs.max_violation_share:
        ranges = ", ".join(f"arm {k}: [{stats[f'min_{k}']:.3f}, {stats[f'max_{k}']:.3f}]" for k in range(arms))
        raise OverlapError(
            f"overlap check failed: {stats['violations']:.1%} of {stats['n']} customers have a coupon level "
            f"with estimated propensity below {obs.overlap_min} (allowed {obs.max_violation_share:.1%}); "
            f"propensity ranges {ranges}. Effects there would be extrapolation — learn from a randomized "
            f"trial, or restrict the population to where every level is given")
    e_a = F.element_at(F.array(*[F.col(f"_e_{k}") for k in range(arms)]), F.col(ARM) + 1)
    out = probs.withColumn("propensity", F.greatest(e_a, F.lit(obs.clip))).withColumn(
        "_ipw", 1.0 / F.col("propensity")).drop(*[f"_e_{k}" for k in range(arms)])
    return out, report


# ---------------------------------------------------------------- all learners at once
FITTERS = {"t": fit_t, "s": fit_s, "x": fit_x, "dr": fit_dr}


def fit_learners(spark: SparkSession, train_df: DataFrame, features: list[str], levels: list[float],
                 faces: list[float], cfg: LearnerConfig, kinds: list[str], randomized: bool = True,
                 obs: ObservationalConfig | None = None) -> tuple[dict[str, UpliftModel], dict]:
    """Fit the ``kinds`` of learners on ``train_df`` (features expanded, arm, propensity, outcomes)."""
    arms = len(levels)
    fit = Fitter(spark, cfg, features)
    report: dict = {}
    weight = None
    df = train_df
    if not randomized:
        df, report["overlap"] = propensities(fit, df, arms, obs or ObservationalConfig())
        weight = "_ipw"
    df = df.cache()
    counts = {r[ARM]: r["count"] for r in df.groupBy(ARM).count().collect()}
    short = [k for k in range(arms) if counts.get(k, 0) == 0]
    if short:
        df.unpersist()
        raise SendoptError(f"no training rows for arms {short} (levels {[levels[k] for k in short]})")
    models = {}
    for kind in kinds:
        t0 = time.perf_counter()
        if kind == "x":
            models[kind] = fit_x(fit, df, arms, levels, faces, counts, weight)
        else:
            models[kind] = FITTERS[kind](fit, df, arms, levels, faces, weight)
        if cfg.value == "per_converter":
            models[kind] = with_converter_value(fit, df, models[kind], weight)
        models[kind].meta.update(seconds=time.perf_counter() - t0, train_rows=int(sum(counts.values())),
                                 randomized=randomized)
    df.unpersist()
    report["seconds_per_booster"] = dict(fit.seconds)
    return models, report


def face_values(trial: DataFrame, levels: list[float]) -> list[float]:
    """Cost per redemption of each arm: mean cost of converted customers of the arm (its level if none)."""
    rows = {r[ARM]: r["face"] for r in trial.where(F.col("converted") == 1).groupBy(ARM).agg(
        F.avg("cost").alias("face")).collect()}
    return [0.0 if k == 0 else float(rows.get(k) if rows.get(k) is not None else levels[k]) for k in range(len(levels))]
