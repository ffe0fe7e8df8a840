"""The single ``lgb.train`` call every in-process path makes (a barrier task, or the local backend).

Keeping it in one place is what makes the barrier and local models comparable: same
Dataset construction (categoricals by name, weights), same early stopping on the
first metric, same recorded validation history.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from sendopt.models.spec import TrainSpec

VALID_NAME = "valid"


@dataclass
class Fitted:
    booster: lgb.Booster
    best_iteration: int
    history: dict[str, list[float]]


def fit_booster(
    spec: TrainSpec,
    params: dict[str, Any],
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Fitted:
    """Train on (X, y, w) with early stopping on ``valid``; ``best_iteration`` is 1-based (LightGBM's)."""
    x, y, w = train
    train_set = lgb.Dataset(
        x, label=y, weight=w, feature_name=list(spec.features),
        categorical_feature=list(spec.categorical) or "auto", params=params, free_raw_data=True,
    )
    vx, vy, vw = valid
    valid_set = lgb.Dataset(vx, label=vy, weight=vw, reference=train_set)
    evals: dict[str, dict[str, list[float]]] = {}
    callbacks = [lgb.record_evaluation(evals)]
    if spec.early_stopping_rounds:
        callbacks.append(lgb.early_stopping(spec.early_stopping_rounds, first_metric_only=True, verbose=False))
    booster = lgb.train(
        params, train_set, num_boost_round=spec.num_boost_round,
        valid_sets=[valid_set], valid_names=[VALID_NAME], callbacks=callbacks,
    )
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
    return Fitted(booster, best, {k: [float(v) for v in vals] for k, vals in evals.get(VALID_NAME, {}).items()})
