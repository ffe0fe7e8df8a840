"""Multi-objective tuning of a request's plan with Optuna, on the sufficient statistics only.

A trial picks the priority weights of incremental orders and new customers (how units are ranked and
whether they are worth reaching), the band of design strengths allowed (the discount range) and the budget
split across segments; :func:`~sendopt.channels.promo.simulator.build_plan` turns it into a plan on the
statistics — no customer is re-scored. Objectives: maximise the request's objective (incremental GMV − cost
+ its weights), minimise the expected cost; constraints (NSGA-II's): budget met at the configured
confidence, CPS limit, minimum coverage. The first trial is the plain greedy plan (no extra weights, every
design, budget split by segment size). Every trial is an MLflow run nested in the request's run.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sendopt.channels.promo.config import TuningConfig
from sendopt.channels.promo.simulator import Limits, Plan, PlanParams, build_plan

log = logging.getLogger("sendopt.promo")


def default_params(prep: Mapping[str, Any], limits: Limits) -> PlanParams:
    sizes = prep["sizes"]
    total = sum(sizes.get(s, 0.0) for s in limits.segments) or 1.0
    return PlanParams(split={s: sizes.get(s, 0.0) / total for s in limits.segments})


def tune(prep: Mapping[str, Any], strengths: Mapping[str, float], limits: Limits, cfg: TuningConfig,
         mlflow_parent: str | None = None) -> tuple[Plan | None, list[Plan], list[Plan]]:
    """(chosen plan or None when no trial is feasible, the Pareto-front plans, every trial's plan)."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plans: dict[int, Plan] = {}

    def params_of(trial) -> PlanParams:
        split = {s: trial.suggest_float(f"split_{s}", 0.02, 1.0) for s in limits.segments}
        return PlanParams(weight_orders=trial.suggest_float("weight_orders", 0.0, cfg.weight_orders_max),
                          weight_new=trial.suggest_float("weight_new", 0.0, cfg.weight_new_max),
                          strength_lo=trial.suggest_float("strength_lo", 0.0, 0.5),
                          strength_hi=trial.suggest_float("strength_hi", 0.5, 1.0), split=split)

    def objective(trial):
        plan = build_plan(prep, strengths, limits, params_of(trial))
        plans[trial.number] = plan
        v = plan.violations
        trial.set_user_attr("constraints", [v["budget"], v["cps"], v["coverage"]])
        return plan.metrics["objective"], plan.metrics["cost"]

    def constraints(trial):
        return trial.user_attrs["constraints"]

    if cfg.sampler == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=cfg.seed, constraints_func=constraints,
                                                population_size=max(4, min(20, cfg.trials // 2)))
    else:
        sampler = optuna.samplers.TPESampler(seed=cfg.seed, constraints_func=constraints)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    base = default_params(prep, limits)
    study.enqueue_trial({"weight_orders": 0.0, "weight_new": 0.0, "strength_lo": 0.0, "strength_hi": 1.0,
                         **{f"split_{k}": max(v, 0.02) for k, v in base.split.items()}})
    study.optimize(objective, n_trials=cfg.trials)
    if cfg.log_trials:
        log_trials(study, plans, mlflow_parent)
    feasible = [p for p in plans.values() if p.feasible]
    chosen = max(feasible, key=lambda p: (p.metrics["objective"], -p.metrics["cost"])) if feasible else None
    front, seen = [], set()
    for t in sorted(study.best_trials, key=lambda t: -plans[t.number].metrics["objective"]):
        plan = plans[t.number]
        key = (round(plan.metrics["objective"], 6), round(plan.metrics["cost"], 6))
        if plan.feasible and key not in seen:
            seen.add(key)
            front.append(plan)
    return chosen, front, list(plans.values())


def log_trials(study, plans: Mapping[int, Plan], parent: str | None) -> None:
    import mlflow

    for t in study.trials:
        plan = plans.get(t.number)
        if plan is None:
            continue
        with mlflow.start_run(run_name=f"{parent or 'promo'}-trial-{t.number}", nested=True):
            mlflow.log_params({k: round(v, 6) for k, v in t.params.items()})
            mlflow.log_metrics({k: float(v) for k, v in plan.metrics.items()
                                if k in ("objective", "net_value", "cost", "cost_p90", "incremental_orders",
                                         "incremental_gmv", "reached", "cps")})
            mlflow.set_tags({"feasible": str(plan.feasible), "designs": str(plan.designs)})
