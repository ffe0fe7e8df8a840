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
