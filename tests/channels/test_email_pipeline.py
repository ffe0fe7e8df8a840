"""The email decision end to end on a tiny world: training, MLflow registry, invariants, reruns, fallback."""
from __future__ import annotations

import datetime as dt
import json

import mlflow
import numpy as np
import pytest
from pyspark.sql import functions as F

from sendopt.catalog import open_lake
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.email.tables import EMAIL_FREQUENCY, EMAIL_POLICY_EVALUATION, POLICY_CHOICE
from sendopt.cli import main
from sendopt.models import tracking

DATE = "2026-02-25"
RULES = ["email.rules.region_max={south: 5}",
         "email.rules.suppress=[{name: newcomers, when: 'tenure_days < 14', max_per_week: 1}]",
         "lifecycle.backtest.weeks=1"]  # the safe-improvement replay: one holdout week keeps the fixture short


@pytest.fixture(scope="module")
def daily(tiny_world, spark):
    args, config = tiny_world
    args = [*args, *[x for r in RULES for x in ("--set", r)]]
    assert main(["email-daily", *args, "--date", DATE]) == 0
    return args, config, open_lake(spark, config)


def decisions(lake, date=DATE):
    return lake.read(EMAIL_FREQUENCY).where(F.col("decision_date") == date)


def test_every_market_has_a_champion_logged_with_its_inputs(daily):
    _, config, _ = daily
    tracking.configure(config)
    client = mlflow.MlflowClient()
    for market in config.markets:
        name = EmailResponseModel(config, market.region, market.brand).name
        version = tracking.champion_version(name)
        assert version == "1"
        mv = client.get_model_version(name, version)
        run = client.get_run(mv.run_id)
        assert run.data.metrics["valid_auc"] > 0.5 and "valid_ece" in run.data.metrics
        assert run.data.tags["input.raw.email_assignments"] == "0"
        assert len(run.data.tags["config_hash"]) == 12
        assert "reference_stats.json" in {a.path for a in client.list_artifacts(mv.run_id)}


def test_one_decision_per_user_and_market_with_consistent_probabilities(daily):
    _, config, lake = daily
    df = decisions(lake)
    features = lake.read("features.customer_daily").where(F.col("snapshot_date") == dt.date(2026, 2, 24))
    assert df.count() == features.count() == df.select("user_id").distinct().count()
    assert {(r.region, r.brand) for r in df.select("region", "brand").distinct().collect()} == {
        (m.region, m.brand) for m in config.markets}
    bad = df.where(F.abs(F.col("p_purchase") + F.col("p_unsubscribe") + F.col("p_no_action") - 1) > 1e-9)
    assert bad.count() == 0
    assert df.where((F.col("emails_per_week") < 0) | (F.col("emails_per_week") > 7)).count() == 0


def test_hard_rules_win(daily):
    _, _, lake = daily
    df = decisions(lake).join(
        lake.read("features.customer_daily").where(F.col("snapshot_date") == dt.date(2026, 2, 24))
        .select("user_id", "email_consent", "tenure_days"), "user_id")
    assert df.where((F.col("email_consent") < 0.5) & (F.col("emails_per_week") > 0)).count() == 0
    assert df.where((F.col("region") == "south") & (F.col("emails_per_week") > 5)).count() == 0
    assert df.where((F.col("tenure_days") < 14) & (F.col("email_consent") > 0.5)
                    & (F.col("emails_per_week") > 1)).count() == 0
    assert df.where(F.col("rule") == "no_email_consent").count() > 0


def test_exploration_holdout_is_stable_random_and_recorded(daily):
    _, config, lake = daily
    df = decisions(lake)
    share = df.where("is_exploration").count() / df.count()
    assert abs(share - config.email.exploration.share) < 0.03
    assert df.where("is_exploration and exploration_prob != 0.125").count() == 0
    assert df.where("is_exploration").select("emails_per_week").distinct().count() >= 5


def test_each_bin_maps_to_one_tier_frequency_shared_by_its_tier(daily):
    _, config, lake = daily
    email = config.email
    pairs = decisions(lake).select("region", "brand", "bin", "tier_frequency").distinct().collect()
    allowed = (set(email.candidate_frequencies) if email.tier_source == "model"
               else {t.emails_per_week for t in email.tiers})
    assert {r.tier_frequency for r in pairs} <= allowed
    per_tier = {}
    for r in pairs:
        tier = next(i for i, t in enumerate(email.tiers) if r.bin <= t.max_bin)
        per_tier.setdefault((r.region, r.brand, tier), set()).add(r.tier_frequency)
    assert all(len(v) == 1 for v in per_tier.values())  # bins of one tier send alike
    assert {r.bin for r in pairs} <= set(range(1, email.bins + 1))


def test_the_k_curve_is_a_registered_dose_response_head_with_no_unsubscribe_at_zero(daily):
    _, config, lake = daily
    tracking.configure(config)
    model = EmailResponseModel(config, "north", "alpha")
    head = model.head_for(tracking.load_model(model.name))
    assert head is not None and head.rows > 0 and head.anchor in head.levels
    zero = decisions(lake).where(F.col("emails_per_week") == 0)
    assert zero.count() > 0
    assert zero.where(F.col("p_unsubscribe") != 0).count() == 0


def test_every_market_records_its_safe_improvement_choice_and_publishes_it(daily):
    _, config, lake = daily
    choice = lake.read(POLICY_CHOICE).where(F.col("decision_date") == DATE).collect()  # options × markets rows
    ks = config.email.candidate_frequencies
    for market in config.markets:
        rows = {r.option: r for r in choice if (r.region, r.brand) == (market.region, market.brand)}
        steps = {o for o in rows if o.startswith("step_")}
        assert set(rows) - steps == {"candidate", "incumbent", *(f"everyone_{k}" for k in ks)}
        chosen = [r for r in rows.values() if r.chosen]
        assert len(chosen) == 1 and chosen[0].reason and chosen[0].published_as == "chosen"
        inc = rows["incumbent"]  # first run: everyone at the history's fixed frequency (alpha 3, beta 2)
        assert inc.kind == "fixed" and inc.emails_fixed == config.world.brands[market.brand].email_fixed_frequency
        goal = {int(b): k for b, k in json.loads(rows["candidate"].tier_map).items()}
        for name in steps:  # each bin moved at most s emails/week from the incumbent towards the candidate
            s = int(name.removeprefix("step_"))
            assert s in config.email.publish.safety.steps and rows[name].kind == "tiers"
            for b, k in json.loads(rows[name].tier_map).items():
                lo, hi = sorted((inc.emails_fixed, goal[int(b)]))
                assert lo <= k <= hi and abs(k - inc.emails_fixed) <= s
        z, incumbent_values = config.email.publish.safety.z, []
        for r in rows.values():
            assert r.rows > 0 and r.dr is not None and r.dr_se > 0
            if r.option != "incumbent":  # lower bound = V(incumbent) + diff − z·se, V by the gate's estimator
                assert r.safe == (r.diff_vs_incumbent - z * r.diff_se > 0)
                incumbent_values.append(r.lower_bound - r.diff_vs_incumbent + z * r.diff_se)
                if config.email.publish.safety.estimator == "dr":
                    assert r.diff_vs_incumbent == pytest.approx(r.dr - inc.dr, abs=1e-9)
        assert max(incumbent_values) - min(incumbent_values) < 1e-6  # every option is compared with the same incumbent value
        assert rows["everyone_0"].checks_failed  # silence is a gross change
        published = decisions(lake).where((F.col("region") == market.region) & (F.col("brand") == market.brand)
                                          & ~F.col("is_exploration") & F.col("rule").isNull())
        label = config.email.policy if chosen[0].option == "candidate" else chosen[0].option
        assert {r.policy for r in published.select("policy").distinct().collect()} == {label}
        if chosen[0].kind == "fixed":
            assert {r.emails_per_week for r in published.select("emails_per_week").distinct().collect()} == {
                chosen[0].emails_fixed}


def test_config_tier_map_follows_thresholds(tiny_world):
    from sendopt.channels.email.decide import config_tier_map

    _, config = tiny_world
    assert config_tier_map(config.email) == {1: 7, 2: 7, 3: 3, 4: 3, 5: 3, 6: 1, 7: 1, 8: 1, 9: 0, 10: 0}


AB = ["--set", "lifecycle.experiments.enabled=true",
      "--set", "lifecycle.experiments.treatment={policy: fixed, emails_per_week: 6}"]


def test_rerun_replaces_the_date_and_applies_ab_arms_and_a_new_model_is_only_a_challenger(daily, spark):
    args, config, lake = daily
    before = decisions(lake).count()
    version = lake.version(EMAIL_FREQUENCY)
    assert main(["decide-email", *args, *AB, "--date", DATE, "--region", "north", "--brand", "alpha"]) == 0
    assert lake.version(EMAIL_FREQUENCY) == version + 1
    assert decisions(lake).count() == before
    market = decisions(lake).where("region = 'north' and brand = 'alpha'")
    arms = {r.policy: r["count"] for r in market.groupBy("policy").count().collect()}
    assert arms.get("ab_control", 0) > 0 and arms.get("ab_treatment", 0) > 0 and arms.get("exploration", 0) > 0
    treated = market.where("policy = 'ab_treatment'")
    assert treated.where("emails_per_week != 6 and rule is null").count() == 0  # the arm's policy, hard rules last
    assert market.where("is_exploration and policy != 'exploration'").count() == 0  # holdout stays out of arms
    assert main(["train", *args, "--date", DATE, "--region", "north", "--brand", "alpha"]) == 0
    name = EmailResponseModel(config, "north", "alpha").name
    tracking.configure(config)
    assert tracking.champion_version(name) == "1"
    assert str(mlflow.MlflowClient().get_model_version_by_alias(name, "challenger").version) == "2"


def test_a_thompson_allocated_holdout_logs_each_users_probability(daily):
    args, config, lake = daily
    assert main(["decide-email", *args, "--date", DATE, "--region", "north", "--brand", "alpha",
                 "--set", "email.exploration.allocation=thompson"]) == 0
    market = decisions(lake).where("region = 'north' and brand = 'alpha'")
    held = market.where("is_exploration")
    explore = config.email.exploration
    assert held.count() > 0 and market.where("not is_exploration and exploration_prob != 1.0").count() == 0
    assert held.where(F.col("exploration_prob") < explore.floor / len(explore.frequencies) - 1e-9).count() == 0
    assert held.where("exploration_prob != 0.125").count() > 0  # the replay's values moved the allocation
    # one probability per (bin, drawn frequency): what the backtest and the gate reweight each row by
    drawn = held.where("rule is null").groupBy("bin", "emails_per_week").agg(
        F.countDistinct("exploration_prob").alias("p"))
    assert drawn.where("p > 1").count() == 0


def test_kill_switch_and_fallback_are_loud(daily, spark, tmp_path):
    args, config, lake = daily
    version = lake.version(EMAIL_FREQUENCY)
    assert main(["decide-email", *args, "--date", DATE, "--set", "email.publish.enabled=false"]) == 0
    assert lake.version(EMAIL_FREQUENCY) == version
    # no champion in an empty registry → the safe policy is published and the ledger says succeeded_with_fallback
    empty = ["--set", f"mlflow.tracking_uri=sqlite:///{tmp_path}/empty.db"]
    assert main(["decide-email", *args, *empty, "--date", DATE, "--region", "south", "--brand", "beta"]) == 0
    rows = decisions(lake).where("region = 'south' and brand = 'beta'")
    assert {r.policy for r in rows.select("policy").distinct().collect()} == {"safe_fallback"}
    ledger = lake.read("ops.job_runs").where("job = 'decide-email' and status = 'succeeded_with_fallback'").collect()
    assert ledger and "not found in the registry" in ledger[-1].message
    record = lake.read(POLICY_CHOICE).where(f"decision_date = '{DATE}' and region = 'south' and brand = 'beta'")
    assert [(r.option, r.chosen, r.published_as) for r in record.collect()] == [("safe_fallback", True,
                                                                                 "safe_fallback")]


def test_evaluation_compares_policies_against_the_truth(daily):
    _, config, lake = daily
    ev = lake.read(EMAIL_POLICY_EVALUATION).where(F.col("decision_date") == DATE)
    policies = {r.policy for r in ev.select("policy").distinct().collect()}
    fixed = {f"everyone_{k}" for k in config.email.candidate_frequencies}
    assert policies == {"published", "tiers", "optimizer", "daily", "three_per_week", "random", "oracle",
                        "best_fixed", *fixed}
    for market in config.markets:
        by = {r.policy: r for r in ev.where((F.col("region") == market.region) & (F.col("brand") == market.brand))
              .collect()}
        assert by["best_fixed"].net_value_per_user == max(by[p].net_value_per_user for p in fixed)
        assert by["everyone_3"].net_value_per_user == by["three_per_week"].net_value_per_user
    for r in ev.collect():
        assert r.share_of_oracle <= 1.0 + 1e-9
        assert r.users > 0


def _fit_south_beta(daily, spark, *settings):
    """south/beta's model fitted in-process on the fixture's lake with ``settings`` (no feature trimming)."""
    import logging

    from sendopt.channels.email.training import fit_market
    from sendopt.config import load_config
    from sendopt.runner import JobContext

    args, _, lake = daily
    overrides = [a for a in args if a != "--set"] + ["email.training.select_features=false", *settings]
    config = load_config("local", overrides=overrides)
    ctx = JobContext(job="train-email", spark=spark, config=config, lake=lake, run_id="t",
                     run_date=dt.date.fromisoformat(DATE), log=logging.getLogger("test"), loader=None,
                     region="south", brand="beta")
    return ctx, fit_market(ctx)


def test_a_market_head_pooled_with_every_market_follows_the_shared_curve(daily, spark):
    """``k_effect_pooling``: the head is shrunk towards the curve of every market's randomized weeks (scored with
    this market's booster); a very strong pull gives that shared curve, none gives the market's own."""
    from sendopt.channels.email.training import training_frame

    ctx, fitted = _fit_south_beta(daily, spark, "email.training.k_effect_pooling=1e7")
    model, result = fitted.model, fitted.report.result
    head = model.head_for(result.model_str)
    assert fitted.params["k_effect_pooling"] == 1e7
    train = fitted.data.where(F.col("week_start") < F.lit(fitted.holdout_from))
    own = model._fit_head_on(train.where("policy = 'exploration'"), result, head.anchor)
    pool = training_frame(ctx, model, pooled=True).where(F.col("week_start") < F.lit(fitted.holdout_from))
    shared = model._fit_head_on(pool, result, head.anchor)
    assert shared.rows > 2 * own.rows  # every market's randomized weeks, not this market's alone
    assert np.abs(np.array(head.delta) - np.array(shared.delta)).max() < 1e-3
    assert np.abs(np.array(head.delta) - np.array(own.delta)).max() > 1e-2
    fitted.data.unpersist()


def test_a_head_with_the_carry_over_of_last_weeks_sends_chooses_k_for_keeping_it(daily, spark):
    """``k_carryover: sends_7d``: the head learns a slope on last week's sends from the randomized weeks, the
    booster is scored with that feature held at the anchor, and every candidate k gets this week's
    probabilities (after the sends it really had) and the steady ones (k sent every week) that the choice uses."""
    from sendopt.channels.email.decide import expected_revenue, score_candidates

    ctx, fitted = _fit_south_beta(daily, spark, "email.training.k_carryover=sends_7d")
    config = ctx.config
    model, result = fitted.model, fitted.report.result
    head = model.head_for(result.model_str)
    assert head.carry_feature == "sends_7d" and len(head.carry) == 3 and head.carry[0] == 0.0
    users = fitted.data.where(F.col("policy") == "exploration").drop("k").limit(50).withColumn("_u", F.col("user_id"))
    users = users.withColumn("sends_7d", F.lit(0.0)).union(users.withColumn("sends_7d", F.lit(7.0)))
    users = users.withColumn("user_id", F.concat_ws("|", "user_id", F.col("sends_7d").cast("string")))
    users = users.withColumn("revenue", expected_revenue(config.email.value))
    scored = score_candidates(users, model, result.model_str, config.email).cache()
    assert {"p_unsubscribe_steady", "choice_value", "net_value"} <= set(scored.columns)
    rows = {}
    for r in scored.where(F.col("k") == 7.0).collect():
        rows.setdefault(r["_u"], {})[r.sends_7d] = r
    assert len(rows) > 10
    gamma = head.carry[2]  # unsubscribe
    for pair in rows.values():
        after_none, after_seven = pair[0.0], pair[7.0]
        # the booster never sees last week's sends (held at the anchor): the steady week is the same
        assert after_none.p_unsubscribe_steady == pytest.approx(after_seven.p_unsubscribe_steady, rel=1e-12)
        # after 7 sends, a week of 7 is the steady week of 7; after none it carries less (or more) fatigue
        assert after_seven.p_unsubscribe == pytest.approx(after_seven.p_unsubscribe_steady, rel=1e-12)
        assert np.sign(after_seven.p_unsubscribe - after_none.p_unsubscribe) == np.sign(gamma)
    zero = scored.where(F.col("k") == 0.0)
    assert zero.where((F.col("p_unsubscribe") != 0) | (F.col("p_unsubscribe_steady") != 0)).count() == 0
    scored.unpersist()
    fitted.data.unpersist()
