"""Assemble the world's tables as Spark DataFrames in catalog shape.

Each entry of :data:`RECIPES` says which index a table is generated over
(users, merchants or campaigns), which numpy builder produces its rows and how
the numbers become catalog columns (string ids, names, timestamps). Nothing
here touches storage: ``jobs.py`` writes what :func:`world_tables` returns, and
tests inspect the DataFrames directly.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sendopt.errors import SendoptError
from sendopt.world import cards, coupons, customers, email, merchants, promos, push, traits, web
from sendopt.world.frames import (
    US_PER_DAY,
    conform,
    day_date,
    epoch_us,
    hashed_id,
    lookup,
    run_builder,
    user_id,
)
from sendopt.world.frames import user_range as _user_range
from sendopt.world.model import World, world_from


@dataclass(frozen=True)
class TableRecipe:
    table: str
    over: str  # the index it is generated over: users | merchants | campaigns
    builder: Callable
    schema: str
    shape: Callable[[DataFrame, World], DataFrame]
    daily: bool = False  # builder takes (first_day, horizon); simulate-outcomes regenerates single days


def moment(world: World, day: str, sec: str) -> Column:
    """Timestamp of second ``sec`` of world day ``day``."""
    micros = F.lit(epoch_us(world.config.start_date)) + F.col(day).cast("long") * F.lit(US_PER_DAY) + (
        F.col(sec) * 1e6
    ).cast("long")
    return F.timestamp_micros(micros)


def _market(world: World) -> dict[str, Column]:
    mk = world.markets
    return {
        "user_id": user_id(world),
        "region": lookup(mk.regions, F.col("market")),
        "brand": lookup(mk.brands, F.col("market")),
        "currency": lookup(mk.currency, F.col("market")),
    }


def _customers(df, w):
    return conform(df, "raw.customers", **_market(w), signup_date=day_date(w, "signup_day"),
                   gender=lookup(traits.GENDERS, F.col("gender")), device=lookup(traits.DEVICES, F.col("device")))


def _consents(df, w):
    return conform(df, "raw.consents", user_id=user_id(w), channel=lookup(customers.CHANNELS, F.col("channel")),
                   consented=F.lit(False), changed_at=moment(w, "day", "sec"),
                   source=lookup(customers.SOURCES, F.col("channel")), event_date=day_date(w, "day"))


def _email_assignments(df, w):
    return conform(df, "raw.email_assignments", **_market(w),
                   week_start=F.date_add(F.lit(w.config.start_date), F.col("week") * 7),
                   policy=lookup(email.POLICIES, F.col("policy")), planned_frequency=F.col("planned"),
                   assignment_prob=F.col("prob"))


def _email_sends(df, w):
    return conform(df, "raw.email_sends", **_market(w), send_id=hashed_id(w, "s", "idx", "day"),
                   sent_at=moment(w, "day", "sec"), week_start=F.date_add(F.lit(w.config.start_date), F.col("week") * 7),
                   policy=lookup(email.POLICIES, F.col("policy")), planned_frequency=F.col("planned"),
                   assignment_prob=F.col("prob"), event_date=day_date(w, "day"))


def _email_events(df, w):
    return conform(df, "raw.email_events", event_id=hashed_id(w, "e", "idx", "day", "kind"),
                   send_id=hashed_id(w, "s", "idx", "day"), user_id=user_id(w),
                   event_type=lookup(email.EVENT_TYPES, F.col("kind")), event_ts=moment(w, "day", "sec"),
                   event_date=day_date(w, "day"))


def _orders(df, w):
    return conform(df, "raw.orders", **_market(w), order_id=hashed_id(w, "o", "idx", "week", "j"),
                   order_ts=moment(w, "day", "sec"), category=lookup(w.config.categories, F.col("category")),
                   attributed_send_id=F.when(F.col("attributed_day") >= 0, hashed_id(w, "s", "idx", "attributed_day")),
                   event_date=day_date(w, "day"))


def _web(df, w):
    return conform(df, "raw.web_events", event_id=hashed_id(w, "w", "idx", "day", "session", "seq"),
                   user_id=user_id(w), session_id=hashed_id(w, "ws", "idx", "day", "session"),
                   event_ts=moment(w, "day", "sec"), event_type=lookup(web.EVENT_TYPES, F.col("event_type")),
                   category=lookup(w.config.categories, F.col("category")),
                   device=lookup(traits.DEVICES, F.col("device")), event_date=day_date(w, "day"))


def _push(df, w):
    return conform(df, "raw.push_notifications", **_market(w), push_id=hashed_id(w, "p", "idx", "day"),
                   sent_at=moment(w, "day", "sent_sec"), send_hour=F.col("hour"),
                   strategy=lookup(w.config.push.strategies, F.col("strategy")),
                   policy=lookup(push.POLICIES, F.col("policy")),
                   opened_at=F.when(~F.isnan("open_sec"), moment(w, "day", "open_sec")),
                   clicked_at=F.when(~F.isnan("click_sec"), moment(w, "day", "click_sec")),
                   event_date=day_date(w, "day"))


def txn_id(w: World) -> Column:
    """``raw.card_transactions.txn_id``: a payment's keys; promo-induced orders add their campaign key."""
    return F.when(F.col("promo") < 0, hashed_id(w, "t", "idx", "day", "src_day", "j", "pair")).otherwise(
        hashed_id(w, "t", "idx", "day", "src_day", "j", "pair", "promo"))


def _cards(df, w):
    return conform(df, "raw.card_transactions", **_market(w), txn_id=txn_id(w), txn_ts=moment(w, "day", "sec"),
                   mcc=lookup(w.mccs, F.col("mcc")), event_date=day_date(w, "day"))


def _merchants(df, w):
    return conform(df, "raw.merchants", mcc=lookup(w.mccs, F.col("mcc")),
                   region=lookup(w.region_names, F.col("region")))


def _stores(df, w):
    return conform(df, "raw.stores", mcc=lookup(w.mccs, F.col("mcc")), region=lookup(w.region_names, F.col("region")))


def _campaigns(df, w):
    return conform(df, "raw.promo_campaigns", campaign_id=hashed_id(w, "c", "campaign"),
                   region=lookup(w.region_names, F.col("region")), start_date=day_date(w, "start_day"),
                   end_date=day_date(w, "end_day"),
                   target_segment=lookup(w.config.promos.segments, F.col("target_segment")),
                   source=lookup(promos.SOURCES, F.col("source")), request_id=F.lit(None), design_id=F.lit(None))


def _offers(df, w):
    return conform(df, "raw.promo_offers", campaign_id=hashed_id(w, "c", "campaign"), user_id=user_id(w),
                   segment=lookup(promos.SEGMENTS, F.col("segment")), offer_probability=F.col("prob"),
                   offered_at=F.when(F.col("offered"), moment(w, "day", "sec")), event_date=day_date(w, "day"))


def _redemptions(df, w):
    return conform(df, "raw.promo_redemptions",
                   redemption_id=hashed_id(w, "r", "campaign", "idx", "day", "src_day", "j", "pair", "promo"),
                   campaign_id=hashed_id(w, "c", "campaign"), user_id=user_id(w), txn_id=txn_id(w),
                   redeemed_at=moment(w, "day", "sec"), basket_amount=F.col("basket"),
                   discount_amount=F.col("discount"), event_date=day_date(w, "day"))


def _promo_effects(df, w):
    return conform(df, "truth.promo_effects", campaign_id=hashed_id(w, "c", "campaign"), user_id=user_id(w),
                   segment=lookup(promos.SEGMENTS, F.col("segment")))


def _coupons(df, w):
    return conform(df, "raw.coupon_assignments", user_id=user_id(w), assigned_date=day_date(w, "day"),
                   coupon_level=F.col("level"), assignment_prob=F.col("prob"),
                   converted_date=F.when(F.col("converted_day") >= 0, day_date(w, "converted_day")),
                   value_90d=F.col("value"), coupon_cost=F.col("cost"))


def _coupons_observational(df, w):
    return conform(df, "raw.coupon_observational", user_id=user_id(w), assigned_date=day_date(w, "day"),
                   coupon_level=F.col("level"),
                   converted_date=F.when(F.col("converted_day") >= 0, day_date(w, "converted_day")),
                   value_90d=F.col("value"), coupon_cost=F.col("cost"))


def _signups(df, w):
    return conform(df, "raw.signup_sessions", user_id=user_id(w), signup_date=day_date(w, "day"),
                   acquisition_channel=lookup(traits.ACQUISITION_CHANNELS, F.col("acquisition")),
                   first_session_pages=F.col("pages"), first_session_add_to_cart=F.col("add_to_cart"))


def _traits(df, w):
    return conform(df, "truth.user_traits", **_market(w), user_index=F.col("idx"),
                   favourite_category=lookup(w.config.categories, F.col("favourite_category")),
                   coupon_type=lookup(traits.COUPON_TYPES, F.col("coupon_type")))


def _effects(df, w):
    return conform(df, "truth.coupon_effects", user_id=user_id(w), coupon_level=F.col("level"),
                   expected_value_90d=F.col("expected_value"), effect_value_90d=F.col("effect_value"),
                   population=lookup(coupons.POPULATIONS, F.col("population")))


RECIPES = [
    TableRecipe("raw.customers", "users", customers.customers_rows, customers.CUSTOMERS_SCHEMA, _customers),
    TableRecipe("raw.consents", "users", customers.consents_rows, customers.CONSENTS_SCHEMA, _consents, True),
    TableRecipe("raw.email_assignments", "users", email.assignments_rows, email.ASSIGNMENTS_SCHEMA,
                _email_assignments, True),
    TableRecipe("raw.email_sends", "users", email.sends_rows, email.SENDS_SCHEMA, _email_sends, True),
    TableRecipe("raw.email_events", "users", email.events_rows, email.EVENTS_SCHEMA, _email_events, True),
    TableRecipe("raw.orders", "users", email.orders_rows, email.ORDERS_SCHEMA, _orders, True),
    TableRecipe("raw.web_events", "users", web.web_rows, web.WEB_SCHEMA, _web, True),
    TableRecipe("raw.push_notifications", "users", push.push_rows, push.PUSH_SCHEMA, _push, True),
    TableRecipe("raw.card_transactions", "users", promos.card_rows, cards.CARDS_SCHEMA, _cards, True),
    TableRecipe("raw.merchants", "merchants", merchants.merchants_rows, merchants.MERCHANTS_SCHEMA, _merchants),
    TableRecipe("raw.stores", "merchants", merchants.stores_rows, merchants.STORES_SCHEMA, _stores),
    TableRecipe("raw.promo_campaigns", "campaigns", promos.campaigns_rows, promos.CAMPAIGNS_SCHEMA, _campaigns),
    TableRecipe("raw.promo_offers", "users", promos.offers_rows, promos.OFFERS_SCHEMA, _offers, True),
    TableRecipe("raw.promo_redemptions", "users", promos.redemptions_rows, promos.REDEMPTIONS_SCHEMA, _redemptions,
                True),
    TableRecipe("raw.coupon_assignments", "users", coupons.coupon_rows, coupons.COUPONS_SCHEMA, _coupons),
    TableRecipe("raw.coupon_observational", "users", coupons.observational_rows, coupons.OBSERVATIONAL_SCHEMA,
                _coupons_observational),
    TableRecipe("raw.signup_sessions", "users", coupons.signup_rows, coupons.SIGNUPS_SCHEMA, _signups),
    TableRecipe("truth.user_traits", "users", traits.traits_rows, traits.TRAITS_SCHEMA, _traits),
    TableRecipe("truth.coupon_effects", "users", coupons.effect_rows, coupons.EFFECTS_SCHEMA, _effects),
    TableRecipe("truth.promo_effects", "users", promos.effect_rows, promos.EFFECTS_SCHEMA, _promo_effects),
]
RECIPE = {r.table: r for r in RECIPES}
STATIC_TABLES = ("reference.mcc_codes", "truth.mcc_pairs", "truth.response_params")
#: Tables simulate-outcomes regenerates for a single day.
DAILY_TABLES = tuple(r.table for r in RECIPES if r.daily)


def _index(spark: SparkSession, world: World, over: str) -> DataFrame:
    if over == "users":
        return _user_range(spark, world)
    count = world.config.merchants.count if over == "merchants" else world.config.promos.campaigns
    return spark.range(0, count, numPartitions=1).withColumnRenamed("id", "idx")


def table_frame(
    spark: SparkSession,
    world: World,
    table: str,
    first_day: int = 0,
    horizon: int | None = None,
    inputs: DataFrame | None = None,
) -> DataFrame:
    """One generated table in catalog shape; daily tables cover days [first_day, horizon)."""
    if table in STATIC_TABLES:
        return static_frame(spark, world, table)
    recipe = RECIPE[table]
    builder = recipe.builder
    if recipe.daily:
        builder = partial(builder, first_day=first_day, horizon=world.config.days if horizon is None else horizon)
    source = inputs if inputs is not None else _index(spark, world, recipe.over)
    return recipe.shape(run_builder(source, world, builder, recipe.schema), world)


def static_frame(spark: SparkSession, world: World, table: str) -> DataFrame:
    """Small tables fixed by the config or a package, independent of the number of users."""
    if table == "reference.mcc_codes":
        return conform(merchants.mcc_reference(spark), table)
    if table == "truth.mcc_pairs":
        rows = [(p.mcc1, p.mcc2, p.window_days, p.strength) for p in world.config.cards.planted_pairs]
        return conform(spark.createDataFrame(rows, "mcc1 string, mcc2 string, window_days int, strength double"), table)
    if table == "truth.response_params":
        flat = _flatten(world.config.model_dump(mode="json"))
        rows = [(k, json.dumps(v, sort_keys=True)) for k, v in sorted(flat.items())]
        return conform(spark.createDataFrame(rows, "param string, value string"), table)
    raise KeyError(f"{table} is not a world table")


def lake_world(lake, config) -> World:
    """The config's world, refused with the differing settings named when ``truth.response_params`` shows
    the lake was generated with another one: judging a lake against another world's truth finds other
    customers, merchants and effects, and fails far from the cause (or, worse, does not fail)."""
    world = world_from(config)
    if not lake.exists("truth.response_params"):
        return world
    stored = {r["param"]: r["value"] for r in lake.read("truth.response_params").collect()}  # the config: small
    current = {k: json.dumps(v, sort_keys=True) for k, v in _flatten(world.config.model_dump(mode="json")).items()}
    differ = sorted(k for k in stored.keys() & current.keys() if json.loads(stored[k]) != json.loads(current[k]))
    if differ:
        shown = ", ".join(f"world.{k}={stored[k]} (this run: {current[k]})" for k in differ[:5])
        more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
        raise SendoptError(f"truth.response_params: this lake was generated with {shown}{more}; run with the same "
                           "world settings as generate-world (--set world.… / --conf)")
    return world


def _flatten(data: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay values."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def world_tables(spark: SparkSession, world: World, tables=None) -> dict[str, DataFrame]:
    """Every world table (or the named ones) for the full window, in catalog shape."""
    names = tables or [*(r.table for r in RECIPES), *STATIC_TABLES]
    return {t: table_frame(spark, world, t) for t in names}
