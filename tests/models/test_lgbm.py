"""Trainer backends, partition safety, row caps, class weights and Spark scoring on tiny synthetic data."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from sendopt.models import ModelError, TrainSpec, evaluate, model_header, resolve_backend, score, train
from sendopt.models.barrier import plan_tasks, train_partitioned
from sendopt.models.prepare import class_weights, prepare
from sendopt.models.scoring import head, score_heads
from sendopt.models.spec import WEIGHT_COL
from sendopt.models.synapse import synapse_params
from sendopt.spark import missing_jars_reason, synapseml_available
from tests.conftest import require_jars
from tests.models.conftest import FEATURES

PARAMS = {"learning_rate": 0.2, "num_leaves": 15, "min_data_in_leaf": 20, "lambda_l2": 1.0}


def binary_spec(**changes) -> TrainSpec:
    spec = TrainSpec(features=FEATURES, categorical=["cat"], label="label", num_class=2, params=PARAMS,
                     num_boost_round=150, early_stopping_rounds=5, seed=3)
    return spec.replace(**changes)


@pytest.fixture(scope="module")
def trained(spark, binary_frames):
    train_df, valid_df = binary_frames
    return {b: train(spark, train_df, valid_df, binary_spec(), backend=b) for b in ("barrier", "local")}


def test_barrier_model_does_not_depend_on_the_input_layout(spark, binary_frames, trained):
    """The same rows laid out in other partitions and order (another lake writer's files) train the same trees."""
    train_df, valid_df = binary_frames
    shuffled = train_df.repartition(7, "x1").sortWithinPartitions(F.desc("x2"))
    again = train(spark, shuffled, valid_df, binary_spec(), backend="barrier")
    assert again.booster.model_to_string().split("\nparameters:")[0] == (
        trained["barrier"].booster.model_to_string().split("\nparameters:")[0])


def test_barrier_auc_matches_local_and_early_stopping_completes(binary_frames, trained):
    _, valid_df = binary_frames
    aucs = {}
    for backend, result in trained.items():
        assert result.backend == backend
        aucs[backend] = evaluate(score(valid_df, result.booster), "label", ["p_1"]).auc[1]
        # Early stopping fired, identically on every task: history stops `rounds` after the best.
        history = result.history["binary_logloss"]
        assert result.best_iteration < 150
        assert len(history) == result.best_iteration + 5
        assert result.booster.num_trees() == result.best_iteration
    assert trained["barrier"].tasks == 2
    assert trained["barrier"].train_rows == trained["local"].train_rows == 16_000
    assert aucs["barrier"] > 0.75
    assert abs(aucs["barrier"] - aucs["local"]) < 0.01, aucs


def test_categorical_feature_is_split_as_category(trained):
    booster = trained["barrier"].booster
    importance = dict(zip(booster.feature_name(), booster.feature_importance("gain"), strict=True))
    assert importance["cat"] > 0
    trees = booster.dump_model()["tree_info"]

    def categorical_splits(node) -> int:
        if "split_feature" not in node:
            return 0
        own = int(node["decision_type"] == "==")
        return own + categorical_splits(node["left_child"]) + categorical_splits(node["right_child"])

    assert sum(categorical_splits(t["tree_structure"]) for t in trees) > 0


def test_spark_scoring_equals_driver_predict(binary_frames, trained):
    _, valid_df = binary_frames
    booster = trained["barrier"].booster
    scored = score(valid_df.repartition(3), booster.model_to_string(), out_cols=["p_buy"])
    rows = scored.orderBy("id").toPandas()
    expected = booster.predict(rows[FEATURES].to_numpy(np.float64))
    assert np.allclose(rows["p_buy"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert list(scored.columns) == [*valid_df.columns, "p_buy"]


def test_one_fused_pass_equals_one_pass_per_model(binary_frames, trained):
    """score_heads: several models (and a post-step) in one Arrow pass give each model's own scores."""
    _, valid_df = binary_frames
    a, b = trained["barrier"].booster, trained["local"].booster
    fused = score_heads(valid_df.repartition(3), [head(a, out_cols=["p_a"]),
                                                  head(b, out_cols=["m_b"], output="raw", post=lambda m: -m)])
    rows = fused.orderBy("id").toPandas()
    x = rows[FEATURES].to_numpy(np.float64)
    assert np.allclose(rows["p_a"], a.predict(x), rtol=0, atol=1e-12)
    assert np.allclose(rows["m_b"], -b.predict(x, raw_score=True), rtol=0, atol=1e-12)
    assert list(fused.columns) == [*valid_df.columns, "p_a", "m_b"]
    with pytest.raises(ModelError, match="repeat"):
        score_heads(valid_df, [head(a, out_cols=["p"]), head(b, out_cols=["p"])])


def test_multiclass_probabilities_sum_to_one_and_rank(spark, multiclass_frames):
    train_df, valid_df = multiclass_frames
    spec = binary_spec(num_class=3, num_boost_round=40, early_stopping_rounds=5)
    result = train(spark, train_df, valid_df, spec, backend="barrier")
    assert model_header(result.model_str)[0] == 3
    cols = ["p_purchase", "p_unsubscribe", "p_none"]
    scored = score(valid_df, result.booster, out_cols=cols)
    worst = scored.select(F.max(F.abs(sum(F.col(c) for c in cols) - 1)).alias("d")).first()["d"]
    assert worst < 1e-9
    ev = evaluate(scored, "label", cols)
    assert set(ev.auc) == {0, 1, 2} and min(ev.auc.values()) > 0.65
    assert "multi_logloss" in result.history


def test_empty_partition_sits_out_instead_of_failing(spark, binary_frames):
    train_df, valid_df = binary_frames
    spec = binary_spec(num_boost_round=10, early_stopping_rounds=0)
    prepared = prepare(train_df, valid_df, spec)
    lopsided = prepared.train.repartition(2, F.lit(0))  # every row hashes to one partition, the other is empty
    counts = lopsided.groupBy(F.spark_partition_id()).count().collect()
    assert len(counts) == 1
    result = train_partitioned(spark, lopsided, prepared, spec)
    assert result.tasks == 1 and result.train_rows == 16_000
    assert result.booster.num_trees() == 10


def test_task_count_never_exceeds_rows_or_slots():
    assert plan_tasks(rows=1, slots=2) == 1
    assert plan_tasks(rows=10_000, slots=2) == 2
    assert plan_tasks(rows=1_000, slots=8, min_rows_per_task=400) == 2
    with pytest.raises(ModelError, match="no training rows"):
        plan_tasks(rows=0, slots=2)


def test_max_train_rows_caps_training_rows(spark, binary_frames):
    train_df, valid_df = binary_frames
    result = train(spark, train_df, valid_df, binary_spec(max_train_rows=4_000, num_boost_round=5), backend="barrier")
    assert abs(result.train_rows - 4_000) <= 200  # seeded Bernoulli sample: about the cap
    again = train(spark, train_df, valid_df, binary_spec(max_train_rows=4_000, num_boost_round=5), backend="local")
    assert again.train_rows == result.train_rows  # same seed, same rows


def test_balanced_class_weights_equalise_class_totals(spark, binary_frames):
    train_df, valid_df = binary_frames
    rare = train_df.where("label = 0 or id % 4 = 0")  # make class 1 rare
    spec = binary_spec(class_weighting="balanced")
    assert class_weights([900, 100], spec) == pytest.approx([1000 / 1800, 1000 / 200])
    prepared = prepare(rare, valid_df, spec)
    totals = {r["label"]: r["w"] for r in prepared.train.groupBy("label").agg(F.sum(WEIGHT_COL).alias("w")).collect()}
    assert totals[0] == pytest.approx(totals[1])
    with pytest.raises(ModelError, match="no training rows"):
        class_weights([10, 0], spec)


def test_user_weights_multiply_class_weights(spark, binary_frames):
    train_df, valid_df = binary_frames
    weighted = train_df.withColumn("w", F.lit(2.0))
    prepared = prepare(weighted, valid_df.withColumn("w", F.lit(2.0)), binary_spec(weight="w"))
    assert prepared.train.agg(F.min(WEIGHT_COL), F.max(WEIGHT_COL)).first() == (2.0, 2.0)
    with pytest.raises(ModelError, match="null or negative"):
        prepare(train_df.withColumn("w", F.lit(-1.0)), valid_df.withColumn("w", F.lit(1.0)), binary_spec(weight="w"))


def test_bad_inputs_fail_with_the_column_named(spark, binary_frames):
    train_df, valid_df = binary_frames
    with pytest.raises(ModelError, match=r"'label' has values \[2\]"):
        prepare(train_df.withColumn("label", F.lit(2)), valid_df, binary_spec())
    with pytest.raises(ModelError, match="lacks columns"):
        prepare(train_df.drop("x3"), valid_df, binary_spec())
    with pytest.raises(ModelError, match="not in TrainSpec.features"):
        binary_spec(categorical=["region"])
    with pytest.raises(ModelError, match="unknown trainer backend"):
        resolve_backend(spark, "xgboost")


def test_auto_backend_is_synapseml_exactly_where_its_jars_are(spark):
    fetched = missing_jars_reason("synapseml") is None  # the suite's one session carries them once fetched
    assert synapseml_available(spark) == fetched
    assert resolve_backend(spark, "auto") == ("synapseml" if fetched else "barrier")
    assert resolve_backend(spark, "barrier") == "barrier"


def test_synapseml_params_mirror_lightgbm_params():
    mapped = synapse_params(binary_spec(params={**PARAMS, "feature_fraction": 0.8, "extra_trees": True}))
    assert mapped["learningRate"] == 0.2 and mapped["numLeaves"] == 15 and mapped["featureFraction"] == 0.8
    assert mapped["numIterations"] == 150 and mapped["earlyStoppingRound"] == 5
    assert mapped["categoricalSlotNames"] == ["cat"] and mapped["useBarrierExecutionMode"] is True
    assert mapped["objective"] == "binary" and mapped["metric"] == "binary_logloss"
    assert "extra_trees=true" in mapped["passThroughArgs"]
    mono = synapse_params(binary_spec(params={**PARAMS, "monotone_constraints": [1, 0, -1, 0, 0]}))
    assert "monotone_constraints=1,0,-1,0,0" in mono["passThroughArgs"].split(" ")  # one argument, no spaces


def test_synapseml_backend_trains_a_native_booster(spark, binary_frames):
    require_jars(spark, "synapseml")
    train_df, valid_df = binary_frames
    result = train(spark, train_df, valid_df, binary_spec(), backend="synapseml")
    auc = evaluate(score(valid_df, result.booster), "label", ["p_1"]).auc[1]
    assert result.backend == "synapseml" and auc > 0.75
    # frames whose plans a barrier stage refuses as they are (limit: other partition counts)
    # … with a monotone constraint (passed through as LightGBM's comma list): the response never falls in x0
    mono = {**PARAMS, "monotone_constraints": [1, 0, 0, 0, 0]}
    small = train(spark, train_df.limit(3_000), valid_df.limit(1_000),
                  binary_spec(num_boost_round=5, params=mono), backend="synapseml")
    assert small.booster.num_trees() == 5
    grid = np.zeros((50, len(FEATURES)))
    grid[:, 0] = np.linspace(-3, 3, 50)
    assert np.all(np.diff(small.booster.predict(grid)) >= -1e-12)
    # a regression goes to SynapseML's regressor: the label's mean level, not class probabilities
    reg = train(spark, train_df.limit(3_000), valid_df.limit(1_000),
                binary_spec(num_boost_round=20, early_stopping_rounds=0, task="regression", class_weighting="none"),
                backend="synapseml")
    assert reg.booster.dump_model()["objective"].startswith("regression")
    row = score(valid_df, reg.booster, out_cols=["y"]).agg(F.avg("y").alias("y"), F.avg("label").alias("l")).first()
    assert abs(row["y"] - row["l"]) < 0.05  # least squares: the mean prediction is the mean label
