"""``sendopt report [--date]``: one static HTML page per daily run, per market, for people who read no tables.

Per market: the email tier mix and the policies' values (where a truth evaluation ran), the push strategy mix,
the coupon levels given, the monitors' verdicts, then the promo requests and the day's run ledger. Plots are
embedded PNGs, so the file can be mailed or opened from the lake as it is. Every aggregate here is grouped to
a handful of rows before it reaches the driver.
"""
from __future__ import annotations

import datetime as dt
import html
import os

import pandas as pd
from pyspark.sql import functions as F

from sendopt.lifecycle.report import _png, _table


def report_path(config, run_date: dt.date) -> str:
    return os.path.join(os.path.abspath(config.lake.root), "_reports", run_date.isoformat(), "daily.html")


def _read(lake, name: str):
    return lake.read(name) if lake.exists(name) else None


def _on_or_before(df, date_col: str, run_date: dt.date):
    """Rows of the latest date on or before the run date (a market that did not run today shows its last)."""
    df = df.where(F.col(date_col) <= F.lit(run_date))
    last = df.agg(F.max(date_col)).first()[0]
    return (df.where(F.col(date_col) == last), last) if last is not None else (None, None)


def _bar(frame: pd.DataFrame, x: str, y: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar(frame[x].astype(str), frame[y], color="#4a7")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return _png(fig)


def market_section(lake, region: str, brand: str, run_date: dt.date) -> str:
    parts = [f"<h2>{html.escape(region)} / {html.escape(brand)}</h2>"]
    market = (F.col("region") == region) & (F.col("brand") == brand)
    email = _read(lake, "decisions.email_frequency")
    if email is not None:
        day, last = _on_or_before(email.where(market), "decision_date", run_date)
        if day is not None:
            mix = day.groupBy("emails_per_week").agg(F.count("*").alias("customers")).orderBy("emails_per_week") \
                .toPandas()
            parts += [f"<h3>Email frequency ({last})</h3>", _bar(mix, "emails_per_week", "customers", "tier mix"),
                      _table(day.groupBy("policy").agg(F.count("*").alias("customers")).toPandas())]
    evaluation = _read(lake, "analytics.email_policy_evaluation")
    if evaluation is not None:
        day, last = _on_or_before(evaluation.where(market), "decision_date", run_date)
        if day is not None:
            parts += [f"<h3>Email policy values ({last}, true net value per customer)</h3>",
                      _table(day.select("policy", "users", "net_value_per_user", "unsubscribe_rate",
                                        "share_of_oracle").orderBy(F.desc("net_value_per_user")).toPandas())]
    push = _read(lake, "decisions.push_notifications")
    if push is not None:
        day, last = _on_or_before(push.where(market), "decision_date", run_date)
        if day is not None:
            mix = day.groupBy("strategy").agg(F.count("*").alias("pushes")).orderBy("strategy").toPandas()
            parts += [f"<h3>Push ({last})</h3>", _bar(mix, "strategy", "pushes", "strategy mix")]
    coupons = _read(lake, "decisions.coupon_assignments")
    if coupons is not None:
        day, last = _on_or_before(coupons.where(market), "decision_date", run_date)
        if day is not None:
            parts += [f"<h3>Coupons ({last})</h3>", _table(day.groupBy("coupon_level", "reason").agg(
                F.count("*").alias("customers")).orderBy("coupon_level").toPandas())]
    triggers = _read(lake, "monitoring.retrain_triggers")
    if triggers is not None:
        day = triggers.where(market & (F.col("run_date") == F.lit(run_date)))
        parts += ["<h3>Monitors</h3>", _table(day.select("model_name", "model_version", "triggered", "causes",
                                                         "report_path").toPandas())]
    if len(parts) == 1:
        parts.append("<p><i>no decisions for this market on or before the run date</i></p>")
    return "\n".join(parts)


def build_report(lake, markets: list[tuple[str, str]], run_date: dt.date, path: str) -> str:
    sections = [market_section(lake, r, b, run_date) for r, b in markets]
    tail = []
    requests = _read(lake, "ops.promo_requests")
    if requests is not None:
        tail += ["<h2>Promo requests submitted that day</h2>", _table(requests.where(
            F.to_date("submitted_at") == F.lit(run_date)).select(
            "request_id", "merchant_id", "start_date", "end_date", "budget", "max_cps").limit(200).toPandas())]
    ledger = _read(lake, "ops.job_runs")
    if ledger is not None:
        tail += ["<h2>Run ledger</h2>", _table(ledger.where(F.col("run_date") == F.lit(run_date)).select(
            "job", "region", "brand", "status", "seconds", "message").orderBy("started_at").limit(500).toPandas(), 1)]
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sendopt daily report {run_date}</title>
<style>body{{font:14px system-ui,sans-serif;max-width:1000px;margin:auto;padding:1rem}}
table.t{{border-collapse:collapse}} table.t td,table.t th{{border-bottom:1px solid #ddd;padding:2px 8px}}</style>
</head><body><h1>sendopt daily report — {run_date}</h1>
<p>Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from the lake at {html.escape(lake.root)}.</p>
{''.join(sections)}{''.join(tail)}</body></html>"""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, path)  # a reader never sees half a report
    return path
