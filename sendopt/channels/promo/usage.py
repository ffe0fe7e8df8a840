"""The usage model's arithmetic per (customer, design) row, in numpy: one implementation for training, scoring
and the fused statistics pass.

A plan scores every eligible customer × candidate design (500M rows at 1M customers and 20 requests of 50
designs). Spark rows of that product cost more than the model: most of the time went into the lognormal
columns as Spark expressions and into moving the wide rows through Arrow (docs/benchmarks.md, profile of
2026-12-07). So the customer rows go to the Python worker once, the designs are crossed there, and each batch
leaves as its partial sufficient statistics (:func:`stats_batches`); the row form (:func:`row_values`) serves
the assignments and the tests, with the very same functions.

Definitions (docs/promo.md): the category's baskets A ~ lognormal(ln mcc_median, mcc_sigma);
``strength_mcc`` = discount % / 100 + voucher / median basket (≤ 1); ``usable_share`` = P(A ≥ near_share · M);
``promo_basket`` = E[max(A, M) | A ≥ near_share · M]; ``usage_weight`` = max(usable, min_weight) · (exposure +
exposure_floor); expected redemptions ``usage`` = rate · weight · merchant level; ``usage_incremental`` = the
incremental share of its cell × usage; a redemption costs min(basket, discount % · basket + voucher).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

#: The basket a voucher is compared with when the customer has no payment history.
DEFAULT_BASKET = 30.0
#: The log-scale spread of baskets assumed for a category without payments to measure it.
DEFAULT_SIGMA = 0.8
#: What :func:`usage_columns` adds to a row.
USAGE_COLUMNS = ("strength_mcc", "usable_share", "merchant_share", "promo_basket", "usage_weight")
#: What :func:`values` adds to a row (the simulator's per-row expectations and the score bucket).
VALUE_COLUMNS = ("usage_rate_hat", "usage", "usage_incremental", "p_redeem", "discount", "cost", "cost_var",
                 "redeem_var", "inc_orders", "orders_var", "gmv", "inc_gmv", "new_inc", "value")
#: The customer columns a scoring row needs besides the usage model's own features.
CUSTOMER_INPUTS = ("request_id", "segment", "region", "merchant_id", "p0", "g0", "weight_orders",
                   "weight_new_customers", "m_avg_amount", "all_avg_amount", "mcc_median", "mcc_sigma",
                   "m_orders", "mcc_orders", "exposure")
DESIGN_INPUTS = ("discount_pct", "voucher_value", "min_spend")


def scoring_inputs(features, with_design: bool = False) -> list[str]:
    """The columns scoring reads from a customer row (and from the design, ``with_design``): the customer
    inputs and the usage model's features that are neither design terms nor computed here."""
    own = [f for f in features if f not in DESIGN_INPUTS and f not in USAGE_COLUMNS]
    return list(dict.fromkeys([*CUSTOMER_INPUTS, *(DESIGN_INPUTS if with_design else ()), *own]))


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Φ(z) (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7; numpy has no erf)."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 + np.sign(z) * erf / 2


def merchant_share(m_orders: np.ndarray, mcc_orders: np.ndarray) -> np.ndarray:
    """The customer's share of their category payments made at this merchant in the history window (0 without
    any): a loyal customer's redemptions are mostly orders they would have placed anyway."""
    total = m_orders + mcc_orders
    return np.where(total > 0, m_orders / np.where(total > 0, total, 1.0), 0.0)


def usage_columns(c: Mapping[str, np.ndarray], near_share: float, exposure_floor: float,
                  min_weight: float = 0.02) -> dict[str, np.ndarray]:
    """:data:`USAGE_COLUMNS` from the design (``discount_pct``, ``voucher_value``, ``min_spend``), the category's
    baskets (``mcc_median``, ``mcc_sigma``; NaN without category data: the customer's usual basket and
    :data:`DEFAULT_SIGMA` stand in), the usual baskets and the exposure (category payments in the window)."""
    m_avg, all_avg = c["m_avg_amount"], c["all_avg_amount"]
    usual = np.where(m_avg > 0, m_avg, np.where(all_avg > 0, all_avg, DEFAULT_BASKET))
    med = np.where(c["mcc_median"] > 0, c["mcc_median"], usual)
    sig = np.maximum(np.where(np.isnan(c["mcc_sigma"]), DEFAULT_SIGMA, c["mcc_sigma"]), 0.05)
    mu, m = np.log(med), c["min_spend"]
    has_min = m > 0
    log_m = np.log(np.maximum(m, 1e-6))
    log_near = np.log(near_share) + log_m
    usable = np.where(has_min, normal_cdf((mu - log_near) / sig), 1.0)
    mean = np.exp(mu + sig * sig / 2)
    above = mean * normal_cdf((mu + sig * sig - log_m) / sig)
    topped = m * (normal_cdf((log_m - mu) / sig) - normal_cdf((log_near - mu) / sig))
    basket = np.where(has_min, (above + topped) / np.maximum(usable, 1e-9), mean)
    return {"strength_mcc": np.minimum(1.0, c["discount_pct"] / 100.0 + c["voucher_value"] / med),
            "usable_share": usable,
            "merchant_share": merchant_share(c["m_orders"], c["mcc_orders"]),
            "promo_basket": basket,
            "usage_weight": np.maximum(usable, min_weight) * (c["exposure"] + exposure_floor)}


def binned(value: np.ndarray, edges) -> np.ndarray:
    """The bin of each value: how many ``edges`` it exceeds (the Spark ``_bin`` of the training side)."""
    out = np.zeros(len(value), dtype=np.int64)
    for e in edges:
        out += value > e
    return out


def incremental_shares(segment: np.ndarray, strength_mcc: np.ndarray, share_of_merchant: np.ndarray,
                       share: Mapping) -> np.ndarray:
    """:func:`models.incremental_share`'s value for each row's segment, offer-strength bin and merchant-share bin
    (``all`` for a segment it has not seen)."""
    loyalty = share.get("loyalty_edges") or []
    cell = binned(strength_mcc, share["edges"])
    if loyalty:
        cell = cell * (len(loyalty) + 1) + binned(share_of_merchant, loyalty)
    out = np.asarray(share["share"]["all"], dtype=np.float64)[cell]
    for seg, values in share["share"].items():
        if seg != "all":
            mine = segment == seg
            out[mine] = np.asarray(values, dtype=np.float64)[cell[mine]]
    return out


def merchant_levels(merchant_id: np.ndarray, levels: Mapping[str, float]) -> np.ndarray:
    """:func:`models.merchant_level`'s factor for each row's merchant (1 for a merchant without campaigns)."""
    if not levels:
        return np.ones(len(merchant_id))
    ids = pd.Series(merchant_id).astype("Int64").astype(str)
    return ids.map({k: float(v) for k, v in levels.items()}).fillna(1.0).to_numpy(np.float64)


def calibrated_rates(rate: np.ndarray, cal: Mapping | None) -> np.ndarray:
    """:func:`models.rate_calibration` applied: the rate times the observed ÷ predicted ratio, linear between the
    bins' mean rates and flat beyond them, so the ranking within the extreme bins is kept."""
    if not cal or not cal.get("x"):
        return rate
    return rate * np.interp(rate, cal["x"], cal["ratio"])


def values(c: Mapping[str, np.ndarray], predict_rate, usage: Mapping, features: list[str],
           resolution: float) -> dict[str, np.ndarray]:
    """Per row (customer columns :data:`CUSTOMER_INPUTS`, the usage features and the design): the usage columns,
    the model's rate (``predict_rate``: a feature matrix → rates), expected redemptions and their incremental
    part, and the simulator's expectations (:func:`expectations`) with the score bucket."""
    u = usage_columns(c, usage["near_share"], usage["exposure_floor"])
    x = {**c, **u}
    rate_hat = calibrated_rates(predict_rate(np.column_stack([np.asarray(x[f], np.float64) for f in features])),
                                usage.get("rate_calibration"))
    expected = rate_hat * u["usage_weight"] * merchant_levels(c["merchant_id"], usage.get("merchant_level") or {})
    inc = incremental_shares(c["segment"], u["strength_mcc"], u["merchant_share"], usage["incremental_share"]) * expected
    return {**u, "usage_rate_hat": rate_hat, "usage": expected, "usage_incremental": inc,
            **expectations(c, expected, inc, u["promo_basket"], resolution)}


def expectations(c: Mapping[str, np.ndarray], expected: np.ndarray, incremental: np.ndarray, basket: np.ndarray,
                 resolution: float) -> dict[str, np.ndarray]:
    """The simulator's per-row sums from the expected redemptions (Poisson: their variance is their mean), their
    incremental part and the redeemed basket: each redemption costs the promo's terms on that basket, each
    incremental order adds it to the GMV; ``gmv`` = the customer's GMV without the promo (p0·g0) plus that."""
    disc = np.minimum(basket, c["discount_pct"] / 100.0 * basket + c["voucher_value"])
    inc_gmv, cost = incremental * basket, expected * disc
    new_inc = np.where(c["segment"] == "new", incremental, 0.0)
    value = inc_gmv - cost + c["weight_orders"] * incremental + c["weight_new_customers"] * new_inc
    return {"p_redeem": expected, "discount": disc, "cost": cost, "cost_var": expected * disc * disc,
            "redeem_var": expected, "inc_orders": incremental, "orders_var": incremental,
            "gmv": c["p0"] * c["g0"] + inc_gmv, "inc_gmv": inc_gmv, "new_inc": new_inc, "value": value,
            "bucket": score_bucket(value, resolution)}


def score_bucket(value: np.ndarray, resolution: float) -> np.ndarray:
    """The simulator's score bucket of a predicted value: floor(asinh(value) × resolution)."""
    return np.floor(np.arcsinh(value) * resolution).astype(int)


def arrays(batch: pa.RecordBatch, names) -> dict[str, np.ndarray]:
    """Columns of an Arrow batch as numpy: numbers as float64 (nulls NaN), strings as objects."""
    out = {}
    for n in names:
        col = batch.column(n)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            out[n] = np.asarray(col.to_pylist(), dtype=object)
        else:
            out[n] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return out


def booster_rate(text_bc, post):
    """A picklable ``predict_rate`` building the usage booster once per Python worker process."""
    cache: dict = {}

    def predict(matrix: np.ndarray) -> np.ndarray:
        if "b" not in cache:
            import lightgbm as lgb

            cache["b"] = lgb.Booster(model_str=text_bc.value)
        p = cache["b"].predict(matrix, num_threads=1).reshape(-1, 1)
        return (post(p) if post is not None else p)[:, 0]

    return predict


def stats_batches(batches: Iterator[pa.RecordBatch], designs: Mapping[str, pd.DataFrame], predict_rate,
                  usage: Mapping, features: list[str], resolution: float, stat_cols: list[str],
                  max_rows: int = 1 << 18) -> Iterator[pa.RecordBatch]:
    """Customer rows in, partial sufficient statistics out: each customer is crossed with its request's
    ``designs`` (request_id → design_id, discount_pct, voucher_value, min_spend) in chunks of at most
    ``max_rows`` products, scored by :func:`values`, and summed per (request, segment, region, design, bucket)."""
    for batch in batches:
        cols = arrays(batch, scoring_inputs(features))
        frames = []
        for rid in pd.unique(cols["request_id"]):
            d = designs.get(rid)
            if d is None or not len(d):
                continue
            rows = np.flatnonzero(cols["request_id"] == rid)
            step = max(1, max_rows // len(d))
            for start in range(0, len(rows), step):
                idx = np.repeat(rows[start:start + step], len(d))
                k = len(idx) // len(d)
                c = {n: v[idx] for n, v in cols.items() if n != "request_id"}  # constant here: rid
                c.update({n: np.tile(d[n].to_numpy(np.float64), k) for n in DESIGN_INPUTS})
                design_ix = np.tile(np.arange(len(d)), k)
                v = values(c, predict_rate, usage, features, resolution)
                v["n"] = np.ones(len(idx))
                frame = pd.DataFrame({"segment": c["segment"], "region": c["region"], "_d": design_ix,
                                      "bucket": v["bucket"], **{s: v[s] for s in stat_cols}})
                part = frame.groupby(["segment", "region", "_d", "bucket"], sort=False, observed=True).sum()
                part = part.reset_index()
                part.insert(0, "request_id", rid)
                part["design_id"] = d["design_id"].to_numpy()[part.pop("_d").to_numpy()]
                frames.append(part)
        if frames:
            out = pd.concat(frames, ignore_index=True)
            out["bucket"] = out["bucket"].astype("int32")
            yield pa.RecordBatch.from_pandas(out[["request_id", "segment", "region", "design_id", "bucket",
                                                  *stat_cols]], preserve_index=False)


def row_batches(batches: Iterator[pa.RecordBatch], predict_rate, usage: Mapping, features: list[str],
                resolution: float) -> Iterator[pa.RecordBatch]:
    """Customer × design rows in, the same rows with :func:`values`' columns out (the assignments' form)."""
    inputs = scoring_inputs(features, with_design=True)
    for batch in batches:
        v = values(arrays(batch, inputs), predict_rate, usage, features, resolution)
        added = [*USAGE_COLUMNS, *VALUE_COLUMNS]
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, *[pa.array(v[n], pa.float64()) for n in added], pa.array(v["bucket"], pa.int32())],
            names=[*batch.schema.names, *added, "bucket"])


def usage_batches(batches: Iterator[pa.RecordBatch], near_share: float, exposure_floor: float,
                  min_weight: float) -> Iterator[pa.RecordBatch]:
    """Rows in, rows with :data:`USAGE_COLUMNS` out (training frames: :func:`features.with_usage`)."""
    inputs = ["m_avg_amount", "all_avg_amount", "mcc_median", "mcc_sigma", "m_orders", "mcc_orders", "exposure",
              *DESIGN_INPUTS]
    for batch in batches:
        u = usage_columns(arrays(batch, inputs), near_share, exposure_floor, min_weight)
        yield pa.RecordBatch.from_arrays([*batch.columns, *[pa.array(u[n], pa.float64()) for n in USAGE_COLUMNS]],
                                         names=[*batch.schema.names, *USAGE_COLUMNS])
