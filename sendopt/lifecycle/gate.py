"""The promotion gate: rules a challenger must pass against the champion on the same holdout.

A pure function of two metric dicts (from :func:`holdout_metrics`) and the config, so
every rule is testable by hand and every decision carries its reasons. Rules
(``lifecycle.retrain.gate``):

* ``auc``: challenger macro AUC ≥ champion's − ``auc_tolerance``;
* ``ece``: challenger mean expected calibration error ≤ ``max_ece``;
* ``log_loss`` (optional): challenger log loss ≤ champion's + ``max_log_loss_increase``;
* ``bin_order``: the challenger's top predicted-net-value bin converts more than its bottom
  bin (``conversion``), and also unsubscribes less (``both``) — the ordering the tiers rely on.

Without a champion only the challenger's own rules apply (AUC has nothing to compare with).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.lifecycle.config import GateConfig
from sendopt.models.metrics import Evaluation


@dataclass(frozen=True)
class GateResult:
    passed: bool
    checks: dict[str, bool]
    reasons: list[str] = field(default_factory=list)  # one line per rule, failed ones first


def _fmt(value: float) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.4f}"


def gate(challenger: dict[str, float], champion: dict[str, float] | None, cfg: GateConfig) -> GateResult:
    """Apply every configured rule; ``passed`` only if all pass."""
    checks: dict[str, bool] = {}
    lines: dict[str, str] = {}

    def rule(name: str, ok: bool, text: str) -> None:
        checks[name] = bool(ok)
        lines[name] = f"{'pass' if ok else 'FAIL'} {name}: {text}"

    rows = challenger.get("rows", 0.0)
    rule("holdout_rows", rows >= cfg.min_holdout_rows, f"{rows:.0f} holdout rows (min {cfg.min_holdout_rows})")
    if champion is not None:
        floor = champion["auc"] - cfg.auc_tolerance
        rule("auc", not math.isnan(challenger["auc"]) and challenger["auc"] >= floor,
             f"challenger AUC {_fmt(challenger['auc'])} vs champion {_fmt(champion['auc'])} − "
             f"{cfg.auc_tolerance} = {_fmt(floor)}")
        if cfg.max_log_loss_increase is not None:
            ceiling = champion["log_loss"] + cfg.max_log_loss_increase
            rule("log_loss", challenger["log_loss"] <= ceiling,
                 f"challenger log loss {_fmt(challenger['log_loss'])} vs ceiling {_fmt(ceiling)}")
    rule("ece", challenger["ece"] <= cfg.max_ece, f"challenger ECE {_fmt(challenger['ece'])} (max {cfg.max_ece})")
    if cfg.bin_order != "off":
        top, bottom = challenger["top_conversion"], challenger["bottom_conversion"]
        rule("bin_conversion", top > bottom,
             f"top value bin converts {_fmt(top)} vs bottom bin {_fmt(bottom)}")
        if cfg.bin_order == "both":
            top, bottom = challenger["top_unsubscribe"], challenger["bottom_unsubscribe"]
            rule("bin_unsubscribe", top < bottom,
                 f"top value bin unsubscribes {_fmt(top)} vs bottom bin {_fmt(bottom)}")
    failed = [lines[n] for n, ok in checks.items() if not ok]
    return GateResult(all(checks.values()), checks, failed + [lines[n] for n, ok in checks.items() if ok])


# ---------------------------------------------------------------- metrics the gate reads
def value_bins(df: DataFrame, value_col: str, bins: int, out: str = "value_bin") -> DataFrame:
    """Add ``out`` = 1 (highest ``value_col``) … ``bins`` (lowest) from approximate quantiles."""
    edges = df.approxQuantile(value_col, [i / bins for i in range(1, bins)], 0.001)  # bins − 1 numbers
    above = F.lit(0)
    for edge in edges:
        above = above + (F.col(value_col) > F.lit(edge)).cast("int")
    return df.withColumn(out, (F.lit(len(edges) + 1) - above).cast("int"))


def group_rates(df: DataFrame, group_col: str, converted: str = "converted",
                unsubscribed: str = "unsubscribed", value: str | None = None) -> pd.DataFrame:
    """Rows, conversion and unsubscribe rate (and mean ``value``) per group — one row per group."""
    aggs = [F.count(F.lit(1)).alias("rows"), F.avg(F.col(converted).cast("double")).alias("conversion_rate"),
            F.avg(F.col(unsubscribed).cast("double")).alias("unsubscribe_rate")]
    if value:
        aggs.append(F.avg(F.col(value).cast("double")).alias("mean_value"))
    return df.groupBy(F.col(group_col).alias("group")).agg(*aggs).toPandas().sort_values("group").reset_index(drop=True)


def holdout_metrics(evaluation: Evaluation, bin_rates: pd.DataFrame) -> dict[str, float]:
    """The flat metric dict the gate reads: evaluation metrics plus top/bottom value-bin rates."""
    top, bottom = bin_rates.iloc[0], bin_rates.iloc[-1]
    return {
        "auc": evaluation.macro_auc, "log_loss": evaluation.log_loss, "brier": evaluation.brier,
        "ece": evaluation.mean_ece, "rows": evaluation.rows,
        "top_conversion": float(top["conversion_rate"]), "bottom_conversion": float(bottom["conversion_rate"]),
        "top_unsubscribe": float(top["unsubscribe_rate"]), "bottom_unsubscribe": float(bottom["unsubscribe_rate"]),
    }
