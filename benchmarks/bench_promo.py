"""plan-promos at scale: many merchants' requests, every customer × candidate design scored once, tuned on
sufficient statistics, the chosen customers assigned — time, driver memory and growth in customers.

The response models are the real ones (``training_frame`` + ``ensure_models``), trained once on a small
generated world (``--world-users``, default promos), or the champions of an existing lake (``--lake``: read
only, nothing is written there). Their time scales with the campaign history (capped by
``promo.models.max_train_rows``), not with the customers planned for, so it is printed apart.

The planning population is synthetic, built in Spark at each ``--users`` size (no 1M-user world is
generated): each user gets one of the merchants' regions; every request's eligible customers are
the users of its merchant's region (≈ users / regions each); each (user, request) pair takes the
pre-campaign features of a real (customer, campaign) row of the small world, drawn by a stable hash from a
pool of ``--pool`` rows, with the request's region, MCC and window. Then, as ``plan.plan_requests`` does:

1. **score + statistics**: ``simulator.candidate_stats`` (pairs × ``--designs`` designs of
   ``designer.candidate_designs``, summed into the sufficient statistics: with the usage model in one fused
   pass), collected to the driver — the scored rows are never stored, as in plan-promos;
2. **tuning**: per request ``simulator.prepare`` + ``tuning.tune`` (``--trials`` Optuna trials, each an MLflow
   run as in plan-promos) on the statistics only — their row count does not grow with customers;
3. **assign**: the chosen designs only (``simulator.chosen_designs``) scored again, ``simulator.selection_frame``
   + ``simulator.assign``, written to a temp Parquet path, rows counted back.

Each stage prints its seconds and the driver's peak Python RSS and JVM heap (in ``local`` mode the JVM is
also the executor; the Python driver's memory must not grow with customers). ``--users 100000,1000000``
runs several sizes in one session and prints the growth.

    .venv/bin/python -m benchmarks promo --users 100000,1000000 --requests 20 --designs 50 --trials 30
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import shutil
import tempfile
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from benchmarks.common import bench_session, measured
from sendopt.catalog import open_lake
from sendopt.channels.promo import designer, simulator, tuning
from sendopt.channels.promo.features import CUSTOMER_FEATURES, pair_features
from sendopt.channels.promo.models import ModelSet, ensure_models, kinds_of, load_champion, training_frame
from sendopt.channels.promo.plan import ASSIGNED_FROM_BASE, RAW, raw_tables
from sendopt.channels.promo.requests import FIELDS
from sendopt.config import ConfigLoader
from sendopt.models import tracking
from sendopt.registry import JOBS
from sendopt.runner import JobContext, resolve_run_date, run_job

#: request-specific features: set from the request, not taken from the pool row
PER_REQUEST = ("region_code", "mcc_code", "window_days")
#: besides the model features: what the usage model's weight and the promo's cost are computed from
USAGE_COLS = ["m_orders_rate", "all_orders_rate", "past_offers_rate", "past_redeems_rate", "history_span",
              "exposure", "mcc_median", "mcc_sigma"]
POOL_COLS = [c for c in CUSTOMER_FEATURES if c not in PER_REQUEST] + USAGE_COLS + ["segment"]


def row(stage: str, users: int, rows: int | None, m: dict, note: str = "") -> None:
    rows_text = f"{rows:,}" if rows is not None else ""
    print(f"{stage:26} {users:>10,} {rows_text:>14} {m['seconds']:9.1f} {m['py_rss_mb']:10.0f} "
          f"{m['jvm_heap_mb']:8.0f}   {note}", flush=True)


def header() -> None:
    print(f"{'stage':26} {'users':>10} {'rows':>14} {'seconds':>9} {'py RSS MB':>10} {'JVM MB':>8}")


def release(spark) -> None:
    """Drop every persisted / locally checkpointed RDD (the previous size's scores)."""
    for rdd in list(spark.sparkContext._jsc.getPersistentRDDs().values()):
        rdd.unpersist(False)


def models_and_history(spark, config, args, work: str):
    """(context, models, campaign history rows, training frame) — the small world's, trained once."""
    run_id = f"bench-promo-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
    ctx = JobContext(job="bench-promo", spark=spark, config=config, lake=open_lake(spark, config, run_id=run_id,
                                                                                   job="bench-promo"),
                     run_id=run_id, run_date=resolve_run_date(config), log=logging.getLogger("sendopt.bench-promo"),
                     loader=ConfigLoader("local"))
    lake, cfg = ctx.lake, config.promo
    raw = raw_tables(lake)
    data_versions = {t: lake.inputs[t] for t in RAW if t in lake.inputs}

    def feats(pairs):
        return pair_features(pairs, raw["raw.card_transactions"], raw["raw.customers"], raw["raw.promo_offers"],
                             raw["raw.promo_redemptions"], cfg.segments)

    with measured(spark) as m:
        campaigns = raw["raw.promo_campaigns"].where(F.col("end_date") < F.lit(ctx.run_date))
        training = training_frame(campaigns, raw["raw.promo_offers"], raw["raw.merchants"],
                                  raw["raw.card_transactions"], raw["raw.promo_redemptions"], feats).localCheckpoint()
        n_train = training.count()
    row("training frame", 0, n_train, m, f"(customer, past campaign) rows of the small world, "
        f"{campaigns.count()} campaigns")
    with measured(spark) as m:
        if args.lake:  # read only: the lake's champions, no challenger trained or registered there
            tracking.configure(config)
            got = {k: load_champion(config, k) for k in kinds_of(cfg.models)}
            missing = [k for k, v in got.items() if v is None]
            if missing:
                raise SystemExit(f"--lake {args.lake} has no promo champion for {', '.join(missing)}: run plan-promos "
                                 "there first, or leave --lake out to train on a small generated world")
            models = ModelSet({k: v[0] for k, v in got.items()}, trained=False,
                              uplift_scale=json.loads(got["order1"][1].get("uplift_scale", "{}")),
                              usage=json.loads(got["usage"][1].get("usage", "{}")) if "usage" in got else {})
        else:
            models = ensure_models(ctx, training, data_versions)
    level_sd = models.level_sd(cfg.models)
    row("response models", 0, n_train, m, ("trained " if models.trained else "champions loaded: ")
        + ", ".join(f"{k} v{v}" for k, v in sorted(models.versions.items()))
        + (f"; level error of an unseen campaign {level_sd:.2f}" if level_sd else ""))
    history = [r.asDict() for r in designer.campaign_returns(training).collect()]  # one row per campaign
    if args.lake:  # tuning's MLflow runs go to the temp dir, not to the borrowed lake
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
        mlflow.set_experiment("bench-promo")
    return ctx, models, history, training


def make_requests(ctx, history, args):
    """``--requests`` requests of the merchants with most campaign history (then by id), 14-day windows
    starting the day after the run date, request defaults (guard rails: 5–30 %, vouchers 0/5/10, min spend
    0–40 → 90 admissible designs)."""
    merchants = {r["merchant_id"]: (r["mcc"], r["region"]) for r in
                 ctx.lake.read("raw.merchants").select("merchant_id", "mcc", "region").collect()}  # 400 rows
    regions = sorted({v[1] for v in merchants.values()})
    counts: dict[int, int] = {}
    for h in history:
        counts[h["merchant_id"]] = counts.get(h["merchant_id"], 0) + 1
    chosen = sorted(merchants, key=lambda m: (-counts.get(m, 0), m))[: args.requests]
    start = ctx.run_date + dt.timedelta(days=1)
    out = []
    for i, mid in enumerate(chosen):
        req = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
               for k, (_, v) in FIELDS.items()}
        req.update(request_id=f"bench-{i + 1}", merchant_id=mid, start_date=start,
                   end_date=start + dt.timedelta(days=13), mcc=merchants[mid][0], region=merchants[mid][1])
        out.append(req)
    return regions, out


def designs_of(ctx, history, reqs):
    cfg = ctx.config.promo.designer
    rows, strengths = [], {}
    for r in reqs:
        centre, _ = designer.centre(history, r["merchant_id"], r["mcc"], cfg)
        cands = designer.candidate_designs(r, centre, cfg)
        strengths[r["request_id"]] = {d.design_id: d.strength for d in cands}
        rows += [(r["request_id"], d.design_id, d.discount_pct, d.voucher_value, d.min_spend) for d in cands]
    return rows, strengths


def population(spark, users: int, regions: list[str], reqs, pool, pool_size: int, partitions: int):
    """(user, request) pairs of ``users`` synthetic users, spread evenly over ``regions`` (the merchants'), with
    a pool row's features each: a request reaches the users of its merchant's region."""
    u = spark.range(users, numPartitions=partitions).select(
        F.concat(F.lit("b"), F.col("id").cast("string")).alias("user_id"),
        F.element_at(F.array(*[F.lit(x) for x in regions]),
                     (F.pmod(F.xxhash64(F.col("id"), F.lit(11)), F.lit(len(regions))) + 1).cast("int")).alias("region"))
    req_df = spark.createDataFrame(
        [(r["request_id"], r["merchant_id"], r["region"], r["start_date"], r["end_date"], float(r["weight_orders"]),
          float(r["weight_new_customers"]), r["mcc"]) for r in reqs],
        "request_id string, merchant_id int, region string, as_of date, end_date date, weight_orders double, "
        "weight_new_customers double, mcc string")
    pairs = u.join(F.broadcast(req_df), "region").withColumn(
        "_k", F.pmod(F.xxhash64("user_id", "request_id"), F.lit(pool_size)))
    return (pairs.join(F.broadcast(pool), "_k").drop("_k")
            .withColumn("region_code", F.pmod(F.xxhash64(F.col("region")), F.lit(97)).cast("int"))
            .withColumn("mcc_code", F.coalesce(F.col("mcc").cast("int"), F.lit(0)))
            .withColumn("window_days", (F.datediff(F.col("end_date"), F.col("as_of")) + 1).cast("double"))
            .drop("mcc"))


def rows_then_stats(target, designs, models, resolution: float):
    """The customer × design product scored as Spark rows (the assignments' form), then summed."""
    return simulator.sufficient_stats(simulator.score_candidates(target, designs, models, resolution))


@contextlib.contextmanager
def one_pass_per_model():
    """``models.predict_all`` scoring each model in its own ``mapInArrow`` pass, as before the fused scorer."""
    from sendopt.channels.promo import models as promo_models
    from sendopt.models.scoring import score_heads

    def separate(df, pairs):
        for model, out in pairs:
            df = score_heads(df, [model.head(out)])
        return df

    fused, promo_models.predict_all = promo_models.predict_all, separate
    try:
        yield
    finally:
        promo_models.predict_all = fused


def run_size(spark, config, models, regions, reqs, design_rows, strengths, pool, pool_size: int, users: int, args,
             work: str) -> dict:
    cfg = config.promo
    res: dict = {"users": users}
    partitions = args.partitions or max(4, users // 50_000)
    path = f"{work}/population_{users}"
    with measured(spark) as m:
        population(spark, users, regions, reqs, pool, pool_size, partitions).write.parquet(path)
        target = spark.read.parquet(path)
        eligible = target.count()
    res["population"] = m
    row("build population", users, eligible, m, f"(user, request) pairs, {len(reqs)} requests, "
        f"{partitions} partitions")
    designs = spark.createDataFrame(design_rows, "request_id string, design_id string, discount_pct double, "
                                    "voucher_value double, min_spend double")
    with measured(spark) as m:
        stats = simulator.candidate_stats(target, designs, models, cfg.simulator.bucket_resolution).toPandas()
    n_scored = int(stats["n"].sum())
    res["score"], res["scored_rows"], res["stats_rows"] = m, n_scored, len(stats)
    row("score + statistics", users, n_scored, m, f"customer × design rows, {n_scored / m['seconds']:,.0f} rows/s; "
        f"statistics {len(stats):,} rows to the driver")
    if args.compare_passes:  # side by side on the same rows, straight to the statistics
        timed, res_ = {}, cfg.simulator.bucket_resolution
        if "usage" in models.models:  # the fused statistics pass vs the product as Spark rows, summed
            ways = {"fused": (contextlib.nullcontext, simulator.candidate_stats),
                    "rows in Spark": (contextlib.nullcontext, rows_then_stats)}
        else:  # the T-learner: one fused Arrow pass vs one pass per model
            ways = {"fused": (contextlib.nullcontext, rows_then_stats),
                    "one pass per model": (one_pass_per_model, rows_then_stats)}
        for name, (patch, stats_of) in ways.items():
            with measured(spark) as timed[name], patch():
                again = stats_of(target, designs, models, res_).toPandas()
            row(f"score→stats, {name}", users, int(again["n"].sum()), timed[name], f"{len(again):,} statistics rows")
        res["passes"] = timed
        (fast, slow) = list(timed)
        print(f"{'':26} {slow} / {fast}: {timed[slow]['seconds'] / timed[fast]['seconds']:.2f}× the time", flush=True)
    import mlflow

    level_sd = models.level_sd(cfg.models)
    with measured(spark) as m:
        selections, feasible, reached, spend = [], 0, 0.0, 0.0
        for r in reqs:
            rid = r["request_id"]
            s = stats[stats["request_id"] == rid]
            if s.empty:
                continue
            prep = simulator.prepare(s)
            eligible_r = sum(prep["sizes"].values())
            limits = simulator.Limits(budget=cfg.demo.budget_per_customer * eligible_r, max_cps=None,
                                      segments=tuple(r["segments"]), min_coverage={},
                                      weight_orders=float(r["weight_orders"]),
                                      weight_new=float(r["weight_new_customers"]),
                                      confidence=cfg.simulator.budget_confidence, interval=cfg.simulator.interval,
                                      cost_margin=cfg.simulator.cost_model_margin, level_sd=level_sd)
            with mlflow.start_run(run_name=f"bench-promo-{rid}"):
                chosen, _, _ = tuning.tune(prep, strengths[rid], limits, cfg.tuning, mlflow_parent=rid)
            if chosen is not None:
                feasible += 1
                reached += chosen.metrics["reached"]
                spend += chosen.metrics["cost"]
                selections.append(simulator.selection_frame(spark, rid, chosen))
    res["tuning"] = m
    row("tuning (driver)", users, len(stats), m, f"statistics rows; {len(reqs)} requests × {cfg.tuning.trials} "
        f"trials, {feasible} feasible plans, {reached:,.0f} customers reached, expected cost {spend:,.0f}")
    sel = functools.reduce(DataFrame.unionByName, selections) if selections else None  # one small frame per plan
    ways = [("assign + write", ASSIGNED_FROM_BASE)] + [("assign, full rows", None)] * args.compare_assign
    for label, keep in ways:  # --compare-assign: again with every column of the eligible rows (before e4315d3)
        out = f"{work}/assignments_{users}" + ("" if keep else "_full")
        with measured(spark) as m:
            n_assigned = 0
            if sel is not None:
                rescored = simulator.score_candidates(target, simulator.chosen_designs(designs, sel), models,
                                                      cfg.simulator.bucket_resolution, keep=keep)
                a = simulator.assign(rescored, sel).withColumn("start_date", F.col("as_of")).select(
                    "request_id", "user_id", "merchant_id", "segment", "region", "design_id", "discount_pct",
                    "voucher_value", "min_spend", "start_date", "end_date", "p_redeem", "inc_orders", "inc_gmv",
                    "cost", "value")
                a.write.parquet(out)
                n_assigned = spark.read.parquet(out).count()
        res.setdefault("assign", m)
        res.setdefault("assigned", n_assigned)
        row(label, users, n_assigned, m, "chosen customers written to Parquet and counted back "
            f"(expected {reached:,.0f})")
    if args.compare_assign and res["assign"]["seconds"]:
        print(f"  assignments: full rows ÷ scoring columns = {m['seconds'] / res['assign']['seconds']:.2f}× the time")
    release(spark)
    if not args.keep:
        for p in (path, f"{work}/assignments_{users}", f"{work}/assignments_{users}_full"):
            shutil.rmtree(p, ignore_errors=True)
    return res


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks promo")
    ap.add_argument("--users", default="1000000", help="comma list of population sizes, e.g. 100000,1000000")
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--designs", type=int, default=50, help="candidate designs per request (promo.designer."
                    "max_designs; the default guard rails admit 90)")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--world-users", type=int, default=3000, help="the small world the models are trained on")
    ap.add_argument("--lake", default=None, help="an existing lake with promo champions (read only) instead of "
                    "generating and training")
    ap.add_argument("--pool", type=int, default=20_000, help="real feature rows the population is drawn from")
    ap.add_argument("--partitions", type=int, default=0, help="population partitions (0: users / 50,000, ≥ 4)")
    ap.add_argument("--compare-passes", action="store_true", help="score every size twice more, straight to the "
                    "statistics: the fused pass and the other way (usage model: the product as Spark rows; "
                    "T-learner: one Arrow pass per model), and print the time ratio")
    ap.add_argument("--compare-assign", action="store_true", help="rescore the assignments twice: on the columns "
                    "scoring reads (plan-promos) and on the full eligible rows, and print the time ratio")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--set", action="append", default=[], help="extra config override (repeatable)")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.users.split(",") if x.strip()]
    work = tempfile.mkdtemp(prefix="bench-promo-")
    root = os.path.abspath(args.lake) if args.lake else f"{work}/lake"
    ovr = [f"world.users={args.world_users}", "world.users_per_partition=5000", "spark.shuffle_partitions=8",
           f"promo.designer.max_designs={args.designs}", f"promo.tuning.trials={args.trials}", *args.set]
    t_all = time.perf_counter()
    config, spark = bench_session(root, *ovr)
    print(f"promo planning: users {', '.join(f'{s:,}' for s in sizes)}; {args.requests} requests × {args.designs} "
          f"designs, {args.trials} trials; Spark {spark.sparkContext.master}, load avg {os.getloadavg()[0]:.1f}",
          flush=True)
    header()
    if not args.lake:
        with measured(spark) as m:
            run_job(JOBS["generate-world"], ConfigLoader("local", overrides=[f"lake.root={root}", *ovr]), spark=spark)
        row("generate small world", args.world_users, None, m, f"{args.world_users:,} users × "
            f"{config.world.days} days, {config.world.promos.campaigns} campaigns (training data only)")
    ctx, models, history, training = models_and_history(spark, config, args, work)
    regions, reqs = make_requests(ctx, history, args)
    design_rows, strengths = designs_of(ctx, history, reqs)
    per_req = {len(v) for v in strengths.values()}
    pool_path = f"{work}/pool"
    pool = training.where(F.col("has_payments")).select(*POOL_COLS).withColumn(
        "_h", F.xxhash64(*POOL_COLS)).orderBy("_h").limit(args.pool)
    pool.withColumn("_k", (F.row_number().over(Window.orderBy("_h")) - 1).cast("long")).drop("_h") \
        .coalesce(1).write.parquet(pool_path)
    pool = spark.read.parquet(pool_path)
    pool_size = pool.count()
    release(spark)
    print(f"{len(reqs)} requests (merchants {', '.join(str(r['merchant_id']) for r in reqs[:5])}"
          f"{' …' if len(reqs) > 5 else ''}; {sum(r['region'] == regions[0] for r in reqs)} in {regions[0]}), users "
          f"spread over regions {regions}, designs per request "
          f"{sorted(per_req)}, feature pool {pool_size:,} real rows", flush=True)
    results = [run_size(spark, config, models, regions, reqs, design_rows, strengths, pool, pool_size, n, args,
                        work)
               for n in sizes]
    if len(results) > 1:
        a, b = results[0], results[-1]
        k = b["users"] / a["users"]
        parts = [f"{s}: {b[s]['seconds'] / a[s]['seconds']:.1f}× time, "
                 f"{b[s]['py_rss_mb'] / a[s]['py_rss_mb']:.2f}× py RSS, "
                 f"{b[s]['jvm_heap_mb'] / max(a[s]['jvm_heap_mb'], 1):.1f}× JVM"
                 for s in ("population", "score", "tuning", "assign")]
        print(f"growth {a['users']:,} → {b['users']:,} users ({k:g}×): " + "; ".join(parts)
              + f"; statistics rows {a['stats_rows']:,} → {b['stats_rows']:,}")
    print(f"{time.perf_counter() - t_all:.0f}s in all; load avg {os.getloadavg()[0]:.1f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0
