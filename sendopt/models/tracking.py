"""MLflow tracking and registry: runs, registered models per market, the ``champion`` alias.

Defaults to a SQLite store under the lake root (``<lake.root>/_mlflow``) so a laptop
needs no server; ``mlflow.tracking_uri`` / ``registry_uri`` point elsewhere
(``databricks`` / ``databricks-uc`` on Databricks). Model names are lower-case with
underscores — ``sendopt_email_response_north_alpha`` — which Unity Catalog accepts
(prefixed ``<catalog>.<schema_prefix>ml.`` when ``lake.unity_catalog`` is set).
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb

from sendopt.config import SendoptConfig
from sendopt.errors import SendoptError

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PIP_REQUIREMENTS = [f"lightgbm=={lgb.__version__}"]


class NoChampionError(SendoptError):
    """No model version carries the champion alias yet."""


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str
    model_text: str
    tags: dict[str, str]


def model_text_of(model: str | RegisteredModel) -> str:
    """The booster text of a registered version, or ``model`` itself when it already is one."""
    return model.model_text if isinstance(model, RegisteredModel) else model


def configure(config: SendoptConfig):
    """Point MLflow at the configured (or embedded SQLite) store; return the experiment id."""
    import mlflow

    tracking = config.mlflow.tracking_uri
    if tracking is None:
        root = os.path.abspath(config.lake.root)
        os.makedirs(os.path.join(root, "_mlflow"), exist_ok=True)
        tracking = f"sqlite:///{root}/_mlflow/mlflow.db"
        artifacts = f"{root}/_mlflow/artifacts"
    else:
        artifacts = None
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(config.mlflow.registry_uri or tracking)
    experiment = mlflow.get_experiment_by_name(config.mlflow.experiment)
    if experiment is None:
        experiment_id = mlflow.create_experiment(config.mlflow.experiment, artifact_location=artifacts)
    else:
        experiment_id = experiment.experiment_id
    # runs (and their logged models) go to this experiment — not to "Default", whose artifacts live in ./mlruns
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def model_name(config: SendoptConfig, channel: str, kind: str, region: str, brand: str) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", f"sendopt_{channel}_{kind}_{region}_{brand}".lower())
    uc = config.lake.unity_catalog
    return f"{uc.catalog}.{uc.schema_prefix}ml.{base}" if uc else base


def log_booster(booster: lgb.Booster, name: str, artifacts: dict[str, Any], tags: dict[str, str]) -> str:
    """Log the booster (and JSON artifacts) in the active run and register it; return the version."""
    import mlflow

    info = mlflow.lightgbm.log_model(
        booster, name="model", registered_model_name=name, pip_requirements=PIP_REQUIREMENTS
    )
    with tempfile.TemporaryDirectory() as tmp:
        for filename, payload in artifacts.items():
            path = os.path.join(tmp, filename)
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=1, sort_keys=True, default=str)
            mlflow.log_artifact(path)
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return version


def champion_version(name: str) -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def set_alias(name: str, version: str, alias: str = CHAMPION) -> None:
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
    log.info("stage=registry model=%s version=%s alias=%s", name, version, alias)


def promote_if_first(name: str, version: str) -> bool:
    """The first model of a kind becomes champion; later ones only through the lifecycle gate."""
    if champion_version(name) is None:
        set_alias(name, version, CHAMPION)
        return True
    set_alias(name, version, CHALLENGER)
    return False


def load_model(name: str, alias_or_version: str = CHAMPION) -> RegisteredModel:
    """The model text (and its version, run and tags) of ``name@champion`` or a version number."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        if alias_or_version.isdigit():
            mv = client.get_model_version(name, alias_or_version)
        else:
            mv = client.get_model_version_by_alias(name, alias_or_version)
    except MlflowException as exc:
        raise NoChampionError(f"model {name}@{alias_or_version} not found in the registry: {exc}") from None
    booster = mlflow.lightgbm.load_model(f"models:/{name}/{mv.version}")
    return RegisteredModel(name, str(mv.version), mv.run_id, booster.model_to_string(), dict(mv.tags or {}))

