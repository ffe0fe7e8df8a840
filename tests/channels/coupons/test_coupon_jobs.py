"""The coupon jobs end to end from the CLI on a small generated world, and import-trial on a team's CSV."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from sendopt.cli import main
from sendopt.config import load_config

#: Only the tables the coupon jobs read: a world of 3,000 users of whom half sign up in the window.
TABLES = ["raw.customers", "raw.consents", "raw.signup_sessions", "raw.coupon_assignments",
          "raw.coupon_observational", "truth.coupon_effects"]
WORLD = ["world.users=3000", "world.new_user_share=0.5", "world.days=28", "world.users_per_partition=1500",
         "world.coupons.observational_days=400"]
FAST = ["coupons.learners.backend=local", "coupons.learners.num_boost_round=40", "coupons.allocation.budget_per_customer=2.0",
        "coupons.learners.kinds=[t,x]", "coupons.evaluation.bootstrap=20", "coupons.evaluation.grid=50",
        "coupons.allocation.bisection_steps=6"]


def cli_args(root, extra=()):
    args = ["--set", f"lake.root={root}", "--set", "spark.master=local[2]", "--set", "spark.shuffle_partitions=4"]
    for item in [*WORLD, *FAST, *extra]:
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def coupon_world(tmp_path_factory, spark):
    from sendopt.catalog import open_lake
    from sendopt.world.generate import world_tables
    from sendopt.world.model import world_from

    root = tmp_path_factory.mktemp("coupon_world")
    config = load_config("local", overrides=[a for a in cli_args(root) if a != "--set"])
    lake = open_lake(spark, config)
    for table, df in world_tables(spark, world_from(config), TABLES).items():
        lake.write(df, table, mode="overwrite")
    return root, config, lake


def test_world_pipeline_from_the_cli(coupon_world, capsys):
    root, config, lake = coupon_world
    args = cli_args(root)
    first = str(config.world.start_date + dt.timedelta(days=3))
    assert main(["assign-coupons", *args, "--date", first]) == 0  # no champion yet: the fallback, no coupons
    fallback = lake.read("decisions.coupon_assignments").where(F.col("decision_date") == F.lit(first))
    assert fallback.count() > 0 and fallback.where("coupon_level > 0 or reason != 'no_model'").count() == 0
    assert main(["import-trial", *args]) == 0
    trial = lake.read("features.coupon_trial")
    counts = {r[0]: r[1] for r in trial.groupBy("trial").count().collect()}
    assert counts["world"] > 1000 and counts["world_observational"] > 300

    assert main(["train-uplift", *args]) == 0
    day = config.world.start_date + dt.timedelta(days=10)
    signups = lake.read("raw.customers").where(F.col("signup_date") == F.lit(day)).count()
    assign = [*args, "--date", str(day), "--set", "coupons.allocation.budget=40"]
    assert main(["assign-coupons", *assign]) == 0
    out = lake.read("decisions.coupon_assignments").where(F.col("decision_date") == F.lit(day))
    assert out.count() == signups
    row = out.agg(F.sum("predicted_cost").alias("spend"), F.countDistinct("learner").alias("l")).first()
    assert row["spend"] <= 40 + 1e-6 and row["l"] == 1
    assert out.where("reason = 'opted_out' and coupon_level > 0").count() == 0
    opted_out = lake.read("raw.customers").where(
        (F.col("signup_date") == F.lit(day)) & ~F.col("email_opt_in") & ~F.col("push_opt_in")).count()
    assert out.where("reason = 'opted_out'").count() >= opted_out
    assert main(["assign-coupons", *assign]) == 0  # a re-run replaces the day
    assert lake.read("decisions.coupon_assignments").where(F.col("decision_date") == F.lit(day)).count() == signups

    capsys.readouterr()
    assert main(["evaluate-uplift", *args]) == 0
    printed = capsys.readouterr().out
    assert "oracle" in printed and "uniform_0" in printed and "predictive" in printed
    ev = lake.read("analytics.coupon_evaluation")
    names = {r["name"]: r["metrics"] for r in ev.where("kind = 'policy'").collect()}
    assert {"learned_t", "learned_x", "random", "predictive", "oracle", "observable_oracle", "uniform_0", "uniform_20"} <= set(names)
    oracle = names["oracle"]
    assert oracle["true_gain"] >= max(m["true_gain"] for n, m in names.items() if n != "oracle") - 1e-9
    assert ev.where("kind = 'qini'").count() >= 2 * 3 and ev.where("kind = 'budget_curve'").count() > 5


def test_observational_period_is_refused_for_lack_of_overlap(coupon_world, capsys):
    root, _, _ = coupon_world
    args = cli_args(root)
    assert main(["import-trial", *args]) == 0
    capsys.readouterr()
    assert main(["train-uplift", *args, "--set", "coupons.observational=true"]) == 2
    assert "overlap check failed" in capsys.readouterr().err


def team_csv(path, n=1200, seed=4, arms=("control", "small", "big")):
    rng = np.random.default_rng(seed)
    f1 = rng.uniform(size=n)
    seg = rng.choice(["a", "b"], n)
    grp = rng.choice(list(arms), n)
    lift = np.where(grp == "big", 0.3 * (seg == "a"), np.where(grp == "small", 0.15, 0.0))
    conv = (rng.uniform(size=n) < 0.2 + lift).astype(int)
    pd.DataFrame({"cid": [f"c{i}" for i in range(n)], "grp": grp, "conv": conv, "rev": conv * (50 + 50 * f1),
                  "paid": conv * np.where(grp == "big", 10.0, np.where(grp == "small", 5.0, 0.0)),
                  "f1": f1, "seg": seg}).to_csv(path, index=False)
    return path


def test_import_trial_from_a_csv_then_train_and_evaluate(tmp_path, spark, capsys):
    csv = team_csv(tmp_path / "trial.csv")
    args = cli_args(tmp_path / "lake")
    imp = ["--path", str(csv), "--treatment", "grp", "--control", "control", "--outcome", "conv",
           "--value", "rev", "--cost", "paid", "--features", "f1,seg", "--id", "cid", "--name", "team"]
    assert main(["import-trial", *args, *imp]) == 0
    team = [*args, "--set", "coupons.trial=team", "--set", "coupons.learners.kinds=[t]"]  # one learner: the path, not the zoo
    assert main(["train-uplift", *team]) == 0
    capsys.readouterr()
    assert main(["evaluate-uplift", *team]) == 0
    printed = capsys.readouterr().out
    assert "learned_t" in printed and "oracle" not in printed  # no truth for a team's own trial


@pytest.mark.parametrize("change, message", [
    ({"--outcome": "nope"}, "columns ['nope'] are not in the source"),
    ({"--control": "placebo"}, "control value 'placebo' not among"),
    ({"--outcome": "rev"}, "must be binary 0/1"),
    ({"--features": "f1,conv"}, "cannot also be features"),
])
def test_import_trial_refuses_clearly(tmp_path, capsys, change, message):
    csv = team_csv(tmp_path / "trial.csv", n=400)
    base = {"--path": str(csv), "--treatment": "grp", "--control": "control", "--outcome": "conv",
            "--features": "f1,seg"}
    base.update(change)
    flags = [x for kv in base.items() for x in kv]
    capsys.readouterr()
    assert main(["import-trial", *cli_args(tmp_path / "lake"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_import_trial_refuses_one_arm_and_thin_arms(tmp_path, capsys):
    one = team_csv(tmp_path / "one.csv", n=200, arms=("control",))
    assert main(["import-trial", *cli_args(tmp_path / "lake"), "--path", str(one), "--treatment", "grp",
                 "--control", "control", "--outcome", "conv", "--features", "f1"]) == 2
    assert "single value" in capsys.readouterr().err
    thin = team_csv(tmp_path / "thin.csv", n=90)
    assert main(["import-trial", *cli_args(tmp_path / "lake"), "--path", str(thin), "--treatment", "grp",
                 "--control", "control", "--outcome", "conv", "--features", "f1"]) == 2
    assert "fewer than 50 rows" in capsys.readouterr().err
