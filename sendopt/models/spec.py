"""What to train (``TrainSpec``), what comes back (``TrainResult``) and the LightGBM parameters both derive.

Every backend (barrier, SynapseML, local) reads the same spec and turns it into
LightGBM parameters through :func:`booster_params`, so a model trained on a
laptop and one trained on Databricks differ only in where the work ran.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb

from sendopt.errors import SendoptError

#: Column names the trainers add to the prepared frame (never a user column).
WEIGHT_COL = "_sendopt_w"


class ModelError(SendoptError):
    """Training or scoring input is unusable; the message names the column / setting."""


@dataclass(frozen=True)
class TrainSpec:
    """One LightGBM classifier to train.

    ``categorical`` must be a subset of ``features`` (integer codes ≥ 0); ``label`` holds
    class indices 0..num_class-1 (2 → binary objective, more → multiclass).
    ``max_train_rows`` caps the training rows by a seeded Bernoulli sample in Spark (so
    the kept count is about the cap, ±√cap); ``max_valid_rows`` bounds the validation
    sample every worker sees for early stopping.
    """

    features: list[str]
    label: str
    num_class: int = 2
    categorical: list[str] = field(default_factory=list)
    weight: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    num_boost_round: int = 200
    early_stopping_rounds: int = 20
    max_train_rows: int | None = None
    max_valid_rows: int = 200_000
    class_weighting: Literal["none", "balanced"] = "none"
    seed: int = 42
    task: Literal["classification", "regression"] = "classification"  # regression: a real-valued label

    def __post_init__(self) -> None:
        if not self.features:
            raise ModelError("TrainSpec.features is empty: name at least one feature column")
        if len(set(self.features)) != len(self.features):
            raise ModelError(f"TrainSpec.features has duplicates: {self.features}")
        stray = [c for c in self.categorical if c not in self.features]
        if stray:
            raise ModelError(f"TrainSpec.categorical {stray} are not in TrainSpec.features")
        if self.label in self.features or (self.weight and self.weight in self.features):
            raise ModelError(f"label {self.label!r} / weight {self.weight!r} must not be a feature")
        if self.task not in ("classification", "regression"):
            raise ModelError(f"TrainSpec.task must be 'classification' or 'regression', got {self.task!r}")
        if self.task == "regression" and self.class_weighting != "none":
            raise ModelError("TrainSpec.class_weighting applies to classification only")
        if self.num_class < 2:
            raise ModelError(f"TrainSpec.num_class must be ≥ 2, got {self.num_class}")
        if self.class_weighting not in ("none", "balanced"):
            raise ModelError(f"TrainSpec.class_weighting must be 'none' or 'balanced', got {self.class_weighting!r}")
        if self.max_train_rows is not None and self.max_train_rows < 1:
            raise ModelError(f"TrainSpec.max_train_rows must be ≥ 1 or None, got {self.max_train_rows}")
        if self.max_valid_rows < 1 or self.num_boost_round < 1 or self.early_stopping_rounds < 0:
            raise ModelError("TrainSpec.max_valid_rows and num_boost_round must be ≥ 1, early_stopping_rounds ≥ 0")

    @property
    def binary(self) -> bool:
        return self.num_class == 2

    def replace(self, **changes: Any) -> TrainSpec:
        return dataclasses.replace(self, **changes)


@dataclass
class TrainResult:
    """A native booster plus how it was obtained; ``history`` maps validation metric → value per round."""

    booster: lgb.Booster
    best_iteration: int
    backend: str
    train_rows: int
    valid_rows: int
    seconds: float
    history: dict[str, list[float]]
    features: list[str]
    class_weights: list[float]
    tasks: int = 1

    @property
    def model_str(self) -> str:
        return self.booster.model_to_string()


def booster_params(spec: TrainSpec) -> dict[str, Any]:
    """LightGBM parameters for ``spec``: sendopt's defaults, overridden by ``spec.params``.

    Defaults favour reproducibility (seeded, deterministic, one thread per worker, so
    parallelism comes from Spark tasks and 2-core machines are not oversubscribed).
    """
    regression = spec.task == "regression"
    params: dict[str, Any] = {
        "objective": "regression" if regression else "binary" if spec.binary else "multiclass",
        "metric": ["l2"] if regression else ["binary_logloss", "auc"] if spec.binary else ["multi_logloss"],
        "seed": spec.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbosity": -1,
    }
    if not spec.binary and not regression:
        params["num_class"] = spec.num_class
    params.update(spec.params)
    return params
