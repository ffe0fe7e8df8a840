"""Response models: the base class every channel's model derives from.

A response model predicts a set of mutually exclusive outcomes (one multiclass
LightGBM, so the probabilities sum to 1 by construction) from customer features
plus a *treatment* feature (e.g. the weekly email frequency), so a decision can ask
"what happens if this customer gets k". The base class owns the shared mechanics —
fit through the trainer, score in Spark, evaluate, log and register in MLflow — and a
channel supplies its outcomes, treatment and training frame.
"""
from __future__ import annotations

import datetime as dt
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sendopt.config import SendoptConfig
from sendopt.models import tracking
from sendopt.models.metrics import Evaluation, evaluate
from sendopt.models.reference import reference_stats
from sendopt.models.scoring import score
from sendopt.models.spec import TrainResult, TrainSpec
from sendopt.models.trainer import train
from sendopt.version import code_version

log = logging.getLogger(__name__)


@dataclass
class FitReport:
    """Everything a training cycle learned about one model, ready to log."""

    result: TrainResult
    valid: Evaluation
    features: list[str]
    dropped: dict[str, str] = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    extra_metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # extra model-version tags (e.g. a dose-response head)


class ResponseModel(ABC):
    channel: ClassVar[str]
    kind: ClassVar[str] = "response"
    outcomes: ClassVar[tuple[str, ...]]
    treatment: ClassVar[str | None] = None
    label_col: ClassVar[str] = "label"
    weight_col: ClassVar[str | None] = "weight"

    def __init__(self, config: SendoptConfig, region: str, brand: str) -> None:
        self.config = config
        self.region = region
        self.brand = brand

    # -------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        return tracking.model_name(self.config, self.channel, self.kind, self.region, self.brand)

    @property
    def prob_cols(self) -> list[str]:
        return [f"p_{o}" for o in self.outcomes]

    # -------------------------------------------------------------- per channel
    @abstractmethod
    def candidate_features(self) -> list[str]:
        """Customer feature columns offered to the model (before selection; without the treatment)."""

    @abstractmethod
    def categorical_features(self) -> list[str]:
        """Integer-coded categorical columns among the features."""

    @abstractmethod
    def train_spec(self, features: Sequence[str]) -> TrainSpec:
        """Trainer settings for this model and feature list."""

    def backend(self) -> str:
        """Trainer backend: auto picks SynapseML where its jars are, else the barrier trainer."""
        return "auto"

    # -------------------------------------------------------------- shared mechanics
    def model_features(self, customer_features: Sequence[str]) -> list[str]:
        return [*customer_features, *([self.treatment] if self.treatment else [])]

    def fit(self, spark: SparkSession, train_df: DataFrame, valid_df: DataFrame,
            customer_features: Sequence[str]) -> tuple[TrainResult, Evaluation]:
        spec = self.train_spec(self.model_features(customer_features))
        result = train(spark, train_df, valid_df, spec, backend=self.backend())
        evaluation = self.evaluate(self.score(valid_df, result.model_str, spec.features))
        log.info("stage=fit model=%s backend=%s rows=%s best_iteration=%s valid_auc=%.4f valid_log_loss=%.4f",
                 self.name, result.backend, result.train_rows, result.best_iteration,
                 evaluation.macro_auc, evaluation.log_loss)
        return result, evaluation

    def pilot_gains(self, spark: SparkSession, train_df: DataFrame, valid_df: DataFrame,
                    customer_features: Sequence[str], max_rows: int) -> tuple[list[str], list[float]]:
        """Gain per feature of a booster fitted on at most ``max_rows`` training rows.

        Importance trimming needs only a ranking, which a sample gives nearly as well as the
        full set — so the full fit runs once, on the kept features, instead of twice.
        """
        spec = self.train_spec(self.model_features(customer_features))
        cap = min(max_rows, spec.max_train_rows or max_rows)
        result = train(spark, train_df, valid_df, spec.replace(max_train_rows=cap), backend=self.backend())
        log.info("stage=pilot model=%s rows=%s best_iteration=%s", self.name, result.train_rows,
                 result.best_iteration)
        return result.booster.feature_name(), result.booster.feature_importance("gain").tolist()

    def score(self, df: DataFrame, model: str | tracking.RegisteredModel,
              features: Sequence[str] | None = None) -> DataFrame:
        """Add ``p_<outcome>`` columns, scored in Spark with the booster broadcast once per partition.

        ``model`` is a model text or a :class:`~sendopt.models.tracking.RegisteredModel`.
        """
        return score(df, tracking.model_text_of(model), list(features) if features else None, out_cols=self.prob_cols)

    def score_treatments(self, df: DataFrame, model: str | tracking.RegisteredModel,
                         levels: Sequence[float]) -> DataFrame:
        """One row per (row of ``df``, treatment level) with the probabilities at that level."""
        if not self.treatment:
            raise TypeError(f"{type(self).__name__} has no treatment to vary")
        levels_df = df.sparkSession.createDataFrame([(float(v),) for v in levels], f"{self.treatment} double")
        return self.score(df.crossJoin(F.broadcast(levels_df)), model)

    def evaluate(self, scored: DataFrame) -> Evaluation:
        weight = self.weight_col if self.weight_col in scored.columns else None
        return evaluate(scored, self.label_col, self.prob_cols, weight=weight)

    def reference(self, train_df: DataFrame, features: Sequence[str]) -> dict:
        return reference_stats(train_df, list(features))

    def log_and_register(self, report: FitReport, run_id: str, run_date: dt.date,
                         inputs: dict[str, int], params: dict[str, Any]) -> str:
        """One MLflow run with params, metrics, importance, inputs' Delta versions; register the model."""
        import mlflow

        tracking.configure(self.config)
        booster = report.result.booster
        importance = dict(zip(booster.feature_name(), booster.feature_importance("gain").tolist(), strict=True))
        tags = {"channel": self.channel, "region": self.region, "brand": self.brand,
                "sendopt_run_id": run_id, "run_date": str(run_date),
                "config_hash": self.config.config_hash, "code_version": code_version()}
        with mlflow.start_run(run_name=f"{self.name}-{run_date}", tags=tags) as run:
            mlflow.log_params({**params, "backend": report.result.backend, "features": len(report.features),
                               "best_iteration": report.result.best_iteration})
            mlflow.log_metrics({**report.valid.as_metrics("valid_"), **report.extra_metrics,
                                "train_rows": report.result.train_rows, "train_seconds": report.result.seconds})
            mlflow.log_dict({f"input.{t}": v for t, v in sorted(inputs.items())}, "input_versions.json")
            mlflow.set_tags({f"input.{t}": str(v) for t, v in inputs.items()})
            version = tracking.log_booster(
                booster,
                self.name,
                artifacts={
                    "feature_importance.json": dict(sorted(importance.items(), key=lambda kv: -kv[1])),
                    "features.json": {"kept": report.features, "dropped": report.dropped},
                    "reference_stats.json": report.reference,
                    "reliability.json": report.valid.reliability.to_dict(orient="records"),
                },
                tags={**tags, **report.tags, "mlflow_run_id": run.info.run_id},
            )
        promoted = tracking.promote_if_first(self.name, version)
        log.info("stage=register model=%s version=%s champion=%s", self.name, version, promoted)
        return version
