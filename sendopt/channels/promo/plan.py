"""``plan-promos``: every pending campaign request planned in one Spark run, each exactly once.

Steps (each a function of DataFrames): claim → check → eligible customers and segments → response models →
candidate designs → score every customer × design once → sufficient statistics → Optuna tuning per request
→ assignments. A request that cannot be planned ends ``failed`` with the reason; the others go on.

Exactly once: a run appends its claims (request, attempt, run id) in one commit to ``ops.promo_request_claims``
and keeps only the requests whose earliest claiming commit is its own — two runs started together both
append, the table's log orders the two commits, and the later one sees the earlier claim and skips.
``promo.replan`` opens a new attempt for a request; its plans, segments and assignments are replaced.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.primitives import uniform_hash
from sendopt.channels.promo import designer, simulator, tuning
from sendopt.channels.promo.features import pair_features
from sendopt.channels.promo.models import ModelSet, ensure_models, training_frame
from sendopt.channels.promo.requests import validate_request
from sendopt.channels.promo.tables import (
    PROMO_ASSIGNMENTS,
    PROMO_PLANS,
    PROMO_REQUEST_CLAIMS,
    PROMO_REQUEST_STATUS,
    PROMO_REQUESTS,
    PROMO_SEGMENTS,
)
from sendopt.errors import SendoptError
from sendopt.ledger import Outcome

#: The customer columns an assignment row takes from the eligible customers besides those scoring reads.
ASSIGNED_FROM_BASE = ("user_id", "as_of", "end_date")
RAW = ("raw.promo_campaigns", "raw.promo_offers", "raw.promo_redemptions", "raw.card_transactions",
       "raw.customers", "raw.merchants")


# ---------------------------------------------------------------- requests and claims
def current_status(lake) -> DataFrame | None:
    """Latest status event per request (None before any)."""
    if not lake.exists(PROMO_REQUEST_STATUS):
        return None
    s = lake.read(PROMO_REQUEST_STATUS)
    return s.groupBy("request_id").agg(F.max_by(F.struct("status", "reason", "attempt", "updated_at"),
                                                "updated_at").alias("s")).select("request_id", "s.*")


def to_claim(lake, replan: list[str], lease: dt.timedelta | None = None,
             now: dt.datetime | None = None) -> list[tuple[str, int]]:
    """(request, attempt) this run should claim: never-claimed requests (attempt 1), ``replan`` ones, and those
    whose latest claim is older than ``lease`` without an end (planned / failed) for that attempt — a run killed
    hard (out of memory, a lost driver) wrote no status, and its request must not stay claimed forever."""
    reqs = [r["request_id"] for r in lake.read(PROMO_REQUESTS).select("request_id").distinct().collect()]
    latest: dict[str, tuple[int, dt.datetime]] = {}
    if lake.exists(PROMO_REQUEST_CLAIMS):  # one row per request: small
        latest = {r["request_id"]: (r["c"]["attempt"], r["c"]["claimed_at"]) for r in lake.read(
            PROMO_REQUEST_CLAIMS).groupBy("request_id").agg(F.max(F.struct("attempt", "claimed_at")).alias("c"))
            .collect()}
    out = {(r, 1) for r in reqs if r not in latest}
    out |= {(r, latest[r][0] + 1) for r in replan if r in latest}
    if lease is not None and latest:
        now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        ended: dict[str, int] = {}
        if lake.exists(PROMO_REQUEST_STATUS):
            ended = {r["request_id"]: r["a"] for r in lake.read(PROMO_REQUEST_STATUS).where(
                F.col("status").isin("planned", "failed")).groupBy("request_id").agg(F.max("attempt").alias("a"))
                .collect()}
        out |= {(r, a + 1) for r, (a, at) in latest.items() if at < now - lease and ended.get(r, 0) < a}
    return sorted(out)


def append_claims(ctx, wanted: list[tuple[str, int]]) -> None:
    """One commit with this run's claims."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    df = ctx.spark.createDataFrame([(r, a, ctx.run_id, now) for r, a in wanted], PROMO_REQUEST_CLAIMS.schema)
    ctx.lake.write(df, PROMO_REQUEST_CLAIMS, mode="append", run_key=f"claim/{ctx.run_id}")


def won_claims(ctx, wanted: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The claims of ``wanted`` whose earliest claiming commit in the table's log is this run's."""
    first_commit: dict[str, int] = {}
    for entry in ctx.lake.history(PROMO_REQUEST_CLAIMS):
        run = entry.get("sendopt.run_id")
        if run is not None and entry.get("version") is not None:
            first_commit[run] = min(first_commit.get(run, 1 << 62), int(entry["version"]))
    keys = [f"{r}#{a}" for r, a in wanted]
    rows = ctx.lake.read(PROMO_REQUEST_CLAIMS).withColumn("k", F.concat_ws("#", "request_id", "attempt")).where(
        F.col("k").isin(keys)).select("request_id", "attempt", "run_id").collect()  # claims of these: small
    winner: dict[tuple[str, int], tuple[int, str]] = {}
    for r in rows:
        key = (r["request_id"], r["attempt"])
        rank = (first_commit.get(r["run_id"], 1 << 62), r["run_id"])
        winner[key] = min(winner.get(key, rank), rank)
    won = [k for k in wanted if winner.get(k, (0, ""))[1] == ctx.run_id]
    lost = sorted(set(wanted) - set(won))
    if lost:
        ctx.log.info("stage=plan-promos %d request(s) claimed by another run first: %s", len(lost), lost)
    return won


def claim(ctx, wanted: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Append this run's claims; return those it won."""
    if not wanted:
        return []
    append_claims(ctx, wanted)
    return won_claims(ctx, wanted)


def request_problems(row: Mapping[str, Any], today: dt.date, limits, merchants: Mapping[int, Any],
                     cfg_designer) -> str | None:
    """Why a request cannot be planned, in words for a merchant-facing operator (None: it can)."""
    errors = validate_request(row, today=today, limits=limits)
    if errors:
        return "invalid request: " + "; ".join(map(str, errors))
    if row["merchant_id"] not in merchants:
        return f"unknown merchant {row['merchant_id']}: not in raw.merchants"
    if not designer.admissible(row, cfg_designer):
        return "the guard rails admit no promo design (discount, voucher and minimum-spend ranges)"
    return None


# ---------------------------------------------------------------- customers of a request
def opted_out(customers: DataFrame, consents: DataFrame | None, as_of: dt.date) -> DataFrame:
    """user_id, opted_out: no marketing consent left on any channel (email and push both withdrawn) by
    ``as_of``; the signup choice counts until a change."""
    c = customers.select("user_id", F.col("email_opt_in").alias("e0"), F.col("push_opt_in").alias("p0"))
    if consents is not None:
        latest = consents.where(F.to_date("changed_at") <= F.lit(as_of)).groupBy("user_id").agg(
            F.max_by(F.when(F.col("channel") == "email", F.col("consented")),
                     F.when(F.col("channel") == "email", F.col("changed_at"))).alias("e1"),
            F.max_by(F.when(F.col("channel") == "push", F.col("consented")),
                     F.when(F.col("channel") == "push", F.col("changed_at"))).alias("p1"))
        c = c.join(latest, "user_id", "left")
        email, push = F.coalesce(F.col("e1"), F.col("e0")), F.coalesce(F.col("p1"), F.col("p0"))
    else:
        email, push = F.col("e0"), F.col("p0")
    return c.select("user_id", (~F.coalesce(email | push, F.lit(False))).alias("opted_out"))


def eligible_pairs(requests: DataFrame, customers: DataFrame, merchants: DataFrame) -> DataFrame:
    """(key = request_id, user_id, merchant_id, mcc, as_of): customers of the merchant's region who signed up
    before the campaign starts (the world's eligibility of a campaign)."""
    m = merchants.select("merchant_id", "mcc", F.col("region").alias("m_region"))
    r = requests.join(m, "merchant_id").select(F.col("request_id").alias("key"), "merchant_id", "mcc", "m_region",
                                               F.col("start_date").alias("as_of"), "end_date")
    c = customers.select("user_id", F.col("region").alias("c_region"), "signup_date")
    return r.join(c, (F.col("c_region") == F.col("m_region")) & (F.col("signup_date") < F.col("as_of"))).select(
        "key", "user_id", "merchant_id", "mcc", "as_of", "end_date")


# ---------------------------------------------------------------- the job
def plan_pending(ctx) -> None:
    cfg = ctx.config.promo
    if not cfg.publish.enabled:
        ctx.log.warning("KILL SWITCH: promo.publish.enabled is false — no request planned")
        ctx.summary.update(status=Outcome.STOPPED_BY_KILL_SWITCH, message="promo.publish.enabled=false")
        return
    lake = ctx.lake
    if not lake.exists(PROMO_REQUESTS):
        ctx.summary.update(status=Outcome.SKIPPED, message="no ops.promo_requests yet: nothing to plan")
        return
    missing = [t for t in RAW[:-1] if not lake.exists(t)]
    if missing:
        raise SendoptError(f"plan-promos needs {', '.join(missing)} (generate-world or your loaders)")
    lease = dt.timedelta(minutes=cfg.claim_lease_minutes) if cfg.claim_lease_minutes else None
    wanted = to_claim(lake, list(cfg.replan), lease)
    if cfg.request_id is not None:
        wanted = [w for w in wanted if w[0] == cfg.request_id]
    won = claim(ctx, wanted)
    if not won:
        ctx.summary.update(status=Outcome.SKIPPED, message="no pending promo requests")
        return
    attempt = dict(won)
    reqs = lake.read(PROMO_REQUESTS).where(F.col("request_id").isin(list(attempt)))
    rows = {r["request_id"]: r.asDict(recursive=True) for r in reqs.collect()}  # one row per request: small
    merchants_df = lake.read("raw.merchants")
    merchants = {r["merchant_id"]: r["mcc"] for r in merchants_df.select("merchant_id", "mcc").collect()}
    status: dict[str, tuple[str, str]] = {}
    for rid, row in rows.items():
        problem = request_problems(row, ctx.run_date, cfg.requests, merchants, cfg.designer)
        if problem:
            status[rid] = ("failed", problem)
    live = [rid for rid in rows if rid not in status]
    try:
        result = plan_requests(ctx, {rid: rows[rid] for rid in live}, merchants_df, merchants) if live else None
    except Exception as exc:  # a crash must not leave the claimed requests pending forever
        why = f"planning crashed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); " \
              "re-plan with --set 'promo.replan=[…]' after fixing the cause"
        write_outputs(ctx, list(rows), attempt, {**status, **dict.fromkeys(live, ("failed", why))}, None)
        raise
    if result is not None:
        status.update(result["status"])
    write_outputs(ctx, list(rows), attempt, status, result)
    planned = sum(1 for s, _ in status.values() if s == "planned")
    failed = {rid: why for rid, (s, why) in status.items() if s == "failed"}
    for rid, why in failed.items():
        ctx.log.warning("stage=plan-promos request %s failed: %s", rid, why)
    ctx.summary["message"] = f"{planned} planned, {len(failed)} failed" + (
        f" ({'; '.join(f'{k}: {v}' for k, v in failed.items())})" if failed else "")


def raw_tables(lake) -> dict[str, DataFrame]:
    return {t: lake.read(t) for t in RAW if lake.exists(t)}


def score_requests(ctx, rows: dict[str, dict], merchants_df: DataFrame, merchants: Mapping[int, str]) -> dict:
    """Models, eligible customers (``target``, checkpointed) and segments, candidate designs, and the sufficient
    statistics of every customer × design scored once (``stats``, small) — what tuning reads. The scored rows
    (customers × 50 designs: 500M at 1M customers) stream into the statistics and are never stored."""
    cfg, lake, spark = ctx.config.promo, ctx.lake, ctx.spark
    raw = raw_tables(lake)
    consents = lake.read("raw.consents") if lake.exists("raw.consents") else None
    data_versions = {t: lake.inputs[t] for t in RAW if t in lake.inputs}

    def feats(pairs: DataFrame) -> DataFrame:
        return pair_features(pairs, raw["raw.card_transactions"], raw["raw.customers"], raw["raw.promo_offers"],
                             raw["raw.promo_redemptions"], cfg.segments)

    campaigns = raw["raw.promo_campaigns"].where(F.col("end_date") < F.lit(ctx.run_date))
    offers = raw["raw.promo_offers"]
    if "offered" not in offers.columns:
        raise SendoptError("raw.promo_offers has no `offered` column: the models need the logged control group "
                           "(one row per eligible customer, offered true/false)")
    training = training_frame(campaigns, offers, merchants_df, raw["raw.card_transactions"],
                              raw["raw.promo_redemptions"], feats).localCheckpoint()
    models = ensure_models(ctx, training, data_versions)
    level_sd = models.level_sd(cfg.models, ctx.log)
    history = [r.asDict() for r in designer.campaign_returns(training).collect()]  # one row per campaign
    # requests → eligible customers with features and segments
    req_df = lake.read(PROMO_REQUESTS).where(F.col("request_id").isin(list(rows)))
    pairs = eligible_pairs(req_df, raw["raw.customers"], merchants_df)
    base = feats(pairs).withColumnRenamed("key", "request_id").where(F.col("has_payments"))
    outs = [opted_out(raw["raw.customers"], consents, ctx.run_date)]
    base = base.join(outs[0], "user_id", "left").withColumn("opted_out", F.coalesce(F.col("opted_out"),
                                                                                    F.lit(False)))
    weights = req_df.select("request_id", "weight_orders", "weight_new_customers", "start_date", "end_date",
                            "segments")
    base = base.join(F.broadcast(weights.drop("start_date", "end_date")), "request_id").localCheckpoint()
    segments = base.select("request_id", "user_id", "merchant_id", "region", "segment", "cold_start",
                           "days_since_last", "opted_out")
    target = base.where(~F.col("opted_out") & F.array_contains(F.col("segments"), F.col("segment")))
    # designs per request
    design_rows, strengths, info = [], {}, {}
    for rid, row in rows.items():
        centre, source = designer.centre(history, row["merchant_id"], merchants[row["merchant_id"]], cfg.designer)
        cands = designer.candidate_designs(row, centre, cfg.designer)
        strengths[rid] = {d.design_id: d.strength for d in cands}
        info[rid] = {"centre": centre.design_id, "centre_source": source, "designs": len(cands)}
        info[rid]["candidates"] = cands
        design_rows += [(rid, d.design_id, d.discount_pct, d.voucher_value, d.min_spend) for d in cands]
    designs = spark.createDataFrame(design_rows, "request_id string, design_id string, discount_pct double, "
                                    "voucher_value double, min_spend double")
    stats = simulator.candidate_stats(target, designs, models, cfg.simulator.bucket_resolution).toPandas()  # rows: requests × segments × regions × designs × buckets
    return {"models": models, "level_sd": level_sd, "segments": segments, "target": target, "designs": designs,
            "stats": stats, "strengths": strengths, "info": info, "data_versions": data_versions}


def plan_requests(ctx, rows: dict[str, dict], merchants_df: DataFrame, merchants: Mapping[int, str]) -> dict:
    """Plan ``rows`` (valid requests): models, designs, scores, statistics, tuning, assignments."""
    cfg, spark = ctx.config.promo, ctx.spark
    sc = score_requests(ctx, rows, merchants_df, merchants)
    stats, strengths, info = sc["stats"], sc["strengths"], sc["info"]
    status, plans, selections = {}, {}, []
    import mlflow

    for rid, row in rows.items():
        s = stats[stats["request_id"] == rid]
        if s.empty:
            status[rid] = ("failed", "no eligible customer in the allowed segments (region, signup, opt-outs)")
            continue
        level = sc["models"].merchant_cost_level(row["merchant_id"], cfg.models)
        if level > 1.0:
            ctx.log.info("stage=plan-promos request %s: merchant %s's unseen campaigns redeemed %.2f× the model's "
                         "prediction (shrunk): the budget rule counts its predicted cost that much higher", rid,
                         row["merchant_id"], level)
        limits = simulator.Limits(budget=float(row["budget"]), max_cps=row["max_cps"],
                                  segments=tuple(row["segments"]), min_coverage=dict(row["min_coverage"] or {}),
                                  weight_orders=float(row["weight_orders"]),
                                  weight_new=float(row["weight_new_customers"]),
                                  confidence=cfg.simulator.budget_confidence, interval=cfg.simulator.interval,
                                  cost_margin=(1.0 + cfg.simulator.cost_model_margin) * level - 1.0,
                                  level_sd=sc["level_sd"])
        problem = cps_problem(s, limits)
        if problem:
            status[rid] = ("failed", problem)
            continue
        prep = simulator.prepare(s, offer_share=1.0 - cfg.publish.holdout_share)  # the control costs nothing
        with mlflow.start_run(run_name=f"promo-plan-{rid}"):
            mlflow.set_tags({"channel": "promo", "request_id": rid, "sendopt_run": ctx.run_id})
            chosen, front, trials = tuning.tune(prep, strengths[rid], limits, cfg.tuning, mlflow_parent=rid)
            if chosen is not None:
                mlflow.log_metrics({k: v for k, v in chosen.metrics.items() if math.isfinite(v)})
        if chosen is None:
            status[rid] = ("failed", no_plan_reason(trials, limits))
            continue
        if chosen.metrics["reached"] == 0:
            status[rid] = ("planned", "no customer is worth a promo under these limits (every design loses "
                           "money or breaks the CPS limit): the plan reaches nobody")
        else:
            status[rid] = ("planned", "")
        plans[rid] = {"chosen": chosen, "front": front, "prep": prep, "info": info[rid], "limits": limits}
        selections.append(simulator.selection_frame(spark, rid, chosen))
    assigned = None
    if selections:
        sel = selections[0]
        for other in selections[1:]:
            sel = sel.unionByName(other)
        # only the chosen designs are scored again (same features, same models: the same values and buckets)
        rescored = simulator.score_candidates(sc["target"], simulator.chosen_designs(sc["designs"], sel),
                                              sc["models"], cfg.simulator.bucket_resolution, keep=ASSIGNED_FROM_BASE)
        assigned = simulator.assign(rescored, sel).withColumn("start_date", F.col("as_of"))
    return {"status": status, "plans": plans, "segments": sc["segments"], "assigned": assigned,
            "models": sc["models"], "data_versions": sc["data_versions"]}


def holdout_columns(share: float) -> list:
    """``holdout`` (a stable-hash ``share`` of each request's chosen customers, not offered: the plan's control
    group) and ``offer_probability`` (1 − share), as logged for the historical campaigns."""
    held = uniform_hash(F.col("user_id"), F.col("request_id"), "promo_plan_holdout") < F.lit(float(share))
    return [held.alias("holdout"), F.lit(1.0 - float(share)).alias("offer_probability")]


def cps_problem(stats: pd.DataFrame, limits: simulator.Limits) -> str | None:
    """A CPS limit no design meets for anyone: say so with the best cost per incremental sale found."""
    if limits.max_cps is None:
        return None
    g = stats.groupby("design_id")[["cost", "inc_orders"]].sum()
    pos = stats[stats["inc_orders"] > 0]
    ratio = (pos["cost"] / pos["inc_orders"]).min() if not pos.empty else math.inf
    if not math.isfinite(ratio) or ratio > limits.max_cps:
        best = "no design adds orders" if not math.isfinite(ratio) else f"the best design and customers cost " \
            f"{ratio:.2f} per incremental sale"
        return (f"the cost-per-incremental-sale limit {limits.max_cps:g} cannot be met: {best} "
                f"({len(g)} designs tried)")
    return None


def no_plan_reason(trials: list[simulator.Plan], limits: simulator.Limits) -> str:
    best = min(trials, key=lambda p: sum(p.violations.values()))
    v = best.violations
    parts = []
    if v["budget"] > 0:
        margin = f", the predicted cost counted {limits.cost_margin:.0%} higher" if limits.cost_margin else ""
        if limits.level_sd:
            margin += f", its level uncertain by ±{limits.level_sd:.0%}"
        parts.append(f"the budget {limits.budget:g} is not met with {limits.confidence:.0%} probability "
                     f"(cheapest plan found: {best.metrics['cost_p90']:.2f} at that confidence{margin})")
    if v["cps"] > 0:
        parts.append(f"cost per incremental sale {best.metrics['cps']:.2f} above the limit {limits.max_cps:g}")
    if v["coverage"] > 0:
        parts.append("the minimum coverage per segment cannot be reached inside the budget "
                     f"({', '.join(f'{k} {x:.0%}' for k, x in limits.min_coverage.items())})")
    return "no plan meets the constraints: " + "; ".join(parts or ["no feasible trial"])


def write_outputs(ctx, request_ids: list[str], attempt: Mapping[str, int], status: Mapping[str, tuple[str, str]],
                  result: dict | None) -> None:
    """Replace every processed request's slices (plans, segments, assignments), then append its status."""
    lake, spark = ctx.lake, ctx.spark
    run_cols = [F.lit(ctx.run_id).alias("run_id"), F.lit(ctx.config.config_hash).alias("config_hash")]
    where = {"request_id": request_ids}
    versions = result["models"].versions if result else {}
    version_text = result["models"].version_text if result else ""
    if result is not None:
        planned = [rid for rid, (s, _) in status.items() if s == "planned"]
        seg = result["segments"].where(F.col("request_id").isin(planned)).select(
            *[c for c in PROMO_SEGMENTS.column_names if c not in ("run_id", "config_hash")], *run_cols)
        lake.write(seg, PROMO_SEGMENTS, mode="replace", where=where)
        rows = []
        for rid, p in result["plans"].items():
            items = [("chosen", 1, p["chosen"])] + [("pareto", i + 1, f) for i, f in enumerate(p["front"])]
            for r in simulator.plan_rows(items):
                rows.append((rid, *[r[c] for c in ("kind", "plan_rank", "name", "designs", "reach", "metrics",
                                                   "params", "feasible")]))
            chosen = p["chosen"]
            for seg_name, design in chosen.designs.items():
                m = {"reach": chosen.metrics.get(f"reach_{seg_name}", 0.0),
                     "spend": chosen.metrics.get(f"spend_{seg_name}", 0.0)}
                rows.append((rid, "segment", 1, seg_name, {seg_name: design}, {seg_name: m["reach"]}, m, {},
                             chosen.feasible))
            for d in p["info"]["candidates"]:  # what evaluate-promos replays (and the operator can read)
                rows.append((rid, "candidate", 1, d.design_id, {"source": p["info"]["centre_source"],
                                                                "centre": p["info"]["centre"]}, {},
                             {"discount_pct": d.discount_pct, "voucher_value": d.voucher_value,
                              "min_spend": d.min_spend, "strength": d.strength}, {}, True))
            for r in simulator.region_table(chosen, p["prep"]).itertuples(index=False):
                m = {"eligible": float(r.eligible), "reached": float(r.reached), "coverage": float(r.coverage),
                     "spend": float(r.spend)}
                rows.append((rid, "region", 1, str(r.region), {}, {}, m, {}, chosen.feasible))
        schema = ("request_id string, kind string, plan_rank int, name string, designs map<string,string>, "
                  "reach map<string,double>, metrics map<string,double>, params map<string,double>, "
                  "feasible boolean")
        plans_df = spark.createDataFrame(rows, schema) if rows else spark.createDataFrame([], schema)
        lake.write(plans_df.select("*", *run_cols), PROMO_PLANS, mode="replace", where=where)
        if result["assigned"] is not None:
            a = result["assigned"].select(
                "request_id", "user_id", "merchant_id", "segment", "region", "design_id", "discount_pct",
                "voucher_value", "min_spend", "start_date", "end_date", "p_redeem",
                F.col("inc_orders").alias("predicted_incremental_orders"),
                F.col("inc_gmv").alias("predicted_incremental_gmv"), F.col("cost").alias("predicted_cost"),
                F.col("value").alias("predicted_incremental_value"), F.lit(version_text).alias("model_version"),
                *holdout_columns(ctx.config.promo.publish.holdout_share), *run_cols)
        else:
            a = spark.createDataFrame([], PROMO_ASSIGNMENTS.schema)
        lake.write(a, PROMO_ASSIGNMENTS, mode="replace", where=where)
    else:  # nothing planned: a re-planned request's earlier rows must not outlive its new status
        for spec in (PROMO_SEGMENTS, PROMO_PLANS, PROMO_ASSIGNMENTS):
            if lake.exists(spec):
                lake.write(spark.createDataFrame([], spec.schema), spec, mode="replace", where=where)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    data_versions = result["data_versions"] if result else {}
    srows = [(rid, int(attempt[rid]), s, why, now, versions, data_versions, ctx.run_id, ctx.config.config_hash)
             for rid, (s, why) in sorted(status.items())]
    lake.write(spark.createDataFrame(srows, PROMO_REQUEST_STATUS.schema), PROMO_REQUEST_STATUS, mode="append")


__all__ = ["plan_pending", "ModelSet"]
