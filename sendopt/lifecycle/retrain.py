"""``retrain``: one gated retraining cycle per market and channel.

Rolling window → challenger fitted (not yet champion) → challenger and champion scored
on the same time-later holdout → gate rules (:mod:`sendopt.lifecycle.gate`) → the
``champion`` alias moves only if every rule passes. Every cycle writes one row per
model to ``ops.model_evaluations`` and tags the MLflow versions with the cycle id and
decision. The alias is touched in exactly one place, after the gate, so a cycle that
fails anywhere (bad data, an exception, a failed write) leaves the champion as it was;
its failure is recorded and re-raised. A market without a champion takes its first
challenger (``tracking.promote_if_first``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame

from sendopt.lifecycle.channels import Challenger, LifecycleChannel
from sendopt.lifecycle.gate import gate, group_rates, holdout_metrics, value_bins
from sendopt.lifecycle.tables import MODEL_EVALUATIONS
from sendopt.models import tracking
from sendopt.models.response import ResponseModel
from sendopt.observability import stage

if TYPE_CHECKING:
    from sendopt.runner import JobContext

PROMOTED, KEPT, FIRST, FAILED = "promoted", "kept", "first_champion", "failed"
METRIC_COLUMNS = {
    "auc": "auc", "log_loss": "log_loss", "brier": "brier", "ece": "ece", "rows": "holdout_rows",
    "top_conversion": "top_bin_conversion", "bottom_conversion": "bottom_bin_conversion",
    "top_unsubscribe": "top_bin_unsubscribe", "bottom_unsubscribe": "bottom_bin_unsubscribe",
}


@dataclass
class CycleResult:
    model_name: str
    decision: str
    champion_before: str | None
    champion_after: str | None
    challenger_version: str | None = None
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, dict] = field(default_factory=dict)  # role → metric dict


def holdout_evaluation(channel: LifecycleChannel, model: ResponseModel, registered: tracking.RegisteredModel,
                       holdout: DataFrame, config) -> dict[str, float]:
    """Score ``holdout`` with a model version (its tags carry any scoring head); the gate's metric dict."""
    scored = channel.with_value(model.score(holdout, registered), config).cache()
    try:
        evaluation = model.evaluate(scored)
        rates = group_rates(value_bins(scored, "net_value", config.lifecycle.retrain.gate.value_bins), "value_bin")
    finally:
        scored.unpersist()
    return holdout_metrics(evaluation, rates)


def _row(ctx: JobContext, channel: str, name: str, version: str | None, role: str, decision: str, champion_after: str | None,
         reasons: list[str], metrics: dict | None, challenger: Challenger | None, mlflow_run_id: str | None) -> tuple:
    m = metrics or {}
    return (
        ctx.run_id, ctx.run_date, ctx.region, ctx.brand, channel, name, version, role, decision, champion_after,
        list(reasons), *[float(m[k]) if k in m else None for k in METRIC_COLUMNS],
        challenger.holdout_from if challenger else None,
        int(challenger.report.result.train_rows) if challenger else None,
        mlflow_run_id, {k: int(v) for k, v in ctx.lake.inputs.items()}, ctx.run_id, ctx.config.config_hash,
    )


def _write(ctx: JobContext, rows: list[tuple]) -> None:
    """Upsert by (cycle_id, model_name, role): a re-recorded cycle replaces its own rows only."""
    ctx.lake.merge(ctx.spark.createDataFrame(rows, MODEL_EVALUATIONS.schema), MODEL_EVALUATIONS)


def _tag(name: str, version: str | None, tags: dict[str, str]) -> None:
    import mlflow

    if version is None:
        return
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def retrain_market(ctx: JobContext, channel: LifecycleChannel) -> CycleResult:
    """One cycle for ``ctx``'s market; the champion alias moves only after every gate rule passed."""
    tracking.configure(ctx.config)
    model = channel.model(ctx.config, ctx.region, ctx.brand)
    name = model.name
    before = tracking.champion_version(name)
    challenger: Challenger | None = None
    version = None
    try:
        with stage(ctx.spark, ctx.log, "retrain: challenger", model=name, champion=before):
            challenger = channel.fit_challenger(ctx)
        with stage(ctx.spark, ctx.log, "retrain: holdout evaluation", model=name, holdout_from=challenger.holdout_from):
            unregistered = tracking.RegisteredModel(name, tracking.CHALLENGER, "",
                                                    challenger.report.result.model_str, dict(challenger.report.tags))
            cand = holdout_evaluation(channel, model, unregistered, challenger.holdout, ctx.config)
            champ, champion = None, None
            if before is not None:
                champion = tracking.load_model(name, before)
                champ = holdout_evaluation(channel, model, champion, challenger.holdout, ctx.config)
        result = gate(cand, champ, ctx.config.lifecycle.retrain.gate)
        version = model.log_and_register(challenger.report, ctx.run_id, ctx.run_date, dict(ctx.lake.inputs),
                                         {**challenger.params, "lifecycle_cycle": ctx.run_id})
        if before is None:
            decision, after = FIRST, tracking.champion_version(name)  # promote_if_first made it champion
        elif result.passed:
            decision, after = PROMOTED, version
        else:
            decision, after = KEPT, before
        import mlflow

        run_id = mlflow.MlflowClient().get_model_version(name, version).run_id
        rows = [_row(ctx, channel.name, name, version, tracking.CHALLENGER, decision, after, result.reasons, cand,
                     challenger, run_id)]
        if champion is not None:
            rows.append(_row(ctx, channel.name, name, before, tracking.CHAMPION, decision, after, result.reasons,
                             champ, None, champion.run_id))
        _write(ctx, rows)
        if decision == PROMOTED:  # the only place a cycle moves the alias: after the gate and the record
            tracking.set_alias(name, version, tracking.CHAMPION)
        _tag(name, version, {"lifecycle.cycle_id": ctx.run_id, "lifecycle.role": tracking.CHALLENGER,
                             "lifecycle.decision": decision})
        _tag(name, before, {"lifecycle.last_cycle_id": ctx.run_id, "lifecycle.last_cycle_decision": decision})
    except Exception as exc:
        ctx.log.error("retrain %s FAILED, champion stays v%s: %s", name, before, exc)
        try:
            _write(ctx, [_row(ctx, channel.name, name, version, tracking.CHALLENGER, FAILED, before,
                              [f"{type(exc).__name__}: {exc}"], None, challenger, None)])
            _tag(name, version, {"lifecycle.cycle_id": ctx.run_id, "lifecycle.decision": FAILED})
        except Exception as record_exc:  # the original error is the one to surface
            ctx.log.error("could not record the failed cycle of %s: %s", name, record_exc)
        raise
    finally:
        if challenger is not None:
            challenger.release()
    cycle = CycleResult(name, decision, before, after, version, result.reasons,
                        {"challenger": cand, **({"champion": champ} if champ else {})})
    ctx.log.info("stage=retrain model=%s decision=%s champion=%s→%s challenger=v%s\n  %s", name, decision, before,
                 after, version, "\n  ".join(result.reasons))
    return cycle


def summary_line(cycle: CycleResult) -> str:
    auc = cycle.metrics["challenger"]["auc"]
    champ = cycle.metrics.get("champion")
    vs = f" vs champion v{cycle.champion_before} {champ['auc']:.4f}" if champ else ""
    failed = [r for r in cycle.reasons if r.startswith("FAIL")]
    return (f"{cycle.model_name}: challenger v{cycle.challenger_version} {cycle.decision} (AUC {auc:.4f}{vs}); "
            f"champion v{cycle.champion_after}" + (f"; {'; '.join(failed)}" if failed else ""))
