"""Every planted effect is visible in the raw data at the expected strength."""
from __future__ import annotations

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from sendopt.world import truth


@pytest.fixture(scope="module")
def email_units(world_frames):
    """Exploration user-weeks: assigned k, did the user buy / unsubscribe that week."""
    weekly = lambda df, ts: df.withColumn(  # noqa: E731
        "week_start", F.date_sub(F.col("event_date"), F.datediff("event_date", F.lit("2026-01-01")) % 7)
    )
    orders = weekly(world_frames["raw.orders"], "order_ts").groupBy("user_id", "week_start").agg(
        F.lit(1).alias("purchase"))
    unsub = weekly(world_frames["raw.email_events"].where("event_type = 'unsubscribe'"), "event_ts").groupBy(
        "user_id", "week_start").agg(F.lit(1).alias("unsubscribe"))
    units = (
        world_frames["raw.email_assignments"].where("policy = 'exploration'")
        .join(orders, ["user_id", "week_start"], "left").join(unsub, ["user_id", "week_start"], "left")
        .fillna(0, ["purchase", "unsubscribe"])
    )
    return units.cache()


def _rates(units, by):
    rows = units.groupBy(by).agg(F.count(F.lit(1)).alias("n"), F.avg("purchase").alias("buy"),
                                 F.avg("unsubscribe").alias("unsub")).collect()
    return {r[by]: r for r in rows}


def test_exploration_frequencies_are_uniform_with_recorded_probability(world_frames, email_units):
    counts = _rates(email_units, "planned_frequency")
    total = sum(r["n"] for r in counts.values())
    assert sorted(counts) == list(range(8))
    for r in counts.values():
        assert abs(r["n"] / total - 1 / 8) < 0.015
    probs = email_units.select("assignment_prob").distinct().collect()
    assert [p[0] for p in probs] == [0.125]
    fixed = world_frames["raw.email_assignments"].where("policy = 'fixed'")
    assert fixed.select("planned_frequency").distinct().count() <= 2  # one fixed frequency per brand


def test_exploration_share_matches_config(world_frames, world):
    share = world_frames["truth.user_traits"].agg(F.avg(F.col("exploration").cast("double"))).first()[0]
    assert abs(share - world.config.exploration_share) < 0.02


def test_unsubscribe_rises_with_weekly_frequency(email_units):
    r = _rates(email_units.withColumn("band", F.when(F.col("sends") <= 2, 0).when(F.col("sends") <= 4, 1)
                                      .otherwise(2)).where("sends > 0"), "band")
    assert r[0]["unsub"] < r[1]["unsub"] < r[2]["unsub"]
    assert r[2]["unsub"] > 2.5 * r[0]["unsub"]
    assert _rates(email_units, "sends")[0]["unsub"] == 0  # no email, no unsubscribe


def test_purchase_has_diminishing_returns_in_frequency(email_units):
    r = _rates(email_units.withColumn("band", F.when(F.col("sends") == 0, 0).when(F.col("sends") <= 3, 1)
                                      .otherwise(2)), "band")
    first_gain = r[1]["buy"] - r[0]["buy"]
    second_gain = r[2]["buy"] - r[1]["buy"]
    assert first_gain > 0.02
    assert second_gain < first_gain


def test_observed_rates_match_the_truth_api(email_units, world_frames, world):
    """The Spark truth API, applied to the logged units, predicts what the generator produced."""
    traits = world_frames["truth.user_traits"].drop("region", "brand")
    scored = truth.with_expected_email_outcomes(
        email_units.join(traits, "user_id"), world, k_col="sends", date_col="week_start"
    )
    got = scored.agg(F.avg("purchase"), F.avg("true_p_purchase"), F.avg("unsubscribe"),
                     F.avg("true_p_unsubscribe")).first()
    # k_prev defaults to k: the load differs a little from the logged one, so allow a small gap on unsubscribe
    assert got[0] == pytest.approx(got[1], rel=0.08)
    assert got[2] == pytest.approx(got[3], rel=0.35)


def test_latent_purchase_propensity_leaks_into_observables(world_frames):
    """Users with high true purchase logit browse more and add to cart more: models can learn it."""
    traits = world_frames["truth.user_traits"].select("user_id", "purchase_logit")
    q = traits.approxQuantile("purchase_logit", [0.2, 0.8], 0.01)
    web = world_frames["raw.web_events"].groupBy("user_id").agg(
        F.sum((F.col("event_type") == "add_to_cart").cast("int")).alias("carts"))
    by = traits.join(web, "user_id", "left").fillna(0).withColumn(
        "grp", F.when(F.col("purchase_logit") < q[0], "low").when(F.col("purchase_logit") > q[1], "high"))
    r = {x["grp"]: x[1] for x in by.where("grp is not null").groupBy("grp").agg(F.avg("carts")).collect()}
    assert r["high"] > 1.5 * r["low"]


def test_engagement_decays_into_inactivity(world_frames):
    traits = world_frames["truth.user_traits"].select("user_id", "decay_start")
    sends = world_frames["raw.email_sends"].select("send_id", "user_id", "event_date")
    opens = world_frames["raw.email_events"].where("event_type = 'open'").select("send_id").withColumn("o", F.lit(1))
    lagged = (sends.join(opens, "send_id", "left").fillna(0).join(traits, "user_id")
              .withColumn("lag", F.datediff("event_date", F.lit("2026-01-01")) - F.col("decay_start")))
    r = {x[0]: x[1] for x in lagged.groupBy(F.col("lag") > 30).agg(F.avg("o")).collect()}
    assert r[True] < 0.3 * r[False]


def test_spend_is_heavy_tailed(world_frames):
    q = world_frames["raw.orders"].approxQuantile("amount", [0.5, 0.99], 0.001)
    mean = world_frames["raw.orders"].agg(F.avg("amount")).first()[0]
    assert mean > 1.15 * q[0]
    assert q[1] > 5 * q[0]


def test_weekly_seasonality_and_holiday_bump(world_frames):
    orders = world_frames["raw.orders"]
    by_dow = {r[0]: r[1] for r in orders.groupBy(F.dayofweek("event_date")).count().collect()}
    assert by_dow[7] > 1.15 * by_dow[3]  # Saturday vs Tuesday
    daily = orders.groupBy("event_date").count()
    valentine = daily.where("event_date between '2026-02-10' and '2026-02-14'").agg(F.avg("count")).first()[0]
    february = daily.where("event_date between '2026-02-17' and '2026-03-09'").agg(F.avg("count")).first()[0]
    assert valentine > 1.15 * february


def test_markets_differ(world_frames):
    by = {(r[0], r[1]): r[2] for r in world_frames["raw.orders"].groupBy("region", "brand")
          .agg(F.avg("amount")).collect()}
    assert by[("south", "beta")] > 1.2 * by[("south", "alpha")]
    assert by[("north", "alpha")] > 1.1 * by[("south", "alpha")]


def _lift(tx, mcc1, mcc2, window):
    """P(mcc2 within window days after an mcc1 payment) / P(mcc2 within window days after any payment)."""
    tx = tx.select("user_id", "mcc", F.datediff("event_date", F.lit("2026-01-01")).alias("d"))
    anchors = tx.select("user_id", F.col("d").alias("d0"), F.col("mcc").alias("m0")).distinct()
    follow = tx.where(F.col("mcc") == mcc2).select("user_id", F.col("d").alias("d1")).distinct()
    hits = anchors.join(follow, "user_id", "left").withColumn(
        "hit", ((F.col("d1") > F.col("d0")) & (F.col("d1") <= F.col("d0") + window)).cast("int"))
    per_anchor = hits.groupBy("user_id", "d0", "m0").agg(F.max("hit").alias("hit")).fillna(0)
    r = per_anchor.agg(F.avg(F.when(F.col("m0") == mcc1, F.col("hit"))), F.avg("hit")).first()
    return r[0] / r[1]


def test_planted_mcc_pairs_have_lift_ordered_by_strength(world_frames, world):
    tx = world_frames["raw.card_transactions"].cache()
    pairs = sorted(world.config.cards.planted_pairs, key=lambda p: -p.strength)
    lifts = [_lift(tx, p.mcc1, p.mcc2, p.window_days) for p in pairs]
    assert all(lift > 3 for lift in lifts[:3]), lifts
    assert all(lift > 1.3 for lift in lifts), lifts
    control = _lift(tx, "5812", "5541", 3)  # restaurants → fuel: not planted
    assert 0.6 < control < 1.5, control


def test_push_opens_peak_at_the_preferred_hour(world_frames):
    traits = world_frames["truth.user_traits"].select("user_id", "preferred_hour")
    p = world_frames["raw.push_notifications"].join(traits, "user_id").withColumn(
        "match", F.abs(F.col("send_hour") - F.col("preferred_hour")) <= 1)
    r = {x[0]: x[1] for x in p.groupBy("match").agg(F.avg(F.col("opened_at").isNotNull().cast("int"))).collect()}
    assert r[True] > 1.4 * r[False]


def test_push_fatigue_lowers_opens(world_frames):
    p = world_frames["raw.push_notifications"].withColumn("d", F.datediff("event_date", F.lit("2026-01-01")))
    w = Window.partitionBy("user_id").orderBy("d").rangeBetween(-7, -1)
    p = p.withColumn("recent", F.count(F.lit(1)).over(w))
    r = {x[0]: x[1] for x in p.groupBy(F.col("recent") >= 2).agg(
        F.avg(F.col("opened_at").isNotNull().cast("int"))).collect()}
    assert r[True] < r[False]


def test_coupon_trial_is_randomized_with_heterogeneous_effects(world_frames):
    trial = world_frames["raw.coupon_assignments"]
    levels = {r[0]: r[1] for r in trial.groupBy("coupon_level").count().collect()}
    assert len(levels) == 4
    assert max(levels.values()) < 1.35 * min(levels.values())
    conv = {r[0]: r[1] for r in trial.groupBy("coupon_level").agg(F.avg(F.col("converted").cast("int"))).collect()}
    assert conv[20.0] > conv[0.0] + 0.05
    eff = world_frames["truth.coupon_effects"].join(world_frames["truth.user_traits"].select(
        "user_id", "coupon_type"), "user_id").where("coupon_level = 20").groupBy("coupon_type").agg(
        F.avg("effect_convert")).collect()
    eff = {r[0]: r[1] for r in eff}
    assert eff["persuadable"] > 0.3 and eff["sleeping_dog"] < 0 and abs(eff["lost_cause"]) < 0.02


def test_promo_effects_show_in_the_logged_control_group(world_frames):
    """Stronger discounts redeem more; offered new customers order far more at the merchant than their
    control group (incremental), active ones barely more (subsidised)."""
    offers = world_frames["raw.promo_offers"]
    camp = world_frames["raw.promo_campaigns"].select("campaign_id", "merchant_id", "start_date", "end_date",
                                                      "discount_pct")
    red = world_frames["raw.promo_redemptions"].groupBy("campaign_id", "user_id").agg(F.count(F.lit(1)).alias("r"))
    units = offers.join(camp, "campaign_id").join(red, ["campaign_id", "user_id"], "left").fillna(0, ["r"])
    on = units.where("offered")
    r = {x[0]: x[1] for x in on.groupBy(F.col("discount_pct") >= 20).agg(F.avg("r")).collect()}
    assert r[True] > r[False]
    assert units.where(~F.col("offered")).agg(F.sum("r")).first()[0] == 0  # the control group never redeems
    tx = world_frames["raw.card_transactions"].select("user_id", "merchant_id", F.col("event_date").alias("d"))
    orders = (units.join(tx, ["user_id", "merchant_id"], "left")
              .withColumn("n", F.col("d").between(F.col("start_date"), F.col("end_date")).cast("int"))
              .groupBy("campaign_id", "user_id", "segment", "offered").agg(F.sum(F.coalesce("n", F.lit(0))).alias("n")))
    mean = {(x[0], x[1]): x[2] for x in orders.groupBy("segment", "offered").agg(F.avg("n")).collect()}
    assert mean[("new", True)] > 2 * mean[("new", False)]
    assert mean[("active", True)] < 1.5 * mean[("active", False)]


def test_coupon_response_follows_signup_observables(world_frames):
    """Type depends on what the lake records at signup (add-to-cart → sure things), the observational
    period's levels follow the business rule (confounded), and cost = face value when redeemed."""
    signups = world_frames["raw.signup_sessions"]
    types = world_frames["truth.user_traits"].select("user_id", "coupon_type")
    shares = {r[0]: r[1] for r in signups.join(types, "user_id").groupBy("first_session_add_to_cart").agg(
        F.avg((F.col("coupon_type") == "sure_thing").cast("int"))).collect()}
    assert shares[True] > shares[False] + 0.15
    trial = world_frames["raw.coupon_assignments"]
    assert trial.join(signups, "user_id", "left_anti").count() == 0  # every trial customer has a signup record
    assert trial.where("coupon_cost != CASE WHEN converted THEN coupon_level ELSE 0 END").count() == 0
    obs = world_frames["raw.coupon_observational"].join(signups, "user_id")
    carts = {r[0]: r[1] for r in obs.groupBy("first_session_add_to_cart").agg(
        F.avg((F.col("coupon_level") == 0).cast("int"))).collect()}
    assert carts[True] > 0.85 and carts[False] < 0.1  # the rule: add-to-cart gets no coupon
    eff = world_frames["truth.coupon_effects"]
    assert eff.where("abs(net_effect - (effect_value_90d - expected_cost)) > 1e-6").count() == 0
    assert {r[0] for r in eff.select("population").distinct().collect()} == {"trial", "observational"}


def test_explained_effect_share_is_between_zero_and_one(world):
    from sendopt.world.coupons import explained_effect_share

    shares = explained_effect_share(world, users=50_000)
    assert all(0.05 < s["share"] < 0.9 for s in shares.values())
    for s in shares.values():  # E[E[τ|X]] = E[τ]: the observable expectation is unbiased (within 4 s.e.)
        se = (s["var_true"] / 50_000) ** 0.5
        assert abs(s["mean_given_x"] - s["mean_effect"]) < 4 * se, s
