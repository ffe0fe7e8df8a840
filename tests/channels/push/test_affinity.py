"""MCC affinity: exact counts and lifts on hand-built payments, window edges, the job's idempotent slices."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from pyspark.sql import functions as F

from sendopt.channels.push.affinity import affinities, follow_ups
from sendopt.channels.push.tables import MCC_AFFINITY
from sendopt.cli import main

T0 = dt.datetime(2026, 1, 10, 10, 0, 0)
FAR = dt.datetime(2030, 1, 1)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def frame(spark, rows):
    """rows: (user_id, ts, mcc[, region]) → the columns ``affinities`` reads."""
    rows = [(u, ts, m, r[0] if r else "north") for u, ts, m, *r in rows]
    return spark.createDataFrame(rows, "user_id string, txn_ts timestamp, mcc string, region string")


def by_pair(df):
    return {(r.window_days, r.mcc1, r.mcc2): r for r in df.collect()}  # tiny hand-built frames


def test_window_edges_same_timestamp_exact_w_and_just_over(spark):
    rows = [
        ("u", T0 + D + dt.timedelta(seconds=1), "4444"),  # just over W after the first two; 1 s after 3333
        ("u", T0, "2222"),  # same timestamp as 1111: neither follows the other
        ("u", T0 + D, "3333"),  # exactly W after both: counts
        ("u", T0, "1111"),
    ]
    got = by_pair(affinities(frame(spark, rows), [1], FAR, include_same_mcc=True, min_support=1))
    assert set(got) == {(1, "1111", "3333"), (1, "2222", "3333"), (1, "3333", "4444")}
    a, b = got[(1, "1111", "3333")], got[(1, "3333", "4444")]
    # triggers: 4 (one per payment), 3 with a follow-up; 3333 follows 2 of them, 4444 one
    assert (a.trigger_count, a.pair_count, a.follow_any_count) == (1, 1, 1)
    assert a.p_mcc2_given_mcc1 == 1.0
    assert a.p_mcc2_naive == pytest.approx(2 / 4) and a.lift_naive == pytest.approx(2.0)
    assert a.p_mcc2_refined == pytest.approx(2 / 3) and a.lift_refined == pytest.approx(1.5)
    assert b.p_mcc2_naive == pytest.approx(1 / 4) and b.lift_naive == pytest.approx(4.0)
    assert b.lift_refined == pytest.approx(3.0)


def test_a_trigger_counts_once_per_follow_up_mcc_and_same_mcc_is_optional(spark):
    rows = [("v", T0, "A"), ("v", T0 + H, "B"), ("v", T0 + 2 * H, "B"), ("v", T0 + 3 * H, "C")]
    tx = frame(spark, rows)
    with_same = by_pair(affinities(tx, [1], FAR, include_same_mcc=True, min_support=2))
    assert with_same[(1, "A", "B")].pair_count == 1  # two B payments after one A trigger: one pair
    assert with_same[(1, "B", "B")].pair_count == 1  # the first B is followed by a B
    assert with_same[(1, "B", "C")].pair_count == 2 and with_same[(1, "B", "C")].trigger_count == 2
    assert with_same[(1, "B", "C")].is_supported and not with_same[(1, "A", "B")].is_supported
    cross = by_pair(affinities(tx, [1], FAR, include_same_mcc=False, min_support=2))
    assert set(cross) == set(with_same) - {(1, "B", "B")}
    # a dropped repeat pair still counts in the baselines: B is followed by B in 1 of 4 triggers
    assert cross[(1, "A", "B")].p_mcc2_naive == pytest.approx(with_same[(1, "A", "B")].p_mcc2_naive)
    assert cross[(1, "A", "B")].p_mcc2_naive == pytest.approx(2 / 4)


def test_exact_counts_per_window_and_region(spark):
    rows = [
        # north: w1 cinema(7832) → bar(5813) after 5 h, grocery(5411) after 2.5 days
        ("w1", T0, "7832"), ("w1", T0 + 5 * H, "5813"), ("w1", T0 + 2.5 * D, "5411"),
        # north: w2 cinema, then grocery 2 days later
        ("w2", T0, "7832"), ("w2", T0 + 2 * D, "5411"),
        # south: its own slice, no cross-region pair
        ("s1", T0, "7832", "south"), ("s1", T0 + H, "5813", "south"),
    ]
    got = {(r.region, r.window_days, r.mcc1, r.mcc2): r
           for r in affinities(frame(spark, rows), [1, 3], FAR, min_support=1).collect()}
    north = {k[1:]: (v.trigger_count, v.pair_count, v.follow_any_count)
             for k, v in got.items() if k[0] == "north"}
    assert north == {
        (1, "7832", "5813"): (2, 1, 1),  # of 2 cinema triggers, 1 followed by a bar within 1 day
        (3, "7832", "5813"): (2, 1, 2),
        (3, "7832", "5411"): (2, 2, 2),
        (3, "5813", "5411"): (1, 1, 1),
    }
    w3 = got[("north", 3, "7832", "5813")]
    # W=3 north triggers: 7832, 5813, 5411, 7832, 5411 = 5; with follow-up: 3; bar follows 1
    assert w3.p_mcc2_naive == pytest.approx(1 / 5) and w3.lift_naive == pytest.approx((1 / 2) / (1 / 5))
    assert w3.p_mcc2_refined == pytest.approx(1 / 3) and w3.lift_refined == pytest.approx((1 / 2) / (1 / 3))
    south = [v for v in got.values() if v.region == "south"]
    assert {(v.window_days, v.mcc1, v.mcc2, v.pair_count) for v in south} == {(1, "7832", "5813", 1),
                                                                             (3, "7832", "5813", 1)}


def test_triggers_whose_window_is_not_yet_observed_are_left_out(spark):
    rows = [("u", T0, "A"), ("u", T0 + H, "B"), ("u", T0 + 2 * H, "C")]
    observed_until = T0 + D + 90 * dt.timedelta(minutes=1)  # A's and B's day are complete, C's is not
    counts = {(r.mcc1, r.window_days): r.cnt for r in follow_ups(frame(spark, rows), [1], observed_until)
              .groupBy("mcc1", "window_days").agg(F.count("*").alias("cnt")).collect()}
    assert counts == {("A", 1): 1, ("B", 1): 1}


def test_wilson_interval_and_conservative_lift(spark):
    # 5 of 10 triggers followed: Wilson 95 % interval is (0.2366, 0.7634)
    rows = [(f"u{i}", T0, "A") for i in range(10)] + [(f"u{i}", T0 + H, "B") for i in range(5)]
    rows += [(f"x{i}", T0, "C") for i in range(10)]
    r = by_pair(affinities(frame(spark, rows), [1], FAR, z=1.96, min_support=5))[(1, "A", "B")]
    assert (r.ci_low, r.ci_high) == (pytest.approx(0.23659, abs=1e-4), pytest.approx(0.76341, abs=1e-4))
    assert r.p_mcc2_naive == pytest.approx(5 / 25)
    assert r.lift_low == pytest.approx(r.ci_low / r.p_mcc2_naive) and r.lift_low < r.lift_naive
    assert r.is_supported


def brute_force(rows, windows, observed_until):
    """Reference by definition: every ordered payment pair of a user, O(n²) — fine for a few rows."""
    out: dict = {}
    for w in windows:
        triggers = [(u, t, m) for u, t, m in rows if t + w * D < observed_until]
        follow = {}
        for u, t, m in triggers:
            follow[(u, t, m)] = {m2 for u2, t2, m2 in rows if u2 == u and t < t2 <= t + w * D}
        for (_, _, m), f in follow.items():
            for m2 in f:
                out[(w, m, m2)] = out.get((w, m, m2), 0) + 1
        for m in {m for _, _, m in triggers}:
            n = sum(1 for k in follow if k[2] == m)
            out[(w, m, "#")] = n
    return out


def test_matches_the_quadratic_definition_on_random_payments(spark):
    rng = random.Random(3)
    rows = [(f"u{rng.randrange(6)}", T0 + dt.timedelta(minutes=rng.randrange(0, 6 * 24 * 60, 30)),
             rng.choice("ABCD")) for _ in range(150)]
    end = T0 + 5 * D
    expected = brute_force(rows, [1, 2], end)
    got = by_pair(affinities(frame(spark, rows), [1, 2], end, include_same_mcc=True, min_support=1))
    assert {k: v.pair_count for k, v in got.items()} == {k: v for k, v in expected.items() if k[2] != "#"}
    for (w, m1, _), v in got.items():
        assert v.trigger_count == expected[(w, m1, "#")]
    assert all(0 <= v.ci_low <= v.p_mcc2_given_mcc1 <= v.ci_high <= 1 for v in got.values())


# --------------------------------------------------------------------------- the job on a tiny lake

RUN_DATE = "2026-01-20"


def tiny_lake(spark, lake):
    codes = [(m, f"code {m}", "range", False) for m in ("7832", "5813", "5411")]
    lake.write(spark.createDataFrame(codes, lake.spec("reference.mcc_codes").schema), "reference.mcc_codes",
               mode="overwrite")
    signup = dt.date(2025, 12, 1)
    customers = [(u, region, "alpha", signup, 1980, "female", "ios", 59.3, 18.0, True, True)
                 for u, region in (("n1", "north"), ("n2", "north"), ("s1", "south"))]
    lake.write(spark.createDataFrame(customers, lake.spec("raw.customers").schema), "raw.customers",
               mode="overwrite")
    pay = [("n1", T0, "7832"), ("n1", T0 + 3 * H, "5813"), ("n2", T0, "7832"), ("n2", T0 + 2 * H, "5813"),
           ("n2", T0 + 4 * H, "9999"),  # unknown MCC: quarantined by read_clean, never counted
           ("s1", T0, "7832"), ("s1", T0 + 5 * H, "5411"),
           ("n1", dt.datetime(2025, 12, 1, 9), "5411")]  # outside the lookback
    tx = [(f"t{i}", u, ts, 1, 1001, m, 10.0, "EUR", 0.0, 0.0, ts.date()) for i, (u, ts, m) in enumerate(pay)]
    lake.write(spark.createDataFrame(tx, lake.spec("raw.card_transactions").schema), "raw.card_transactions",
               mode="overwrite")


def test_job_replaces_its_run_date_slice(spark, lake, lake_config):
    tiny_lake(spark, lake)
    args = ["--set", f"lake.root={lake_config.lake.root}", "--set", "spark.shuffle_partitions=4",
            "--set", "affinity.lookback_days=14", "--set", "affinity.min_support=2", "--date", RUN_DATE]
    assert main(["mcc-affinity", *args]) == 0
    cols = [c for c in MCC_AFFINITY.column_names if c not in ("computed_at", "run_id")]
    first = lake.read(MCC_AFFINITY).where(F.col("run_date") == RUN_DATE).select(*cols).collect()
    rows = {(r.region, r.window_days, r.mcc1, r.mcc2): r for r in first}
    assert set(rows) == {(reg, w, a, b) for w in (1, 3, 7)
                         for reg, a, b in (("north", "7832", "5813"), ("south", "7832", "5411"))}
    north = rows[("north", 1, "7832", "5813")]
    assert (north.trigger_count, north.pair_count, north.is_supported) == (2, 2, True)
    assert not rows[("south", 1, "7832", "5411")].is_supported
    assert main(["mcc-affinity", *args]) == 0
    again = lake.read(MCC_AFFINITY).where(F.col("run_date") == RUN_DATE)
    assert again.count() == len(rows)
    assert again.select("run_id").distinct().count() == 1  # the second run's slice, not both
    assert sorted(again.select(*cols).collect()) == sorted(first)


def test_table_columns_keep_the_contract_names():
    names = set(MCC_AFFINITY.column_names)
    assert {"run_date", "region", "window_days", "mcc1", "mcc2", "p_mcc2_given_mcc1", "lift_naive",
            "lift_refined", "lift_low", "is_supported"} <= names


def test_evaluation_counts_planted_pairs_only_at_a_window_that_fits_them(spark):
    from sendopt.evaluation.mcc_affinity import evaluate

    cols = ("region string, window_days int, mcc1 string, mcc2 string, lift_naive double, "
            "lift_refined double, lift_low double, is_supported boolean")
    rows = [("north", 1, "C", "D", 6.0, 6.0, 5.0, True),  # planted with a 3-day window: partial at W=1
            ("north", 1, "A", "B", 5.0, 5.0, 4.0, True),  # planted, 1 day: relevant
            ("north", 1, "X", "Y", 20.0, 20.0, 9.0, False),  # unsupported: never ranked
            ("north", 1, "E", "F", 1.0, 1.1, 0.9, True), ("north", 1, "G", "H", 1.3, 1.0, 1.1, True),
            ("north", 3, "C", "D", 6.0, 6.0, 5.0, True), ("north", 3, "E", "F", 1.0, 1.0, 0.9, True)]
    planted = spark.createDataFrame([("A", "B", 1, 0.5), ("C", "D", 3, 0.3)],
                                    "mcc1 string, mcc2 string, window_days int, strength double")
    result = evaluate(spark.createDataFrame(rows, cols), planted, 2, (0.8, 1.25))
    got = {r.window_days: r for r in result.collect()}
    w1, w3 = got[1], got[3]
    assert (w1.relevant, w1.supported, w1.background) == (1, 4, 2)
    assert (w1.precision_at_k, w1.recall_at_k, w1.r_precision, w1.partial_at_k) == (0.5, 1.0, 0.0, 1)
    assert w1.bg_in_band == 0.5 and w1.bg_in_band_refined == 1.0
    assert (w3.relevant, w3.precision_at_k, w3.recall_at_k) == (2, 0.5, 0.5)  # A→B has no W=3 row


def test_an_unconfigured_region_is_refused_by_name(lake_config, capsys):
    code = main(["mcc-affinity", "--set", f"lake.root={lake_config.lake.root}", "--region", "mars"])
    assert code == 2
    err = capsys.readouterr().err
    assert "FAILED mcc-affinity: --region mars: not a region of the configured markets" in err
