"""MLflow tracking of every learner and the champion gate (on the trial's held-out randomized customers).

Each learner of a ``train-uplift`` run is one MLflow run (params, holdout metrics, the model bundle
as ``uplift/model.json``) and one version of the registered model ``sendopt_coupons_uplift_<trial>``
(tags: learner, train_run). The gate promotes the run's best learner by doubly robust policy value
of its allocation on the holdout (under ``allocation.budget_per_customer`` when set, else unbudgeted) when it is at least the current champion's value on the
same holdout minus ``evaluation.gate_tolerance``; the others get the ``challenger`` alias.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sendopt.channels.coupons.learners import UpliftModel
from sendopt.models import tracking

BUNDLE = "uplift/model.json"


def model_name(config, trial: str) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", f"sendopt_coupons_uplift_{trial}".lower())
    uc = config.lake.unity_catalog
    return f"{uc.catalog}.{uc.schema_prefix}ml.{base}" if uc else base


@dataclass(frozen=True)
class RegisteredUplift:
    name: str
    version: str
    run_id: str
    model: UpliftModel
    tags: dict


def log_learner(name: str, model: UpliftModel, metrics: dict[str, float], params: dict, train_run: str) -> str:
    """One MLflow run + registered version for ``model``; returns the version."""
    import mlflow

    client = mlflow.MlflowClient()
    with mlflow.start_run(run_name=f"uplift-{model.kind}") as run:
        mlflow.log_params({**params, "learner": model.kind, "levels": json.dumps(model.levels),
                           "boosters": len(model.boosters), "monotone": model.monotone})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.log_dict(json.loads(model.to_json()), BUNDLE)
        source = mlflow.get_artifact_uri("uplift")
    try:
        client.get_registered_model(name)
    except Exception:
        client.create_registered_model(name)
    mv = client.create_model_version(name, source=source, run_id=run.info.run_id,
                                     tags={"learner": model.kind, "train_run": train_run})
    return str(mv.version)


def load(name: str, alias_or_version: str = tracking.CHAMPION) -> RegisteredUplift:
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        mv = (client.get_model_version(name, alias_or_version) if alias_or_version.isdigit()
              else client.get_model_version_by_alias(name, alias_or_version))
    except MlflowException as exc:
        raise tracking.NoChampionError(f"uplift model {name}@{alias_or_version} not found — run train-uplift "
                                       f"first ({str(exc).splitlines()[0]})") from None
    path = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path=BUNDLE)
    with open(path, encoding="utf-8") as fh:
        model = UpliftModel.from_json(fh.read())
    return RegisteredUplift(name, str(mv.version), mv.run_id, model, dict(mv.tags or {}))


def latest_run_versions(name: str) -> list[RegisteredUplift]:
    """Every learner version registered by the most recent train-uplift run of ``name``."""
    import mlflow

    versions = mlflow.MlflowClient().search_model_versions(f"name='{name}'")
    if not versions:
        return []
    newest = max(versions, key=lambda v: int(v.version))
    run = (newest.tags or {}).get("train_run")
    return [load(name, str(v.version)) for v in sorted(versions, key=lambda v: int(v.version))
            if (v.tags or {}).get("train_run") == run]


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    winner: str  # learner kind of the run's best
    version: str
    reasons: list[str]


def gate(name: str, candidates: dict[str, tuple[str, float]], champion_value: float | None,
         tolerance: float) -> GateDecision:
    """``candidates``: learner → (version, holdout DR value). Promote the best if it clears the champion."""
    kind, (version, value) = max(candidates.items(), key=lambda kv: kv[1][1])
    lines = [f"{k}: DR policy value {v:.4f}/customer (v{ver})" for k, (ver, v) in
             sorted(candidates.items(), key=lambda kv: -kv[1][1])]
    if champion_value is None:
        promoted = True
        lines.insert(0, f"pass: no champion yet; {kind} becomes champion")
    else:
        promoted = value >= champion_value - tolerance
        lines.insert(0, f"{'pass' if promoted else 'FAIL'}: best learner {kind} {value:.4f} vs champion "
                        f"{champion_value:.4f} − {tolerance}")
    for k, (ver, _) in candidates.items():
        if promoted and k == kind:
            tracking.set_alias(name, ver, tracking.CHAMPION)
        else:
            tracking.set_alias(name, ver, tracking.CHALLENGER)
    return GateDecision(promoted, kind, version, lines)
