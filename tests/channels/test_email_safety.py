"""Safe policy improvement on planted replay rows: the estimates, the choice and the gross-change checks."""
from __future__ import annotations

import datetime as dt

import pytest

from sendopt.channels.email.backtest import Replay
from sendopt.channels.email.config import EmailConfig, Tier
from sendopt.channels.email.safety import (
    Option,
    arm_values,
    baseline_options,
    candidate_option,
    choose,
    evaluate_options,
    group_stats,
    is_safe,
    preferred,
    step_options,
)
from sendopt.lifecycle.estimators import powers


def _with_safety(email: EmailConfig, **update) -> EmailConfig:
    return email.model_copy(update={"publish": email.publish.model_copy(update={
        "safety": email.publish.safety.model_copy(update=update)})})


# the planted cases below test the doubly robust gate; the smoothed one (the default) gets its own test
EMAIL = _with_safety(EmailConfig(candidate_frequencies=(0, 3, 7), reference_frequency=3, bins=2,
                                  tiers=(Tier(max_bin=1, emails_per_week=7), Tier(max_bin=2, emails_per_week=3))),
                     estimator="dr")
INCUMBENT = Option("incumbent", "fixed", k=3, source="first run")
SCHEMA = ("user_id string, bin int, logged_k int, prob double, reward double, unsub double, purchased double, "
          "by_k array<struct<k:double,net_value:double,p_purchase:double,p_unsubscribe:double,"
          "p_no_action:double,choice_value:double>>, optimal_frequency int, email_consent double")


def _replay(spark, reward, model):
    """240 user-weeks, k logged uniformly over (0, 3, 7) with probability 1/3; ``reward(bin, k)`` is what
    happened (plus a little noise), ``model(k)`` what the model believes a user-week at k is worth."""
    by_k = [(float(k), model(k), 0.1, 0.01, 0.89, model(k)) for k in (0, 3, 7)]
    rows = []
    for i in range(240):
        b, k = 1 + i % 2, (0, 3, 7)[(i // 2) % 3]
        rows.append((f"u{i}", b, k, 1 / 3, reward(b, k) + 0.2 * ((i % 5) - 2), 0.0, 1.0, by_k, 7, 1.0))
    return Replay(spark.createDataFrame(rows, SCHEMA), [dt.date(2026, 2, 2)], {}, "m", "1")


def _choose(spark, reward, model, candidate_map):
    options = [candidate_option(EMAIL, candidate_map), INCUMBENT, *baseline_options(EMAIL)]
    evaluated = evaluate_options(_replay(spark, reward, model), options, EMAIL, "north", EMAIL.publish.safety.z)
    return choose(evaluated, EMAIL), {e.option.name: e for e in evaluated}


def test_a_candidate_worse_than_the_incumbent_is_not_published(spark):
    # the model believes 7/week is worth 9 a user-week; the logged weeks say it lost 10 (3/week earned 5)
    choice, by = _choose(spark, lambda b, k: {0: 1.0, 3: 5.0, 7: -10.0}[k], lambda k: {0: 1.0, 3: 4.0, 7: 9.0}[k],
                         {1: 7, 2: 7})
    assert by["candidate"].dm == pytest.approx(9.0)  # the model's own opinion would have published it
    assert by["candidate"].dr == pytest.approx(-10.0, abs=0.2) and by["incumbent"].dr == pytest.approx(5.0, abs=0.2)
    assert by["candidate"].diff == pytest.approx(by["candidate"].dr - by["incumbent"].dr)
    assert not by["candidate"].safe and by["candidate"].lower_bound < by["incumbent"].dr
    assert choice.chosen.name == "incumbent"
    assert "candidate not published" in choice.reason and "incumbent kept" in choice.reason


def test_a_candidate_that_beats_the_incumbent_by_more_than_its_interval_is_published(spark):
    # bin 1 truly earns 10 at 7/week, bin 2 earns 5 at 3/week: tiers {1: 7, 2: 3} beat everyone-3 (≈ 7.5 vs 5)
    choice, by = _choose(spark, lambda b, k: {0: 1.0, 3: 5.0, 7: 10.0 if b == 1 else -10.0}[k],
                         lambda k: {0: 1.0, 3: 5.0, 7: 6.0}[k], {1: 7, 2: 3})
    assert by["candidate"].safe and by["candidate"].lower_bound > by["incumbent"].dr
    assert by["candidate"].emails == pytest.approx(5.0) and not by["candidate"].failures
    assert choice.chosen.name == "candidate" and choice.reason.startswith("candidate published")


def test_gross_changes_are_refused_with_their_reason_even_when_the_estimate_likes_them(spark):
    # sending nothing looks best on these rows, but a market going silent is never published on an estimate
    choice, by = _choose(spark, lambda b, k: {0: 8.0, 3: 5.0, 7: -10.0}[k], lambda k: {0: 8.0, 3: 5.0, 7: 0.0}[k],
                         {1: 0, 2: 0})
    assert by["candidate"].safe
    assert any("go silent" in f for f in by["candidate"].failures)
    assert any("share at 0 emails/week" in f for f in by["candidate"].failures)
    assert choice.chosen.name == "incumbent" and "gross change" in choice.reason
    # a safe baseline that passes the checks is published instead of the incumbent (none here: 0 is silent,
    # 7 loses); with a rewarded 7/week inside the mean-change limit the choice would be that baseline
    assert by["everyone_0"].failures and not by["everyone_7"].safe


def test_the_smoothed_estimator_refuses_the_worse_candidate_and_publishes_the_better_one(spark):
    # three logged k and a degree-2 curve per bin: the curve passes through each (bin, k) mean residual, so the
    # smoothed values equal the DR ones here, with the same verdicts on both planted cases above
    smoothed = _with_safety(EMAIL, estimator="smoothed")
    for reward, model, tiers, published in (
            (lambda b, k: {0: 1.0, 3: 5.0, 7: -10.0}[k], lambda k: {0: 1.0, 3: 4.0, 7: 9.0}[k], {1: 7, 2: 7}, False),
            (lambda b, k: {0: 1.0, 3: 5.0, 7: 10.0 if b == 1 else -10.0}[k], lambda k: {0: 1.0, 3: 5.0, 7: 6.0}[k],
             {1: 7, 2: 3}, True)):
        options = [candidate_option(smoothed, tiers), INCUMBENT, *baseline_options(smoothed)]
        evaluated = evaluate_options(_replay(spark, reward, model), options, smoothed, "north", 1.645)
        by = {e.option.name: e for e in evaluated}
        assert by["candidate"].estimator == "smoothed"
        assert by["candidate"].value == pytest.approx(by["candidate"].dr, abs=1e-6)
        assert by["candidate"].diff == pytest.approx(by["candidate"].dr_diff, abs=1e-6)
        assert (choose(evaluated, smoothed).chosen.name == "candidate") is published


def test_steps_move_each_bin_part_of_the_way_and_skip_what_is_listed_already():
    email = _with_safety(EmailConfig(candidate_frequencies=(0, 1, 2, 3, 4, 5, 7), bins=2, tiers=EMAIL.tiers),
                         steps=[1, 2])
    cand = candidate_option(email, {1: 7, 2: 0})
    steps = step_options(cand, Option("incumbent", "fixed", k=3), email)
    assert [(o.name, o.tier_map) for o in steps] == [("step_1", {1: 4, 2: 2}), ("step_2", {1: 5, 2: 1})]
    # 6 is not a candidate frequency: the second step stops at 5; a step as large as the move is the candidate
    assert step_options(cand, Option("incumbent", "tiers", {1: 4, 2: 1}), email)[0].tier_map == {1: 5, 2: 0}
    # from 5, one step cannot reach 7 (bin 1 stays), two reach the candidate itself, which is not listed again
    assert [o.tier_map for o in step_options(cand, Option("incumbent", "tiers", {1: 5, 2: 1}), email)] == [
        {1: 5, 2: 0}]
    assert step_options(candidate_option(email.model_copy(update={"policy": "optimizer"}), {}),
                        Option("incumbent", "fixed", k=3), email) == []
    # a step that sends every bin the same is the everyone-k baseline, listed already
    assert step_options(candidate_option(email, {1: 7, 2: 7}), Option("incumbent", "fixed", k=3), email) == []
    assert step_options(cand, Option("incumbent", "fixed", k=3), _with_safety(email, steps=[])) == []


def test_an_overshooting_candidate_is_refused_and_the_step_towards_it_the_holdout_certifies_is_published(spark):
    # the model believes more is always better; the logged weeks say bin 1 peaks at 4/week and bin 2 at 3
    truth = {1: (1, 3, 5, 7, 8, 7, 5, 3), 2: (2, 4, 5, 6, 4, 2, 1, 0)}
    ks = tuple(range(8))
    email = _with_safety(EMAIL.model_copy(update={"candidate_frequencies": ks}), steps=[1, 2])
    by_k = [(float(k), float(k), 0.1, 0.01, 0.89, float(k)) for k in ks]
    rows = [(f"u{i}", 1 + i % 2, (i // 2) % 8, 1 / 8, truth[1 + i % 2][(i // 2) % 8] + 0.1 * ((i % 5) - 2), 0.0,
             1.0, by_k, 7, 1.0) for i in range(480)]
    rep = Replay(spark.createDataFrame(rows, SCHEMA), [dt.date(2026, 2, 2)], {}, "m", "1")
    cand, inc = candidate_option(email, {1: 7, 2: 5}), Option("incumbent", "tiers", {1: 2, 2: 1}, source="last run")
    options = [cand, inc, *step_options(cand, inc, email), *baseline_options(email)]
    choice = choose(evaluate_options(rep, options, email, "north", 1.645), email)
    by = {e.option.name: e for e in choice.evaluated}
    assert by["step_2"].option.tier_map == {1: 4, 2: 3} and by["step_2"].dr == pytest.approx(7.0, abs=0.1)
    assert not by["candidate"].safe and by["step_1"].safe and by["step_2"].safe
    assert by["everyone_4"].failures  # mean frequency +2.5 against the incumbent's 1.5
    assert choice.chosen.name == "step_2"
    assert "candidate not published" in choice.reason and "step_2 is safe" in choice.reason


def test_the_gate_rule_prefers_a_passing_candidate_then_the_best_passing_alternative_then_the_incumbent():
    values = {"candidate": 1.0, "incumbent": 0.5, "everyone_2": 0.9, "everyone_4": 0.8}
    assert preferred({"candidate": True, "everyone_2": True, "everyone_4": True}, values) == "candidate"
    assert preferred({"candidate": False, "everyone_2": True, "everyone_4": True}, values) == "everyone_2"
    assert preferred({"candidate": False, "everyone_2": False, "everyone_4": True}, values) == "everyone_4"
    assert preferred({"candidate": False, "everyone_2": False, "incumbent": True}, values) == "incumbent"
    assert is_safe(0.3, 0.1, 1.645) and not is_safe(0.1, 0.1, 1.645) and is_safe(0.1, 0.1, 0.0)
    assert not is_safe(None, 0.1, 1.645) and not is_safe(0.3, None, 1.645)


def test_prefer_best_publishes_the_passing_option_of_highest_value_the_candidate_included():
    values = {"candidate": 1.0, "incumbent": 0.5, "everyone_2": 1.2, "everyone_4": 0.8}
    passes = {"candidate": True, "everyone_2": True, "everyone_4": True}
    assert preferred(passes, values) == "candidate"
    assert preferred(passes, values, "best") == "everyone_2"
    assert preferred({**passes, "everyone_2": False}, values, "best") == "candidate"
    assert preferred({"candidate": False, "everyone_2": False, "everyone_4": False}, values, "best") == "incumbent"


def test_prefer_best_publishes_a_safe_baseline_valued_above_the_safe_candidate_and_says_why(spark):
    # bin 1 earns 10 at 7/week, bin 2 earns 8: everyone-7 (≈ 9) beats the safe candidate {1: 7, 2: 3} (≈ 7.5)
    email = _with_safety(EMAIL, max_mean_frequency_change=5.0)
    reward = lambda b, k: {0: 1.0, 3: 5.0, 7: 10.0 if b == 1 else 8.0}[k]  # noqa: E731
    options = [candidate_option(email, {1: 7, 2: 3}), INCUMBENT, *baseline_options(email)]
    evaluated = evaluate_options(_replay(spark, reward, lambda k: {0: 1.0, 3: 5.0, 7: 6.0}[k]), options, email,
                                 "north", 1.645)
    assert choose(evaluated, email).chosen.name == "candidate"
    best = choose(evaluated, _with_safety(email, prefer="best"))
    assert best.chosen.name == "everyone_7"
    assert "prefer=best" in best.reason and "everyone_7 is safe" in best.reason


def test_arm_values_give_each_bin_and_frequency_its_value_by_the_gates_estimator(spark):
    # bin 1 earns 10 at 7/week, bin 2 loses 10 there; the model believes 6: DR per (bin, k) reads the logged truth
    reward = lambda b, k: {0: 1.0, 3: 5.0, 7: 10.0 if b == 1 else -10.0}[k]  # noqa: E731
    rep = _replay(spark, reward, lambda k: {0: 1.0, 3: 5.0, 7: 6.0}[k])
    for email in (EMAIL, _with_safety(EMAIL, estimator="smoothed")):
        arms = arm_values(group_stats(rep.rows, email, "north"), email)
        assert set(arms) == {1, 2} and set(arms[1]) == {0, 3, 7}
        assert arms[1][7][0] == pytest.approx(10.0, abs=0.2) and arms[2][7][0] == pytest.approx(-10.0, abs=0.2)
        assert arms[1][3][0] == pytest.approx(5.0, abs=0.2)
        assert all(se > 0 for by_k in arms.values() for _, se in by_k.values())


def test_a_market_pooled_residual_curve_is_one_estimate_shared_by_every_bin(spark):
    reward = lambda b, k: {0: 1.0, 3: 5.0, 7: 10.0 if b == 1 else -10.0}[k]  # noqa: E731
    stats = group_stats(_replay(spark, reward, lambda k: {0: 1.0, 3: 5.0, 7: 6.0}[k]).rows,
                        _with_safety(EMAIL, estimator="smoothed"), "north")
    curves = stats.residual_curves(2, "market")
    assert curves[1] is curves[2]
    everyone_7 = Option("everyone_7", "fixed", k=7)
    v = stats.smoothed(everyone_7, curves)
    phi = powers(7, 2)
    # the model says 6 for everyone; the pooled residual at 7 is the mean of +4 and −16: −6 → a value of 0
    assert v.value == pytest.approx(0.0, abs=0.2)
    # one shared curve: its error counts once for all rows (not as two independent halves)
    assert v.se ** 2 == pytest.approx(float(phi @ curves[1].cov @ phi), rel=1e-6)
    by_bin = stats.residual_curves(2)
    assert by_bin[1] is not by_bin[2] and by_bin[1].at(7) == pytest.approx(4.0, abs=0.2)
