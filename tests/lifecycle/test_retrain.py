"""Gated retraining end to end on a tiny real channel: first champion, promote, keep, then a failed cycle."""
from __future__ import annotations

import mlflow
import pytest
from pyspark.sql import functions as F

from sendopt.lifecycle.retrain import FAILED, FIRST, KEPT, PROMOTED, retrain_market
from sendopt.lifecycle.tables import MODEL_EVALUATIONS
from sendopt.models import tracking
from tests.lifecycle.conftest import TinyChannel


def test_cycles_move_the_champion_only_through_the_gate(make_ctx):
    first = retrain_market(make_ctx(), TinyChannel())
    assert (first.decision, first.champion_before, first.champion_after) == (FIRST, None, "1")

    # a challenger on more data of the same world is at least as good → promoted
    ctx = make_ctx()
    second = retrain_market(ctx, TinyChannel(rows=6000))
    assert second.decision == PROMOTED, second.reasons
    assert tracking.champion_version(second.model_name) == "2"
    tags = mlflow.MlflowClient().get_model_version(second.model_name, "2").tags
    assert tags["lifecycle.cycle_id"] == ctx.run_id and tags["lifecycle.decision"] == PROMOTED

    # a challenger trained on shuffled labels loses AUC → kept, with the AUC rule as the reason
    third = retrain_market(make_ctx(), TinyChannel(shuffle=True))
    assert third.decision == KEPT and tracking.champion_version(third.model_name) == "2"
    assert any(r.startswith("FAIL auc") for r in third.reasons)
    assert mlflow.MlflowClient().get_model_version(third.model_name, "3").tags["lifecycle.decision"] == KEPT

    # a failed cycle (the holdout lost its label column) raises, records itself, keeps the champion
    failing = make_ctx()
    with pytest.raises(Exception, match="label"):
        retrain_market(failing, TinyChannel(rows=6000, corrupt=True))
    assert tracking.champion_version(third.model_name) == "2"
    failed = ctx.lake.read(MODEL_EVALUATIONS).where(F.col("cycle_id") == failing.run_id).collect()
    assert [(r.decision, r.champion_after, r.model_version) for r in failed] == [(FAILED, "2", None)]
    assert "label" in failed[0].reasons[0]

    rows = ctx.lake.read(MODEL_EVALUATIONS).select("cycle_id", "model_version", "role", "decision").collect()
    assert len(rows) == 6  # first: challenger only; two per gated cycle; one failed
    assert {(r.model_version, r.role, r.decision) for r in rows if r.cycle_id == ctx.run_id} == {
        ("2", "challenger", PROMOTED), ("1", "champion", PROMOTED)}
