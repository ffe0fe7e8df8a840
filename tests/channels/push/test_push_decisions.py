"""Push decisions: invariants of decide-push on a hand-built lake, conciliation maths, the plug-in path and
the world's relevance truth. One small lake per module; each job run is a few Spark stages."""
from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest
from pyspark.sql import functions as F

from sendopt.catalog import CATALOG, open_lake
from sendopt.channels.contacts import recent_contacts, record_contacts
from sendopt.channels.push import orchestrate as o
from sendopt.channels.push.config import PushConfig, StrategyEntry
from sendopt.channels.push.jobs import run_decide_push
from sendopt.channels.push.strategies.base import PushInputs, PushStrategy
from sendopt.config import load_config
from sendopt.runner import JobContext

D = dt.date(2026, 3, 1)
NORTH = (59.33, 18.07)


def ts(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def put(lake, table: str, rows: list[dict]) -> None:
    spec = CATALOG.get(table)
    df = lake.spark.createDataFrame([tuple(r.get(c) for c in spec.column_names) for r in rows], spec.schema)
    lake.write(df, spec, mode="overwrite")


class NearestGrocery(PushStrategy):
    """Test plug-in: every user wants grocery stores (MCC 5411)."""

    def interests(self, inputs: PushInputs):
        return inputs.users.select("user_id", F.lit("5411").alias("mcc"), F.lit(0.9).alias("affinity"),
                                   F.lit("test").alias("reason"))


def customer(uid, opt_in=True, signup=dt.date(2025, 1, 1), lat=NORTH[0]):
    return {"user_id": uid, "region": "north", "brand": "alpha", "signup_date": signup, "home_lat": lat,
            "home_lon": NORTH[1], "email_opt_in": True, "push_opt_in": opt_in}


def card(uid, n, mcc, day, lat=NORTH[0]):
    return {"txn_id": f"t{uid}{n}", "user_id": uid, "txn_ts": ts(day, 12), "merchant_id": 9, "store_id": 9000,
            "mcc": mcc, "amount": 10.0, "lat": lat, "lon": NORTH[1], "event_date": day}


def push(uid, n, day, opened):
    return {"push_id": f"p{uid}{n}", "user_id": uid, "region": "north", "brand": "alpha", "sent_at": ts(day, 10),
            "send_hour": 10, "strategy": "mcc_affinity", "merchant_id": 1, "store_id": 1000, "policy": "logging",
            "opened_at": ts(day, 11) if opened else None, "clicked_at": None, "event_date": day}


USERS = [f"u{i:02d}" for i in range(1, 21)]
# u02 opted out after signup, u03 never opted in, u04 got an email yesterday (cooldown across channels),
# u05 ignored its last 5 pushes (fatigue), u06 lives and shops 100 km away (no store within the radius)


@pytest.fixture(scope="module")
def push_lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("push_lake")
    config = load_config("local", overrides=[f"lake.root={root}", "spark.master=local[2]",
                                             "spark.shuffle_partitions=4",
                                             "push.calibration.enabled=false"])  # test_calibration.py
    lake = open_lake(spark, config)
    y = D - dt.timedelta(days=1)
    put(lake, "raw.customers", [customer(u, opt_in=(u != "u03"), lat=(60.3 if u == "u06" else NORTH[0]))
                                for u in USERS])
    put(lake, "raw.consents", [{"user_id": "u02", "channel": "push", "consented": False,
                                "changed_at": ts(D - dt.timedelta(days=5), 9), "source": "app_settings",
                                "event_date": D - dt.timedelta(days=5)}])
    cards = [card(u, 0, "7832", y, lat=(60.3 if u == "u06" else NORTH[0])) for u in USERS]
    cards += [card(u, 1, "5411", D - dt.timedelta(days=10), lat=(60.3 if u == "u06" else NORTH[0])) for u in USERS]
    put(lake, "raw.card_transactions", cards)
    stores = [(1000, 1, "5813", 59.331, 18.07), (1001, 1, "5813", 59.36, 18.07), (2000, 2, "5691", 59.34, 18.08),
              (3000, 3, "5813", 59.80, 18.07), (4000, 4, "5411", 59.335, 18.06)]
    put(lake, "raw.stores", [{"store_id": s, "merchant_id": m, "mcc": c, "region": "north", "lat": la, "lon": lo}
                             for s, m, c, la, lo in stores])
    put(lake, "raw.merchants", [{"merchant_id": m, "merchant_name": f"Shop {m}", "mcc": c, "region": "north"}
                                for m, c in ((1, "5813"), (2, "5691"), (3, "5813"), (4, "5411"), (9, "7832"))])
    put(lake, "raw.promo_campaigns", [{"campaign_id": "c1", "merchant_id": 2, "region": "north",
                                       "start_date": y, "end_date": D, "discount_pct": 20, "voucher_value": 0.0,
                                       "min_spend": 0.0, "target_segment": "all"}])
    put(lake, "raw.web_events", [{"event_id": f"w{u}", "user_id": u, "session_id": f"s{u}", "event_ts": ts(y, 20),
                                  "event_type": "add_to_cart", "category": "fashion", "device": "ios",
                                  "event_date": y} for u in USERS[::2]])
    put(lake, "raw.orders", [{"order_id": "o1", "user_id": "u01", "region": "north", "brand": "alpha",
                              "order_ts": ts(y, 21), "amount": 30.0, "currency": "SEK", "category": "fashion",
                              "event_date": y}])
    put(lake, "raw.push_notifications", [push("u05", n, D - dt.timedelta(days=3 + n), False) for n in range(5)]
        + [push("u07", n, D - dt.timedelta(days=3 + n), n == 0) for n in range(5)])
    put(lake, "reference.mcc_codes", [{"mcc": m, "description": d, "range_description": "", "reserved": False}
                                      for m, d in (("7832", "Cinemas"), ("5813", "Bars"), ("5691", "Clothing"),
                                                   ("5411", "Grocery"))])
    put(lake, "analytics.mcc_affinity", [{
        "run_date": y, "region": "north", "window_days": 3, "mcc1": "7832", "mcc2": "5813", "trigger_count": 100,
        "pair_count": 50, "follow_any_count": 80, "p_mcc2_given_mcc1": 0.5, "p_mcc2_naive": 0.05,
        "p_mcc2_refined": 0.06, "lift_naive": 10.0, "lift_refined": 10.4, "ci_low": 0.4, "ci_high": 0.6,
        "lift_low": 8.0, "is_supported": True, "computed_at": ts(y, 3), "run_id": "test"}])
    record_contacts(lake, spark.createDataFrame([("u04", "north", "alpha", ts(y, 18))],
                                                "user_id string, region string, brand string, contact_ts timestamp")
                    .withColumn("campaign", F.lit("weekly")), "email", y, "north", "alpha", "test-email")
    grocery = StrategyEntry(name="nearest_grocery", class_path=f"{__name__}:NearestGrocery",
                            template="{store_name} is open{discount}: {link}",
                            weights={"affinity": 1.0, "distance": 0.0, "discount": 0.0})
    cfg = config.push.model_copy(update={"strategies": (*config.push.strategies, grocery)})
    config = config.model_copy(update={"push": cfg})
    counter = iter(range(100))

    def run(day=D):
        run_id = f"decide-push-test-{next(counter)}"
        ctx = JobContext(job="decide-push", spark=spark, config=config, lake=open_lake(spark, config, run_id=run_id,
                         job="decide-push"), run_id=run_id, run_date=day, log=logging.getLogger("test"),
                         loader=None, region="north", brand="alpha")
        run_decide_push(ctx)
        return ctx

    return lake, config, run


def decisions(lake, day=D):
    return lake.read("decisions.push_notifications").where(F.col("decision_date") == F.lit(day))


def test_invariants_rerun_and_cooldown(push_lake):
    lake, config, run = push_lake
    run()
    first = decisions(lake).collect()
    users = [r.user_id for r in first]
    assert first and len(users) == len(set(users)), "at most one push per user per period"
    assert not {"u02", "u03"} & set(users), "never to opted-out users"
    assert "u04" not in users, "cooldown across channels (an email yesterday)"
    assert "u05" not in users, "fatigue: last 5 pushes ignored"
    assert "u07" in users, "an opened push among the last 5 is no fatigue"
    assert "u06" not in users, "no store within the radius"
    assert all(r.distance_km <= config.push.radius_km for r in first)
    assert {r.strategy for r in first} <= {"mcc_affinity", "online_to_offline", "nearest_grocery"}
    by_user = {r.user_id: r for r in first}
    assert by_user["u01"].store_id in (1000, 4000) and 1001 not in {r.store_id for r in first}, "nearest bar"
    assert 3000 not in {r.store_id for r in first}, "52 km away"
    assert all(r.text and "{" not in r.text for r in first)
    o2o = [r for r in first if r.strategy == "online_to_offline"]
    assert all(r.discount_pct == 20.0 and "20% off" in r.text for r in o2o)
    assert "u01" not in {r.user_id for r in o2o}, "u01 bought fashion: no online-to-offline push"
    contacts = recent_contacts(lake, D, D, ("push",)).collect()
    assert sorted(c.user_id for c in contacts) == sorted(users)

    run()  # re-run: replaces the slice (decisions and contacts), same choices
    again = decisions(lake).collect()
    key = lambda r: (r.user_id, r.strategy, r.store_id, r.send_hour, r.text, r.is_exploration)  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, first)), "deterministic given inputs and seed"
    assert recent_contacts(lake, D, D, ("push",)).count() == len(users)
    assert len({r.run_id for r in again}) == 1 and again[0].run_id != first[0].run_id

    nxt = D + dt.timedelta(days=1)  # the next day: today's pushes are inside the 24 h cooldown
    blocked = o.cooldown_users(recent_contacts(lake, D, nxt), lake.read("raw.push_notifications"), nxt,
                               config.push)
    assert set(users) <= {r.user_id for r in blocked.collect()}


def test_plugin_strategy_flows_to_output(push_lake):
    """nearest_grocery is one class above plus one config entry; it reaches the published rows."""
    lake, _, run = push_lake
    if not lake.exists("decisions.push_notifications"):  # run alone (-k)
        run()
    rows = decisions(lake).collect()
    grocery = [r for r in rows if r.strategy == "nearest_grocery"]
    assert grocery and {r.store_id for r in grocery} == {4000}
    assert all(r.text.startswith("Shop 4 is open: https://") for r in grocery)
    assert "u04" not in {r.user_id for r in grocery}, "plug-ins pass through the same filters"


def test_conciliation_is_deterministic_with_floor(spark):
    cfg = PushConfig(strategies=(), conciliation={"floor": 0.5, "draws": 64})
    counts = {"a": (50.0, 1000.0), "b": (0.0, 1000.0)}
    draws = o.thompson_draws(spark, counts, cfg, D).toPandas()  # 128 rows
    wide = draws.pivot(index="draw", columns="strategy", values="theta")
    assert (wide["b"] >= 0.5 * wide.max(axis=1) - 1e-12).all(), "floor: no strategy starves"
    assert wide["a"].mean() > wide["b"].mean()
    rows = [(f"u{i}", s, 1000 + i, 1, "x", "5813", 1.0, 0.5, 0.0, "r", sc)
            for i in range(200) for s, sc in (("a", 0.4), ("b", 0.9 if i % 2 else 0.2))]
    best = spark.createDataFrame(rows, "user_id string, strategy string, store_id long, merchant_id long, "
                                       "merchant_name string, mcc string, distance_km double, affinity double, "
                                       "discount_pct double, reason string, score double")
    draws_df = o.thompson_draws(spark, counts, cfg, D)
    one = o.conciliate(best, draws_df, cfg, D).toPandas().sort_values("user_id").reset_index(drop=True)
    two = o.conciliate(best, draws_df, cfg, D).toPandas().sort_values("user_id").reset_index(drop=True)
    assert len(one) == 200 and one["user_id"].is_unique
    assert one[["strategy", "store_id", "is_exploration"]].equals(two[["strategy", "store_id", "is_exploration"]])
    assert ((one["exploration_prob"] > 0) & (one["exploration_prob"] <= 1)).all()
    assert set(one["strategy"]) == {"a", "b"}, "both strategies win some users"


def test_world_click_truth_rewards_relevance_and_nearness(session_config):
    from sendopt.world import truth
    from sendopt.world.model import world_from

    world = world_from(session_config)
    p = lambda pair, cat, km: float(truth.push_click_given_open(truth.NP, world, np.float64(pair),  # noqa: E731
                                                                np.float64(cat), np.float64(km)))
    assert p(0, 0, 0) == pytest.approx(world.config.push.click_given_open)
    assert p(1, 0, 2) > p(0, 1, 2) > p(0, 0, 2) > p(0, 0, 20)
    assert p(0, 0, 100) == pytest.approx(p(0, 0, world.config.push.distance_cap_km))


def test_policy_table_compares_on_the_same_users(spark):
    from sendopt.evaluation.push_policy import policy_table

    rows = [("u1", "a", 0.5, 0.10), ("u1", "b", 0.5, 0.30), ("u2", "a", 0.4, 0.20),  # best pairs
            ("u1", "orchestrated", 0.5, 0.30), ("u2", "orchestrated", 0.4, 0.20)]
    df = spark.createDataFrame(rows, "user_id string, policy_key string, true_p_open double, true_p_click double")
    table = {r["policy"]: r for r in policy_table(df, ["a", "b"])}
    assert table["orchestrated"]["expected_clicks"] == pytest.approx(0.5)
    assert table["random_strategy"]["expected_clicks"] == pytest.approx(0.2 + 0.2)  # u1: mean(0.1, 0.3)
    assert table["only_b"]["pushes"] == 1 and table["only_b"]["clicks_per_eligible_user"] == pytest.approx(0.15)
    assert table["orchestrated"]["lift_vs_random"] == pytest.approx(0.5 / 0.4)
    assert table["oracle_strategy"]["expected_clicks"] == pytest.approx(0.3 + 0.2)


def test_interests_by_day_replays_each_day_in_one_pass(push_lake):
    """One pass answers several days: an event on day e counts for e + 1 … e + look-back, and the
    online-to-offline recency decay halves an event's weight every half_life_days (2)."""
    from sendopt.channels.push.strategies.base import load_strategies

    lake, config, _ = push_lake
    cfg = config.push
    nxt, late = D + dt.timedelta(days=1), D + dt.timedelta(days=3)  # yesterday's events: ages 0, 1, 3
    users = lake.read("raw.customers").select("user_id")  # the hand-built raw rows are all valid
    inputs = PushInputs(lake, D, "north", "alpha", cfg, users, None, lake.read)
    basket, o2o = load_strategies(cfg)[:2]
    triggers = {(r.user_id, r.mcc, r.day) for r in basket.interests_by_day(inputs, [D, nxt, late]).collect()}
    assert triggers == {(u, "5813", d) for u in USERS for d in (D, nxt)}, "cinema yesterday: 3 trigger days"
    browsed = {(r.user_id, r.day): r.affinity for r in o2o.interests_by_day(inputs, [D, nxt, late]).collect()
               if r.mcc == "5691"}
    carted = [u for u in USERS[::2] if u != "u01"]  # u01 bought fashion online
    assert set(browsed) == {(u, d) for u in carted for d in (D, nxt, late)}, "7-day look-back"
    for day, age in ((D, 0), (nxt, 1), (late, 3)):  # a cart weighs 3 views, × 0.5^(age / 2)
        assert browsed[("u03", day)] == pytest.approx(1 - np.exp(-3 * 0.5 ** (age / 2) / 5))
