"""Click model of a (user, store) pair fitted on the push log, so the conciliation compares strategies on
one calibrated scale (P(click | open)) instead of heuristic scores whose meaning differs per strategy.

Every logged push of the last ``calibration.days`` days is replayed through every strategy as of its day
(``interests_by_day``: one pass over all days; population statistics such as the affinity table as of the
decision date): the strategy's affinity for the logged store's MCC, 0 when it would not have proposed that
MCC. With the store's distance from the user's location, a ridge logistic regression of click given open

    logit P(click | open) = b0 + Σ_s b_s · affinity_s + b_d · min(km, cap) / 10

is fitted on binned aggregates (at most (affinity_bins + 1)^strategies × distance bins rows reach the
driver, however many pushes there are). The slopes are pulled (``l2``) toward ``prior_slope`` — the belief
before data that an affinity of 1 adds that much to the click logit — so a thin log keeps the prior ranking
and a rich one overrides it; the intercept and the distance slope come from the data. A strategy that only overrides ``candidates`` cannot be replayed
and gets slope 0. Fewer than ``min_opens`` opened pushes → no model; the heuristic scores are compared.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.channels.push.config import PushConfig
from sendopt.channels.push.strategies.base import PushInputs, PushStrategy
from sendopt.geo import haversine_km

VERSION = "click-logit-v1"


@dataclass(frozen=True)
class ClickModel:
    intercept: float
    slopes: dict[str, float]  # strategy → logit per unit of its affinity
    per_10km: float  # logit per 10 km (capped)
    cap_km: float
    opens: int
    clicks: int
    matched: dict[str, int] = dataclasses.field(default_factory=dict)  # strategy → opens it would have proposed

    def p_click_given_open(self, strategy: Column, affinity: Column, distance_km: Column) -> Column:
        slope = F.coalesce(*[F.when(strategy == F.lit(s), F.lit(b)) for s, b in self.slopes.items()], F.lit(0.0))
        z = (F.lit(self.intercept) + slope * F.coalesce(affinity, F.lit(0.0))
             + F.lit(self.per_10km) * F.least(distance_km, F.lit(self.cap_km)) / 10.0)
        return 1.0 / (1.0 + F.exp(-z))

    def version(self) -> str:
        slopes = ",".join(f"{s}={b:.2f}" for s, b in sorted(self.slopes.items()))
        matched = ",".join(f"{s}={n}" for s, n in sorted(self.matched.items()))
        return (f"{VERSION}(b0={self.intercept:.2f},{slopes},per10km={self.per_10km:.2f},opens={self.opens},"
                f"matched_opens:{matched})")


def fit_logistic(x: np.ndarray, trials: np.ndarray, successes: np.ndarray, l2: float,
                 prior: np.ndarray | None = None, iters: int = 50) -> np.ndarray:
    """Ridge logistic regression on binomial rows (Newton): maximises the log likelihood − l2/2·|β − prior|²
    over the slopes; column 0 is the unpenalised intercept (its prior entry is ignored)."""
    beta = np.zeros(x.shape[1])
    centre = np.zeros(x.shape[1]) if prior is None else np.asarray(prior, dtype=float)
    pen = np.full(x.shape[1], float(l2))
    pen[0] = 0.0
    for _ in range(iters):
        mu = 1.0 / (1.0 + np.exp(-(x @ beta)))
        grad = x.T @ (successes - trials * mu) - pen * (beta - centre)
        hess = (x * (trials * mu * (1.0 - mu))[:, None]).T @ x + np.diag(pen) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def replay_interests(strategies: list[PushStrategy], inputs: PushInputs, days: int
                     ) -> tuple[DataFrame | None, set[str]]:
    """(user_id, mcc, day, strategy, affinity): each strategy's interests as of each of the ``days`` days
    before the decision date (the interests a push sent that day would have matched), and the names of the
    strategies that could be replayed."""
    dates = [inputs.decision_date - dt.timedelta(days=i) for i in range(1, days + 1)]
    past = dataclasses.replace(inputs, as_of=inputs.decision_date, notes={})
    out, replayed = None, set()
    for s in strategies:
        try:
            rows = s.interests_by_day(past, dates)
        except NotImplementedError:  # candidates-only strategy: cannot be replayed, slope 0
            continue
        replayed.add(s.name)
        rows = (rows.groupBy("user_id", "mcc", "day").agg(F.max("affinity").alias("affinity"))
                .select("user_id", F.col("mcc").cast("string"), F.col("day").cast("date"),
                        F.lit(s.name).alias("strategy"), "affinity"))
        out = rows if out is None else out.unionByName(rows)
    return out, replayed


def logged_bins(strategies: list[PushStrategy], inputs: PushInputs, pushes: DataFrame, cfg: PushConfig
                ) -> tuple[list[str], set[str], DataFrame] | None:
    """Opened pushes of the replayed days, binned: (aff_<s>..., km, opens, clicks)."""
    c = cfg.calibration
    interests, replayed = replay_interests(strategies, inputs, c.days)
    if interests is None:
        return None
    names = [s.name for s in strategies]
    first = inputs.decision_date - dt.timedelta(days=c.days)
    opened = (pushes.where(F.col("event_date").between(F.lit(first), F.lit(inputs.decision_date - dt.timedelta(days=1)))
                           & F.col("opened_at").isNotNull())
              .select("push_id", "user_id", "store_id", F.col("event_date").alias("day"),
                      F.col("clicked_at").isNotNull().cast("double").alias("clicked"))
              .join(F.broadcast(inputs.stores.select("store_id", F.col("mcc").cast("string").alias("mcc"), "lat", "lon")),
                    "store_id")
              .join(inputs.users.select("user_id", "loc_lat", "loc_lon"), "user_id")
              .withColumn("km", haversine_km(F.col("loc_lat"), F.col("loc_lon"), F.col("lat"), F.col("lon"))))
    matched = opened.join(interests, ["user_id", "mcc", "day"], "left")
    per_push = matched.groupBy("push_id", "clicked", "km").agg(
        *[F.max(F.when(F.col("strategy") == F.lit(n), F.col("affinity"))).alias(f"aff_{n}") for n in names])

    def aff_bin(n: str) -> Column:
        a = F.least(F.greatest(F.coalesce(F.col(f"aff_{n}"), F.lit(0.0)), F.lit(0.0)), F.lit(1.0))
        return F.when(a > 0, (F.greatest(F.ceil(a * c.affinity_bins), F.lit(1)) - 0.5) / c.affinity_bins) \
            .otherwise(F.lit(0.0)).alias(f"aff_{n}")

    km_bin = ((F.floor(F.least(F.col("km"), F.lit(c.distance_cap_km)) / c.distance_bin_km) + 0.5)
              * c.distance_bin_km)
    bins = per_push.select(*[aff_bin(n) for n in names], F.least(km_bin, F.lit(c.distance_cap_km)).alias("km"),
                           "clicked")
    cols = [f"aff_{n}" for n in names]
    return names, replayed, bins.groupBy(*cols, "km").agg(F.count(F.lit(1)).cast("double").alias("opens"),
                                                           F.sum("clicked").alias("clicks"))


def fit_click_model(strategies: list[PushStrategy], inputs: PushInputs, pushes: DataFrame, cfg: PushConfig,
                    log) -> ClickModel | None:
    """The click model of the market's recent push log, or None (disabled, nothing to replay, too few opens)."""
    c = cfg.calibration
    if not c.enabled:
        return None
    binned = logged_bins(strategies, inputs, pushes, cfg)
    if binned is None:
        log.warning("push calibration: no strategy can be replayed — heuristic scores")
        return None
    names, replayed, agg = binned
    rows = agg.collect()  # ≤ (affinity_bins + 1)^strategies × distance bins rows
    opens = int(sum(r["opens"] for r in rows))
    clicks = int(sum(r["clicks"] for r in rows))
    if opens < c.min_opens:
        log.warning("push calibration: %d opened pushes in %d days < min_opens %d — heuristic scores",
                    opens, c.days, c.min_opens)
        return None
    x = np.array([[1.0, *[r[f"aff_{n}"] for n in names], r["km"] / 10.0] for r in rows])
    prior = np.array([0.0, *[c.prior_slope if n in replayed else 0.0 for n in names], 0.0])
    beta = fit_logistic(x, np.array([r["opens"] for r in rows]), np.array([r["clicks"] for r in rows]), c.l2,
                        prior)
    model = ClickModel(float(beta[0]), {n: float(b) for n, b in zip(names, beta[1:-1], strict=True)},
                       float(beta[-1]), c.distance_cap_km, opens, clicks,
                       {n: int(sum(r["opens"] for r in rows if r[f"aff_{n}"] > 0)) for n in names})
    log.info("stage=push-calibration model=%s clicks=%d", model.version(), clicks)
    return model
