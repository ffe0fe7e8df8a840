"""Promo designer: candidate designs inside a request's guard rails, centred on what paid off before.

The centre is the design of the best-returning past campaign — the merchant's own when it ran at least
``designer.min_campaigns``, else its MCC's (same-category merchants), else the population prior
(``designer.prior_discount_pct``, no voucher, no minimum spend). A campaign's return is measured from its
logged control group: (GMV per offered − GMV per non-offered eligible) − discount per offered. The grid
(discount % step, the allowed voucher values, minimum-spend step) is clipped to the guard rails and the
``max_designs`` designs nearest the centre are kept; every segment may get any of them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.promo.config import DesignerConfig


@dataclass(frozen=True)
class Design:
    discount_pct: float
    voucher_value: float
    min_spend: float

    @property
    def design_id(self) -> str:
        return f"d{self.discount_pct:g}_v{self.voucher_value:g}_m{self.min_spend:g}"

    @property
    def strength(self) -> float:
        """Ordering of offers from weak to strong (a voucher counts as its % of a 50 basket)."""
        return self.discount_pct + 2.0 * self.voucher_value


NONE_ID = "none"


def _grid(lo: float, hi: float, step: float) -> list[float]:
    out, v = [], lo
    while v <= hi + 1e-9:
        out.append(round(v, 6))
        v += step
    if out and out[-1] < hi - 1e-9:
        out.append(hi)
    return out or [lo]


def admissible(request: Mapping[str, Any], cfg: DesignerConfig) -> list[Design]:
    """Every grid design the guard rails admit (no-promo excluded)."""
    types = set(request["promo_types"])
    pcts = _grid(request["discount_pct_min"], request["discount_pct_max"], cfg.discount_step) \
        if "percent" in types else [0.0]
    vouchers = sorted(set(request["voucher_values"]) | {0.0}) if "voucher" in types else [0.0]
    spends = _grid(request["min_spend_min"], request["min_spend_max"], cfg.min_spend_step)
    return [Design(p, v, m) for p in pcts for v in vouchers for m in spends if p > 0 or v > 0]


def campaign_returns(training: DataFrame) -> DataFrame:
    """Per past campaign: merchant, MCC, design and its measured return per offered customer (small)."""
    g = training.groupBy("key", "merchant_id", "mcc").agg(
        F.first("start_date").alias("start_date"),
        F.max(F.when(F.col("offered"), F.col("discount_pct"))).alias("discount_pct"),
        F.max(F.when(F.col("offered"), F.col("voucher_value"))).alias("voucher_value"),
        F.max(F.when(F.col("offered"), F.col("min_spend"))).alias("min_spend"),
        F.avg(F.when(F.col("offered"), F.coalesce(F.col("gmv"), F.lit(0.0)))).alias("gmv_t"),
        F.avg(F.when(~F.col("offered"), F.coalesce(F.col("gmv"), F.lit(0.0)))).alias("gmv_c"),
        F.avg(F.when(F.col("offered"), F.coalesce(F.col("discounts"), F.lit(0.0)))).alias("cost_t"),
    )
    return g.withColumn("ret", F.col("gmv_t") - F.coalesce(F.col("gmv_c"), F.lit(0.0)) - F.col("cost_t"))


def centre(history: Sequence[Mapping[str, Any]], merchant_id: int, mcc: str, cfg: DesignerConfig
           ) -> tuple[Design, str]:
    """The design to centre on and where it came from (merchant | mcc | prior)."""
    own = [h for h in history if h["merchant_id"] == merchant_id and h["ret"] is not None]
    same = [h for h in history if h["mcc"] == mcc and h["ret"] is not None]
    for rows, source in ((own, "merchant"), (same, "mcc")):
        if len(rows) >= cfg.min_campaigns:
            best = max(rows, key=lambda h: h["ret"])
            return Design(float(best["discount_pct"] or 0), float(best["voucher_value"] or 0),
                          float(best["min_spend"] or 0)), source
    return Design(cfg.prior_discount_pct, 0.0, 0.0), "prior"


def candidate_designs(request: Mapping[str, Any], centre_design: Design, cfg: DesignerConfig) -> list[Design]:
    """The ``max_designs`` admissible designs nearest ``centre_design`` (ties: weaker first)."""
    def distance(d: Design) -> tuple[float, float]:
        return (abs(d.discount_pct - centre_design.discount_pct) / cfg.discount_step
                + abs(d.voucher_value - centre_design.voucher_value) / 5.0
                + abs(d.min_spend - centre_design.min_spend) / cfg.min_spend_step, d.strength)

    return sorted(admissible(request, cfg), key=distance)[: cfg.max_designs]


def most_frequent(history: Sequence[Mapping[str, Any]], merchant_id: int) -> Design | None:
    """The merchant's most frequent past design (the blanket baseline), None without history."""
    counts: dict[Design, int] = {}
    for h in history:
        if h["merchant_id"] == merchant_id and h["discount_pct"] is not None:
            d = Design(float(h["discount_pct"]), float(h["voucher_value"] or 0), float(h["min_spend"] or 0))
            counts[d] = counts.get(d, 0) + 1
    return max(counts, key=lambda d: (counts[d], -d.strength)) if counts else None
