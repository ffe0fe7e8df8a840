"""Tiny synthetic classification frames built with spark.range + expressions (not the world)."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

FEATURES = ["x0", "x1", "x2", "x3", "cat"]
# A non-monotone effect per category code, so only a categorical split captures it well.
CAT_EFFECT = [-1.5, 1.0, 0.0, 1.5, -0.5, 0.5]


def synthetic(spark, rows: int, seed: int, num_class: int = 2):
    """Known logistic (binary) or softmax (3-class) function of four numeric features and a category."""
    base = spark.range(rows, numPartitions=4).select(
        "id", *[F.randn(seed + i).alias(f"x{i}") for i in range(4)],
        (F.abs(F.xxhash64("id", F.lit(seed))) % len(CAT_EFFECT)).cast("int").alias("cat"),
        F.rand(seed + 99).alias("u"),
    )
    cat = F.element_at(F.array(*[F.lit(v) for v in CAT_EFFECT]), F.col("cat") + 1)
    z1 = 1.2 * F.col("x0") - 0.8 * F.col("x1") + 0.5 * F.col("x2") * F.col("x3") + cat
    if num_class == 2:
        label = (F.col("u") < 1 / (1 + F.exp(-z1))).cast("int")
    else:
        z2 = 0.9 * F.col("x1") - 0.6 * F.col("x3") - cat
        e0, e1, e2 = F.lit(1.0), F.exp(z1 - 1.0), F.exp(z2 - 1.5)
        p0 = e0 / (e0 + e1 + e2)
        p1 = e1 / (e0 + e1 + e2)
        label = F.when(F.col("u") < p0, 0).when(F.col("u") < p0 + p1, 1).otherwise(2)
    return base.withColumn("label", label).drop("u")


@pytest.fixture(scope="module")
def binary_frames(spark):
    df = synthetic(spark, 20_000, seed=7).cache()
    train_df, valid_df = df.where("id % 5 != 0"), df.where("id % 5 = 0")
    yield train_df, valid_df
    df.unpersist()


@pytest.fixture(scope="module")
def multiclass_frames(spark):
    df = synthetic(spark, 15_000, seed=11, num_class=3).cache()
    yield df.where("id % 5 != 0"), df.where("id % 5 = 0")
    df.unpersist()
