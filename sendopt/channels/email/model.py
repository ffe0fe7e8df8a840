"""The email response model: P(no action), P(purchase), P(unsubscribe) for a user-week with k emails.

One multiclass LightGBM (softmax), so the three probabilities sum to 1 by
construction — no renormalisation of three separate binaries, whose sum drifts
from 1 and whose errors compound in the net value. The weekly frequency ``k`` is a
model input, so the decision can score every candidate frequency.
"""
from __future__ import annotations

from collections.abc import Sequence

from sendopt.features.labels import OUTCOMES
from sendopt.features.registry import feature_list
from sendopt.models.response import ResponseModel
from sendopt.models.spec import TrainSpec

#: Features that describe consent, not behaviour: hard rules use them, the model must not.
NOT_MODEL_INPUTS = ("email_consent", "push_consent")


class EmailResponseModel(ResponseModel):
    channel = "email"
    outcomes = OUTCOMES
    treatment = "k"

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
