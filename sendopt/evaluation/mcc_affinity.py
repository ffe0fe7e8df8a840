"""``evaluate-affinity``: do planted MCC pairs top ``analytics.mcc_affinity``, do the others stay near 1?

Reads the world's truth (``truth.mcc_pairs``; this package is one of the two allowed to). Per
region and window W, the *relevant* pairs are the planted ones whose window_days ≤ W (their whole
planted follow-up fits in W). Planted pairs with a longer window are partly visible at W; they are
not relevant there (a hit on one counts against precision, as the issue asks) and are left out of
the background. Everything else is *background*: the world draws its MCC independently of the
previous one, so its true lift is 1.

Ranking: supported pairs (``is_supported``) by ``lift_low`` descending, as the push strategies read
them. Reported per (region, W): precision and recall at ``affinity.top_k`` and at k = the number of
relevant pairs (R-precision), and the median lift and the share of supported background pairs whose
lift lies inside ``affinity.background_band``. Prints the tables; writes nothing.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

TRUTH = "truth.mcc_pairs"


def labelled(affinity: DataFrame, planted: DataFrame) -> DataFrame:
    """Affinity rows with ``kind`` (relevant | partial | background) and ``rank`` among supported pairs."""
    by_lift = Window.partitionBy("region", "window_days").orderBy(F.desc("lift_low"), "mcc1", "mcc2")
    truth = planted.select("mcc1", "mcc2", F.col("window_days").alias("planted_window"), "strength")
    kind = (F.when(F.col("planted_window").isNull(), "background")
            .when(F.col("planted_window") <= F.col("window_days"), "relevant").otherwise("partial"))
    supported = affinity.where("is_supported").join(F.broadcast(truth), ["mcc1", "mcc2"], "left")
    return supported.withColumn("kind", kind).withColumn("rank", F.row_number().over(by_lift))


def evaluate(affinity: DataFrame, planted: DataFrame, k: int, band: tuple[float, float]) -> DataFrame:
    """One row per (region, window_days): relevant, precision/recall at k and at R, background lifts."""
    rows = labelled(affinity, planted)
    n_relevant = planted.select(F.col("window_days").alias("pw"))
    slices = affinity.select("region", "window_days").distinct()
    relevant = slices.join(n_relevant, F.col("pw") <= F.col("window_days"), "left").groupBy(
        "region", "window_days").agg(F.count("pw").alias("relevant"))
    hit = F.col("kind") == "relevant"
    background = F.col("kind") == "background"
    lo, hi = band
    stats = rows.join(relevant, ["region", "window_days"]).groupBy("region", "window_days", "relevant").agg(
        F.sum((hit & (F.col("rank") <= k)).cast("int")).alias("hits_at_k"),
        F.sum((hit & (F.col("rank") <= F.col("relevant"))).cast("int")).alias("hits_at_r"),
        F.sum(((F.col("kind") == "partial") & (F.col("rank") <= k)).cast("int")).alias("partial_at_k"),
        F.count(F.lit(1)).alias("supported"),
        F.sum(background.cast("int")).alias("background"),
        F.percentile_approx(F.when(background, F.col("lift_naive")), 0.5, 10_000).alias("bg_median_lift"),
        F.percentile_approx(F.when(background, F.col("lift_refined")), 0.5, 10_000)
        .alias("bg_median_refined"),
        F.avg(F.when(background, F.col("lift_naive").between(lo, hi).cast("double"))).alias("bg_in_band"),
        F.avg(F.when(background, F.col("lift_refined").between(lo, hi).cast("double")))
        .alias("bg_in_band_refined"),
        F.max(F.when(background, F.col("lift_low"))).alias("bg_max_lift_low"),
    )
    kk = F.least(F.lit(k), F.col("supported"))
    return stats.select(
        "region", "window_days", "relevant", "supported", "background",
        (F.col("hits_at_k") / kk).alias("precision_at_k"),
        (F.col("hits_at_k") / F.col("relevant")).alias("recall_at_k"),
        (F.col("hits_at_r") / F.col("relevant")).alias("r_precision"),
        "partial_at_k", "bg_median_lift", "bg_median_refined", "bg_in_band", "bg_in_band_refined",
        "bg_max_lift_low",
    ).orderBy("region", "window_days")


def planted_ranks(affinity: DataFrame, planted: DataFrame) -> DataFrame:
    """Each planted pair at the smallest evaluated window ≥ its window_days: rank, lifts, support."""
    rows = labelled(affinity, planted).where("kind = 'relevant'")
    first = Window.partitionBy("region", "mcc1", "mcc2").orderBy("window_days")
    return (rows.withColumn("_n", F.row_number().over(first)).where("_n = 1")
            .select("region", "mcc1", "mcc2", "planted_window", "strength", "window_days", "rank",
                    "pair_count", "lift_naive", "lift_refined", "lift_low")
            .orderBy("region", "rank"))


def format_tables(summary: list, ranks: list, k: int, band: tuple[float, float], date) -> str:
    lo, hi = band
    out = [f"MCC affinity vs the planted pairs on {date} (supported pairs ranked by lift_low):",
           f"  {'region':8} {'W':>2} {'rel':>3} {'supp':>5} {f'P@{k}':>6} {f'R@{k}':>6} {'R-prec':>6} "
           f"{'bg med lift':>11} {'bg med refined':>14} {f'bg in [{lo},{hi}]':>16} {'bg max lift_low':>15}"]
    for r in summary:
        out.append(f"  {r.region:8} {r.window_days:>2} {r.relevant:>3} {r.supported:>5} "
                   f"{fmt_num(r.precision_at_k):>6} {fmt_num(r.recall_at_k):>6} {fmt_num(r.r_precision):>6} "
                   f"{fmt_num(r.bg_median_lift):>11} {fmt_num(r.bg_median_refined):>14} "
                   f"{_pct(r.bg_in_band):>7} / {_pct(r.bg_in_band_refined):>6} {fmt_num(r.bg_max_lift_low):>15}")
    out.append("  planted pairs at their window (smallest W ≥ window_days):")
    out.append(f"  {'region':8} {'pair':>11} {'days':>4} {'strength':>8} {'W':>2} {'rank':>4} {'pairs':>6} "
               f"{'lift':>6} {'refined':>7} {'lift_low':>8}")
    for r in ranks:
        out.append(f"  {r.region:8} {r.mcc1 + '->' + r.mcc2:>11} {r.planted_window:>4} {r.strength:>8.2f} "
                   f"{r.window_days:>2} {r.rank:>4} {r.pair_count:>6} {r.lift_naive:>6.2f} "
                   f"{r.lift_refined:>7.2f} {r.lift_low:>8.2f}")
    return "\n".join(out)


def fmt_num(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"
