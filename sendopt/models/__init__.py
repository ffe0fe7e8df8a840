"""LightGBM training (barrier / SynapseML / local backends), Spark scoring, evaluation and calibration.

Public API::

    from sendopt.models import TrainSpec, train, score, evaluate, calibrate

    result = train(spark, train_df, valid_df, spec)          # TrainResult with a native Booster
    scored = score(df, result.booster, out_cols=[...])       # probabilities added in Spark
    ev = evaluate(scored, spec.label, [...])                 # AUC, log loss, Brier, ECE, reliability
    cal = calibrate(valid_scored, spec.label, [...])         # Calibrator or None; cal.apply(scored)
"""
from sendopt.models.calibration import Calibrator, calibrate, fit_calibrator
from sendopt.models.metrics import Evaluation, evaluate
from sendopt.models.scoring import default_out_cols, model_header, score
from sendopt.models.spec import ModelError, TrainResult, TrainSpec, booster_params
from sendopt.models.trainer import resolve_backend, train

__all__ = [
    "Calibrator", "Evaluation", "ModelError", "TrainResult", "TrainSpec", "booster_params", "calibrate",
    "default_out_cols", "evaluate", "fit_calibrator", "model_header", "resolve_backend", "score", "train",
]
