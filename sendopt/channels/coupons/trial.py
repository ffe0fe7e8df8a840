"""Map a coupon trial onto ``features.coupon_trial``: the world's, or a team's own file.

A trial row = customer, arm (0 = control, then levels ascending), assignment probability, outcomes
(converted, value, cost) and pre-treatment features as a map; ``split`` (train / holdout) is a stable
hash, so every job sees the same held-out randomized customers.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType

from sendopt.channels.coupons.config import CouponsConfig, ImportTrialConfig
from sendopt.channels.coupons.features import (
    check_pre_treatment,
    safe_name,
    signup_features,
    trial_features,
)
from sendopt.channels.coupons.metrics import hash_uniform
from sendopt.channels.coupons.tables import COUPON_TRIAL
from sendopt.errors import SendoptError
from sendopt.sources.tables import COUPON_ASSIGNMENTS, COUPON_OBSERVATIONAL, CUSTOMERS, SIGNUP_SESSIONS

MAX_CATEGORIES = 200


class TrialError(SendoptError):
    """An imported trial cannot be used; the message names the column or the check."""


def with_split(df: DataFrame, trial: str, holdout_share: float) -> DataFrame:
    u = hash_uniform(F.concat_ws("|", F.lit(trial), F.col("user_id")), 977)
    return df.withColumn("split", F.when(u < holdout_share, "holdout").otherwise("train"))


def _arms(levels: list[float]) -> Column:
    """Arm index of ``level`` among the sorted levels (0 = the lowest, the control)."""
    out = F.lit(None).cast("int")
    for i, v in enumerate(sorted(levels)):
        out = F.when(F.col("level") == F.lit(float(v)), F.lit(i)).otherwise(out)
    return out


def world_trial(lake, cfg: CouponsConfig, world_levels: list[float], observational: bool = False) -> DataFrame:
    """The world's randomized trial (or its observational period) in ``features.coupon_trial`` shape."""
    source = COUPON_OBSERVATIONAL if observational else COUPON_ASSIGNMENTS
    raw = lake.read(source)
    prob = F.lit(None).cast("double") if observational else F.col("assignment_prob")
    rows = raw.select("user_id", "assigned_date", F.col("coupon_level").alias("level"), prob.alias("propensity"),
                      F.col("converted").cast("int").alias("converted"), F.col("value_90d").alias("value"),
                      F.coalesce(F.col("coupon_cost"), F.lit(0.0)).alias("cost"))
    feats = signup_features(lake.read(CUSTOMERS), lake.read(SIGNUP_SESSIONS))
    rows = trial_features(rows, feats)
    name = "world_observational" if observational else "world"
    out = rows.select(
        F.lit(name).alias("trial"), "user_id", "assigned_date", _arms(world_levels).alias("arm"), "level",
        F.format_number(F.col("level"), 2).alias("arm_label"), "propensity",
        F.lit(not observational).alias("randomized"), "converted", "value", "cost", "features")
    return with_split(out, name, cfg.evaluation.holdout_share).select(*COUPON_TRIAL.column_names)


# ---------------------------------------------------------------- a team's own trial
def read_source(spark: SparkSession, path: str, fmt: str = "auto") -> DataFrame:
    if fmt == "auto":
        low = path.rstrip("/").lower()
        fmt = "csv" if low.endswith(".csv") else "parquet" if low.endswith(".parquet") else "delta"
    try:
        if fmt == "csv":
            return spark.read.option("header", True).option("inferSchema", True).csv(path)
        if fmt == "parquet":
            return spark.read.parquet(path)
        from deltalake import DeltaTable

        table = DeltaTable(path)
        return spark.read.option("basePath", path).parquet(*table.file_uris())
    except TrialError:
        raise
    except Exception as exc:  # a missing file or a non-table folder
        raise TrialError(f"import-trial: cannot read {fmt} at {path}: {str(exc).splitlines()[0]}") from None


def import_trial(spark: SparkSession, source: DataFrame, imp: ImportTrialConfig, name: str,
                 holdout_share: float) -> DataFrame:
    """Map ``source`` onto the trial shape, refusing clearly what the learners cannot use."""
    cols = set(source.columns)
    needed = [imp.treatment, imp.outcome, *(c for c in (imp.value, imp.cost, imp.id, imp.propensity) if c),
              *imp.features]
    missing = [c for c in needed if c not in cols]
    if missing:
        raise TrialError(f"import-trial: columns {missing} are not in the source (it has {sorted(cols)})")
    if not imp.features:
        raise TrialError("import-trial: name the pre-treatment features (--features A,B,…)")
    outcome_cols = tuple(c for c in (imp.treatment, imp.outcome, imp.value, imp.cost, imp.propensity) if c)
    check_pre_treatment([f for f in imp.features if f not in outcome_cols], ())
    clash = [f for f in imp.features if f in outcome_cols]
    if clash:
        raise TrialError(f"import-trial: {clash} are the treatment or an outcome and cannot also be features")

    treat = F.col(imp.treatment).cast("string")
    arms = source.groupBy(treat.alias("t")).count().limit(50).collect()
    labels = {r["t"]: r["count"] for r in arms}
    if None in labels:
        raise TrialError(f"import-trial: {labels[None]} rows have a null {imp.treatment!r}")
    if len(labels) < 2:
        raise TrialError(f"import-trial: {imp.treatment!r} has a single value {sorted(labels)}: a trial needs a "
                         f"control and at least one treatment")
    if imp.control not in labels:
        raise TrialError(f"import-trial: control value {imp.control!r} not among {imp.treatment!r} values "
                         f"{sorted(labels)}")
    small = {k: v for k, v in labels.items() if v < imp.min_rows_per_arm}
    if small:
        raise TrialError(f"import-trial: arms {small} have fewer than {imp.min_rows_per_arm} rows "
                         f"(coupons.import_trial.min_rows_per_arm)")
    y = F.col(imp.outcome)
    bad = source.where(y.isNull() | ~y.cast("double").isin(0.0, 1.0)).limit(5).select(imp.outcome).collect()
    if bad:
        raise TrialError(f"import-trial: outcome {imp.outcome!r} must be binary 0/1 (or true/false), found "
                         f"{[r[0] for r in bad]}")
    others = [t for t in labels if t != imp.control]
    numeric = all(_is_number(t) for t in others)
    ordered = sorted(others, key=lambda t: (float(t) if numeric else 0.0, t))
    arm_of = {imp.control: 0, **{t: i + 1 for i, t in enumerate(ordered)}}
    arm = F.lit(None).cast("int")
    level = F.lit(None).cast("double")
    for t, i in arm_of.items():
        arm = F.when(treat == t, F.lit(i)).otherwise(arm)
        face = 0.0 if i == 0 else (float(t) if numeric else float(i))
        level = F.when(treat == t, F.lit(face)).otherwise(level)

    feats = {}
    for f in imp.features:
        dtype = source.schema[f].dataType
        if isinstance(dtype, NumericType) or dtype.typeName() == "boolean":
            feats[safe_name(f)] = F.col(f).cast("double")
        elif isinstance(dtype, StringType):
            values = [r[0] for r in source.select(f).distinct().limit(MAX_CATEGORIES + 1).collect()]
            if len(values) > MAX_CATEGORIES:
                raise TrialError(f"import-trial: feature {f!r} has more than {MAX_CATEGORIES} categories; "
                                 f"encode it numerically")
            code = F.lit(None).cast("double")
            for i, v in enumerate(sorted(v for v in values if v is not None)):
                code = F.when(F.col(f) == v, F.lit(float(i))).otherwise(code)
            feats[safe_name(f)] = code
        else:
            raise TrialError(f"import-trial: feature {f!r} has type {dtype.simpleString()}; use numbers, "
                             f"booleans or strings")
    fmap = F.create_map(*[x for n, c in feats.items() for x in (F.lit(n), c)])
    uid = F.col(imp.id).cast("string") if imp.id else F.monotonically_increasing_id().cast("string")
    value = F.col(imp.value).cast("double") if imp.value else y.cast("double")
    cost = F.col(imp.cost).cast("double") if imp.cost else F.lit(0.0)
    prop = F.col(imp.propensity).cast("double") if imp.propensity else F.lit(None).cast("double")
    out = source.select(
        F.lit(name).alias("trial"), uid.alias("user_id"), F.lit(None).cast("date").alias("assigned_date"),
        arm.alias("arm"), level.alias("level"), treat.alias("arm_label"), prop.alias("propensity"),
        F.lit(True).alias("randomized"), y.cast("double").cast("int").alias("converted"),
        F.coalesce(value, F.lit(0.0)).alias("value"), F.coalesce(cost, F.lit(0.0)).alias("cost"),
        fmap.alias("features"))
    if not imp.propensity:  # randomized: the arm's share
        n = sum(labels.values())
        share = F.lit(None).cast("double")
        for t, c in labels.items():
            share = F.when(F.col("arm_label") == t, F.lit(c / n)).otherwise(share)
        out = out.withColumn("propensity", share)
    return with_split(out, name, holdout_share).select(*COUPON_TRIAL.column_names)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def trial_feature_names(trial: DataFrame) -> list[str]:
    """The feature names of a trial (keys of the map; one small distinct aggregate)."""
    keys = trial.select(F.explode(F.map_keys("features")).alias("k")).distinct().limit(500).collect()
    return sorted(r[0] for r in keys)
