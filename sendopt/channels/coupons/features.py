"""Pre-treatment features of new customers: only what the lake knows at signup, before any coupon.

Sources (and nothing else): ``raw.customers`` (market, device, gender, birth year — the account at
signup) and ``raw.signup_sessions`` (acquisition channel, first-session pages and add-to-cart). A
signup record dated after the coupon was granted would be post-treatment; :func:`trial_features`
refuses it. Outcome and assignment columns can never be features (:func:`check_pre_treatment`).
"""
from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.errors import SendoptError
from sendopt.sources.tables import CUSTOMERS, SIGNUP_SESSIONS

ACQUISITION = ("organic", "paid_social", "search", "referral", "affiliate")
DEVICES = ("ios", "android", "web")

#: The world's features, each known at signup.
WORLD_FEATURES = (
    *(f"acq_{a}" for a in ACQUISITION), "first_pages", "first_add_to_cart",
    *(f"device_{d}" for d in DEVICES), "age", "gender_female", "region_code",
)
#: Columns that are (or reveal) the treatment or its outcome: never features.
POST_TREATMENT = {
    "converted", "converted_date", "value_90d", "value", "coupon_cost", "cost", "coupon_level", "level", "arm",
    "arm_label", "assignment_prob", "propensity", "assigned_date", "split", "randomized",
}


class LeakageError(SendoptError):
    """A feature is not pre-treatment."""


def safe_name(name: str) -> str:
    """A LightGBM-safe feature name (letters, digits, underscore)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def check_pre_treatment(features: list[str], outcome_columns: tuple[str, ...] = ()) -> None:
    """Refuse treatment / outcome columns (and the trial's own outcome columns) as features."""
    bad = sorted({f for f in features if f.lower() in POST_TREATMENT or f in outcome_columns})
    if bad:
        raise LeakageError(f"features {bad} are the treatment or an outcome (post-treatment): drop them; the "
                           f"learners may only use what was known before the coupon")


def _feature_map(cols: dict[str, Column]) -> Column:
    return F.create_map(*[x for name, c in cols.items() for x in (F.lit(name), c.cast("double"))])


def signup_features(customers: DataFrame, signups: DataFrame, as_of: Column | None = None) -> DataFrame:
    """user_id, signup_date, region, brand, opt-ins and ``features`` (map) for customers with a signup record."""
    year = F.year(F.col("signup_date"))
    regions = F.when(F.col("region") == "north", 0).when(F.col("region") == "south", 1).otherwise(2)
    cols: dict[str, Column] = {f"acq_{a}": (F.col("acquisition_channel") == a).cast("int") for a in ACQUISITION}
    cols["first_pages"] = F.col("first_session_pages")
    cols["first_add_to_cart"] = F.col("first_session_add_to_cart").cast("int")
    cols.update({f"device_{d}": (F.col("device") == d).cast("int") for d in DEVICES})
    cols["age"] = year - F.col("birth_year")
    cols["gender_female"] = (F.col("gender") == "female").cast("int")
    cols["region_code"] = regions
    assert tuple(cols) == WORLD_FEATURES
    c = customers.select(*[x.name for x in CUSTOMERS.columns if x.name not in ("home_lat", "home_lon")])
    s = signups.select(*[x.name for x in SIGNUP_SESSIONS.columns]).withColumnRenamed("signup_date", "session_date")
    joined = c.join(s, "user_id")
    return joined.select("user_id", "signup_date", "session_date", "region", "brand", "email_opt_in",
                         "push_opt_in", _feature_map(cols).alias("features"))


def trial_features(assignments: DataFrame, features: DataFrame) -> DataFrame:
    """Join assignments (user_id, assigned_date, …) with :func:`signup_features`; refuse post-treatment rows."""
    joined = assignments.join(features.drop("signup_date"), "user_id")
    late = joined.where(F.col("session_date") > F.col("assigned_date")).limit(5).select("user_id").collect()
    if late:
        raise LeakageError(f"signup records dated after the coupon was granted (post-treatment), e.g. users "
                           f"{[r[0] for r in late]}: only what was known at assignment may be a feature")
    return joined.drop("session_date")


def expand(df: DataFrame, names: list[str], column: str = "features") -> DataFrame:
    """The ``features`` map as one double column per name (missing → null, which LightGBM treats as missing)."""
    return df.select("*", *[F.col(column).getItem(n).alias(safe_name(n)) for n in names])
