"""SynapseML's ``LightGBMClassifier`` as a trainer backend (picked where its jars are on the classpath).

The spec's LightGBM parameters are mapped to SynapseML's setters (the rest travel in
``passThroughArgs``), so both distributed backends train the same model. The bounded
validation sample rides along flagged by ``validationIndicatorCol`` (SynapseML gives
it to every worker, as our barrier backend does), and the result is returned as a
native Booster rebuilt from ``getNativeModel()``.
"""
from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sendopt.models.barrier import free_slots, plan_tasks
from sendopt.models.prepare import Prepared
from sendopt.models.spec import WEIGHT_COL, ModelError, TrainResult, TrainSpec, booster_params

FEATURES_COL = "_sendopt_features"
VALID_FLAG = "_sendopt_is_valid"
#: LightGBM parameter → SynapseML param name (everything else goes through passThroughArgs).
PARAM_NAMES = {
    "objective": "objective", "learning_rate": "learningRate", "num_leaves": "numLeaves",
    "max_depth": "maxDepth", "min_data_in_leaf": "minDataInLeaf", "min_sum_hessian_in_leaf": "minSumHessianInLeaf",
    "feature_fraction": "featureFraction", "bagging_fraction": "baggingFraction", "bagging_freq": "baggingFreq",
    "lambda_l1": "lambdaL1", "lambda_l2": "lambdaL2", "max_bin": "maxBin", "min_gain_to_split": "minGainToSplit",
    "max_cat_threshold": "maxCatThreshold", "cat_smooth": "catSmooth", "cat_l2": "catl2",
    "seed": "seed", "deterministic": "deterministic", "num_threads": "numThreads", "verbosity": "verbosity",
    "boosting_type": "boostingType",
}
#: Set by SynapseML itself from its own params / the data (never passed through).
MANAGED = {"num_class", "metric", "machines", "num_machines", "local_listen_port", "tree_learner", "pre_partition"}


def synapse_params(spec: TrainSpec) -> dict[str, Any]:
    """SynapseML constructor arguments equivalent to :func:`booster_params` for ``spec``."""
    params = booster_params(spec)
    metric = params.get("metric")
    mapped: dict[str, Any] = {
        "numIterations": spec.num_boost_round,
        "earlyStoppingRound": spec.early_stopping_rounds,
        "metric": metric[0] if isinstance(metric, list) else metric,
        "useBarrierExecutionMode": True,
        "categoricalSlotNames": list(spec.categorical),
    }
    passthrough = []
    for key, value in params.items():
        if key in PARAM_NAMES:
            mapped[PARAM_NAMES[key]] = value
        elif key not in MANAGED and key != "force_row_wise":
            passthrough.append(f"{key}={_cli_value(value)}")
    if passthrough:
        mapped["passThroughArgs"] = " ".join(passthrough)
    return mapped


def _cli_value(value: Any) -> str:
    """A LightGBM parameter as its config-file text: ``true``, ``1,0,-1`` (a list must not hold the spaces
    passThroughArgs splits on: ``[1, 0]`` was refused as a monotone_constraints size mismatch)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(_cli_value(v) for v in value)
    return str(value)


def train_synapseml(spark: SparkSession, prepared: Prepared, spec: TrainSpec) -> TrainResult:
    """Fit SynapseML's LightGBMClassifier (LightGBMRegressor for a regression) on the prepared rows; return the
    native booster."""
    try:
        from pyspark.ml.feature import VectorAssembler
        from synapse.ml.lightgbm import LightGBMClassifier, LightGBMRegressor
    except ImportError as exc:
        raise ModelError(f"backend='synapseml' needs the synapseml Python package and jars: {exc}") from exc
    t0 = time.perf_counter()
    # Without early stopping no validation rides along: SynapseML would otherwise keep only the
    # trees up to the best validation iteration (62 of 100 seen), unlike the other backends.
    early_stopping = bool(spec.early_stopping_rounds)
    data = prepared.train.withColumn(VALID_FLAG, F.lit(False))
    if early_stopping:
        data = data.unionByName(prepared.valid.withColumn(VALID_FLAG, F.lit(True)))
    # A barrier stage refuses ancestors with other partition counts (union, limit, coalesce …:
    # BarrierJobUnsupportedRDDChainException); a shuffle to one partition per free slot gives
    # SynapseML's barrier stage a plain input whatever plan the caller's frames have.
    tasks = plan_tasks(prepared.train_rows_estimate + prepared.valid_rows_estimate, free_slots(spark))
    assembled = VectorAssembler(inputCols=list(spec.features), outputCol=FEATURES_COL,
                                handleInvalid="keep").transform(data).repartition(tasks)
    validation = {"validationIndicatorCol": VALID_FLAG} if early_stopping else {}
    estimator = LightGBMRegressor if spec.task == "regression" else LightGBMClassifier
    model = estimator(
        featuresCol=FEATURES_COL, labelCol=spec.label, weightCol=WEIGHT_COL, **validation, **synapse_params(spec),
    ).fit(assembled)
    booster = lgb.Booster(model_str=model.getNativeModel())
    best = model.getBoosterBestIteration()
    return TrainResult(
        booster=booster, best_iteration=best if best and best > 0 else booster.current_iteration(),
        backend="synapseml", train_rows=prepared.train_rows_estimate, valid_rows=prepared.valid_rows_estimate,
        seconds=time.perf_counter() - t0, history={}, features=list(spec.features),
        class_weights=prepared.class_weights, tasks=tasks,
    )
