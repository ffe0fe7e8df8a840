"""Pre-campaign features and segments of (customer, merchant) pairs as of a date — for training and planning.

One function builds both, so a model never sees a feature planning cannot compute. Every number comes from
events strictly before ``as_of`` (the campaign's first day): the leakage rule, tested in
tests/channels/promo/test_promo_units.py.

Segments (``promo.segments``): **new** — no card payment at the merchant before ``as_of``; **active** — the
last one at most ``active_days`` before; **churned** — older. A **cold start** has no payment anywhere in the
history window: the models then fall back on region, device and tenure (population priors of their kind).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.promo.config import SegmentConfig
from sendopt.channels.promo.usage import DEFAULT_BASKET, USAGE_COLUMNS, usage_batches

SEGMENTS = ("new", "active", "churned")
DEVICES = ("ios", "android", "web")

#: Customer features (pre-campaign), then the design's.
CUSTOMER_FEATURES = ["segment_code", "days_since_m", "m_orders", "m_spend", "m_avg_amount", "mcc_orders",
                     "all_orders", "all_avg_amount", "days_since_any", "past_offers", "past_redeems",
                     "redeem_rate", "tenure_days", "window_days", "region_code", "device_code", "mcc_code"]
DESIGN_FEATURES = ["discount_pct", "voucher_value", "min_spend", "min_spend_ratio", "offer_strength"]
#: The usage model's features (``promo.models.effect: usage``): activity as rates per observed history day (a
#: count over a history that is shorter for early campaigns would carry the campaign's date, not the customer),
#: the promo sensitivity, and the design against the merchant category's basket; the minimum spend and the
#: customer's category activity enter through the model's weight (:func:`with_usage`), not as splits. (The share of
#: that activity at the merchant, :func:`usage.merchant_share`, as a feature made the predicted cost of the chosen plans
#: worse on the 50k-user world of seed 7, docs/promo.md; it is a column for the incremental share's bins.)
USAGE_FEATURES = ["segment_code", "days_since_m", "m_orders_rate", "all_orders_rate", "days_since_any",
                  "past_offers_rate", "past_redeems_rate", "redeem_rate", "region_code", "device_code",
                  "discount_pct", "voucher_value", "strength_mcc"]
#: The response rises with these (LightGBM monotone constraints of the treated models).
INCREASING = ("discount_pct", "voucher_value", "offer_strength", "strength_mcc")
CATEGORICAL = ["segment_code", "region_code", "device_code", "mcc_code"]


def segment_of(days_since_last: Column, active_days: int) -> Column:
    """new (never paid there) / active (within ``active_days``) / churned."""
    return (F.when(days_since_last.isNull(), F.lit("new"))
            .when(days_since_last <= active_days, F.lit("active")).otherwise(F.lit("churned")))


def segment_code(segment: Column) -> Column:
    return F.when(segment == "new", 0).when(segment == "active", 1).otherwise(2)


def pair_features(pairs: DataFrame, payments: DataFrame, customers: DataFrame, offers: DataFrame | None,
                  redemptions: DataFrame | None, cfg: SegmentConfig) -> DataFrame:
    """``pairs`` (key, user_id, merchant_id, mcc, as_of, end_date) + segment, cold_start, has_payments (any card payment
    before ``as_of``: a customer who pays by card at all) and :data:`CUSTOMER_FEATURES`.

    payments: raw.card_transactions; customers: raw.customers; offers/redemptions: raw.promo_offers /
    raw.promo_redemptions (the customer's past promo response = discount sensitivity), each used only
    before ``as_of``."""
    h = cfg.history_days
    p = payments.select("user_id", F.col("merchant_id").alias("p_merchant"), F.col("mcc").alias("p_mcc"),
                        F.col("amount").alias("p_amount"), F.col("event_date").alias("p_day"))
    j = pairs.join(p, (pairs["user_id"] == p["user_id"]) & (p["p_day"] < pairs["as_of"]), "left").drop(p["user_id"])
    in_window = F.col("p_day") >= F.date_sub(F.col("as_of"), h)
    at_m = F.col("p_merchant") == F.col("merchant_id")
    agg = j.groupBy("key", "user_id").agg(
        F.max(F.when(at_m, F.col("p_day"))).alias("_last_m"),
        F.max(F.when(in_window, F.col("p_day"))).alias("_last_any"),
        F.max(F.col("p_day")).alias("_ever_any"),
        F.count(F.when(at_m & in_window, 1)).alias("m_orders"),
        F.sum(F.when(at_m & in_window, F.col("p_amount"))).alias("m_spend"),
        F.count(F.when((F.col("p_mcc") == F.col("mcc")) & ~at_m & in_window, 1)).alias("mcc_orders"),
        F.count(F.when(in_window, 1)).alias("all_orders"),
        F.avg(F.when(in_window, F.col("p_amount"))).alias("all_avg_amount"),
    )
    out = pairs.join(agg, ["key", "user_id"], "left")
    since_m = F.datediff(F.col("as_of"), F.col("_last_m"))
    out = (out.withColumn("days_since_last", since_m)
           .withColumn("segment", segment_of(since_m, cfg.active_days))
           .withColumn("segment_code", segment_code(F.col("segment")))
           .withColumn("cold_start", F.col("_last_any").isNull())
           .withColumn("has_payments", F.col("_ever_any").isNotNull())
           .withColumn("days_since_m", F.coalesce(since_m.cast("double"), F.lit(-1.0)))
           .withColumn("days_since_any", F.coalesce(F.datediff(F.col("as_of"), F.col("_last_any")).cast("double"),
                                                    F.lit(-1.0)))
           .withColumn("m_orders", F.coalesce(F.col("m_orders"), F.lit(0)).cast("double"))
           .withColumn("m_spend", F.coalesce(F.col("m_spend"), F.lit(0.0)))
           .withColumn("m_avg_amount", F.when(F.col("m_orders") > 0, F.col("m_spend") / F.col("m_orders"))
                       .otherwise(F.lit(-1.0)))
           .withColumn("mcc_orders", F.coalesce(F.col("mcc_orders"), F.lit(0)).cast("double"))
           .withColumn("all_orders", F.coalesce(F.col("all_orders"), F.lit(0)).cast("double"))
           .withColumn("all_avg_amount", F.coalesce(F.col("all_avg_amount"), F.lit(-1.0)))
           .drop("_last_m", "_last_any", "_ever_any"))
    out = out.join(category_baskets(pairs, p, h), ["mcc", "as_of"], "left")
    out = out.join(promo_history(pairs, offers, redemptions), ["key", "user_id"], "left")
    for c in ("past_offers", "past_redeems"):
        out = out.withColumn(c, F.coalesce(F.col(c), F.lit(0)).cast("double"))
    out = out.withColumn("redeem_rate", F.when(F.col("past_offers") > 0, F.col("past_redeems") / F.col("past_offers"))
                         .otherwise(F.lit(-1.0)))
    cust = customers.select("user_id", F.col("region").alias("cust_region"), "device", "signup_date")
    out = out.join(cust, "user_id", "left")
    device = F.lower(F.col("device"))
    dev_code = F.lit(len(DEVICES))
    for i, d in reversed(list(enumerate(DEVICES))):
        dev_code = F.when(device == d, F.lit(i)).otherwise(dev_code)
    first_day = p.agg(F.min("p_day").alias("_first_day"))  # one row: where the payment log begins
    out = (out.withColumn("window_days", (F.datediff(F.col("end_date"), F.col("as_of")) + 1).cast("double"))
           .withColumn("tenure_days", F.coalesce(F.datediff(F.col("as_of"), F.col("signup_date")), F.lit(0))
                       .cast("double"))
           .crossJoin(F.broadcast(first_day)))
    span = F.greatest(F.lit(1.0), F.least(F.lit(float(h)), F.datediff(F.col("as_of"), F.col("_first_day"))
                                          .cast("double"), F.col("tenure_days")))
    out = out.withColumn("history_span", F.coalesce(span, F.lit(1.0))).drop("_first_day")
    out = out.withColumns({f"{c}_rate": F.col(c) / F.col("history_span")
                           for c in ("m_orders", "all_orders", "past_offers", "past_redeems")})
    out = out.withColumn("exposure", (F.col("mcc_orders") + F.col("m_orders")) / F.col("history_span")
                         * F.col("window_days"))
    return (out
            .withColumn("region_code", F.pmod(F.xxhash64(F.coalesce(F.col("cust_region"), F.lit(""))), F.lit(97))
                        .cast("int"))
            .withColumn("device_code", dev_code.cast("int"))
            .withColumn("mcc_code", F.coalesce(F.col("mcc").cast("int"), F.lit(0)))
            .withColumn("region", F.coalesce(F.col("cust_region"), F.lit("unknown")))
            .drop("cust_region", "device", "signup_date"))


def category_baskets(pairs: DataFrame, payments: DataFrame, history_days: int) -> DataFrame:
    """Per (mcc, as_of): the median and the log-scale spread (interquartile range / 1.349) of the category's card
    payment amounts in the ``history_days`` before ``as_of`` — what a minimum spend and a voucher are measured
    against for a customer with no basket at the merchant. One row per category and date (a key-level join)."""
    keys = pairs.select("mcc", "as_of").distinct()
    j = payments.join(F.broadcast(keys), (F.col("p_mcc") == F.col("mcc")) & (F.col("p_day") < F.col("as_of"))
                      & (F.col("p_day") >= F.date_sub(F.col("as_of"), history_days)) & (F.col("p_amount") > 0))
    q = j.groupBy("mcc", "as_of").agg(F.percentile_approx("p_amount", [0.25, 0.5, 0.75], 1000).alias("_q"))
    return q.select("mcc", "as_of", F.col("_q")[1].alias("mcc_median"),
                    ((F.log(F.col("_q")[2]) - F.log(F.col("_q")[0])) / F.lit(1.349)).alias("mcc_sigma"))


def with_usage(df: DataFrame, near_share: float, exposure_floor: float, min_weight: float = 0.02) -> DataFrame:
    """``df`` plus the usage model's design columns (:data:`usage.USAGE_COLUMNS`, defined in :mod:`usage`): the
    offer's strength against the category's median basket, the share of baskets that can use the minimum spend,
    the basket of a redeemed order, the customer's merchant share and the model's weight — computed by the same
    numpy functions that score the plans, so training and scoring cannot drift apart."""
    from functools import partial

    from pyspark.sql.types import DoubleType, StructField, StructType

    df = df.drop(*[c for c in USAGE_COLUMNS if c in df.columns])
    schema = StructType([*df.schema.fields, *[StructField(c, DoubleType(), True) for c in USAGE_COLUMNS]])
    return df.mapInArrow(partial(usage_batches, near_share=near_share, exposure_floor=exposure_floor,
                                 min_weight=min_weight), schema)


def promo_history(pairs: DataFrame, offers: DataFrame | None, redemptions: DataFrame | None) -> DataFrame:
    """Per (key, user): offers received and promos redeemed before ``as_of`` (0 without promo tables)."""
    keys = pairs.select("key", "user_id", "as_of")
    if offers is None or redemptions is None:
        return keys.select("key", "user_id", F.lit(0).alias("past_offers"), F.lit(0).alias("past_redeems"))
    o = offers
    if "offered" in o.columns:
        o = o.where(F.col("offered"))
    o = o.where(F.col("offered_at").isNotNull()).select("user_id", F.to_date("offered_at").alias("o_day"))
    r = redemptions.select("user_id", F.to_date("redeemed_at").alias("r_day"))
    po = keys.join(o, (keys["user_id"] == o["user_id"]) & (o["o_day"] < keys["as_of"])).groupBy(
        "key", keys["user_id"]).agg(F.count("*").alias("past_offers"))
    pr = keys.join(r, (keys["user_id"] == r["user_id"]) & (r["r_day"] < keys["as_of"])).groupBy(
        "key", keys["user_id"]).agg(F.count("*").alias("past_redeems"))
    return keys.select("key", "user_id").join(po, ["key", "user_id"], "left").join(pr, ["key", "user_id"], "left")


def with_design(df: DataFrame, treated: Column | None = None) -> DataFrame:
    """Add ``min_spend_ratio`` (minimum spend / the customer's usual basket; 0 without a minimum),
    ``offer_strength`` (discount % / 100 + voucher / usual basket: one number trees can split on) and zero the
    design of untreated rows (``treated`` false: the no-promo arm)."""
    if treated is not None:
        for c in ("discount_pct", "voucher_value", "min_spend"):
            df = df.withColumn(c, F.when(treated, F.col(c)).otherwise(F.lit(0.0)))
    usual = F.when(F.col("m_avg_amount") > 0, F.col("m_avg_amount")).when(
        F.col("all_avg_amount") > 0, F.col("all_avg_amount")).otherwise(F.lit(None))
    return (df.withColumn("min_spend_ratio", F.when(F.col("min_spend") <= 0, F.lit(0.0)).otherwise(
        F.coalesce(F.col("min_spend") / usual, F.lit(-1.0))))
        .withColumn("offer_strength", F.col("discount_pct") / 100.0
                    + F.col("voucher_value") / F.coalesce(usual, F.lit(DEFAULT_BASKET))))

