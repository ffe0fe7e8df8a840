"""The lifecycle's jobs: ``monitor``, ``retrain`` and ``retrain-if-triggered``, over every channel with models."""
from __future__ import annotations

from pyspark.sql import functions as F

from sendopt.channels.primitives import in_market
from sendopt.lifecycle.channels import lifecycle_channels
from sendopt.lifecycle.monitor import monitor_market, write_market
from sendopt.lifecycle.retrain import retrain_market, summary_line
from sendopt.lifecycle.tables import RETRAIN_TRIGGERS
from sendopt.runner import JobContext


def run_monitor(ctx: JobContext) -> None:
    """Drift, matured-outcome performance and bin outcomes of every channel model; a retrain trigger with its
    cause, and an HTML report."""
    messages, paths = [], []
    for channel in lifecycle_channels().values():
        result = monitor_market(ctx, channel)
        if result is None:
            messages.append(f"{channel.name}: no champion in {ctx.region}/{ctx.brand}; nothing monitored")
            continue
        write_market(ctx, channel, result)
        paths.append(result.report_path)
        verdict = "RETRAIN TRIGGERED: " + "; ".join(result.causes) if result.causes else "no retrain trigger"
        messages.append(f"{result.model_name} v{result.model_version}: {verdict}; report {result.report_path}")
        ctx.log.info("stage=monitor model=%s triggered=%s causes=%s", result.model_name, bool(result.causes),
                     result.causes)
    for path in paths:
        print(f"monitor report: {path}")
    ctx.summary["message"] = " | ".join(messages)


def run_retrain(ctx: JobContext) -> None:
    """Gated retraining of every channel model: challenger vs champion on a time-later holdout."""
    messages = [summary_line(retrain_market(ctx, channel)) for channel in lifecycle_channels().values()]
    ctx.summary["message"] = " | ".join(messages)


def run_retrain_if_triggered(ctx: JobContext) -> None:
    """Retrain the market only if today's monitor run recorded a trigger (``monitoring.retrain_triggers``)."""
    rows = []
    if ctx.lake.exists(RETRAIN_TRIGGERS):
        rows = (ctx.lake.read(RETRAIN_TRIGGERS)
                .where((F.col("run_date") == F.lit(ctx.run_date)) & in_market(ctx.region, ctx.brand))
                .select("model_name", "triggered", "causes").collect())  # one row per channel model
    triggered = {r.model_name: list(r.causes or []) for r in rows if r.triggered}
    due = [c for c in lifecycle_channels().values() if c.model(ctx.config, ctx.region, ctx.brand).name in triggered]
    if not due:
        why = "no trigger" if rows else f"no monitor row for {ctx.run_date} (run `monitor` first)"
        ctx.summary["message"] = f"{ctx.region}/{ctx.brand}: {why}; champion kept without a cycle"
        return
    for name, causes in triggered.items():
        ctx.log.info("stage=retrain-if-triggered model=%s causes=%s", name, causes)
    ctx.summary["message"] = " | ".join(summary_line(retrain_market(ctx, channel)) for channel in due)


def run_report(ctx: JobContext) -> None:
    """The day's static HTML report (every market), its path printed as the run's last line."""
    from sendopt.lifecycle.run_report import build_report, report_path

    markets = [(m.region, m.brand) for m in ctx.config.markets]
    path = build_report(ctx.lake, markets, ctx.run_date, report_path(ctx.config, ctx.run_date))
    ctx.summary["message"] = f"report {path}"
    print(f"report: {path}", flush=True)
