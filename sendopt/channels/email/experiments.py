"""Email A/B arms: a stable hash puts each user in ``control`` or ``treatment``; ``decide-email`` applies the arm.

The arm is ``uniform_hash(user, experiments.salt, "arm") < treatment_share`` — the
same hash the exploration holdout uses, with another salt and stream, so arms are
independent of the holdout and identical on every run, cluster and partitioning.
Users of the email exploration holdout (``uniform_hash(user, exploration.salt,
"holdout") < exploration.share``) get no arm: the randomized logging data the
backtests and the model need must stay a clean uniform sample.

How the decision job applies the arms (``decide-email``): ``arm_frequency`` turns the
arm column into each arm's weekly frequency from the columns ``decide`` already has
(``tier_frequency``, ``optimal_frequency``) — exploration and hard rules still come
after it. The job hands ``decide`` an :class:`Arms` (``decide`` does not import this module). An arm that names another model than the champion needs a second scoring
pass over that arm's users (:func:`arm_users`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.email.config import EmailConfig, ExplorationConfig
from sendopt.channels.primitives import arm_of, uniform_hash
from sendopt.errors import SendoptError
from sendopt.lifecycle.experiment_config import ArmConfig, ExperimentsConfig
from sendopt.lifecycle.tables import AB_ASSIGNMENTS

ARMS = ("control", "treatment")


def in_exploration_holdout(user: Column, exploration: ExplorationConfig) -> Column:
    """The email exploration holdout, exactly as ``sendopt.channels.email.decide.decide`` draws it."""
    return uniform_hash(user, exploration.salt, "holdout") < F.lit(exploration.share)



def ab_arm_column(user: Column, experiments: ExperimentsConfig, exploration: ExplorationConfig) -> Column:
    """``control`` | ``treatment`` | null (experiment disabled, or the user is in the exploration holdout)."""
    if not experiments.enabled:
        return F.lit(None).cast("string")
    return F.when(in_exploration_holdout(user, exploration), F.lit(None).cast("string")).otherwise(
        arm_of(user, experiments.salt, experiments.treatment_share))


def arm_policy_frequency(arm: ArmConfig, email: EmailConfig) -> Column:
    """The weekly frequency one arm's policy gives, from ``decide``'s per-user columns."""
    if arm.policy == "fixed":
        return F.lit(arm.emails_per_week)
    policy = email.policy if arm.policy == "current" else arm.policy
    return F.col("tier_frequency") if policy == "tiers" else F.col("optimal_frequency")


def arm_frequency(arm: Column, experiments: ExperimentsConfig, email: EmailConfig, default: Column) -> Column:
    """Frequency before exploration and hard rules: the arm's policy, else ``default`` (no arm)."""
    return (
        F.when(arm == "control", arm_policy_frequency(experiments.control, email))
        .when(arm == "treatment", arm_policy_frequency(experiments.treatment, email))
        .otherwise(default)
    )


def describe_arms(experiments: ExperimentsConfig, email: EmailConfig) -> dict[str, str]:
    """Human-readable policy of each arm (logged by the decision job and printed by ab-analyze)."""
    out = {}
    for name in ARMS:
        arm: ArmConfig = getattr(experiments, name)
        if arm.policy == "fixed":
            out[name] = f"fixed {arm.emails_per_week} emails/week"
        else:
            policy = email.policy if arm.policy == "current" else arm.policy
            out[name] = f"{policy} policy of model {arm.model}" + (" (current system)" if arm.policy == "current"
                                                                   else "")
    return out


def arm_users(features: DataFrame, arm: str, experiments: ExperimentsConfig,
              exploration: ExplorationConfig) -> DataFrame:
    """Rows of ``features`` the given arm decides; control also takes users without an arm (the holdout)."""
    column = ab_arm_column(F.col("user_id"), experiments, exploration)
    if arm == "control":
        return features.where(column.isNull() | (column == "control"))
    return features.where(column == arm)


def assignments(users: DataFrame, experiments: ExperimentsConfig, exploration: ExplorationConfig,
                region: str, brand: str, date: dt.date, run_id: str) -> DataFrame:
    """Assignment rows (catalog shape) of ``users`` (a ``user_id`` column); holdout users are left out."""
    arm = ab_arm_column(F.col("user_id"), experiments, exploration)
    return users.select("user_id").distinct().withColumn("arm", arm).where(F.col("arm").isNotNull()).select(
        F.lit(experiments.name).alias("experiment"), "user_id", F.lit(region).alias("region"),
        F.lit(brand).alias("brand"), "arm", F.lit(experiments.salt).alias("salt"),
        F.lit(float(experiments.treatment_share)).alias("treatment_share"),
        F.lit(date).alias("first_assigned_date"), F.lit(run_id).alias("run_id"),
    )


def record_assignments(lake, users: DataFrame, experiments: ExperimentsConfig, exploration: ExplorationConfig,
                       region: str, brand: str, date: dt.date, run_id: str) -> int:
    """Append the users not yet assigned in this experiment; return how many were added.

    A changed salt or split under the same experiment name is refused: the arms already
    served would no longer match the recorded ones.
    """
    rows = assignments(users, experiments, exploration, region, brand, date, run_id)
    if lake.exists(AB_ASSIGNMENTS):
        existing = lake.read(AB_ASSIGNMENTS).where(F.col("experiment") == experiments.name)
        recorded = existing.select("salt", "treatment_share").distinct().limit(3).collect()  # ≤ 3 rows
        for r in recorded:
            if r.salt != experiments.salt or abs(r.treatment_share - experiments.treatment_share) > 1e-12:
                raise SendoptError(
                    f"{AB_ASSIGNMENTS.full_name}: experiment {experiments.name!r} was assigned with salt={r.salt!r}, "
                    f"treatment_share={r.treatment_share}; config now says salt={experiments.salt!r}, "
                    f"treatment_share={experiments.treatment_share}. Start a new experiment name instead.")
        rows = rows.join(existing.select("user_id"), "user_id", "left_anti")
    rows = rows.select(*AB_ASSIGNMENTS.column_names).cache()
    added = rows.count()
    if added:
        lake.write(rows, AB_ASSIGNMENTS, mode="append")
    rows.unpersist()
    return added



@dataclass(frozen=True)
class Arms:
    """An enabled experiment as ``decide`` applies it: the arm column, then each arm's frequency."""

    experiments: ExperimentsConfig
    email: EmailConfig

    def column(self) -> Column:
        return ab_arm_column(F.col("user_id"), self.experiments, self.email.exploration)

    def frequency(self, arm: Column, default: Column) -> Column:
        return arm_frequency(arm, self.experiments, self.email, default)


def arms_of(experiments: ExperimentsConfig, email: EmailConfig) -> Arms | None:
    """The :class:`Arms` ``decide`` needs, or None when no experiment is enabled."""
    return Arms(experiments, email) if experiments.enabled else None
