"""The email response model: P(no action), P(purchase), P(unsubscribe) for a user-week with k emails.

One multiclass LightGBM (softmax), so the three probabilities sum to 1 by
construction — no renormalisation of three separate binaries, whose sum drifts
from 1 and whose errors compound in the net value. The weekly frequency ``k`` is a
model input, so the decision can score every candidate frequency.

How ``k`` moves the outcome (``email.training.k_effect``):

* ``pooled`` (default): a dose-response head (:mod:`sendopt.models.dose_response`) —
  the booster at the best-supported frequency plus one logit shift per (k, outcome),
  fitted on the randomized exploration weeks only. No email means no unsubscribe
  (a structural zero at k = 0).
* ``trees``: the booster's own splits on ``k`` (flat and noisy where few rows vary k).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sendopt.features.labels import OUTCOMES
from sendopt.features.registry import feature_list
from sendopt.models import dose_response
from sendopt.models.dose_response import DoseResponse, compose, fit_dose_response
from sendopt.models.response import ResponseModel
from sendopt.models.scoring import score as score_booster
from sendopt.models.spec import TrainResult, TrainSpec
from sendopt.models.tracking import RegisteredModel, model_text_of

#: Features that describe consent, not behaviour: hard rules use them, the model must not.
NOT_MODEL_INPUTS = ("email_consent", "push_consent")
#: The policy value of randomized weeks in the training frame (``raw.email_assignments.policy``).
RANDOMIZED = "exploration"


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def design_weights(weight, prob):
    """The rows' weights times ``1 / prob`` normalised to mean 1: a holdout whose frequencies were not drawn
    uniformly (``email.exploration.allocation: thompson``) is reweighted to the uniform design, so the head's
    per-k shifts stay averages over the same customers; with uniform propensities the weights are unchanged."""
    weight = np.asarray(weight, dtype=float)
    if prob is None:
        return weight
    prob = np.asarray(prob, dtype=float)
    inverse = 1.0 / np.where(prob > 0, prob, 1.0)  # a row without a propensity keeps its weight
    return weight * inverse / inverse.mean()


class EmailResponseModel(ResponseModel):
    channel = "email"
    outcomes = OUTCOMES
    treatment = "k"
    #: no email, no email unsubscribe
    structural_zeros = {OUTCOMES.index("unsubscribe"): (0.0,)}

    def __init__(self, config, region: str, brand: str) -> None:
        super().__init__(config, region, brand)
        self._heads: dict[str, DoseResponse] = {}  # model text hash -> head fitted in this process

    def candidate_features(self) -> list[str]:
        return [f.name for f in feature_list(self.config.features) if f.name not in NOT_MODEL_INPUTS]

    def categorical_features(self) -> list[str]:
        return [f.name for f in feature_list(self.config.features) if f.categorical]

    def backend(self) -> str:
        return self.config.email.training.backend

    def train_spec(self, features: Sequence[str]) -> TrainSpec:
        training = self.config.email.training
        return TrainSpec(
            features=list(features),
            label=self.label_col,
            num_class=len(self.outcomes),
            categorical=[c for c in self.categorical_features() if c in features],
            weight=self.weight_col,
            params=dict(training.params),
            num_boost_round=training.num_boost_round,
            early_stopping_rounds=training.early_stopping_rounds,
            max_train_rows=training.max_train_rows,
            class_weighting=training.class_weighting,
            seed=training.seed,
        )

    # -------------------------------------------------------------- the dose-response head
    def fit(self, spark: SparkSession, train_df: DataFrame, valid_df: DataFrame,
            customer_features: Sequence[str], pool_df: DataFrame | None = None):
        """``pool_df``: every market's randomized training weeks, for the shared curve the head is shrunk
        towards (``email.training.k_effect_pooling``)."""
        result, evaluation = super().fit(spark, train_df, valid_df, customer_features)
        if self.config.email.training.k_effect == "pooled":
            head = self.fit_head(train_df, result, pool_df)
            self._heads[_key(result.model_str)] = head
            evaluation = self.evaluate(self.score(valid_df, result.model_str))
        return result, evaluation

    def head_for(self, model: str | RegisteredModel) -> DoseResponse | None:
        """The head of a registered version (from its tags) or of a booster fitted in this process."""
        if isinstance(model, RegisteredModel):
            text = model.tags.get(dose_response.TAG)
            return DoseResponse.from_json(text) if text else None
        return self._heads.get(_key(model))

    def fit_head(self, train_df: DataFrame, result: TrainResult, pool_df: DataFrame | None = None) -> DoseResponse:
        """The head on this market's randomized weeks; with ``pool_df`` and ``k_effect_pooling`` > 0, shrunk
        towards the curve of every market's randomized weeks (scored with this market's booster, at its anchor)."""
        training = self.config.email.training
        by_k = {r[0]: r[1] for r in train_df.groupBy("k").count().collect()}  # ≤ 8 rows
        anchor = max(by_k, key=by_k.get)  # the frequency the booster saw most
        prior = None
        if pool_df is not None and training.k_effect_pooling > 0:
            prior = self._fit_head_on(pool_df.where(F.col("policy") == RANDOMIZED), result, anchor)
        return self._fit_head_on(train_df.where(F.col("policy") == RANDOMIZED), result, anchor, prior)

    def _fit_head_on(self, randomized: DataFrame, result: TrainResult, anchor: float,
                     prior: DoseResponse | None = None) -> DoseResponse:
        training = self.config.email.training
        rows = randomized.count()
        if rows == 0:
            raise ValueError("email.training.k_effect=pooled needs randomized (exploration) weeks in the "
                             "training window; none found — set k_effect: trees or widen training.weeks")
        if rows > training.k_effect_max_rows:
            randomized = randomized.sample(False, training.k_effect_max_rows / rows, training.seed).limit(
                training.k_effect_max_rows)
        raw_cols = self._raw_cols
        carry = training.k_carryover
        if carry and carry not in randomized.columns:
            raise ValueError(f"email.training.k_carryover={carry!r} is not a feature of the training rows "
                             f"(features.customer_daily: a 7-day window gives sends_7d); set it to null to turn "
                             f"the carry-over off")
        prev = F.coalesce(F.col(carry).cast("double"), F.lit(0.0)) if carry else F.lit(None).cast("double")
        scored = self._raw_at_anchor(randomized.withColumn("_t", F.col("k")).withColumn("_prev", prev),
                                     result.model_str, anchor, hold=carry)
        has_prob = "assignment_prob" in scored.columns
        sample = scored.select(*raw_cols, "_t", "_prev", self.label_col, self.weight_col,
                               *(["assignment_prob"] if has_prob else [])).toPandas()  # bounded
        return fit_dose_response(
            sample[raw_cols].to_numpy(), sample["_t"].to_numpy(), sample[self.label_col].to_numpy(),
            design_weights(sample[self.weight_col].to_numpy(),
                           sample["assignment_prob"].to_numpy() if has_prob else None),
            treatment="k",
            levels=self.config.email.candidate_frequencies, anchor=float(anchor),
            zeros=self.structural_zeros, ridge=training.k_effect_ridge,
            smoothness=training.k_effect_smoothness,
            scales={self.outcomes.index(c): scale for c, scale in training.k_effect_scales.items()},
            prior=prior, prior_strength=training.k_effect_pooling,
            prev=sample["_prev"].to_numpy() if carry else None, carry_feature=carry,
            carry_classes=[self.outcomes.index(c) for c in training.k_carryover_outcomes],
        )

    @property
    def _raw_cols(self) -> list[str]:
        return [f"_raw_{o}" for o in self.outcomes]

    def _raw_at_anchor(self, df: DataFrame, model: str | RegisteredModel, anchor: float,
                       features: Sequence[str] | None = None, hold: str | None = None) -> DataFrame:
        """``df`` (k dropped) plus the booster's raw logits at k = ``anchor`` in ``_raw_<outcome>``; with
        ``hold`` (the head's carry-over feature) that feature is held at the anchor too (and kept in ``df``)."""
        base = df.drop("k") if "k" in df.columns else df
        if hold:
            base = base.withColumn("_held", F.col(hold)).withColumn(hold, F.lit(float(anchor)))
        raw = score_booster(base.withColumn("k", F.lit(float(anchor))), model_text_of(model),
                            list(features) if features else None, out_cols=self._raw_cols, output="raw")
        if hold:
            raw = raw.withColumn(hold, F.col("_held")).drop("_held")
        return raw.drop("k")

    @staticmethod
    def _observed_prev(head: DoseResponse):
        """Last week's dose as the carry-over feature measured it (null without a carry-over term)."""
        return F.coalesce(F.col(head.carry_feature).cast("double"), F.lit(0.0)) if head.carry_feature else None

    def score(self, df: DataFrame, model: str | RegisteredModel, features: Sequence[str] | None = None):
        """The probabilities of this week's outcome at each row's k (and its observed last week)."""
        head = self.head_for(model)
        if head is None:
            return super().score(df, model, features)
        raw = self._raw_at_anchor(df.withColumn("_t", F.col("k")), model, head.anchor, features,
                                  hold=head.carry_feature)
        out = compose(raw, self._raw_cols, "_t", head, self.prob_cols, prev=self._observed_prev(head))
        return out.drop(*self._raw_cols).withColumnRenamed("_t", "k").select(*df.columns, *self.prob_cols)

    def score_treatments(self, df: DataFrame, model: str | RegisteredModel, levels: Sequence[float]):
        """With a head, the booster runs once per customer (at the anchor), not once per level. With a
        carry-over term, ``p_<outcome>`` is this week's outcome after last week's observed sends and
        ``p_<outcome>_steady`` the outcome of a week when k is sent every week (what a policy that keeps k
        earns)."""
        head = self.head_for(model)
        if head is None:
            return super().score_treatments(df, model, levels)
        raw = self._raw_at_anchor(df, model, head.anchor, hold=head.carry_feature)
        levels_df = df.sparkSession.createDataFrame([(float(v),) for v in levels], "k double")
        out = raw.crossJoin(F.broadcast(levels_df))
        if head.carry_feature:
            steady = [f"{c}_steady" for c in self.prob_cols]
            out = compose(out, self._raw_cols, "k", head, steady)
        out = compose(out, self._raw_cols, "k", head, self.prob_cols, prev=self._observed_prev(head))
        return out.drop(*self._raw_cols)
