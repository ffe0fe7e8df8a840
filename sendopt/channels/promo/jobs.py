"""Promo jobs: ``submit-promo-request`` and ``plan-promos`` (``evaluate-promos`` lives in sendopt.evaluation)."""
from __future__ import annotations

import json
import os

from sendopt.channels.promo.requests import submit_request
from sendopt.errors import SendoptError


# ---------------------------------------------------------------- submit-promo-request
def read_submission(value) -> dict:
    """``promo.submit``: a mapping, a JSON text, or a path to a JSON file."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        text = value
        if os.path.exists(value):
            with open(value, encoding="utf-8") as fh:
                text = fh.read()
        try:
            out = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SendoptError(f"--request: neither a JSON object nor a JSON file: {exc}") from None
        if isinstance(out, dict):
            return out
    raise SendoptError("submit-promo-request needs --request '{\"merchant_id\": …}' or --request FILE.json")


def run_submit_promo_request(ctx) -> None:
    """Validate ``promo.submit`` and append it (start dates before the run date are refused)."""
    cfg = ctx.config.promo
    if cfg.submit is None:
        raise SendoptError("submit-promo-request needs --request '{\"merchant_id\": …}' or --request FILE.json")
    row = submit_request(ctx.lake, read_submission(cfg.submit), today=ctx.run_date, limits=cfg.requests)
    ctx.summary["message"] = f"request {row['request_id']} for merchant {row['merchant_id']} pending"
    ctx.log.info("stage=submit-promo-request %s", ctx.summary["message"])
    print(f"submitted {row['request_id']} (merchant {row['merchant_id']}, {row['start_date']}..{row['end_date']}, "
          f"budget {row['budget']:g}): pending")


def run_plan_promos(ctx) -> None:
    from sendopt.channels.promo.plan import plan_pending

    plan_pending(ctx)


# ---------------------------------------------------------------- seed-promo-requests (demo)
def run_seed_promo_requests(ctx) -> None:
    """Submit ``promo.demo.requests`` requests (merchants with most past campaigns, starting the day after the
    run date) and one whose CPS limit no design can meet — once: nothing when requests exist already."""
    import datetime as dt

    from pyspark.sql import functions as F

    from sendopt.channels.promo.tables import PROMO_REQUESTS
    from sendopt.ledger import Outcome

    cfg = ctx.config.promo.demo
    lake = ctx.lake
    if lake.exists(PROMO_REQUESTS) and lake.read(PROMO_REQUESTS).limit(1).count() > 0:
        ctx.summary.update(status=Outcome.SKIPPED, message="ops.promo_requests has requests already")
        return
    camps = lake.read("raw.promo_campaigns")
    if "source" in camps.columns:
        camps = camps.where(F.col("source") == "history")
    top = camps.groupBy("merchant_id", "region").count().orderBy(F.desc("count"), "merchant_id").limit(
        cfg.requests + 1).collect()
    sizes = {r["region"]: r["count"] for r in lake.read("raw.customers").groupBy("region").count().collect()}
    start = ctx.run_date + dt.timedelta(days=1)
    submitted = []
    for i, m in enumerate(top):
        budget = round(cfg.budget_per_customer * sizes.get(m["region"], 100), 2)
        payload = {"request_id": f"demo-{i + 1}", "merchant_id": m["merchant_id"], "start_date": str(start),
                   "end_date": str(start + dt.timedelta(days=cfg.days - 1)), "budget": budget,
                   "submitted_by": "demo"}
        if i == len(top) - 1:
            payload.update(request_id="demo-impossible-cps", max_cps=0.01)
        submitted.append(submit_request(lake, payload, today=ctx.run_date, limits=ctx.config.promo.requests)
                         ["request_id"])
    ctx.summary["message"] = f"submitted {', '.join(submitted)}"
